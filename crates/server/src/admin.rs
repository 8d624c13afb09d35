//! The admin guard for `/api/admin/*` and `/metrics`: with `ADMIN_TOKEN` set, a matching
//! `Authorization: Bearer` header (compared in constant time); without one, only a direct
//! loopback peer of a loopback listener, with no forwarding header (`Forwarded`,
//! `X-Forwarded-For`, `X-Real-IP`): a reverse proxy on the same host connects from loopback
//! too, and what it forwards is the internet. So an unconfigured server never exposes its
//! figures to the network, directly or through a proxy that says it is one.

use std::sync::Arc;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
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

/// Headers a proxy adds to say it forwards someone else.
const FORWARDING: [&str; 3] = ["forwarded", "x-forwarded-for", "x-real-ip"];

/// Whether a request from `peer` with `headers` comes straight from this host: a loopback
/// peer that says it forwards nobody.
pub fn direct_loopback(peer: SocketAddr, headers: &HeaderMap) -> bool {
    peer.ip().to_canonical().is_loopback() && FORWARDING.iter().all(|h| !headers.contains_key(*h))
}

impl AdminGuard {
    /// Whether this request may see admin figures.
    pub fn admits(&self, peer: SocketAddr, headers: &HeaderMap) -> bool {
        match &self.token {
            Some(token) => bearer(headers).is_some_and(|t| token_matches(t, token)),
            None => self.loopback_listener && direct_loopback(peer, headers),
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Middleware: lets the request through or answers 401 / 403.
pub async fn require_admin(
    State(guard): State<Arc<AdminGuard>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    if guard.admits(peer, req.headers()) {
        return next.run(req).await;
    }
    match &guard.token {
        Some(_) => {
            let mut res = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "admin endpoints need Authorization: Bearer <ADMIN_TOKEN>",
            )
            .into_response();
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            res
        }
        None => ApiError::new(
            StatusCode::FORBIDDEN,
            "admin endpoints are served only to direct loopback clients unless ADMIN_TOKEN is set",
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
    fn without_a_token_only_direct_loopback_peers_are_admitted() {
        let guard = AdminGuard {
            token: None,
            loopback_listener: true,
        };
        let lo: SocketAddr = "127.0.0.1:5000".parse().expect("addr");
        let lo6: SocketAddr = "[::1]:5000".parse().expect("addr");
        let far: SocketAddr = "203.0.113.9:5000".parse().expect("addr");
        assert!(guard.admits(lo, &HeaderMap::new()));
        assert!(guard.admits(lo6, &HeaderMap::new()));
        assert!(!guard.admits(far, &HeaderMap::new()));
        for h in FORWARDING {
            let mut headers = HeaderMap::new();
            headers.insert(h, "198.51.100.1".parse().expect("header"));
            assert!(!guard.admits(lo, &headers), "{h}");
        }
        let elsewhere = AdminGuard {
            loopback_listener: false,
            ..guard
        };
        assert!(!elsewhere.admits(lo, &HeaderMap::new()));
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
