//! What every request goes through before the router, on our own connections: size checks
//! with JSON answers (414, 431; hyper's own limits sit above ours and answer with empty
//! bodies only past them), `Host` on HTTP/1.1, CORS, the whole-request deadline, and the peer
//! address for the handlers (axum's `ConnectInfo`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{HeaderName, HeaderValue, Request, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use flashsale_api::RESPONSE_TIME;
use hyper::body::Incoming;

use super::connections::Slot;
use super::cors::Cors;
use super::reply::ApiError;

/// Longest path and query we read.
pub const MAX_URI: usize = 8 * 1024;
/// Most bytes of header names and values in one request.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Most header lines in one request.
pub const MAX_HEADERS: usize = 100;
/// hyper's own bounds, above ours so that ours answer first: its read buffer (and so the
/// memory one connection can hold with an unfinished head) and its header count.
pub const HYPER_BUF: usize = 64 * 1024;
pub const HYPER_MAX_HEADERS: usize = 200;

/// The router and what every request on every connection shares.
#[derive(Clone)]
pub struct Front {
    pub router: Router,
    pub cors: Arc<Cors>,
    pub request_timeout: Duration,
}

impl Front {
    /// Answers one request of the connection in `slot` from `peer`.
    pub async fn call(
        &self,
        peer: SocketAddr,
        slot: Arc<Slot>,
        mut req: Request<Incoming>,
    ) -> Result<Response, Infallible> {
        let _busy = slot.busy();
        let start = Instant::now();
        if let Some(refusal) = check(&req) {
            return Ok(timed(refusal.into_response(), start));
        }
        let origin = req.headers().get(header::ORIGIN).cloned();
        if let Some(preflight) = self.cors.preflight(&req) {
            return Ok(timed(preflight, start));
        }
        req.extensions_mut().insert(ConnectInfo(peer));
        // Event streams register their connection, to close it if their client stops reading.
        req.extensions_mut().insert(slot.clone());
        let mut router = self.router.clone();
        let call = tower_service::Service::call(&mut router, req);
        let mut res = match tokio::time::timeout(self.request_timeout, call).await {
            Ok(Ok(res)) => res,
            Ok(Err(never)) => match never {},
            Err(_) => {
                let mut res = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "no answer within the request timeout ({} ms)",
                        self.request_timeout.as_millis()
                    ),
                )
                .into_response();
                res.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                timed(res, start)
            }
        };
        self.cors.decorate(origin.as_ref(), &mut res);
        Ok(res)
    }
}

/// `X-Response-Time` on an answer the router's timing layer did not see.
pub fn timed(mut res: Response, start: Instant) -> Response {
    let shown = format!("{:.3}ms", start.elapsed().as_secs_f64() * 1000.0);
    if let Ok(v) = HeaderValue::from_str(&shown) {
        res.headers_mut()
            .insert(HeaderName::from_static(RESPONSE_TIME), v);
    }
    res
}

/// The checks that need nothing but the head.
fn check<B>(req: &Request<B>) -> Option<ApiError> {
    let uri_len = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if uri_len > MAX_URI {
        return Some(ApiError::new(
            StatusCode::URI_TOO_LONG,
            format!("the request target must be at most {MAX_URI} bytes"),
        ));
    }
    let headers = req.headers();
    let bytes: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return Some(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!(
                "request headers must be at most {MAX_HEADERS} fields and {MAX_HEADER_BYTES} bytes"
            ),
        ));
    }
    if req.version() == Version::HTTP_11
        && !headers.contains_key(header::HOST)
        && req.uri().authority().is_none()
    {
        return Some(ApiError::bad_request(
            "host",
            "HTTP/1.1 requests must carry a Host header",
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(uri: &str) -> axum::http::request::Builder {
        Request::builder().uri(uri).version(Version::HTTP_11)
    }

    #[test]
    fn heads_are_checked_with_json_statuses() {
        let ok = req("/api/health")
            .header("host", "x")
            .body(())
            .expect("request");
        assert_eq!(check(&ok), None);
        let no_host = req("/api/health").body(()).expect("request");
        assert_eq!(
            check(&no_host).map(|e| e.status),
            Some(StatusCode::BAD_REQUEST)
        );
        let http10 = req("/api/health")
            .version(Version::HTTP_10)
            .body(())
            .expect("request");
        assert_eq!(check(&http10), None, "HTTP/1.0 needs no Host");
        let long = req(&format!("/api/stock/{}", "1".repeat(MAX_URI)))
            .header("host", "x")
            .body(())
            .expect("request");
        assert_eq!(
            check(&long).map(|e| e.status),
            Some(StatusCode::URI_TOO_LONG)
        );
        let big = req("/")
            .header("host", "x")
            .header("x-big", "a".repeat(MAX_HEADER_BYTES))
            .body(())
            .expect("request");
        assert_eq!(
            check(&big).map(|e| e.status),
            Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        );
    }
}
