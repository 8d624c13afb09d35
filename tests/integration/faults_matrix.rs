//! The fault storms across every safe strategy, in process and over HTTP: the database
//! restarted, a faulty network to PostgreSQL, Redis paused and restarted, and the pool
//! exhausted. (Killed backends, with the same matrix, are in `faults.rs`.) After each: nothing
//! oversold, nothing acknowledged lost, stock and orders in balance.

use std::time::{Duration, Instant};

use flashsale::audit::AuditScope;
use flashsale::config::{DatabaseTarget, LimitSettings, PoolSettings, UnavailablePolicy};
use flashsale::http_client::HttpPurchaser;
use flashsale::purchase::{Outcome, Purchaser, Strategy};
use flashsale::ratelimit::RateLimiter;
use flashsale::redact::SecretUrl;
use flashsale::server::ServerConfig;
use flashsale::store::Store;
use futures::stream::{self, StreamExt};

use crate::faults::{PRODUCT, check_exhausted_pool, check_invariant, req};
use crate::support::http::{TestServer, config as http_config};
use crate::support::pg_server::PgServer;
use crate::support::proxy::FaultProxy;
use crate::support::{RedisServer, TestDb, unlimited};

/// Where a storm's purchases go: the purchase module, or a server started for the test.
enum Via {
    Local(Purchaser),
    /// The server is held only to keep it running for the storm.
    Http(HttpPurchaser, #[allow(dead_code)] TestServer),
}

struct Rig {
    via: Via,
    strategy: Strategy,
}

impl Rig {
    async fn new(
        purchaser: Purchaser,
        strategy: Strategy,
        over_http: bool,
        concurrency: usize,
    ) -> Rig {
        let via = if over_http {
            let server = TestServer::start(
                purchaser,
                ServerConfig {
                    strategy,
                    ..http_config()
                },
            )
            .await;
            let client = HttpPurchaser::new(&server.url, concurrency, Duration::from_secs(30))
                .expect("client");
            Via::Http(client, server)
        } else {
            Via::Local(purchaser)
        };
        Rig { via, strategy }
    }

    async fn buy(&self, user: &str, i: u32) -> Outcome {
        let r = flashsale::purchase::PurchaseRequest {
            strategy: self.strategy,
            ..req(user, i)
        };
        match &self.via {
            Via::Local(p) => p.purchase(r).await.outcome,
            Via::Http(client, _) => client.purchase(&r).await,
        }
    }

    /// Purchases `from..from + n` by buyers `prefix<i>`, `concurrency` at a time, each with
    /// how long it took.
    async fn storm(
        &self,
        prefix: &str,
        from: u32,
        n: u32,
        concurrency: usize,
    ) -> Vec<(Outcome, Duration)> {
        stream::iter(from..from + n)
            .map(|i| async move {
                let started = Instant::now();
                let outcome = self.buy(&format!("{prefix}{i}"), i).await;
                (outcome, started.elapsed())
            })
            .buffer_unordered(concurrency)
            .collect()
            .await
    }

    /// Waves of `wave` purchases until `for_how_long` has passed.
    async fn waves(&self, prefix: &str, wave: u32, for_how_long: Duration) -> Vec<Outcome> {
        self.timed_waves(prefix, wave, for_how_long)
            .await
            .into_iter()
            .map(|(o, _)| o)
            .collect()
    }

    /// [`Rig::waves`], each purchase with how long it took.
    async fn timed_waves(
        &self,
        prefix: &str,
        wave: u32,
        for_how_long: Duration,
    ) -> Vec<(Outcome, Duration)> {
        let end = Instant::now() + for_how_long;
        let (mut outcomes, mut i) = (Vec::new(), 0);
        while Instant::now() < end {
            outcomes.extend(self.storm(prefix, i, wave, wave as usize).await);
            i += wave;
        }
        outcomes
    }
}

macro_rules! every_strategy_both_ways {
    ($module:ident, $scenario:ident) => {
        mod $module {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn row_lock_in_process() {
                $scenario(Strategy::RowLock, false).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn atomic_in_process() {
                $scenario(Strategy::Atomic, false).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn batched_in_process() {
                $scenario(Strategy::Batched, false).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn row_lock_over_http() {
                $scenario(Strategy::RowLock, true).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn atomic_over_http() {
                $scenario(Strategy::Atomic, true).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn batched_over_http() {
                $scenario(Strategy::Batched, true).await;
            }
        }
    };
}

/// Stop, wait, start: the storm finishes with errors for the gap, the invariant holds, and the
/// pools recover by themselves within seconds.
async fn database_restart(strategy: Strategy, over_http: bool) {
    let pg = PgServer::start();
    let target = DatabaseTarget::Postgres(SecretUrl::new(pg.url("postgres")));
    let pool = PoolSettings {
        acquire_timeout: Duration::from_millis(500),
        ..PoolSettings::default()
    };
    let store = Store::open(&target, &pool).await.expect("open");
    store.migrate().await.expect("migrate");
    store.seed().await.expect("seed");
    store.set_stock(PRODUCT, 1_000_000).await.expect("restock");
    let scope = AuditScope::before(&store, PRODUCT, "restart_")
        .await
        .expect("scope");
    let rig = Rig::new(unlimited(&store), strategy, over_http, 32).await;
    let (mut outcomes, ()) =
        tokio::join!(rig.waves("restart_", 32, Duration::from_secs(3)), async {
            tokio::time::sleep(Duration::from_millis(800)).await;
            tokio::task::block_in_place(|| pg.stop());
            tokio::time::sleep(Duration::from_millis(800)).await;
            tokio::task::block_in_place(|| pg.start_again());
        });
    let errors = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Failed(_) | Outcome::Busy(_)))
        .count();
    assert!(errors > 0, "the outage showed as errors");
    // The recovery purchases are in the audit's scope: their outcomes join the storm's.
    let mut recovered = false;
    for attempt in 0..50u32 {
        let outcome = rig.buy(&format!("restart_after_{attempt}"), attempt).await;
        recovered = matches!(outcome, Outcome::Purchased(_));
        outcomes.push(outcome);
        if recovered {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        recovered,
        "{strategy} (http {over_http}): no purchase succeeded within 5 s of the restart"
    );
    let audit = check_invariant(&store, &scope, &outcomes).await;
    eprintln!(
        "restart, {strategy}, http {over_http}: {} attempted, {errors} errors; {audit:?}",
        outcomes.len()
    );
}

every_strategy_both_ways!(database_restarted_mid_storm, database_restart);

/// Latency, then every connection cut, then a black hole, then healed, between us and
/// PostgreSQL.
async fn faulty_network(strategy: Strategy, over_http: bool) {
    let (db, _store) = TestDb::seeded().await;
    let u = url::Url::parse(&db.url).expect("url");
    let upstream = format!("127.0.0.1:{}", u.port().unwrap_or(5432))
        .parse()
        .expect("address");
    let proxy = FaultProxy::start(upstream).await;
    let mut via = u.clone();
    via.set_host(Some("127.0.0.1")).expect("host");
    via.set_port(Some(proxy.addr.port())).expect("port");
    let pool = PoolSettings {
        acquire_timeout: Duration::from_millis(1_000),
        statement_timeout: Duration::from_millis(1_000),
        ..PoolSettings::default()
    };
    let store = Store::open(
        &DatabaseTarget::Postgres(SecretUrl::new(via.to_string())),
        &pool,
    )
    .await
    .expect("open");
    store.set_stock(PRODUCT, 1_000_000).await.expect("restock");
    let scope = AuditScope::before(&store, PRODUCT, "net_")
        .await
        .expect("scope");
    let rig = Rig::new(unlimited(&store), strategy, over_http, 32).await;
    let (outcomes, ()) = tokio::join!(rig.waves("net_", 32, Duration::from_millis(1_500)), async {
        for step in 0..4 {
            tokio::time::sleep(Duration::from_millis(250)).await;
            match step {
                0 => proxy.set_latency(Duration::from_millis(20)),
                1 => proxy.cut_all(),
                2 => proxy.set_black_hole(true),
                _ => proxy.heal(),
            }
        }
    });
    let audit = check_invariant(&store, &scope, &outcomes).await;
    assert!(
        audit.units_sold > 0,
        "{strategy} (http {over_http}): {audit:?}"
    );
    eprintln!(
        "faulty network, {strategy}, http {over_http}: {} attempted; {audit:?}",
        outcomes.len()
    );
}

every_strategy_both_ways!(faulty_network_to_postgres, faulty_network);

/// Redis paused (`CLIENT PAUSE`), then killed and started again, mid-storm on PostgreSQL.
/// Fail-open: every purchase sells. Fail-closed: purchases are refused while Redis is away,
/// never sold unchecked, and sell again once it is back. Either way no purchase hangs on Redis
/// (each is bounded by the Redis timeout plus the purchase itself: a hang guard with room for
/// a loaded machine; the exact bound is `rate_limit::redis_down_fails_*`'s), and the audit
/// holds.
async fn redis_outage(policy: UnavailablePolicy, strategy: Strategy, over_http: bool) {
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
        over_http,
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
        "{strategy} (http {over_http}): a purchase took {slowest:?}"
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
                    "{strategy} (http {over_http}): fail-open sells: {o:?}"
                );
            }
        }
        UnavailablePolicy::FailClosed => {
            for o in &outcomes {
                assert!(
                    matches!(o, Outcome::Purchased(_) | Outcome::Busy(_)),
                    "{strategy} (http {over_http}): fail-closed sells or refuses: {o:?}"
                );
            }
            assert!(
                refused > 0,
                "{strategy} (http {over_http}): nothing refused"
            );
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
                "{strategy} (http {over_http}): no sale after Redis came back"
            );
        }
    }
    let audit = check_invariant(&store, &scope, &outcomes).await;
    eprintln!(
        "redis outage, {policy}, {strategy}, http {over_http}: {} attempted, {refused} refused, slowest {slowest:?}; {audit:?}",
        outcomes.len()
    );
}

async fn redis_outage_fail_open(strategy: Strategy, over_http: bool) {
    redis_outage(UnavailablePolicy::FailOpen, strategy, over_http).await;
}

async fn redis_outage_fail_closed(strategy: Strategy, over_http: bool) {
    redis_outage(UnavailablePolicy::FailClosed, strategy, over_http).await;
}

every_strategy_both_ways!(redis_paused_and_restarted_fail_open, redis_outage_fail_open);
every_strategy_both_ways!(
    redis_paused_and_restarted_fail_closed,
    redis_outage_fail_closed
);

/// Concurrency 1000 against a pool of 5, over HTTP: answers are purchases or Busy, never a hang.
async fn pool_exhausted_over_http(strategy: Strategy) {
    let (db, _store) = TestDb::seeded().await;
    let store = db
        .store_with(PoolSettings {
            max_connections: 5,
            ..PoolSettings::default()
        })
        .await;
    store.set_stock(PRODUCT, 1_000_000).await.expect("restock");
    let prefix = format!("pool_http_{strategy}_");
    let scope = AuditScope::before(&store, PRODUCT, &prefix)
        .await
        .expect("scope");
    let rig = Rig::new(unlimited(&store), strategy, true, 1_000).await;
    let start = Instant::now();
    let outcomes: Vec<Outcome> = rig
        .storm(&prefix, 0, 3_000, 1_000)
        .await
        .into_iter()
        .map(|(o, _)| o)
        .collect();
    let at1000 = 3000.0 / start.elapsed().as_secs_f64();
    check_exhausted_pool(&store, &scope, &outcomes, strategy).await;
    let start = Instant::now();
    rig.storm(&format!("{prefix}64_"), 0, 3_000, 64).await;
    let at64 = 3000.0 / start.elapsed().as_secs_f64();
    eprintln!(
        "pool of 5 over HTTP, {strategy}: {at1000:.0}/s at 1000, {at64:.0}/s at 64; ratio {:.2}",
        at1000 / at64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_http_buyers_on_a_pool_of_five_get_answers_row_lock() {
    pool_exhausted_over_http(Strategy::RowLock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_http_buyers_on_a_pool_of_five_get_answers_atomic() {
    pool_exhausted_over_http(Strategy::Atomic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_http_buyers_on_a_pool_of_five_get_answers_batched() {
    pool_exhausted_over_http(Strategy::Batched).await;
}
