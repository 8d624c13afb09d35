//! The handlers: one purchase, the reads by id, admin statistics, health and readiness, metrics.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Extension;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::admin::AdminGuard;
use super::body::{self, PurchaseInput};
use super::client_ip::client_ip;
use super::metrics::RedisGauge;
use super::reply::{self, ApiError, INTERNAL, json};
use super::state::AppState;
use flashsale_api::{self as api, Dependency};
use flashsale_core::config::UnavailablePolicy;
use flashsale_core::purchase::{
    IdempotencyKey, KEY_FIELD, KeyReused, KeyedReceipt, Outcome, OutcomeKind, PurchaseRequest,
};
use flashsale_core::ratelimit::RateLimiter;
use flashsale_core::store::Store;

/// `{"success": true, ...}` with `success` first, as the reference API writes it.
#[derive(Serialize)]
struct Success<T: Serialize> {
    success: bool,
    #[serde(flatten)]
    body: T,
}

fn ok<T: Serialize>(body: T) -> Response {
    json(
        StatusCode::OK,
        &Success {
            success: true,
            body,
        },
    )
}

#[derive(Serialize)]
struct Message<'a> {
    success: bool,
    message: &'a str,
}

/// Longest a health or readiness probe waits for the database.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// `POST /api/purchase`.
pub async fn purchase(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let start = Instant::now();
    let strategy = state.config().strategy;
    let (res, kind) = match purchase_inner(&state, peer, &headers, body).await {
        Ok(res) => {
            let kind = res
                .extensions()
                .get::<OutcomeKind>()
                .copied()
                .unwrap_or(OutcomeKind::Failed);
            (res, kind)
        }
        Err(e) => {
            let kind = match e.status {
                StatusCode::SERVICE_UNAVAILABLE => OutcomeKind::Busy,
                StatusCode::INTERNAL_SERVER_ERROR => OutcomeKind::Failed,
                _ => OutcomeKind::Invalid,
            };
            (e.into_response(), kind)
        }
    };
    state.metrics().purchase(kind, strategy, start.elapsed());
    res
}

async fn purchase_inner(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    body::require_json(headers)?;
    let bytes = body::read_limited(headers, body, state.config().http.body_timeout).await?;
    let input = body::parse_purchase(&bytes)?;
    let mut keys = headers.get_all(api::IDEMPOTENCY_KEY).iter();
    let (first, second) = (keys.next(), keys.next());
    if second.is_some() {
        return Err(ApiError::bad_request(
            KEY_FIELD,
            "send one Idempotency-Key header, not several",
        ));
    }
    let key = match first {
        None => None,
        Some(v) => {
            let text = v.to_str().map_err(|_| {
                ApiError::bad_request(KEY_FIELD, "Idempotency-Key must be visible ASCII")
            })?;
            Some(
                IdempotencyKey::parse(text)
                    .map_err(|e| ApiError::bad_request(KEY_FIELD, e.to_string()))?,
            )
        }
    };
    let ip = client_ip(peer.ip(), headers, &state.config().trusted_proxies);
    let purchaser = state.purchaser().clone();
    let strategy = state.config().strategy;
    // A tracked task: the purchase runs to its end even if the client hangs up, and shutdown
    // waits for it.
    let began = Instant::now();
    let task = state.tasks().spawn(async move {
        let PurchaseInput {
            product_id,
            user_id,
            quantity,
        } = input;
        let req = PurchaseRequest {
            product_id,
            user_id: &user_id,
            client_ip: ip,
            quantity,
            strategy,
        };
        match key {
            Some(key) => purchaser.purchase_idempotent(req, &key).await,
            None => Ok(KeyedReceipt {
                receipt: purchaser.purchase(req).await,
                replayed: false,
            }),
        }
    });
    match task.await {
        Ok(Ok(keyed)) => {
            // Read-your-writes: this process's next stock read says at most what this
            // purchase left (a replay tells nothing new).
            if !keyed.replayed {
                note_outcome(state, &keyed.receipt.outcome, began);
            }
            let mut res = reply::outcome_response(&keyed.receipt.outcome);
            if keyed.replayed {
                state.metrics().replay();
                res.headers_mut().insert(
                    HeaderName::from_static(api::IDEMPOTENT_REPLAYED),
                    HeaderValue::from_static("true"),
                );
            }
            Ok(res)
        }
        Ok(Err(KeyReused)) => Err(ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: KeyReused.to_string().into(),
            field: Some(KEY_FIELD),
        }),
        Err(e) => {
            tracing::error!(error = %e, "purchase task did not finish");
            Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL))
        }
    }
}

/// What a purchase's outcome says of its product's stock, for the read view. Only an order:
/// a sold-out answer may come from the batcher's memory, which is not a read of the database.
fn note_outcome(state: &AppState, outcome: &Outcome, began: Instant) {
    if let Outcome::Purchased(order) = outcome {
        let answered = Instant::now();
        let (id, left) = (order.product_id, order.remaining_stock);
        state.reads().note_stock(id, left, began, answered);
        // Pushed to the product's event streams at once (coalesced by the hub).
        state.events().note(id, left, answered);
    }
}

fn id_from(path: Result<Path<String>, PathRejection>) -> Result<i32, ApiError> {
    match path {
        Ok(Path(raw)) => body::path_id(&raw),
        Err(_) => Err(ApiError::bad_request("id", "id must be a positive integer")),
    }
}

fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "Product not found")
}

/// `GET /api/stock/{id}`, from the read view (`read_view`): a figure at most the staleness
/// bound old, with an `ETag` and a 304 for an `If-None-Match` that names it.
pub async fn stock(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = id_from(path)?;
    let store = state.purchaser().store();
    match state.reads().stock(store, id).await {
        Ok(Some(fresh)) => {
            #[derive(Serialize)]
            struct Stock {
                stock: i32,
            }
            Ok(cacheable(&state, &headers, Stock { stock: fresh.value }))
        }
        Ok(None) => Err(not_found()),
        Err(e) => Err(ApiError::from_store(&e)),
    }
}

/// `GET /api/products/{id}`, from the read view like the stock.
pub async fn product(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = id_from(path)?;
    let store = state.purchaser().store();
    match state.reads().product(store, id).await {
        Ok(Some(fresh)) => {
            #[derive(Serialize)]
            struct Product {
                product: flashsale_core::model::ProductDetail,
            }
            Ok(cacheable(
                &state,
                &headers,
                Product {
                    product: fresh.value,
                },
            ))
        }
        Ok(None) => Err(not_found()),
        Err(e) => Err(ApiError::from_store(&e)),
    }
}

/// A read's answer with its `ETag` and `Cache-Control`; `304 Not Modified` (no body) when the
/// request's `If-None-Match` names the same representation. `Cache-Control` makes every cache
/// ask again (`max-age=0, must-revalidate`: the figure may change at any moment) and states the
/// server's own bound in an extension directive, `max-staleness-ms`, which caches ignore.
fn cacheable<T: Serialize>(state: &AppState, headers: &HeaderMap, body: T) -> Response {
    let body = Success {
        success: true,
        body,
    };
    let Ok(bytes) = serde_json::to_vec(&body) else {
        return json(StatusCode::OK, &body);
    };
    let tag = super::read_view::etag(&bytes);
    let control = format!(
        "max-age=0, must-revalidate, max-staleness-ms={}",
        state.reads().bound().as_millis()
    );
    let matched = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| super::read_view::none_match(v, &tag));
    let mut res = if matched {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        reply::json_bytes(StatusCode::OK, bytes)
    };
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&control) {
        h.insert(header::CACHE_CONTROL, v);
    }
    res
}

/// `GET /api/admin/stats`: the reference shape; `meta` says how long it took, never the SQL.
pub async fn admin_stats(State(state): State<AppState>) -> Result<Response, ApiError> {
    let start = Instant::now();
    let stats = state
        .purchaser()
        .store()
        .stats()
        .await
        .map_err(|e| ApiError::from_store(&e))?;
    let query_time_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Meta {
        query_time_ms: u64,
    }
    #[derive(Serialize)]
    struct Body {
        data: flashsale_core::model::Stats,
        meta: Meta,
    }
    Ok(ok(Body {
        data: stats,
        meta: Meta { query_time_ms },
    }))
}

/// Redis as a probe finds it: a PING bounded by the limiter's timeout.
pub async fn redis_gauge(limiter: &RateLimiter) -> RedisGauge {
    let Some(redis) = limiter.redis() else {
        return RedisGauge::NotConfigured;
    };
    let mut conn = redis.connection();
    let start = Instant::now();
    let ping = redis::cmd("PING");
    match tokio::time::timeout(
        limiter.settings().redis_timeout,
        ping.query_async::<String>(&mut conn),
    )
    .await
    {
        Ok(Ok(_)) => RedisGauge::Up(start.elapsed()),
        _ => RedisGauge::Down,
    }
}

async fn db_probe(store: &Store) -> Result<Duration, String> {
    match tokio::time::timeout(PROBE_TIMEOUT, store.ping()).await {
        Ok(Ok(d)) => Ok(d),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} ms", PROBE_TIMEOUT.as_millis())),
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// `GET /api/health`: 200 when the database and (if configured) Redis answer; 503 naming
/// what is down otherwise. The policy when Redis is down only to whom the admin guard admits.
pub async fn health(
    State(state): State<AppState>,
    Extension(guard): Extension<Arc<AdminGuard>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let purchaser = state.purchaser();
    let (db, redis) = tokio::join!(
        db_probe(purchaser.store()),
        redis_gauge(purchaser.limiter())
    );
    let database = match &db {
        Ok(d) => Dependency {
            status: "up".into(),
            latency_ms: Some(ms(*d)),
            error: None,
        },
        // StoreError's words are ours (categories, never a driver's message).
        Err(e) => Dependency {
            status: "down".into(),
            latency_ms: None,
            error: Some(e.clone()),
        },
    };
    let redis_dep = match redis {
        RedisGauge::NotConfigured => Dependency {
            status: "not configured".into(),
            latency_ms: None,
            error: None,
        },
        RedisGauge::Up(d) => Dependency {
            status: "up".into(),
            latency_ms: Some(ms(d)),
            error: None,
        },
        RedisGauge::Down => Dependency {
            status: "down".into(),
            latency_ms: None,
            error: Some("no answer to PING".into()),
        },
    };
    let mut down = Vec::new();
    if db.is_err() {
        down.push("database");
    }
    if redis == RedisGauge::Down {
        down.push("redis");
    }
    let (status, message) = if down.is_empty() {
        (StatusCode::OK, "healthy".to_string())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("unhealthy: {} down", down.join(" and ")),
        )
    };
    let health = api::Health {
        success: down.is_empty(),
        message,
        database,
        redis: redis_dep,
        rate_limit_on_redis_down: if guard.admits(peer, &headers) {
            purchaser.limiter().on_unavailable().to_string()
        } else {
            String::new()
        },
        strategy: state.config().strategy.as_str().to_string(),
    };
    json(status, &api::HealthBody::new(&health, chrono::Utc::now()))
}

/// `GET /api/ready`: whether to send this instance traffic. Not while draining, not without a
/// database, and not with Redis down under the fail-closed policy (it would refuse every sale).
pub async fn ready(State(state): State<AppState>) -> Response {
    let not_ready = |why: &str| {
        let mut res = json(
            StatusCode::SERVICE_UNAVAILABLE,
            &Message {
                success: false,
                message: &format!("not ready: {why}"),
            },
        );
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        res
    };
    if state.is_draining() {
        return not_ready("shutting down");
    }
    let purchaser = state.purchaser();
    if db_probe(purchaser.store()).await.is_err() {
        return not_ready("database unreachable");
    }
    if purchaser.limiter().on_unavailable() == UnavailablePolicy::FailClosed
        && redis_gauge(purchaser.limiter()).await == RedisGauge::Down
    {
        return not_ready("redis down and the rate limiter fails closed");
    }
    json(
        StatusCode::OK,
        &Message {
            success: true,
            message: "ready",
        },
    )
}

/// `GET /metrics`.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let purchaser = state.purchaser();
    let redis = redis_gauge(purchaser.limiter()).await;
    let text = state
        .metrics()
        .render(purchaser.store().pool_status(), redis);
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}

/// Any path we do not serve.
pub async fn fallback() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "Not found")
}

/// A known path with the wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")
}
