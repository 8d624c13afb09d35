//! Rate-limit checks through Redis (the Lua script, one round trip each) against
//! redis-benchmark's PING on the same server, twice: at the same concurrency (one connection
//! per request in flight, as redis-benchmark does by default) and at the same pipeline depth
//! (one connection with as many requests pipelined, as our multiplexed connection sends them).

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{BenchError, Probe, machine};
use flashsale_core::config::{LimitSettings, Settings};
use flashsale_core::ratelimit::RateLimiter;

#[derive(Debug, Clone)]
pub struct LimiterPlan {
    /// Checks per run.
    pub checks: u64,
    /// Requests in flight (redis-benchmark's -c).
    pub concurrency: u32,
}

pub async fn run(plan: &LimiterPlan, settings: &Settings) -> Result<String, BenchError> {
    let url = settings.redis_url.clone().ok_or_else(|| {
        BenchError::Setup("the limiter benchmark needs --redis-url or REDIS_URL".into())
    })?;
    let parsed =
        url::Url::parse(url.expose()).map_err(|e| BenchError::Setup(format!("REDIS_URL: {e}")))?;
    let host = parsed.host_str().unwrap_or("127.0.0.1").to_string();
    let port = parsed.port().unwrap_or(6379);

    let probe = Probe::start();
    let ping = tokio::task::block_in_place(|| {
        redis_benchmark_ping(&host, port, plan.concurrency, 1, plan.checks)
    });
    let ping_cpu = probe.finish();
    let probe = Probe::start();
    let pipelined = tokio::task::block_in_place(|| {
        redis_benchmark_ping(&host, port, 1, plan.concurrency, plan.checks)
    });
    let pipelined_cpu = probe.finish();

    let limits = LimitSettings {
        user_max: u32::MAX,
        ip_max: u32::MAX,
        window: Duration::from_secs(10),
        key_prefix: format!("flashsale-bench-{}:", std::process::id()),
        redis_timeout: Duration::from_secs(2),
        ..settings.limits.clone()
    };
    let limiter = Arc::new(
        RateLimiter::new(limits, Some(&url)).map_err(|e| BenchError::Setup(e.to_string()))?,
    );
    let next = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let probe = Probe::start();
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..plan.concurrency {
        let (limiter, next, errors, total) = (
            Arc::clone(&limiter),
            Arc::clone(&next),
            Arc::clone(&errors),
            plan.checks,
        );
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let user = format!("u{}", i % 10_000);
                let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + (i % 5_000) as u32));
                if limiter.check(&user, ip).await.is_err() {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let checks_per_s = plan.checks as f64 / start.elapsed().as_secs_f64();
    let check_cpu = probe.finish();

    let mut out = String::new();
    let _ = writeln!(
        out,
        "Redis at {host}:{port}, {} requests per run, {} in flight, machine {}.\n",
        plan.checks,
        plan.concurrency,
        machine()
    );
    let _ = writeln!(
        out,
        "| run | per second | limiter checks/s as a share of it | CPU (cores) |"
    );
    let _ = writeln!(out, "|---|---|---|---|");
    let anchors = [
        (
            format!(
                "redis-benchmark PING_MBULK, -c {}: {} connections, one request each (the same concurrency)",
                plan.concurrency, plan.concurrency
            ),
            ping,
            ping_cpu,
        ),
        (
            format!(
                "redis-benchmark PING_MBULK, -c 1 -P {}: one connection, {} pipelined (the same pipeline depth)",
                plan.concurrency, plan.concurrency
            ),
            pipelined,
            pipelined_cpu,
        ),
    ];
    for (run, figure, cpu) in anchors {
        match figure {
            Ok(p) => {
                let _ = writeln!(
                    out,
                    "| {run} | {p:.0} | {:.0}% | {} |",
                    100.0 * checks_per_s / p.max(1.0),
                    cpu.summary()
                );
            }
            Err(e) => {
                let _ = writeln!(out, "| {run} | n/a: {e} | - | - |");
            }
        }
    }
    let _ = writeln!(
        out,
        "| flashsale limiter check (Lua, 2 keys), {} in flight on one multiplexed connection | {checks_per_s:.0} | - | {} |",
        plan.concurrency,
        check_cpu.summary()
    );
    let errors = errors.load(Ordering::Relaxed);
    if errors > 0 {
        let _ = writeln!(
            out,
            "\n{errors} checks failed (timeouts or connection errors)."
        );
    }
    Ok(out)
}

/// redis-benchmark's PING_MBULK figure with `connections` clients, each pipelining `pipeline`.
fn redis_benchmark_ping(
    host: &str,
    port: u16,
    connections: u32,
    pipeline: u32,
    requests: u64,
) -> Result<f64, String> {
    let out = Command::new("redis-benchmark")
        .args(["-h", host, "-p", &port.to_string(), "-t", "ping", "--csv"])
        .args(["-c", &connections.to_string(), "-n", &requests.to_string()])
        .args(["-P", &pipeline.to_string()])
        .output()
        .map_err(|e| format!("redis-benchmark: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| l.starts_with("\"PING_MBULK\""))
        .and_then(|l| l.split(',').nth(1))
        .and_then(|v| v.trim_matches('"').parse::<f64>().ok())
        .ok_or_else(|| "no PING_MBULK figure in its output".to_string())
}
