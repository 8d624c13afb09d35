//! The HTTP API's wire names, shared by the server (`server`) and its client (`http_client`)
//! so that the two cannot drift apart: paths, header names and the body size limit.

/// `POST`: one purchase.
pub const PURCHASE: &str = "/api/purchase";
/// `GET`: a product's stock (`/api/stock/{id}`).
pub const STOCK: &str = "/api/stock";
/// `GET`: a product's details (`/api/products/{id}`).
pub const PRODUCTS: &str = "/api/products";
/// `GET`, admin: revenue, units, top products, revenue by day.
pub const ADMIN_STATS: &str = "/api/admin/stats";
/// `GET`: database and Redis reachability.
pub const HEALTH: &str = "/api/health";
/// `GET`: whether this instance should receive traffic.
pub const READY: &str = "/api/ready";
/// `GET`, admin: Prometheus text format.
pub const METRICS: &str = "/metrics";

/// Request header: makes a purchase safe to retry.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Response header: `true` when the answer is the stored outcome of an earlier request.
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";
/// Response header on 429: `user` or `ip`, the limit that refused.
pub const RATE_LIMIT_SCOPE: &str = "x-ratelimit-scope";
pub const RATE_LIMIT_LIMIT: &str = "x-ratelimit-limit";
pub const RATE_LIMIT_REMAINING: &str = "x-ratelimit-remaining";
/// Response header on every response: the server's handling time, e.g. `1.234ms`.
pub const RESPONSE_TIME: &str = "x-response-time";
/// Request header a trusted proxy adds; the client sends the simulated buyer's address in it.
pub const FORWARDED_FOR: &str = "x-forwarded-for";

/// Largest request body accepted; larger ones are answered 413.
pub const BODY_LIMIT: usize = 16 * 1024;

/// A dependency as `/api/health` reports it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dependency {
    /// `up`, `down` or `not configured`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// Why it is down, in our words (never a driver's message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Dependency {
    pub fn is_down(&self) -> bool {
        self.status == "down"
    }
}

/// What `/api/health` sends: our report, and beside it the fields the reference system's
/// documentation gives its health check (`status`, `timestamp`, `services`, and `error` when
/// unhealthy), so a probe written for that reads ours unchanged.
#[derive(Debug, serde::Serialize)]
pub struct HealthBody<'a> {
    #[serde(flatten)]
    pub health: &'a Health,
    /// `healthy` or `unhealthy`.
    pub status: &'static str,
    /// ISO 8601 with milliseconds, UTC (`2026-11-25T10:00:00.000Z`).
    pub timestamp: String,
    pub services: Services<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
}

/// The reference's `services`: each dependency's status alone.
#[derive(Debug, serde::Serialize)]
pub struct Services<'a> {
    pub database: &'a str,
    pub redis: &'a str,
}

impl<'a> HealthBody<'a> {
    pub fn new(health: &'a Health, now: chrono::DateTime<chrono::Utc>) -> Self {
        Self {
            health,
            status: if health.success {
                "healthy"
            } else {
                "unhealthy"
            },
            timestamp: now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            services: Services {
                database: &health.database.status,
                redis: &health.redis.status,
            },
            error: (!health.success).then_some(health.message.as_str()),
        }
    }
}

/// Our report in the body of `/api/health`, 200 or 503 alike.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    pub success: bool,
    pub message: String,
    pub database: Dependency,
    pub redis: Dependency,
    /// `fail-open` or `fail-closed`; only to a caller the admin guard admits (an attacker
    /// would like to know whether taking Redis down lifts the limits), empty otherwise.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub rate_limit_on_redis_down: String,
    pub strategy: String,
}
