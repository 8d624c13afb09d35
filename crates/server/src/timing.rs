//! `X-Response-Time` on every response, and a warning in the log for every request slower than
//! the threshold, with its route, status and purchase outcome.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

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
    if elapsed > state.config().slow_request {
        state.metrics().slow_request();
        let outcome = res
            .extensions()
            .get::<OutcomeKind>()
            .map_or("-", |k| k.as_str());
        tracing::warn!(
            %route,
            %method,
            status = res.status().as_u16(),
            outcome,
            elapsed_ms = elapsed.as_secs_f64() * 1000.0,
            "slow request"
        );
    }
    res
}
