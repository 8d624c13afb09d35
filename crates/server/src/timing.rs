//! `X-Response-Time` on every response; requests slower than the threshold are counted in the
//! metrics and go to the [`SlowLog`](super::slow_log::SlowLog), which keeps the log bounded.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use super::slow_log::Slow;
use super::state::AppState;
use flashsale_api::RESPONSE_TIME;
use flashsale_core::purchase::OutcomeKind;

pub async fn time_requests(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let method = req.method().clone();
    let mut res = next.run(req).await;
    let elapsed = start.elapsed();
    let shown = format!("{:.3}ms", elapsed.as_secs_f64() * 1000.0);
    if let Ok(v) = HeaderValue::from_str(&shown) {
        res.headers_mut()
            .insert(HeaderName::from_static(RESPONSE_TIME), v);
    }
    if state.is_draining() {
        // Shutting down: a keep-alive client (or a balancer's pooled connection) opens its
        // next connection afresh, to a replica that is staying.
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if elapsed > state.config().slow_request {
        state.metrics().slow_request();
        let outcome = res
            .extensions()
            .get::<OutcomeKind>()
            .map_or("-", |k| k.as_str());
        state.slow_log().record(Slow {
            route,
            method: method.to_string(),
            status: res.status().as_u16(),
            outcome,
            elapsed_ms: elapsed.as_secs_f64() * 1000.0,
        });
    }
    res
}
