//! The admin guard for `/api/admin/*` and `/metrics`: with `ADMIN_TOKEN` set, a matching
//! `Authorization: Bearer` header (compared in constant time); without one, loopback listeners
//! only, so that an unconfigured server never exposes its figures to the network.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::reply::ApiError;
use flashsale_core::redact::Secret;

/// What the guard needs to decide.
#[derive(Debug, Clone)]
pub struct AdminGuard {
    pub token: Option<Secret>,
    /// Whether the server listens on a loopback address only.
    pub loopback_listener: bool,
}

/// Whether `presented` equals `expected`. Both are hashed first so the comparison takes the same
/// time whatever their lengths and wherever they differ.
pub fn token_matches(presented: &str, expected: &Secret) -> bool {
    let a = Sha256::digest(presented.as_bytes());
    let b = Sha256::digest(expected.expose().as_bytes());
    a.as_slice().ct_eq(b.as_slice()).into()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Middleware: lets the request through or answers 401 / 403.
pub async fn require_admin(
    State(guard): State<Arc<AdminGuard>>,
    req: Request,
    next: Next,
) -> Response {
    match &guard.token {
        Some(token) => {
            if bearer(req.headers()).is_some_and(|t| token_matches(t, token)) {
                return next.run(req).await;
            }
            let mut res = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "admin endpoints need Authorization: Bearer <ADMIN_TOKEN>",
            )
            .into_response();
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            res
        }
        None if guard.loopback_listener => next.run(req).await,
        None => ApiError::new(
            StatusCode::FORBIDDEN,
            "admin endpoints are served only on loopback unless ADMIN_TOKEN is set",
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_only_exactly() {
        let t = Secret::new("0123456789abcdef-token");
        assert!(token_matches("0123456789abcdef-token", &t));
        assert!(!token_matches("0123456789abcdef-tokeN", &t));
        assert!(!token_matches("", &t));
        assert!(!token_matches("0123456789abcdef-token-and-more", &t));
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "bearer abc".parse().expect("header"));
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, "Basic abc".parse().expect("header"));
        assert_eq!(bearer(&h), None);
    }
}
