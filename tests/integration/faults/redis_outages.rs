//! Redis goes away under a storm on PostgreSQL, for every safe strategy, in process and over
//! HTTP (paused, then killed and started again: fail-open sells, fail-closed refuses and sells
//! again once it is back); the same on SQLite with the limiter's note on each receipt; and a
//! faulty network to Redis, which fails open within the timeout. No purchase hangs on Redis.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use flashsale_core::audit::AuditScope;
use flashsale_core::config::{LimitSettings, UnavailablePolicy};
use flashsale_core::purchase::{Outcome, Purchaser};
use flashsale_core::ratelimit::{LimitNote, RateLimiter};
use flashsale_core::redact::SecretUrl;
use flashsale_core::strategy::Strategy;
use futures::stream::{self, StreamExt};
use rstest::rstest;

use crate::support::buyers::{Entry, PRODUCT, Rig, req};
use crate::support::invariant::check_invariant;
use crate::support::proxy::FaultProxy;
use crate::support::{RedisServer, TestDb, TestSqlite};

/// Redis paused (`CLIENT PAUSE`), then killed and started again, mid-storm on PostgreSQL.
/// Fail-open: every purchase sells. Fail-closed: purchases are refused while Redis is away,
/// never sold unchecked, and sell again once it is back. Either way no purchase hangs on Redis
/// (each is bounded by the Redis timeout plus the purchase itself: a hang guard with room for
/// a loaded machine; the exact bound is `rate_limit::redis_down_fails_*`'s), and the audit
/// holds.
#[rstest]
#[case::fail_open_row_lock_in_process(
    UnavailablePolicy::FailOpen,
    Strategy::RowLock,
    Entry::InProcess
)]
#[case::fail_open_atomic_in_process(
    UnavailablePolicy::FailOpen,
    Strategy::Atomic,
    Entry::InProcess
)]
#[case::fail_open_batched_in_process(
    UnavailablePolicy::FailOpen,
    Strategy::Batched,
    Entry::InProcess
)]
#[case::fail_open_row_lock_over_http(
    UnavailablePolicy::FailOpen,
    Strategy::RowLock,
    Entry::OverHttp
)]
#[case::fail_open_atomic_over_http(UnavailablePolicy::FailOpen, Strategy::Atomic, Entry::OverHttp)]
#[case::fail_open_batched_over_http(
    UnavailablePolicy::FailOpen,
    Strategy::Batched,
    Entry::OverHttp
)]
#[case::fail_closed_row_lock_in_process(
    UnavailablePolicy::FailClosed,
    Strategy::RowLock,
    Entry::InProcess
)]
#[case::fail_closed_atomic_in_process(
    UnavailablePolicy::FailClosed,
    Strategy::Atomic,
    Entry::InProcess
)]
#[case::fail_closed_batched_in_process(
    UnavailablePolicy::FailClosed,
    Strategy::Batched,
    Entry::InProcess
)]
#[case::fail_closed_row_lock_over_http(
    UnavailablePolicy::FailClosed,
    Strategy::RowLock,
    Entry::OverHttp
)]
#[case::fail_closed_atomic_over_http(
    UnavailablePolicy::FailClosed,
    Strategy::Atomic,
    Entry::OverHttp
)]
#[case::fail_closed_batched_over_http(
    UnavailablePolicy::FailClosed,
    Strategy::Batched,
    Entry::OverHttp
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_paused_and_restarted_mid_storm_sells_as_the_policy_says(
    #[case] policy: UnavailablePolicy,
    #[case] strategy: Strategy,
    #[case] entry: Entry,
) {
    let (_db, store) = TestDb::seeded().await;
    store.set_stock(PRODUCT, 1_000_000).await.expect("restock");
    let scope = AuditScope::before(&store, PRODUCT, "redis_")
        .await
        .expect("scope");
    let mut server = RedisServer::start();
    let timeout = Duration::from_millis(150);
    let limits = LimitSettings {
        user_max: 1_000_000,
        ip_max: 1_000_000,
        redis_timeout: timeout,
        on_unavailable: policy,
        ..LimitSettings::default()
    };
    let limiter = RateLimiter::new(limits, Some(&SecretUrl::new(server.url()))).expect("limiter");
    let rig = Rig::new(
        Purchaser::new(store.clone(), limiter, 10),
        strategy,
        entry,
        16,
    )
    .await;
    let (timed, ()) = tokio::join!(
        rig.timed_waves("redis_", 16, Duration::from_millis(2_000)),
        async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if let Ok(mut conn) = redis::Client::open(server.url().as_str())
                .expect("url")
                .get_multiplexed_async_connection()
                .await
            {
                let _: redis::RedisResult<()> = redis::cmd("CLIENT")
                    .arg("PAUSE")
                    .arg(500)
                    .query_async(&mut conn)
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(700)).await;
            tokio::task::block_in_place(|| server.restart());
        }
    );
    let slowest = timed.iter().map(|(_, d)| *d).max().unwrap_or_default();
    assert!(
        slowest < timeout + Duration::from_secs(2),
        "{strategy} ({entry:?}): a purchase took {slowest:?}"
    );
    let mut outcomes: Vec<Outcome> = timed.into_iter().map(|(o, _)| o).collect();
    let refused = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Busy(_)))
        .count();
    match policy {
        UnavailablePolicy::FailOpen => {
            for o in &outcomes {
                assert!(
                    matches!(o, Outcome::Purchased(_)),
                    "{strategy} ({entry:?}): fail-open sells: {o:?}"
                );
            }
        }
        UnavailablePolicy::FailClosed => {
            for o in &outcomes {
                assert!(
                    matches!(o, Outcome::Purchased(_) | Outcome::Busy(_)),
                    "{strategy} ({entry:?}): fail-closed sells or refuses: {o:?}"
                );
            }
            assert!(refused > 0, "{strategy} ({entry:?}): nothing refused");
            // Redis is back: the limiter checks again and sales resume.
            let mut resumed = false;
            for attempt in 0..50u32 {
                let outcome = rig.buy(&format!("redis_after_{attempt}"), attempt).await;
                resumed = matches!(outcome, Outcome::Purchased(_));
                outcomes.push(outcome);
                if resumed {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert!(
                resumed,
                "{strategy} ({entry:?}): no sale after Redis came back"
            );
        }
    }
    let audit = check_invariant(&store, &scope, &outcomes).await;
    eprintln!(
        "redis outage, {policy}, {strategy}, {entry:?}: {} attempted, {refused} refused, slowest {slowest:?}; {audit:?}",
        outcomes.len()
    );
}

async fn redis_faults(
    policy: UnavailablePolicy,
) -> (Vec<(Outcome, Option<LimitNote>, Duration)>, Duration) {
    let (_lite, store) = TestSqlite::seeded().await;
    store.set_stock(PRODUCT, 100_000).await.expect("restock");
    let mut server = RedisServer::start();
    let timeout = Duration::from_millis(150);
    let limits = LimitSettings {
        user_max: 1_000_000,
        ip_max: 1_000_000,
        redis_timeout: timeout,
        on_unavailable: policy,
        ..LimitSettings::default()
    };
    let limiter = RateLimiter::new(limits, Some(&SecretUrl::new(server.url()))).expect("limiter");
    let p = Purchaser::new(store, limiter, 10);
    let running = Arc::new(AtomicBool::new(true));
    let storm_task = {
        let (p, running) = (p.clone(), Arc::clone(&running));
        tokio::spawn(async move {
            let mut results = Vec::new();
            let mut i = 0u32;
            while running.load(Ordering::Relaxed) {
                let slice: Vec<_> = stream::iter(i..i + 16)
                    .map(|i| {
                        let p = p.clone();
                        async move {
                            let user = format!("redis_{i}");
                            let start = Instant::now();
                            let r = p.purchase(req(&user, i)).await;
                            (r.outcome, r.limit, start.elapsed())
                        }
                    })
                    .buffer_unordered(16)
                    .collect()
                    .await;
                results.extend(slice);
                i += 16;
            }
            results
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Paused: the server takes connections but answers nothing for 600 ms.
    let mut conn = redis::Client::open(server.url().as_str())
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let _: redis::RedisResult<()> = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(600)
        .query_async(&mut conn)
        .await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    tokio::task::block_in_place(|| server.restart());
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    running.store(false, Ordering::Relaxed);
    (storm_task.await.expect("storm"), timeout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_paused_and_restarted_mid_storm_fail_open_within_the_timeout() {
    let (results, timeout) = redis_faults(UnavailablePolicy::FailOpen).await;
    let failed_open = results
        .iter()
        .filter(|(_, n, _)| matches!(n, Some(LimitNote::FailedOpen { .. })))
        .count();
    let checked_after = results
        .iter()
        .rev()
        .take(16)
        .filter(|(_, n, _)| matches!(n, Some(LimitNote::Checked { .. })))
        .count();
    assert!(failed_open > 0, "the pause and the restart were felt");
    assert!(
        checked_after > 0,
        "the limiter was checking again by the end"
    );
    for (outcome, _, took) in &results {
        assert!(
            matches!(outcome, Outcome::Purchased(_)),
            "fail-open sells: {outcome:?}"
        );
        // A hang guard: the Redis timeout bounds the limiter's part of every purchase.
        assert!(
            *took < timeout * 2 + Duration::from_secs(1),
            "a purchase took {took:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_paused_and_restarted_mid_storm_fail_closed_within_the_timeout() {
    let (results, timeout) = redis_faults(UnavailablePolicy::FailClosed).await;
    let refused = results
        .iter()
        .filter(|(o, _, _)| matches!(o, Outcome::Busy(m) if m.contains("fail-closed")))
        .count();
    let sold = results
        .iter()
        .filter(|(o, _, _)| matches!(o, Outcome::Purchased(_)))
        .count();
    assert!(
        refused > 0 && sold > 0,
        "refused while Redis was away, sold otherwise"
    );
    for (outcome, note, took) in &results {
        if matches!(outcome, Outcome::Purchased(_)) {
            assert!(
                matches!(note, Some(LimitNote::Checked { .. })),
                "fail-closed never sells unchecked"
            );
        }
        assert!(
            *took < timeout * 2 + Duration::from_secs(1),
            "a purchase took {took:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faulty_network_to_redis_fails_open_within_the_timeout() {
    let (_lite, store) = TestSqlite::seeded().await;
    store.set_stock(PRODUCT, 100_000).await.expect("restock");
    let server = RedisServer::start();
    let proxy =
        FaultProxy::start(format!("127.0.0.1:{}", server.port).parse().expect("addr")).await;
    let timeout = Duration::from_millis(150);
    let limits = LimitSettings {
        user_max: 1_000_000,
        ip_max: 1_000_000,
        redis_timeout: timeout,
        ..LimitSettings::default()
    };
    let url = SecretUrl::new(format!("redis://127.0.0.1:{}", proxy.addr.port()));
    let p = Purchaser::new(
        store,
        RateLimiter::new(limits, Some(&url)).expect("limiter"),
        10,
    );
    let mut notes = Vec::new();
    for (step, fault) in ["clean", "slow", "black hole", "cut", "healed"]
        .into_iter()
        .enumerate()
    {
        match fault {
            "slow" => proxy.set_latency(Duration::from_millis(400)),
            "black hole" => {
                proxy.heal();
                proxy.set_black_hole(true);
            }
            "cut" => {
                proxy.heal();
                proxy.cut_all();
                proxy.set_refuse(true);
            }
            "healed" => proxy.heal(),
            _ => {}
        }
        if fault == "healed" {
            // The connection manager reconnects on its own; give it a moment.
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        for i in 0..10u32 {
            let user = format!("redisnet_{step}_{i}");
            let start = Instant::now();
            let r = p.purchase(req(&user, i)).await;
            let took = start.elapsed();
            assert!(matches!(r.outcome, Outcome::Purchased(_)), "{fault}: {r:?}");
            assert!(
                took < timeout * 2 + Duration::from_secs(1),
                "{fault}: a purchase took {took:?}"
            );
            notes.push((fault, r.limit));
        }
    }
    let open_in = |fault: &str| {
        notes
            .iter()
            .filter(|(f, n)| *f == fault && matches!(n, Some(LimitNote::FailedOpen { .. })))
            .count()
    };
    let checked_in = |fault: &str| {
        notes
            .iter()
            .filter(|(f, n)| *f == fault && matches!(n, Some(LimitNote::Checked { .. })))
            .count()
    };
    assert_eq!(checked_in("clean"), 10);
    assert_eq!(
        open_in("slow"),
        10,
        "400 ms of latency is past the 150 ms timeout"
    );
    assert_eq!(open_in("black hole"), 10);
    assert_eq!(open_in("cut"), 10);
    assert!(
        checked_in("healed") > 0,
        "checks resume once the network heals"
    );
}
