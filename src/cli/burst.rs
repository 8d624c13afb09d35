//! `flashsale burst`: fires a storm of purchases, shows a progress bar on a terminal, prints the
//! report (text or `--json`), and exits 0 when the audit is ok, 4 when it is not, 1 when every
//! purchase that ran was busy or failed (nothing was measured but a broken setup).

use std::io::{IsTerminal, Write};
use std::time::Duration;

use clap::Args;

use super::exit;
use super::output::{fail, print_line};
use flashsale_burst::spec;
use flashsale_burst::{BurstReport, BurstSpec, Load, Progress, Quantity};
use flashsale_core::config::Settings;
use flashsale_core::purchase::Purchaser;
use flashsale_core::ratelimit::RateLimiter;
use flashsale_core::store::Store;
use flashsale_core::strategy::Strategy;

#[derive(Debug, Args)]
pub struct BurstArgs {
    /// Product id, or several with weights: 1:3,2:1
    #[arg(long, default_value = "1")]
    pub product: String,
    /// Simulated buyers (distinct user ids).
    #[arg(long, default_value_t = 100, allow_negative_numbers = true, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub buyers: u32,
    /// Purchases per buyer (closed model).
    #[arg(long, default_value_t = 1, allow_negative_numbers = true, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub per_buyer: u32,
    /// Units per purchase: N, or a range A..B.
    #[arg(long, default_value = "1")]
    pub quantity: Quantity,
    /// Purchases in flight at once (closed model).
    #[arg(long, default_value_t = 32, allow_negative_numbers = true, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub concurrency: u32,
    /// Open model: arrivals per second (for --duration, default 10s). Latency then counts from
    /// each arrival's intended time.
    #[arg(
        long,
        value_name = "PER_SECOND",
        conflicts_with = "phases",
        allow_negative_numbers = true
    )]
    pub rate: Option<f64>,
    /// Open model with phases, RATE/s:DURATION,... or `reference` (60 s at 10/s, 120 s at 50/s,
    /// 300 s at 100/s).
    #[arg(long)]
    pub phases: Option<String>,
    /// Multiply the phases' durations (e.g. 0.1 for a 48 s reference plan).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub phase_scale: f64,
    /// Closed model: stop starting purchases after this long (500ms, 10s, 2m).
    /// Open model with --rate: how long to send.
    #[arg(long, value_parser = spec::parse_duration)]
    pub duration: Option<Duration>,
    /// Distinct client IPs the buyers spread over [default: one per buyer]
    #[arg(long, allow_negative_numbers = true, value_parser = clap::value_parser!(u32).range(1..=16_000_000))]
    pub ips: Option<u32>,
    /// batched, atomic, row-lock, or naive (UNSAFE: oversells) [default: batched, or FLASHSALE_STRATEGY]
    #[arg(long, value_parser = super::parse_strategy)]
    pub strategy: Option<Strategy>,
    /// Skip rate limiting, to measure the database path alone.
    #[arg(long)]
    pub no_rate_limit: bool,
    /// Set each product's stock to N first, for repeatable demos.
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = clap::value_parser!(i32).range(0..))]
    pub restock: Option<i32>,
    /// naive only: pause between its read and its write, widening the race (demos).
    #[arg(long, value_name = "MS", allow_negative_numbers = true, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub naive_delay_ms: Option<u64>,
    /// Most arrivals outstanding at once in the open model.
    #[arg(long, default_value_t = 4096, allow_negative_numbers = true, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_in_flight: u32,
    /// Seed for product and quantity choices (replays a burst).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Send the purchases to a server's POST /api/purchase instead of in process. The audit
    /// then needs --database-url (the server's database); the server applies its own strategy.
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    /// With --target: hold N stock event streams of the burst's products open during it, as
    /// buyers' pages would, and report how late each stock change reached them (p50/p99 from
    /// the order's write to the event; same clock on both sides assumed).
    #[arg(long, value_name = "N", requires = "target", allow_negative_numbers = true, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub watchers: Option<u32>,
    /// Per-request timeout for --target, in ms.
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub timeout_ms: u64,
    /// Print the final report as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Also write the report, as `--json` prints it, to FILE (atomically). A FILE that cannot
    /// be written is refused before any purchase is made.
    #[arg(long, value_name = "FILE")]
    pub report: Option<std::path::PathBuf>,
}

impl BurstArgs {
    /// The spec these flags describe.
    pub fn spec(&self, default_strategy: Strategy) -> Result<BurstSpec, String> {
        let strategy = self.strategy.unwrap_or(default_strategy);
        let mut spec = BurstSpec::new(1, self.buyers, self.concurrency, strategy);
        spec.products =
            spec::parse_products(&self.product).map_err(|e| format!("--product: {e}"))?;
        spec.per_buyer = self.per_buyer;
        spec.quantity = self.quantity;
        spec.ips = self.ips.unwrap_or(self.buyers);
        spec.restock = self.restock;
        spec.watchers = self.watchers.unwrap_or(0);
        if let Some(seed) = self.seed {
            spec.seed = seed;
        }
        if !(self.phase_scale > 0.0 && self.phase_scale <= 1000.0) {
            return Err("--phase-scale must be above 0 and at most 1000".into());
        }
        let phases = match (&self.phases, self.rate) {
            (Some(p), _) => Some(spec::parse_phases(p).map_err(|e| format!("--phases: {e}"))?),
            (None, Some(rate)) => {
                if !(rate > 0.0 && rate <= 1_000_000.0) {
                    return Err("--rate must be above 0 and at most 1000000".into());
                }
                let duration = self.duration.unwrap_or(Duration::from_secs(10));
                Some(vec![spec::Phase {
                    rate_per_s: rate,
                    duration,
                }])
            }
            (None, None) => None,
        };
        match phases {
            Some(mut phases) => {
                for p in &mut phases {
                    p.duration = p.duration.mul_f64(self.phase_scale);
                }
                spec.load = Load::Open {
                    phases,
                    max_in_flight: self.max_in_flight,
                };
                if self.phases.is_some() {
                    spec.time_limit = self.duration;
                }
            }
            None => spec.time_limit = self.duration,
        }
        spec.validate()?;
        Ok(spec)
    }
}

/// The exit code for a finished burst: an oversell first (4), then a burst in which nothing
/// went through for the system's fault (1, the reasons are in the report).
pub fn exit_code(report: &BurstReport) -> u8 {
    match report.audit_ok() {
        Some(false) => exit::AUDIT_FAILED,
        _ if report.all_failed() => exit::ERROR,
        _ => exit::OK,
    }
}

/// Draws a one-line progress bar on stderr, if stderr is a terminal, until the burst ends.
pub async fn show_progress(mut rx: tokio::sync::watch::Receiver<Progress>) {
    let mut err = std::io::stderr();
    if !err.is_terminal() {
        return;
    }
    while rx.changed().await.is_ok() {
        let p = rx.borrow_and_update().clone();
        let width = 30;
        let filled = (p.fraction() * width as f64).round() as usize;
        let _ = write!(
            err,
            "\r\x1b[2K[{}{}] {}/{}  {:.0}/s  p99 {:.1} ms  purchased {}  sold out {}  limited {}  errors {}",
            "#".repeat(filled),
            ".".repeat(width - filled.min(width)),
            p.completed,
            p.planned,
            p.throughput_per_s,
            p.latency_ms.p99,
            p.counts.purchased,
            p.counts.sold_out,
            p.counts.rate_limited(),
            p.counts.errors()
        );
        let _ = err.flush();
        if p.finished {
            break;
        }
    }
    let _ = writeln!(err);
}

/// Fires a burst (in process, or at `--target` over HTTP) with a progress bar, Ctrl-C to
/// cancel, and the report.
pub async fn run(settings: &Settings, args: &BurstArgs, database_given: bool) -> u8 {
    let spec = match args.spec(settings.strategy) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("flashsale: error: {e}");
            return exit::USAGE;
        }
    };
    if let Some(path) = &args.report
        && let Err(e) = writable(path)
    {
        eprintln!("flashsale: error: --report: {e}");
        return exit::USAGE;
    }
    if spec.watchers > 0 {
        // Every stream is a descriptor, and distributions leave the soft limit at 1024.
        let (_, soft) = flashsale_server::fd_limit::raise_nofile();
        let needed = u64::from(spec.watchers) + u64::from(spec.concurrency()) + 64;
        if let Some(soft) = soft.filter(|soft| *soft < needed) {
            eprintln!(
                "flashsale: error: --watchers {}: needs about {needed} file descriptors, the limit is {soft} (ulimit -n)",
                spec.watchers
            );
            return exit::USAGE;
        }
    }
    // Over HTTP the audit reads the server's database, which only an explicit URL names.
    let auditor = if args.target.is_none() || database_given {
        match Store::open(&settings.database, &settings.pool).await {
            Ok(s) => Some(s),
            Err(e) => return fail(e),
        }
    } else {
        None
    };
    let mut server_strategy = None;
    let target = match &args.target {
        Some(url) => {
            if args.strategy.is_some() {
                eprintln!(
                    "flashsale: warning: --strategy is ignored with --target: the server applies its own"
                );
            }
            let timeout = std::time::Duration::from_millis(args.timeout_ms);
            match flashsale_client::ApiClient::new(url, spec.concurrency() as usize, timeout) {
                Ok(h) => {
                    // The strategy that applies is the server's: its health report names it.
                    server_strategy = h
                        .health()
                        .await
                        .ok()
                        .and_then(|health| health.strategy.parse::<Strategy>().ok());
                    flashsale_burst::Target::Http(h)
                }
                Err(e) => {
                    eprintln!("flashsale: error: --target: {e}");
                    return exit::USAGE;
                }
            }
        }
        None => {
            let Some(store) = auditor.clone() else {
                return fail("no database");
            };
            let limiter = if args.no_rate_limit {
                RateLimiter::off()
            } else {
                match RateLimiter::new(settings.limits.clone(), settings.redis_url.as_ref()) {
                    Ok(l) => l,
                    Err(e) => return fail(e),
                }
            };
            let purchaser = match args.naive_delay_ms {
                Some(ms) if ms > 0 => Purchaser::with_race_hook(
                    store,
                    limiter,
                    settings.max_quantity,
                    flashsale_core::strategy::RaceHook::Delay(std::time::Duration::from_millis(ms)),
                ),
                _ => Purchaser::new(store, limiter, settings.max_quantity),
            };
            if spec.strategy.is_unsafe() {
                eprintln!(
                    "flashsale: warning: strategy naive is UNSAFE: it oversells, on purpose, for demonstrations"
                );
            }
            flashsale_burst::Target::Local(purchaser)
        }
    };
    let handle = match flashsale_burst::start(spec, target, auditor.clone()) {
        Ok(h) => h,
        Err(e @ flashsale_burst::BurstError::RestockNeedsDatabase) => {
            eprintln!("flashsale: error: {e}");
            return exit::USAGE;
        }
        Err(e) => return fail(e),
    };
    let progress = tokio::spawn(show_progress(handle.progress()));
    let report = wait_cancelling_on_ctrl_c(handle).await;
    let _ = progress.await;
    if let Some(store) = &auditor {
        store.close().await;
    }
    match report {
        Ok(mut report) => {
            if report.strategy.is_none() {
                report.strategy = server_strategy;
                report.unsafe_strategy = server_strategy.is_some_and(Strategy::is_unsafe);
            }
            let json = report.json();
            if args.json {
                if let Err(e) = json.as_deref().map_err(Clone::clone).and_then(print_line) {
                    return fail(e);
                }
            } else {
                print!("{}", report.text());
            }
            if let Some(path) = &args.report {
                let written = json.and_then(|j| {
                    flashsale_core::paths::write_atomic(path, format!("{j}\n").as_bytes())
                });
                if let Err(e) = written {
                    return fail(format!("--report: {e}"));
                }
            }
            exit_code(&report)
        }
        Err(e) => fail(e),
    }
}

/// Whether the report can be written to `path`: its temporary file is created there and
/// removed, so that a typo in the path costs no purchases (and no stock).
fn writable(path: &std::path::Path) -> Result<(), String> {
    if path.is_dir() {
        return Err(format!("{} is a directory", path.display()));
    }
    let tmp = flashsale_core::paths::temp_beside(path);
    std::fs::File::create(&tmp).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let _ = std::fs::remove_file(&tmp);
    Ok(())
}

/// Awaits a burst; the first Ctrl-C cancels it (in-flight purchases finish and the audit runs).
async fn wait_cancelling_on_ctrl_c(
    handle: flashsale_burst::BurstHandle,
) -> Result<flashsale_burst::BurstReport, flashsale_burst::BurstError> {
    let cancel = handle_canceller(&handle);
    let signal = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\nflashsale: cancelling: letting in-flight purchases finish, then auditing");
            cancel();
        }
    });
    let report = handle.finish().await;
    signal.abort();
    report
}

fn handle_canceller(handle: &flashsale_burst::BurstHandle) -> impl FnOnce() + Send + 'static {
    let token = handle.cancel_token();
    move || token.cancel()
}
