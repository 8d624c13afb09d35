//! `flashsale serve` under slowloris, as a stock distribution runs it (`ulimit -n 1024`): 2,000
//! sockets that send nothing and 2,000 that trickle a request head a byte at a time, each
//! reopened as soon as the server closes it. A fresh client's health checks and purchases keep
//! a second later, as slowloris tools do. A fresh client's health checks and purchases keep
//! being answered (three in four at least; the rest meet the 503 with which the server sheds a
//! connection flood), and every slow socket is closed within the header timeout (plus room for a
//! loaded machine). Latencies and the server's memory are printed for RELIABILITY.md; they are
//! figures, not pass/fail.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::TestDb;
use crate::support::http::{ServeProcess, raw};

const SILENT: usize = 2_000;
const TRICKLING: usize = 2_000;
const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest a slow socket may stay open: the header timeout, plus a loaded 2-core machine.
const CLOSE_BOUND: Duration = Duration::from_secs(8);
const ATTACK: Duration = Duration::from_secs(10);
const REOPEN_AFTER: Duration = Duration::from_secs(1);

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

#[derive(Default)]
struct Tally {
    /// Slow sockets the server closed (refused, evicted or timed out).
    closed: AtomicU64,
    /// The longest any of them stayed open, in ms.
    longest_ms: AtomicU64,
    /// Connects that did not complete (the backlog was full): never held by the server.
    unconnected: AtomicU64,
    /// Sockets still open when the attack ended, and how long they had been open.
    open_at_end_over_bound: AtomicU64,
}

/// One attacker: connects, sends nothing (or trickles a head), waits for the close, records how
/// long it took, and does it again until `stop`.
async fn slow_socket(
    addr: std::net::SocketAddr,
    trickle: bool,
    tally: Arc<Tally>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(Ok(mut tcp)) =
            tokio::time::timeout(Duration::from_secs(3), TcpStream::connect(addr)).await
        else {
            tally.unconnected.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let opened = Instant::now();
        let head = b"GET /api/health HTTP/1.1\r\nHost: slow\r\nX-Slow: ";
        let mut sent = 0;
        let mut buf = [0u8; 1024];
        let closed = loop {
            if stop.load(Ordering::Relaxed) {
                break false;
            }
            let step = tokio::time::sleep(Duration::from_millis(300));
            tokio::select! {
                r = tcp.read(&mut buf) => match r {
                    Ok(0) | Err(_) => break true,
                    Ok(_) => continue, // a refusal's 503: the close follows
                },
                () = step => {
                    if trickle {
                        let byte = if sent < head.len() { head[sent] } else { b'a' };
                        sent += 1;
                        if tcp.write_all(&[byte]).await.is_err() {
                            break true;
                        }
                    }
                }
            }
        };
        let lived = opened.elapsed();
        if closed {
            tally.closed.fetch_add(1, Ordering::Relaxed);
            tally
                .longest_ms
                .fetch_max(lived.as_millis() as u64, Ordering::Relaxed);
        } else if lived > CLOSE_BOUND {
            tally.open_at_end_over_bound.fetch_add(1, Ordering::Relaxed);
        }
        // Reopen a second later, as slowloris tools do (they pace new connections: a flood
        // of connects from one host is a different attack, bounded by the kernel's backlog).
        tokio::time::sleep(REOPEN_AFTER).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_sockets_under_ulimit_1024_neither_stop_fresh_clients_nor_stay_open() {
    let (db, _store) = TestDb::seeded().await;
    let home = tempfile::tempdir().expect("tmp");
    let header_ms = HEADER_TIMEOUT.as_millis().to_string();
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("HEADER_TIMEOUT_MS", header_ms.as_str()),
        ("RATE_LIMIT_IP_MAX", "1000000000"),
        ("FLASHSALE_STRATEGY", "batched"),
    ];
    let server = ServeProcess::start_limited(home.path(), &env, Some(1024));
    let addr: std::net::SocketAddr = server
        .url
        .trim_start_matches("http://")
        .parse()
        .expect("address");
    let rss_before = rss_kib(server.pid());

    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut attackers = Vec::new();
    for i in 0..SILENT + TRICKLING {
        attackers.push(tokio::spawn(slow_socket(
            addr,
            i >= SILENT,
            tally.clone(),
            stop.clone(),
        )));
    }
    // Let the attack fill every slot before measuring.
    tokio::time::sleep(Duration::from_secs(3)).await;

    // The fresh client: a new connection for every request (no pool), as a new visitor has.
    let fresh = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let (mut health, mut purchases) = (Vec::new(), Vec::new());
    let mut failures = Vec::new();
    let mut rss_peak = 0;
    let started = Instant::now();
    let mut i = 0;
    while started.elapsed() < ATTACK - Duration::from_secs(3) {
        let t = Instant::now();
        match fresh.get(format!("{}/api/health", server.url)).send().await {
            Ok(r) if r.status().is_success() => health.push(t.elapsed()),
            Ok(r) => failures.push(format!("health {}", r.status())),
            Err(e) => failures.push(format!("health: {e:?}")),
        }
        let t = Instant::now();
        let body = format!(r#"{{"productId":1,"userId":"fresh-{i}"}}"#);
        match fresh
            .post(format!("{}/api/purchase", server.url))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => purchases.push(t.elapsed()),
            Ok(r) => failures.push(format!("purchase {}", r.status())),
            Err(e) => failures.push(format!("purchase: {e:?}")),
        }
        rss_peak = rss_peak.max(rss_kib(server.pid()));
        i += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for a in attackers {
        let _ = a.await;
    }
    health.sort();
    purchases.sort();
    let closed = tally.closed.load(Ordering::Relaxed);
    let longest = Duration::from_millis(tally.longest_ms.load(Ordering::Relaxed));
    println!(
        "slowloris: {SILENT} silent + {TRICKLING} trickling sockets, ulimit -n 1024, header timeout {HEADER_TIMEOUT:?}: \
         fresh client {} health p50 {:?} p99 {:?}, {} purchases p50 {:?} p99 {:?}, {} failures {:?}; \
         slow sockets closed {closed} (longest open {longest:?}), unconnected {}; \
         server RSS {} KiB before, {} KiB peak",
        health.len(),
        percentile(&health, 0.5),
        percentile(&health, 0.99),
        purchases.len(),
        percentile(&purchases, 0.5),
        percentile(&purchases, 0.99),
        failures.len(),
        failures.iter().take(5).collect::<Vec<_>>(),
        tally.unconnected.load(Ordering::Relaxed),
        rss_before,
        rss_peak,
    );
    // Once the flood is over, the server gives its free memory back (`give_back`): it says so
    // within a few of its 2 s looks, and is smaller than at the peak.
    let log_path = home.path().join("state/flashsale.log");
    let waited = Instant::now();
    let gave_back = loop {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if let Some(line) = log.lines().find(|l| l.contains("connection flood over")) {
            break Some(line.to_string());
        }
        if waited.elapsed() > Duration::from_secs(20) {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let rss_after = rss_kib(server.pid());
    println!("slowloris: server RSS {rss_after} KiB after the flood; {gave_back:?}");
    assert!(
        gave_back.is_some(),
        "no memory given back within 20 s of the flood"
    );
    assert!(
        rss_after < rss_peak,
        "RSS after the flood {rss_after} KiB, at its peak {rss_peak} KiB"
    );
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let log_lines = log.lines().count();
    let accept_lines = log.lines().filter(|l| l.contains("accept failed")).count();
    let refusal_lines = log
        .lines()
        .filter(|l| l.contains("connection refused"))
        .count();
    println!(
        "slowloris: log {log_lines} lines, {accept_lines} accept failures, {refusal_lines} refusal lines"
    );
    for l in log
        .lines()
        .filter(|l| l.contains("accept failed") || l.contains("connection refused"))
        .take(4)
    {
        println!("  {l}");
    }
    // The attackers reopen ~3,000 sockets a second; on a loaded 2-core machine the server
    // sheds some of that flood with its 503 refusal, and a fresh connection can land in it.
    // Three in four must be served (97% were in the run RELIABILITY.md reports; 89% with the
    // machine at load 11); how many were not is printed.
    let answered = health.len() + purchases.len();
    assert!(
        answered >= 10 && failures.len() * 3 <= answered,
        "the fresh client was not answered: {answered} served, {} not: {failures:?}",
        failures.len()
    );
    assert!(
        closed >= (SILENT + TRICKLING) as u64,
        "slow sockets closed: {closed}"
    );
    assert!(
        longest <= CLOSE_BOUND,
        "a slow socket stayed open {longest:?}"
    );
    assert_eq!(
        tally.open_at_end_over_bound.load(Ordering::Relaxed),
        0,
        "slow sockets left open past the bound"
    );
    // The server is still whole afterwards.
    let after = raw()
        .get(format!("{}/api/health", server.url))
        .send()
        .await
        .expect("health");
    assert!(after.status().is_success());
}
