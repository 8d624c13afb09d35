//! Which address the per-IP limit counts: an untrusted peer's `X-Forwarded-For` is ignored
//! (rotating it defeats nothing), a trusted proxy's is honoured.

use std::net::IpAddr;

use flashsale_core::config::LimitSettings;
use flashsale_core::purchase::{Outcome, PurchaseRequest, Purchaser};
use flashsale_core::ratelimit::{RateLimiter, Scope};
use flashsale_core::strategy::Strategy;
use reqwest::StatusCode;

use crate::support::http::{TestServer, config, raw, untrusting};
use crate::support::{TestDb, TestRedis};

async fn post(url: &str, user: &str, forwarded: &str) -> reqwest::Response {
    raw()
        .post(format!("{url}/api/purchase"))
        .header("content-type", "application/json")
        .header("x-forwarded-for", forwarded)
        .body(format!(r#"{{"productId":1,"userId":"{user}"}}"#))
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let (_db, store) = TestDb::seeded().await;
    let redis = TestRedis::new().await;
    let p = Purchaser::new(store, redis.limiter(redis.settings()), 10);
    let s = TestServer::start(p, untrusting()).await;
    for i in 0..10 {
        let res = post(&s.url, &format!("rot{i}"), &format!("203.0.113.{i}")).await;
        assert_eq!(res.status(), StatusCode::OK, "request {i}");
    }
    // A fresh user and a fresh forged address: still the 11th request from this socket's IP.
    let res = post(&s.url, "rot10", "198.51.100.77").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        res.headers().get("x-ratelimit-scope").map(|v| v.as_bytes()),
        Some(&b"ip"[..])
    );
}

#[tokio::test]
async fn forwarded_for_from_a_trusted_proxy_is_honoured() {
    let (_db, store) = TestDb::seeded().await;
    let p = Purchaser::new(
        store,
        RateLimiter::new(LimitSettings::default(), None).expect("limiter"),
        10,
    );
    let s = TestServer::start(p, config()).await;
    for i in 0..15 {
        let res = post(&s.url, &format!("fwd{i}"), &format!("203.0.113.{i}")).await;
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "distinct clients behind the proxy: {i}"
        );
    }
    // The limit applies to the forwarded address; a forged left-hand entry does not help.
    for i in 0..10 {
        let res = post(&s.url, &format!("same{i}"), "192.0.2.50").await;
        assert_eq!(res.status(), StatusCode::OK, "{i}");
    }
    let res = post(&s.url, "same10", "6.6.6.6, 192.0.2.50").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // The same through ApiClient, which sends the simulated buyer's address.
    let limited = s
        .client()
        .purchase(&PurchaseRequest {
            product_id: 1,
            user_id: "same11",
            client_ip: IpAddr::from([192, 0, 2, 50]),
            quantity: 1,
            strategy: Strategy::Atomic,
        })
        .await;
    assert!(
        matches!(
            limited,
            Outcome::RateLimited {
                scope: Scope::Ip,
                limit: 10,
                ..
            }
        ),
        "{limited:?}"
    );
}

/// Twenty IPv6 addresses of one /64 are one client for the per-IP limit (whoever is given a
/// /64 can send each request from an address of its own): ten purchases, then 429. On Redis
/// and in process alike; another /64 has a window of its own.
#[tokio::test]
async fn twenty_addresses_of_one_ipv6_64_share_one_window() {
    let (_db, store) = TestDb::seeded().await;
    let redis = TestRedis::new().await;
    for (name, limiter) in [
        ("redis", redis.limiter(redis.settings())),
        (
            "in-process",
            RateLimiter::new(LimitSettings::default(), None).expect("limiter"),
        ),
    ] {
        let s = TestServer::start(Purchaser::new(store.clone(), limiter, 10), config()).await;
        let mut statuses = Vec::new();
        for i in 0..20u32 {
            let ip = format!("2001:db8:5:{}:{:x}::{:x}", 7, i * 977 + 1, i + 1);
            let res = post(&s.url, &format!("v6{name}{i}"), &ip).await;
            statuses.push(res.status().as_u16());
        }
        let ok = statuses.iter().filter(|s| **s == 200).count();
        let limited = statuses.iter().filter(|s| **s == 429).count();
        assert_eq!((ok, limited), (10, 10), "{name}: {statuses:?}");
        let other = post(&s.url, &format!("v6{name}-other"), "2001:db8:5:8::1").await;
        assert_eq!(other.status(), StatusCode::OK, "{name}: another /64");
    }
}
