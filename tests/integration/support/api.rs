//! Raw requests against the HTTP API for the contract tests, answer by answer: status, headers
//! and a JSON body (every answer must be JSON and carry `X-Response-Time`), and a server with
//! the in-process limiter at the reference limits.

use flashsale_core::config::LimitSettings;
use flashsale_core::purchase::Purchaser;
use flashsale_core::ratelimit::RateLimiter;
use flashsale_core::store::Store;
use reqwest::StatusCode;
use serde_json::Value;

use super::http::{TestServer, config, raw};

/// A server with the in-process limiter at the reference limits.
pub async fn server(store: &Store) -> TestServer {
    let limiter = RateLimiter::new(LimitSettings::default(), None).expect("limiter");
    TestServer::start(Purchaser::new(store.clone(), limiter, 10), config()).await
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

pub async fn send(rb: reqwest::RequestBuilder) -> Answer {
    let res = rb.send().await.expect("request");
    let status = res.status();
    let headers = res.headers().clone();
    let text = res.text().await.expect("body");
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{status}: body is not JSON ({e}): {text:?}"));
    assert!(
        headers.contains_key("x-response-time"),
        "every response carries X-Response-Time"
    );
    Answer {
        status,
        headers,
        body,
    }
}

/// `POST /api/purchase` with `body`, from `ip` (as `X-Forwarded-For`).
pub async fn post(url: &str, ip: &str, body: &str) -> Answer {
    send(
        raw()
            .post(format!("{url}/api/purchase"))
            .header("content-type", "application/json")
            .header("x-forwarded-for", ip)
            .body(body.to_string()),
    )
    .await
}

pub async fn get(url: &str, path: &str) -> Answer {
    send(raw().get(format!("{url}{path}"))).await
}
