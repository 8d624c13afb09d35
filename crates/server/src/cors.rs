//! CORS for the origins in `CORS_ORIGIN`, compared exactly (scheme, host and port, as a
//! browser sends them): those get `Access-Control-Allow-Origin` on every answer and their
//! preflights answered 204; any other origin gets no CORS header, and its preflight a 403.

use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::reply::ApiError;

const ALLOW_METHODS: &str = "GET, POST, OPTIONS";
const ALLOW_HEADERS: &str = "content-type, idempotency-key, authorization";
const EXPOSE_HEADERS: &str =
    "retry-after, x-ratelimit-limit, x-ratelimit-remaining, x-ratelimit-scope, idempotent-replayed";
/// Browsers may cache a preflight's answer this many seconds.
const MAX_AGE: &str = "600";

/// The allowed origins, lower-case.
#[derive(Debug, Clone, Default)]
pub struct Cors {
    origins: Vec<String>,
}

impl Cors {
    pub fn new(origins: &[String]) -> Self {
        Self {
            origins: origins.iter().map(|o| o.to_ascii_lowercase()).collect(),
        }
    }

    fn allowed(&self, origin: &HeaderValue) -> bool {
        origin
            .to_str()
            .is_ok_and(|o| self.origins.iter().any(|a| a.eq_ignore_ascii_case(o)))
    }

    /// The answer to a preflight (`OPTIONS` with `Origin` and
    /// `Access-Control-Request-Method`); `None` for any other request.
    pub fn preflight<B>(&self, req: &Request<B>) -> Option<Response> {
        let h = req.headers();
        if req.method() != Method::OPTIONS || !h.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            return None;
        }
        let origin = h.get(header::ORIGIN)?;
        if !self.allowed(origin) {
            return Some(
                ApiError::new(StatusCode::FORBIDDEN, "origin not allowed (CORS_ORIGIN)")
                    .into_response(),
            );
        }
        let mut res = StatusCode::NO_CONTENT.into_response();
        let out = res.headers_mut();
        allow(out, origin);
        out.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOW_METHODS),
        );
        out.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOW_HEADERS),
        );
        out.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(MAX_AGE),
        );
        Some(res)
    }

    /// CORS headers on an answer to an allowed origin.
    pub fn decorate(&self, origin: Option<&HeaderValue>, res: &mut Response) {
        if let Some(origin) = origin.filter(|o| self.allowed(o)) {
            let out = res.headers_mut();
            allow(out, origin);
            out.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSE_HEADERS),
            );
        }
    }
}

fn allow(out: &mut HeaderMap, origin: &HeaderValue) {
    out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    out.append(header::VARY, HeaderValue::from_static("origin"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preflight(origin: &str) -> Request<()> {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/api/purchase")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .body(())
            .expect("request")
    }

    #[test]
    fn only_listed_origins_are_allowed_exactly() {
        let cors = Cors::new(&["https://shop.example".to_string()]);
        let ok = cors
            .preflight(&preflight("https://shop.example"))
            .expect("preflight");
        assert_eq!(ok.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            ok.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://shop.example"
        );
        for other in [
            "https://shop.example:8443",
            "http://shop.example",
            "https://evil.example",
        ] {
            let res = cors.preflight(&preflight(other)).expect("preflight");
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{other}");
        }
        let get = Request::builder().uri("/").body(()).expect("request");
        assert!(cors.preflight(&get).is_none());
    }
}
