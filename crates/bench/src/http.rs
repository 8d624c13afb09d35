//! Purchases over HTTP: a `flashsale serve` process per strategy, the burst engine's HTTP
//! target at each client count, beside pgbench's one-statement purchase at the same count and
//! the same strategy in process (the burst engine calling the purchase module, same pool,
//! concurrency and in-process rate limiter: what the request path costs); with `--mix`, also
//! the buyers' mix of purchases and stock reads beside the same server's HTTP floor, in the
//! same run (`mix`).

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::mix::{self, Load, Mix};
use super::{BenchError, Probe, machine, pgbench};
use flashsale_burst::{self as burst, BurstSpec, Target};
use flashsale_client::ApiClient;
use flashsale_core::config::{DatabaseTarget, LimitSettings, Settings};
use flashsale_core::purchase::Purchaser;
use flashsale_core::ratelimit::RateLimiter;
use flashsale_core::store::Store;
use flashsale_core::strategy::Strategy;

#[derive(Debug, Clone)]
pub struct HttpPlan {
    /// Purchases per run.
    pub purchases: u32,
    /// Client counts (concurrency).
    pub clients: Vec<u32>,
    /// Strategies the server runs, one server each.
    pub strategies: Vec<Strategy>,
    pub product: i32,
    /// Each strategy also with an idempotency key on every purchase, beside the run without.
    pub idempotency: bool,
    /// Also the buyers' mix (purchases : stock reads), beside the server's HTTP floor.
    pub mix: Option<Mix>,
}

/// A `flashsale serve` child, killed on drop.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// After the last of keyless, keyed, keyed, keyless (`last` its index): the keyed runs' sum
/// over the keyless runs' (see the order in `run`).
fn keyed_ratio(sums: [f64; 2], last: usize) -> String {
    if last != 3 || sums[0] <= 0.0 {
        return String::new();
    }
    format!(
        "; keyed {:.2}x keyless over the four runs (keyless, keyed, keyed, keyless)",
        sums[1] / sums[0]
    )
}

/// The rate limits of every run, the server's and the in-process one's alike: far above any
/// run's purchases, so every check admits, and both pay for the same in-process check.
const LIMITS_FAR_ABOVE: u32 = 1_000_000_000;

fn start_server(settings: &Settings, strategy: Strategy) -> Result<Server, BenchError> {
    let exe =
        std::env::current_exe().map_err(|e| BenchError::Setup(format!("own executable: {e}")))?;
    let DatabaseTarget::Postgres(url) = &settings.database else {
        return Err(BenchError::Setup(
            "the HTTP benchmark needs a PostgreSQL DATABASE_URL".into(),
        ));
    };
    let mut child = Command::new(exe)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("DATABASE_URL", url.expose())
        .env_remove("REDIS_URL")
        .env("FLASHSALE_STRATEGY", strategy.as_str())
        .env("DB_POOL_MAX", settings.pool.max_connections.to_string())
        // The database path is what is measured: limits far above the run's purchases.
        .env("RATE_LIMIT_USER_MAX", LIMITS_FAR_ABOVE.to_string())
        .env("RATE_LIMIT_IP_MAX", LIMITS_FAR_ABOVE.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| BenchError::Setup(format!("cannot start flashsale serve: {e}")))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| BenchError::Setup("serve has no stdout".into()))?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| BenchError::Setup(e.to_string()))?;
    let url = line
        .trim()
        .strip_prefix("flashsale: listening on ")
        .ok_or_else(|| BenchError::Setup(format!("serve did not start: {line:?}")))?
        .to_string();
    Ok(Server { child, url })
}

pub async fn run(plan: &HttpPlan, settings: &Settings) -> Result<String, BenchError> {
    let DatabaseTarget::Postgres(pg_url) = &settings.database else {
        return Err(BenchError::Setup(
            "the HTTP benchmark needs a PostgreSQL DATABASE_URL".into(),
        ));
    };
    let strategies = plan.strategies.clone();
    let store = Store::open(&settings.database, &settings.pool).await?;
    let dir = std::env::temp_dir().join(format!("flashsale-bench-http-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| BenchError::Setup(e.to_string()))?;
    let stock = i32::try_from(plan.purchases)
        .unwrap_or(i32::MAX / 2)
        .saturating_mul(2);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Hot product {}, {} purchases per run over HTTP (keep-alive, one `flashsale serve` process \
         per strategy, pool {}), database {}, machine {}.\n",
        plan.product,
        plan.purchases,
        settings.pool.max_connections,
        settings.database,
        machine()
    );
    let _ = writeln!(
        out,
        "| clients | run | purchases/s | p50 ms | p99 ms | vs pgbench | notes | CPU (cores) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for &c in plan.clients.iter() {
        store.set_stock(plan.product, stock).await?;
        let probe = Probe::start();
        let anchor = tokio::task::block_in_place(|| {
            pgbench::run(pg_url, plan.product, c, u64::from(plan.purchases), &dir)
        });
        let cpu = probe.finish();
        let anchor_per_s = match &anchor {
            Ok(r) => {
                let _ = writeln!(
                    out,
                    "| {c} | pgbench one-statement | {:.0} | {:.2} | {:.2} | - |  | {} |",
                    r.per_s,
                    r.p50_ms,
                    r.p99_ms,
                    cpu.summary()
                );
                Some(r.per_s)
            }
            Err(e) => {
                let _ = writeln!(out, "| {c} | pgbench one-statement | n/a: {e} | | | | | |");
                None
            }
        };
        for &strategy in &strategies {
            store.set_stock(plan.product, stock).await?;
            let mut spec = BurstSpec::new(plan.product, plan.purchases, c, strategy);
            spec.ips = 1;
            let local_per_s =
                in_process_row(&mut out, &store, settings, spec, c, anchor_per_s).await?;
            let server = start_server(settings, strategy)?;
            // With keys: keyless, keyed, keyed, keyless. The machine drifts over minutes (the
            // same run moves 20% from one minute to the next here), and in this order a steady
            // drift cancels out of the ratio of the sums, where one pair would carry it whole.
            let order: &[bool] = if plan.idempotency {
                &[false, true, true, false]
            } else {
                &[false]
            };
            let mut keyless_per_s = None;
            let mut sums = [0.0_f64; 2];
            for (i, &keyed) in order.iter().enumerate() {
                store.set_stock(plan.product, stock).await?;
                let client = ApiClient::new(&server.url, c as usize, Duration::from_secs(30))
                    .map_err(|e| BenchError::Setup(e.to_string()))?;
                let mut spec = BurstSpec::new(plan.product, plan.purchases, c, strategy);
                spec.ips = 1;
                spec.idempotency_keys = keyed;
                let probe = Probe::start();
                let report =
                    burst::run_to_end(spec, Target::Http(client), Some(store.clone())).await?;
                let cpu = probe.finish();
                let ratio = super::times(report.throughput_per_s, anchor_per_s);
                let audit = super::audit_verdict(&report);
                let mut note = format!("server {strategy}, audit {audit}");
                sums[usize::from(keyed)] += report.throughput_per_s;
                match (keyed, keyless_per_s) {
                    (false, None) => {
                        keyless_per_s = Some(report.throughput_per_s);
                        let _ =
                            write!(note, ", {}", of_local(report.throughput_per_s, local_per_s));
                    }
                    (true, Some(without)) if without > 0.0 => {
                        let _ = write!(
                            note,
                            ", Idempotency-Key on each: {:.2}x the first run without",
                            report.throughput_per_s / without
                        );
                    }
                    (true, _) => note.push_str(", Idempotency-Key on each"),
                    (false, Some(_)) => {
                        let _ = write!(note, ", without a key again{}", keyed_ratio(sums, i));
                    }
                }
                if report.busy + report.failed > 0 {
                    let _ = write!(note, ", {} busy, {} failed", report.busy, report.failed);
                }
                let _ = writeln!(
                    out,
                    "| {c} | HTTP | {:.0} | {:.2} | {:.2} | {ratio} | {note} | {} |",
                    report.throughput_per_s,
                    report.latency_ms.p50,
                    report.latency_ms.p99,
                    cpu.summary()
                );
            }
            if let Some(m) = plan.mix {
                store.set_stock(plan.product, stock).await?;
                let client = ApiClient::new(&server.url, c as usize, Duration::from_secs(30))
                    .map_err(|e| BenchError::Setup(e.to_string()))?;
                mix_rows(&mut out, &client, plan, strategy, m, c, local_per_s).await;
            }
            drop(server);
        }
    }
    store.close().await;
    Ok(out)
}

/// The floor and the mix on one server, one row each.
async fn mix_rows(
    out: &mut String,
    client: &ApiClient,
    plan: &HttpPlan,
    strategy: Strategy,
    m: Mix,
    c: u32,
    local_per_s: f64,
) {
    let probe = Probe::start();
    let floor = mix::run(client, Load::Floor, plan.purchases, c).await;
    let cpu = probe.finish();
    let _ = writeln!(
        out,
        "| {c} | HTTP floor (404) | {:.0} | {:.2} | {:.2} | - | server {strategy}{} | {} |",
        floor.per_s,
        floor.p50_ms,
        floor.p99_ms,
        errors_note(floor.errors),
        cpu.summary()
    );
    let load = Load::Mix {
        mix: m,
        product: plan.product,
        strategy,
    };
    let probe = Probe::start();
    let r = mix::run(client, load, plan.purchases, c).await;
    let cpu = probe.finish();
    let of_floor = if floor.per_s > 0.0 {
        format!("{:.0}% of the floor", 100.0 * r.per_s / floor.per_s)
    } else {
        "floor n/a".into()
    };
    let _ = writeln!(
        out,
        "| {c} | HTTP mix {m} | {:.0} | {:.2} | {:.2} | - | server {strategy}, {:.0} purchases/s ({}) + {:.0} reads/s, {of_floor}{} | {} |",
        r.per_s,
        r.p50_ms,
        r.p99_ms,
        r.purchases_per_s,
        of_local(r.purchases_per_s, local_per_s),
        r.reads_per_s,
        errors_note(r.errors),
        cpu.summary()
    );
}

/// The same strategy in process, at the same concurrency (`c`) and on the same pool as the
/// server: its row, and its purchases/s (the anchor of the HTTP rows that follow).
async fn in_process_row(
    out: &mut String,
    store: &Store,
    settings: &Settings,
    spec: BurstSpec,
    c: u32,
    anchor_per_s: Option<f64>,
) -> Result<f64, BenchError> {
    let strategy = spec.strategy;
    // The server's limiter: in process (no Redis), limits far above the run.
    let limiter = RateLimiter::new(
        LimitSettings {
            user_max: LIMITS_FAR_ABOVE,
            ip_max: LIMITS_FAR_ABOVE,
            ..settings.limits.clone()
        },
        None,
    )
    .map_err(|e| BenchError::Setup(format!("in-process limiter: {e}")))?;
    let purchaser = Purchaser::new(store.clone(), limiter, settings.max_quantity);
    let probe = Probe::start();
    let report = burst::run_to_end(spec, Target::Local(purchaser), Some(store.clone())).await?;
    let cpu = probe.finish();
    let ratio = super::times(report.throughput_per_s, anchor_per_s);
    let audit = super::audit_verdict(&report);
    let _ = writeln!(
        out,
        "| {c} | in process | {:.0} | {:.2} | {:.2} | {ratio} | {strategy}, audit {audit}{} | {} |",
        report.throughput_per_s,
        report.latency_ms.p50,
        report.latency_ms.p99,
        errors_note(report.busy + report.failed),
        cpu.summary()
    );
    Ok(report.throughput_per_s)
}

/// `0.55x in process`: an HTTP figure against the in-process run's.
fn of_local(per_s: f64, local_per_s: f64) -> String {
    if local_per_s > 0.0 {
        format!("{:.2}x in process", per_s / local_per_s)
    } else {
        "in process n/a".into()
    }
}

fn errors_note(errors: u64) -> String {
    if errors == 0 {
        String::new()
    } else {
        format!(", {errors} errors")
    }
}
