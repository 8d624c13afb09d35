//! The storm through the balancer while one replica is killed and another drains.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::keyed_buyers::{PRODUCT, Retries, Told, buy, ledger};
use super::{port_of, replica, secrets};
use crate::support::haproxy::{HaProxy, Logged};
use crate::support::pgbouncer::PgBouncer;
use crate::support::{TestDb, TestRedis};

/// Purchases in the storm (at least; it goes on until the drained replica has exited). See
/// RELIABILITY.md: 10^5 would take minutes in the debug build on CI's two cores.
const PURCHASES: usize = 20_000;
/// Less than the purchases: the sale sells out under the faults.
const STOCK: i32 = 15_000;
const CONCURRENCY: usize = 48;

/// The storm. Replica s1 is killed (SIGKILL) at 30 % of the purchases, s2 sent SIGTERM at
/// 50 %; the storm goes on at least until s2 has exited. Asserted: every buyer gets an answer
/// (retrying through the balancer); in SQL, stock + units sold = the stock at the start, the
/// sale sold out to exactly 0, every order has its key, nobody bought twice, and the orders are
/// exactly those the buyers were told of; in HAProxy's log, s2 left the pool by failing its
/// `/api/ready` check (Layer7, 503) while still accepting, not by refusing connections (as
/// the killed s1 did), and no request routed to s2 failed; s2 exited 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn load_balancer_storm_loses_nothing_to_a_killed_and_a_drained_replica() {
    let (db, store) = TestDb::seeded().await;
    store.set_stock(PRODUCT, STOCK).await.expect("restock");
    let redis = TestRedis::new().await;
    let bouncer = PgBouncer::deployed();
    let home = tempfile::tempdir().expect("tmp");
    let secrets = secrets(Some(&bouncer), &db, &redis);
    let extra = [
        ("RATE_LIMIT_PREFIX", redis.prefix.as_str()),
        // One client address sends every purchase: limits out of the way.
        ("RATE_LIMIT_USER_MAX", "1000000"),
        ("RATE_LIMIT_IP_MAX", "1000000"),
    ];
    let s1 = replica(home.path(), &secrets, &extra);
    let s2 = replica(home.path(), &secrets, &extra);
    let s3 = replica(home.path(), &secrets, &extra);
    let proxy = Arc::new(HaProxy::deployed(&[
        port_of(&s1),
        port_of(&s2),
        port_of(&s3),
    ]));
    for s in ["s1", "s2", "s3"] {
        proxy.wait_for_status(s, "UP", Duration::from_secs(20));
    }
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(CONCURRENCY)
        .pool_idle_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(40))
        .build()
        .expect("client");
    let url = proxy.url();

    let done = Arc::new(AtomicUsize::new(0));
    let next = Arc::new(AtomicUsize::new(0));
    let s2_exited = Arc::new(AtomicBool::new(false));
    let retries = Arc::new(Retries::default());
    let started = Instant::now();
    let faults = tokio::spawn({
        let (done, s2_exited) = (done.clone(), s2_exited.clone());
        let (mut s1, mut s2) = (s1, s2);
        async move {
            while done.load(Ordering::Relaxed) < PURCHASES * 3 / 10 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let killed_at = done.load(Ordering::Relaxed);
            let kill_time = Instant::now();
            let killed = tokio::task::spawn_blocking(move || s1.kill())
                .await
                .expect("kill");
            while done.load(Ordering::Relaxed) < PURCHASES / 2 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let termed_at = done.load(Ordering::Relaxed);
            let termed = Instant::now();
            let status = tokio::task::spawn_blocking(move || s2.terminate(Duration::from_secs(60)))
                .await
                .expect("terminate");
            s2_exited.store(true, Ordering::Relaxed);
            let exited_at = done.load(Ordering::Relaxed);
            (
                killed,
                (killed_at, kill_time),
                termed_at,
                exited_at,
                (termed, termed.elapsed()),
                status,
            )
        }
    });
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (client, url, done, next, s2_exited, retries) = (
                client.clone(),
                url.clone(),
                done.clone(),
                next.clone(),
                s2_exited.clone(),
                retries.clone(),
            );
            tokio::spawn(async move {
                let mut told = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    // Past the plan only while s2 drains, and never past three times it.
                    if i >= PURCHASES && (s2_exited.load(Ordering::Relaxed) || i >= 3 * PURCHASES) {
                        break;
                    }
                    told.push((i, buy(&client, &url, i, &retries).await));
                    done.fetch_add(1, Ordering::Relaxed);
                }
                told
            })
        })
        .collect();
    let mut answers = Vec::new();
    for w in workers {
        answers.extend(w.await.expect("worker"));
    }
    let elapsed = started.elapsed();
    let (killed, (killed_at, kill_time), termed_at, exited_at, (term_time, drained_for), s2_status) =
        faults.await.expect("faults");
    let failures: Vec<&String> = answers
        .iter()
        .filter_map(|(_, a)| a.as_ref().err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} buyers got no answer, first: {:?}\n{}",
        failures.len(),
        failures.first(),
        proxy
            .traffic()
            .lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .join("\n")
    );
    let told: Vec<Told> = answers
        .iter()
        .filter_map(|(_, a)| a.as_ref().ok().copied())
        .collect();
    let mut acknowledged: Vec<i64> = told
        .iter()
        .filter_map(|t| match t {
            Told::Purchased(id) => Some(*id),
            Told::SoldOut => None,
        })
        .collect();
    acknowledged.sort_unstable();
    let sold_out = told.iter().filter(|t| matches!(t, Told::SoldOut)).count();

    // s2 drained: it exited 0 after SIGTERM; s1 was killed.
    assert_eq!(
        s2_status.and_then(|s| s.code()),
        Some(0),
        "s2 after SIGTERM: {s2_status:?}"
    );
    assert!(killed.code().is_none(), "s1 died of SIGKILL: {killed:?}");

    // The invariant, in SQL.
    let l = ledger(&db).await;
    assert_eq!(
        l.stock_row + l.leased + l.units,
        i64::from(STOCK),
        "stock {} + leased {} + units sold {} = the stock at the start",
        l.stock_row,
        l.leased,
        l.units
    );
    assert!(
        sold_out > 0,
        "demand above the stock: some buyers were told sold out"
    );
    assert_eq!(
        l.stock_row + l.leased,
        0,
        "sold out to exactly 0, the killed replica's lease too"
    );
    assert_eq!(l.orders, l.units, "one unit per order");
    assert_eq!(
        l.orders_without_key, 0,
        "every order has its Idempotency-Key row"
    );
    assert_eq!(l.users_with_two_orders, 0, "no buyer bought twice");
    assert_eq!(l.purchased_keys, l.orders, "one purchased key per order");
    assert_eq!(
        acknowledged.len() as i64,
        l.orders,
        "the buyers told 'purchased' are as many as the orders"
    );
    assert_eq!(
        acknowledged, l.ids,
        "the orders are exactly the ones buyers were told of"
    );

    // HAProxy's view.
    // HAProxy's own counters: nothing it sent s2 failed, and it never had to retry s2.
    let s2_stats = proxy.server_stats("s2");
    for counter in ["econ", "eresp", "wretr", "wredis", "srv_abrt"] {
        let n = s2_stats
            .get(counter)
            .map(String::as_str)
            .unwrap_or_default();
        assert!(
            n.is_empty() || n == "0",
            "HAProxy counted {counter} = {n} on the draining s2: {s2_stats:?}"
        );
    }
    let log = proxy.traffic();
    let down = |server: &str| {
        // The check that took it out for the last time (`status: 0/2 DOWN.` after a check that
        // left it up) says why; a replica slow to answer under the storm may have been out
        // and back before. The console's `[WARNING]` copies are skipped.
        let said = format!("Health check for server flashsale/{server} ");
        let checks: Vec<&str> = log.lines().filter(|l| l.starts_with(&said)).collect();
        checks
            .iter()
            .enumerate()
            .filter(|(i, l)| {
                l.ends_with(" DOWN.") && (*i == 0 || !checks[i - 1].ends_with(" DOWN."))
            })
            .map(|(_, l)| l.to_string())
            .next_back()
            .unwrap_or_else(|| panic!("HAProxy never took {server} out: {checks:#?}"))
    };
    let (s1_down, s2_down) = (down("s1"), down("s2"));
    assert!(
        s2_down.contains("Layer7") && s2_down.contains("503"),
        "s2 left the pool by answering 503 on /api/ready, still accepting: {s2_down}"
    );
    assert!(
        s1_down.contains("Layer4"),
        "s1 refused connections: {s1_down}"
    );
    let s1_stats = proxy.server_stats("s1");
    let s1_counts: Vec<String> = ["econ", "eresp", "wretr", "wredis", "srv_abrt", "cli_abrt"]
        .iter()
        .map(|c| {
            format!(
                "{c} {}",
                s1_stats.get(*c).map(String::as_str).unwrap_or("-")
            )
        })
        .collect();
    // HAProxy writes a request's line after its answer has gone: the last few may lag.
    let purchased_lines = |requests: &[Logged]| {
        requests
            .iter()
            .filter(|r| r.request.starts_with("POST /api/purchase"))
            .count()
    };
    // One purchase line was missing from the log in 2 of 8 runs (1 of 20,000), not explained
    // yet; HAProxy counts the lines it could not write (DroppedLogs), and its counters above
    // cover every request, logged or not.
    let dropped = || proxy.info("DroppedLogs") as usize;
    let mut requests = proxy.requests();
    for _ in 0..100 {
        if purchased_lines(&requests) + dropped() >= answers.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        requests = proxy.requests();
    }
    let purchases: Vec<_> = requests
        .iter()
        .filter(|r| r.request.starts_with("POST /api/purchase"))
        .collect();
    let dropped_logs = dropped();
    assert!(
        purchases.len() + dropped_logs >= answers.len(),
        "HAProxy logged {} purchases (and dropped {dropped_logs} lines) for {} buyers",
        purchases.len(),
        answers.len()
    );
    let s2_failed: Vec<_> = purchases
        .iter()
        .filter(|r| r.server == "s2" && (!r.ended_normally() || r.status == 502 || r.status == 504))
        .collect();
    assert!(
        s2_failed.is_empty(),
        "requests routed to the draining s2 failed: {s2_failed:?}"
    );
    let by = |server: &str, status: i32| {
        purchases
            .iter()
            .filter(|r| r.server == server && r.status == status)
            .count()
    };
    let cut_short: Vec<_> = purchases.iter().filter(|r| !r.ended_normally()).collect();
    assert!(
        cut_short
            .iter()
            .all(|r| r.server == "s1" || r.server == "<NOSRV>"),
        "only the killed s1 cut requests short: {:?}",
        cut_short
            .iter()
            .filter(|r| r.server != "s1")
            .take(5)
            .collect::<Vec<_>>()
    );
    // Served by s2 after its first failed check: requests it took while draining.
    let first_failed_check = log
        .lines()
        .position(|l| l.contains("Health check for server flashsale/s2 failed"))
        .unwrap_or(usize::MAX);
    let while_draining = log
        .lines()
        .enumerate()
        .filter(|(n, l)| *n > first_failed_check && l.contains(" flashsale/s2 "))
        .count();
    let redispatched = purchases
        .iter()
        .filter(|r| r.retries.starts_with('+'))
        .count();

    let mut s3 = s3;
    let s3_status = s3.terminate(Duration::from_secs(60));
    assert_eq!(
        s3_status.and_then(|s| s.code()),
        Some(0),
        "s3 after SIGTERM"
    );
    let at_rest = ledger(&db).await;

    // When the transport errors came, beside the faults (printed, not asserted).
    let at = retries.at.lock().map(|a| a.clone()).unwrap_or_default();
    let ms = |t: &Instant| {
        t.checked_duration_since(kill_time)
            .map_or(-1, |d| d.as_millis() as i64)
    };
    let offsets = match (at.iter().map(ms).min(), at.iter().map(ms).max()) {
        (Some(lo), Some(hi)) => format!("{lo}..{hi}"),
        _ => "none".to_string(),
    };
    let after_term = at.iter().filter(|t| **t >= term_time).count();
    println!(
        "load balancer storm: {} purchases ({PURCHASES} planned, {CONCURRENCY} at a time) through \
         HAProxy to 3 replicas through PgBouncer in {:.1} s ({:.0}/s); stock {STOCK}: {} \
         purchased, {sold_out} sold out; s1 SIGKILLed after {killed_at}, s2 SIGTERMed after \
         {termed_at}, exited 0 after {:.1} s (at {exited_at}), serving {while_draining} requests \
         after its first failed check; retries: {} transport, {} 502, {} 503, {} 504, {} \
         replayed by key; HAProxy: {} redispatched, s1 {}x200 {}x502 {}x503, s2 {}x200 {}x503, \
         s3 {}x200 {}x503; cut short {}; log lines dropped {dropped_logs}; s1's counters: {}; leases left {} (s1's, until \
         reclaimed); after s3 stopped: stock row {} + leased {}; transport errors {} ms after the \
         SIGKILL, {} after the SIGTERM; first: {}",
        answers.len(),
        elapsed.as_secs_f64(),
        answers.len() as f64 / elapsed.as_secs_f64(),
        acknowledged.len(),
        drained_for.as_secs_f64(),
        retries.transport.load(Ordering::Relaxed),
        retries.bad_gateway.load(Ordering::Relaxed),
        retries.unavailable.load(Ordering::Relaxed),
        retries.timeout.load(Ordering::Relaxed),
        retries.replayed.load(Ordering::Relaxed),
        redispatched,
        by("s1", 200),
        by("s1", 502),
        by("s1", 503),
        by("s2", 200),
        by("s2", 503),
        by("s3", 200),
        by("s3", 503),
        cut_short.len(),
        s1_counts.join(", "),
        l.leased,
        at_rest.stock_row,
        at_rest.leased,
        offsets,
        after_term,
        retries
            .seen
            .lock()
            .ok()
            .and_then(|s| s.first().cloned())
            .unwrap_or_default(),
    );
}
