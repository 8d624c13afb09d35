//! The circuit breaker in front of Redis: one failed check opens it, later checks do not call
//! Redis (so fail-closed refusals are immediate and fail-open purchases go at full speed), a
//! probe closes it when Redis answers again, and the log gets a line per change of state, not
//! per purchase. Throughput with Redis up and refusing connections, in the same run, is
//! printed for RELIABILITY.md.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use flashsale_client::ApiClient;
use flashsale_core::config::{LimitSettings, UnavailablePolicy};
use flashsale_core::purchase::{Outcome, PurchaseRequest};
use flashsale_core::ratelimit::{LimiterError, RateLimiter, Verdict};
use flashsale_core::redact::SecretUrl;
use flashsale_core::strategy::Strategy;
use futures::stream::{self, StreamExt};

use crate::support::http::ServeProcess;
use crate::support::{RedisServer, TestDb};

fn p99(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[(v.len() * 99 / 100).min(v.len() - 1)]
}

#[tokio::test]
async fn a_refusing_redis_is_asked_once_then_probed_until_it_answers() {
    let mut redis = RedisServer::start();
    let settings = LimitSettings {
        on_unavailable: UnavailablePolicy::FailClosed,
        user_max: 1_000_000,
        ip_max: 1_000_000,
        ..LimitSettings::default()
    };
    let limiter = RateLimiter::new(settings, Some(&SecretUrl::new(redis.url()))).expect("limiter");
    let ip: IpAddr = "10.9.9.9".parse().expect("ip");
    assert!(matches!(
        limiter.check("u", ip).await,
        Ok(Verdict::Allowed { .. })
    ));
    redis.stop();
    let first = limiter.check("u", ip).await;
    assert!(
        matches!(
            first,
            Err(LimiterError::Unreachable(_) | LimiterError::Timeout(_))
        ),
        "{first:?}"
    );
    let mut times = Vec::new();
    for _ in 0..2_000 {
        let t = Instant::now();
        let r = limiter.check("u", ip).await;
        times.push(t.elapsed());
        assert_eq!(
            r,
            Err(LimiterError::CircuitOpen),
            "Redis is not asked again"
        );
    }
    println!(
        "breaker: 2000 checks with the circuit open, p99 {:?}",
        p99(times)
    );
    redis.restart();
    let back = Instant::now();
    loop {
        match limiter.check("u", ip).await {
            Ok(Verdict::Allowed { .. }) => break,
            Err(LimiterError::CircuitOpen) => {
                assert!(
                    back.elapsed() < Duration::from_secs(10),
                    "the probe never closed the circuit"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    println!("breaker: closed {:?} after Redis came back", back.elapsed());
}

/// Purchases over HTTP for `secs`, 64 at a time: how many answered, and their outcomes' kinds.
async fn storm(client: &ApiClient, tag: &str, secs: u64) -> (u64, Vec<Outcome>) {
    let stop = Instant::now() + Duration::from_secs(secs);
    let results: Vec<Outcome> = stream::iter(0u32..)
        .take_while(|_| futures::future::ready(Instant::now() < stop))
        .map(|i| {
            let client = client.clone();
            let user = format!("{tag}{i}");
            async move {
                client
                    .purchase(&PurchaseRequest {
                        product_id: 1,
                        user_id: &user,
                        client_ip: IpAddr::from([10, 40, (i / 250 % 250) as u8, (i % 250) as u8]),
                        quantity: 1,
                        strategy: Strategy::Batched,
                    })
                    .await
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    (results.len() as u64 / secs, results)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_refusing_connections_purchases_keep_their_pace_and_the_log_its_size() {
    let (db, store) = TestDb::seeded().await;
    store.set_stock(1, 1_000_000).await.expect("restock");
    let mut redis = RedisServer::start();
    let home = tempfile::tempdir().expect("tmp");
    let redis_url = redis.url();
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("REDIS_URL", redis_url.as_str()),
        ("RATE_LIMIT_ON_REDIS_DOWN", "fail-open"),
        ("RATE_LIMIT_IP_MAX", "1000000000"),
        ("TRUSTED_PROXIES", "127.0.0.1"),
        ("FLASHSALE_STRATEGY", "batched"),
    ];
    let server = ServeProcess::start(home.path(), &env);
    let client = ApiClient::new(&server.url, 64, Duration::from_secs(20)).expect("client");
    let (up, outcomes) = storm(&client, "up", 4).await;
    assert!(outcomes.iter().all(|o| matches!(o, Outcome::Purchased(_))));
    redis.stop();
    let (down, outcomes) = storm(&client, "down", 4).await;
    let sold = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Purchased(_)))
        .count();
    assert_eq!(sold, outcomes.len(), "fail-open sells every one");
    println!(
        "breaker over HTTP: {up} purchases/s with Redis up, {down} purchases/s with Redis refusing connections (ratio {:.2})",
        down as f64 / up as f64
    );
    drop(server);
    let log = std::fs::read_to_string(home.path().join("state/flashsale.log")).unwrap_or_default();
    let redis_lines = log
        .lines()
        .filter(|l| l.to_ascii_lowercase().contains("redis") && !l.contains("serving"))
        .count();
    println!(
        "breaker over HTTP: {redis_lines} log lines about Redis for {} purchases while it was down",
        outcomes.len()
    );
    assert!(
        (1..=5).contains(&redis_lines),
        "one line per change of state expected, got {redis_lines}:\n{log}"
    );
}

#[tokio::test]
async fn fail_closed_refusals_with_the_circuit_open_are_immediate_over_http() {
    let (db, _store) = TestDb::seeded().await;
    let mut redis = RedisServer::start();
    let home = tempfile::tempdir().expect("tmp");
    let redis_url = redis.url();
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("REDIS_URL", redis_url.as_str()),
        ("RATE_LIMIT_ON_REDIS_DOWN", "fail-closed"),
        ("TRUSTED_PROXIES", "127.0.0.1"),
    ];
    let server = ServeProcess::start(home.path(), &env);
    redis.stop();
    let client = ApiClient::new(&server.url, 1, Duration::from_secs(20)).expect("client");
    let mut times = Vec::new();
    for i in 0..300u32 {
        let user = format!("closed{i}");
        let t = Instant::now();
        let outcome = client
            .purchase(&PurchaseRequest {
                product_id: 1,
                user_id: &user,
                client_ip: IpAddr::from([10, 41, 0, (i % 250) as u8]),
                quantity: 1,
                strategy: Strategy::Batched,
            })
            .await;
        times.push(t.elapsed());
        assert!(matches!(outcome, Outcome::Busy(_)), "{outcome:?}");
    }
    // The first refusal waited for Redis to refuse; the rest did not ask it.
    println!(
        "breaker over HTTP: 300 fail-closed refusals, p99 {:?} (round trip included)",
        p99(times)
    );
}
