//! A client of our HTTP API: [`ApiClient`] sends purchases to `flashsale serve` (or any
//! server with the reference contract) and maps every response back to the same [`Outcome`]
//! the in-process [`Purchaser`](flashsale_core::purchase::Purchaser) returns, so the burst engine can
//! aim at either. Also the read calls a `dashboard --api` needs: stock, product, stats, health,
//! and `serve`'s stock event stream (`events`).
//! Plain HTTP only (TLS belongs to the proxy in front).

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;

mod body_framing;
mod events;
mod lean_events;
mod lean_http;
mod purchase_reply;
mod wire;

pub use events::{STREAM_LIFETIME, StockStream};

use lean_http::LeanPool;
use purchase_reply::{Reply, outcome_of};
use wire::{WireInt, WireMoney};

use flashsale_api as api;
use flashsale_core::model::{DayRevenue, ProductDetail, Stats, TopProduct};
use flashsale_core::money::Money;
use flashsale_core::purchase::{Outcome, PurchaseRequest};
use flashsale_core::redact::Secret;

/// Why a read call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    #[error("invalid server URL '{0}' (expected http://host:port)")]
    BaseUrl(String),
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
    #[error("request failed: {0}")]
    Transport(String),
    #[error("HTTP {status}: {message}")]
    Status { status: u16, message: String },
    #[error("unexpected response body: {0}")]
    Body(String),
}

/// Purchases and reads over HTTP, with a keep-alive pool sized to the caller's concurrency.
#[derive(Debug, Clone)]
pub struct ApiClient {
    client: reqwest::Client,
    /// Purchases go on connections of our own (`lean_http`), reads through reqwest.
    purchases: Arc<LeanPool>,
    /// The base URL's path, before every route.
    prefix: String,
    base: String,
    admin_token: Option<Secret>,
    /// The bound on one request (for the requests the general client does not make).
    timeout: Duration,
}

fn transport(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        connect_failure(&e)
    } else {
        // Without the URL: it may carry a token in a query some day; the kind is enough.
        format!("{}", e.without_url())
    }
}

/// A connection that could not be made, in the class words every face uses
/// (`flashsale_core::failure`): refused, unknown host, timed out.
fn connect_failure(e: &reqwest::Error) -> String {
    let (host, server) = match e.url() {
        Some(u) => {
            let host = u.host_str().unwrap_or_default().to_string();
            let server = match u.port_or_known_default() {
                Some(port) => format!("{host}:{port}"),
                None => host.clone(),
            };
            (host, server)
        }
        None => (String::new(), "the server".to_string()),
    };
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        if let Some(io) = inner.downcast_ref::<std::io::Error>()
            && let Some(class) =
                flashsale_core::failure::ConnectFailure::from_io(io, &host, &server)
        {
            return class.to_string();
        }
        source = inner.source();
    }
    format!("cannot connect to {server}")
}

impl ApiClient {
    /// A client of the server at `base_url` (`http://host:port`), keeping up to `concurrency`
    /// idle connections open, giving up on any request after `timeout`.
    pub fn new(base_url: &str, concurrency: usize, timeout: Duration) -> Result<Self, ClientError> {
        let base = base_url.trim().trim_end_matches('/').to_string();
        let parsed = url::Url::parse(&base).map_err(|_| ClientError::BaseUrl(base.clone()))?;
        let (Some(host), Some(port)) = (parsed.host_str(), parsed.port_or_known_default()) else {
            return Err(ClientError::BaseUrl(base));
        };
        if parsed.scheme() != "http" {
            return Err(ClientError::BaseUrl(base));
        }
        let purchases = Arc::new(LeanPool::new(host, port, concurrency));
        let prefix = parsed.path().trim_end_matches('/').to_string();
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(concurrency.max(1))
            // Under the 5 s a server keeps an idle connection (`serve`'s HEADER_TIMEOUT_MS,
            // Node's keepAliveTimeout): a POST sent on a connection the server is closing
            // fails, and is not retried.
            .pool_idle_timeout(Duration::from_secs(2))
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .tcp_nodelay(true)
            // Loopback benchmarks must not detour through an HTTP_PROXY from the environment.
            .no_proxy()
            .build()
            .map_err(|e| ClientError::Build(e.to_string()))?;
        Ok(Self {
            client,
            purchases,
            prefix,
            base,
            admin_token: None,
            timeout,
        })
    }

    /// Sends `Authorization: Bearer` on admin calls (`stats`, `metrics`).
    pub fn with_admin_token(mut self, token: Secret) -> Self {
        self.admin_token = Some(token);
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Whether admin calls carry a bearer token.
    pub fn has_admin_token(&self) -> bool {
        self.admin_token.is_some()
    }

    /// One purchase. The simulated client address goes in `X-Forwarded-For` (believed only by
    /// a server that lists us in `TRUSTED_PROXIES`); the strategy is the server's to choose.
    pub async fn purchase(&self, req: &PurchaseRequest<'_>) -> Outcome {
        self.send_purchase(req, None).await.0
    }

    /// One purchase under an `Idempotency-Key`; also says whether the server replayed it.
    pub async fn purchase_with_key(&self, req: &PurchaseRequest<'_>, key: &str) -> (Outcome, bool) {
        self.send_purchase(req, Some(key)).await
    }

    async fn send_purchase(&self, req: &PurchaseRequest<'_>, key: Option<&str>) -> (Outcome, bool) {
        let request = match self.purchase_request(req, key) {
            Ok(request) => request,
            Err(why) => return (Outcome::Failed(why), false),
        };
        let answer =
            match tokio::time::timeout(self.timeout, self.purchases.exchange(&request)).await {
                Ok(Ok(answer)) => answer,
                Ok(Err(why)) => return (Outcome::Failed(why), false),
                Err(_) => return (Outcome::Failed("timed out".into()), false),
            };
        let replayed = answer
            .headers
            .get(api::IDEMPOTENT_REPLAYED)
            .is_some_and(|v| v.as_bytes() == b"true");
        let outcome = outcome_of(answer.status, &answer.headers, &answer.body);
        (outcome, replayed)
    }

    /// The whole `POST` of one purchase, head and body.
    fn purchase_request(
        &self,
        req: &PurchaseRequest<'_>,
        key: Option<&str>,
    ) -> Result<Vec<u8>, String> {
        let body = serde_json::json!({
            "productId": req.product_id,
            "userId": req.user_id,
            "quantity": req.quantity,
        })
        .to_string();
        let mut head = format!(
            "POST {}{} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             {}: {}\r\nContent-Length: {}\r\n",
            self.prefix,
            api::PURCHASE,
            self.purchases.authority(),
            api::FORWARDED_FOR,
            req.client_ip,
            body.len()
        );
        if let Some(key) = key {
            // A header line of its own: no line breaks or other controls in it.
            if reqwest::header::HeaderValue::from_str(key).is_err() {
                return Err(format!(
                    "the {} is not a valid header value",
                    api::IDEMPOTENCY_KEY
                ));
            }
            head.push_str(&format!("{}: {key}\r\n", api::IDEMPOTENCY_KEY));
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(body.as_bytes());
        Ok(out)
    }

    async fn get(
        &self,
        path: &str,
        admin: bool,
    ) -> Result<(StatusCode, bytes::Bytes), ClientError> {
        let mut builder = self.client.get(format!("{}{path}", self.base));
        if admin && let Some(token) = &self.admin_token {
            builder = builder.bearer_auth(token.expose());
        }
        let res = builder
            .send()
            .await
            .map_err(|e| ClientError::Transport(transport(e)))?;
        let status = res.status();
        let body = res
            .bytes()
            .await
            .map_err(|e| ClientError::Transport(transport(e)))?;
        Ok((status, body))
    }

    fn status_error(status: StatusCode, body: &[u8]) -> ClientError {
        let message = serde_json::from_slice::<Reply>(body)
            .map(|r| r.message)
            .unwrap_or_default();
        ClientError::Status {
            status: status.as_u16(),
            message,
        }
    }

    fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ClientError> {
        serde_json::from_slice(body).map_err(|e| ClientError::Body(e.to_string()))
    }

    /// The status of `GET path` (the body read and dropped): the HTTP floor of a server, a
    /// path it does not serve answering 404 without touching anything else.
    pub async fn status_of(&self, path: &str) -> Result<u16, ClientError> {
        Ok(self.get(path, false).await?.0.as_u16())
    }

    /// A product's stock; `None` when there is no such product.
    pub async fn stock(&self, id: i32) -> Result<Option<i32>, ClientError> {
        #[derive(Deserialize)]
        struct Body {
            stock: i32,
        }
        match self.get(&format!("{}/{id}", api::STOCK), false).await? {
            (StatusCode::OK, body) => Ok(Some(Self::parse::<Body>(&body)?.stock)),
            (StatusCode::NOT_FOUND, _) => Ok(None),
            (status, body) => Err(Self::status_error(status, &body)),
        }
    }

    /// A product's details; `None` when there is no such product.
    pub async fn product(&self, id: i32) -> Result<Option<ProductDetail>, ClientError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Wire {
            id: i32,
            name: String,
            description: Option<String>,
            image_url: Option<String>,
            stock: i32,
            price: WireMoney,
        }
        #[derive(Deserialize)]
        struct Body {
            product: Wire,
        }
        match self.get(&format!("{}/{id}", api::PRODUCTS), false).await? {
            (StatusCode::OK, body) => {
                let w = Self::parse::<Body>(&body)?.product;
                Ok(Some(ProductDetail {
                    id: w.id,
                    name: w.name,
                    description: w.description,
                    image_url: w.image_url,
                    stock: w.stock,
                    price: w.price.0,
                }))
            }
            (StatusCode::NOT_FOUND, _) => Ok(None),
            (status, body) => Err(Self::status_error(status, &body)),
        }
    }

    /// The admin statistics (with the admin token, when one was given). Fields the wire does not
    /// carry (per-product revenue, units per day) are zero.
    pub async fn stats(&self) -> Result<Stats, ClientError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Top {
            id: i32,
            name: String,
            total_sold: WireInt,
        }
        #[derive(Deserialize)]
        struct Day {
            date: String,
            revenue: WireMoney,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            total_revenue: WireMoney,
            total_units_sold: WireInt,
            top_products: Vec<Top>,
            revenue_by_day: Vec<Day>,
        }
        #[derive(Deserialize)]
        struct Body {
            data: Data,
        }
        let (status, body) = self.get(api::ADMIN_STATS, true).await?;
        if status != StatusCode::OK {
            return Err(Self::status_error(status, &body));
        }
        let d = Self::parse::<Body>(&body)?.data;
        Ok(Stats {
            total_revenue: d.total_revenue.0,
            total_units_sold: d.total_units_sold.0,
            top_products: d
                .top_products
                .into_iter()
                .map(|t| TopProduct {
                    id: t.id,
                    name: t.name,
                    total_sold: t.total_sold.0,
                    revenue: Money::ZERO,
                })
                .collect(),
            revenue_by_day: d
                .revenue_by_day
                .into_iter()
                .map(|day| DayRevenue {
                    date: wire::day(&day.date),
                    revenue: day.revenue.0,
                    units: 0,
                })
                .collect(),
        })
    }

    /// `/metrics` as text (with the admin token, when one was given: the server guards it like
    /// the statistics). Bytes that are not UTF-8 are replaced, not refused: the reader skips
    /// lines it cannot read.
    pub async fn metrics(&self) -> Result<String, ClientError> {
        let (status, body) = self.get(api::METRICS, true).await?;
        if status != StatusCode::OK {
            return Err(Self::status_error(status, &body));
        }
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    /// `/api/health`, healthy (200) or not (503): both are answers, not errors. Ours, or the
    /// reference system's documented shape (see [`parse_health`]).
    pub async fn health(&self) -> Result<api::Health, ClientError> {
        match self.get(api::HEALTH, false).await? {
            (StatusCode::OK | StatusCode::SERVICE_UNAVAILABLE, body) => parse_health(&body),
            (status, body) => Err(Self::status_error(status, &body)),
        }
    }
}

/// A health report: ours, or the reference system's documented one
/// (`{"status":"healthy","services":{"database":"up","redis":"up"}}`, or
/// `{"status":"unhealthy","error":...}`), whose unknowns (which dependency is down, the
/// strategy, the Redis policy) are left `unknown` or empty.
pub fn parse_health(body: &[u8]) -> Result<api::Health, ClientError> {
    #[derive(Deserialize)]
    struct Services {
        database: Option<String>,
        redis: Option<String>,
    }
    #[derive(Deserialize)]
    struct Reference {
        status: String,
        services: Option<Services>,
        error: Option<String>,
    }
    let ours = serde_json::from_slice::<api::Health>(body);
    let e = match ours {
        Ok(h) => return Ok(h),
        Err(e) => e,
    };
    let r: Reference =
        serde_json::from_slice(body).map_err(|_| ClientError::Body(e.to_string()))?;
    let healthy = r.status == "healthy";
    let dependency = |status: Option<String>| api::Dependency {
        status: status.unwrap_or_else(|| if healthy { "up" } else { "unknown" }.into()),
        latency_ms: None,
        error: None,
    };
    let services = r.services.unwrap_or(Services {
        database: None,
        redis: None,
    });
    Ok(api::Health {
        success: healthy,
        message: match r.error {
            Some(e) => format!("{}: {e}", r.status),
            None => r.status,
        },
        database: dependency(services.database),
        redis: dependency(services.redis),
        rate_limit_on_redis_down: String::new(),
        strategy: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_reports_in_our_shape_and_the_references_are_read() {
        let ours = br#"{"success":false,"message":"unhealthy: redis down",
            "database":{"status":"up","latencyMs":0.4},
            "redis":{"status":"down","error":"no answer to PING"},
            "rateLimitOnRedisDown":"fail-open","strategy":"batched"}"#;
        let h = parse_health(ours).expect("ours");
        assert!(!h.success && h.redis.is_down() && h.strategy == "batched");
        let reference = br#"{"status":"healthy","timestamp":"2026-11-25T06:42:52.523Z",
            "services":{"database":"up","redis":"up"}}"#;
        let h = parse_health(reference).expect("the reference's");
        assert!(h.success);
        assert_eq!(
            (h.database.status.as_str(), h.redis.status.as_str()),
            ("up", "up")
        );
        assert_eq!(h.strategy, "", "unknown");
        let down = br#"{"status":"unhealthy","error":"connect ECONNREFUSED","timestamp":"x"}"#;
        let h = parse_health(down).expect("the reference's, unhealthy");
        assert!(!h.success);
        assert_eq!(h.message, "unhealthy: connect ECONNREFUSED");
        assert_eq!(h.database.status, "unknown");
        assert!(matches!(parse_health(b"<html>"), Err(ClientError::Body(_))));
    }

    #[test]
    fn only_http_base_urls_are_accepted() {
        let t = Duration::from_secs(1);
        assert!(ApiClient::new("http://127.0.0.1:3000/", 4, t).is_ok());
        assert!(ApiClient::new("ftp://x", 4, t).is_err());
        assert!(ApiClient::new("127.0.0.1:3000", 4, t).is_err());
    }
}
