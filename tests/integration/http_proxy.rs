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
