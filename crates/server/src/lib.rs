//! `flashsale serve`: the HTTP API, a thin face over the same [`Purchaser`] every other caller
//! uses, compatible field for field with the reference system's API (see README "HTTP API").
//! The core never imports this module.

pub mod admin;
pub mod body;
pub mod client_ip;
pub mod metrics;
pub mod reply;
pub mod routes;
pub mod state;
pub mod timing;

use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::middleware;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use state::{AppState, ServerConfig};

use flashsale_api as api;
use flashsale_core::config::Settings;
use flashsale_core::purchase::Purchaser;
use flashsale_core::ratelimit::{LimiterError, RateLimiter};
use flashsale_core::store::{Store, StoreError};

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server stopped: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Limiter(#[from] LimiterError),
}

/// The routes, with the admin guard and response timing. `loopback_listener`: whether the
/// listener is on a loopback address (admin endpoints need no token there).
pub fn router(state: AppState, loopback_listener: bool) -> Router {
    let guard = Arc::new(admin::AdminGuard {
        token: state.config().admin_token.clone(),
        loopback_listener,
    });
    let admin = Router::new()
        .route(api::ADMIN_STATS, get(routes::admin_stats))
        .route(api::METRICS, get(routes::metrics))
        .route_layer(middleware::from_fn_with_state(guard, admin::require_admin));
    Router::new()
        .route(api::PURCHASE, post(routes::purchase))
        .route(&format!("{}/{{id}}", api::STOCK), get(routes::stock))
        .route(&format!("{}/{{id}}", api::PRODUCTS), get(routes::product))
        .route(api::HEALTH, get(routes::health))
        .route(api::READY, get(routes::ready))
        .merge(admin)
        .fallback(routes::fallback)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            timing::time_requests,
        ))
        .with_state(state)
}

/// Serves on `listener` until `shutdown` completes, then stops accepting, lets in-flight
/// requests and purchases finish (for at most the drain limit) and returns.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    let app = router(state.clone(), local.ip().is_loopback());
    let signaled = CancellationToken::new();
    let on_signal = {
        let signaled = signaled.clone();
        let state = state.clone();
        async move {
            shutdown.await;
            tracing::info!("shutdown requested; draining");
            state.start_draining();
            signaled.cancel();
        }
    };
    // Aborted when `run` returns, whichever way (an error from `serve` included).
    let _sweeper = AbortOnDrop(tokio::spawn(sweep_expired_keys(
        state.clone(),
        signaled.clone(),
    )));
    let listener = listener.tap_io(|tcp| {
        // Small responses: do not let Nagle hold them back.
        let _ = tcp.set_nodelay(true);
    });
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(on_signal);
    let limit = state.config().drain_limit;
    let deadline = async {
        signaled.cancelled().await;
        tokio::time::sleep(limit).await;
    };
    tokio::select! {
        r = served.into_future() => r?,
        () = deadline => tracing::warn!("connections still open after {limit:?}; stopping anyway"),
    }
    let tasks = state.tasks();
    tasks.close();
    if tokio::time::timeout(limit, tasks.wait()).await.is_err() {
        tracing::warn!(left = tasks.len(), "purchases still running at exit");
    }
    tracing::info!("server stopped");
    Ok(())
}

/// A task that ends with its owner.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Sweeps Idempotency-Key records past their time to live, at start and then periodically,
/// until shutdown. A failure (a read-only role, a database created without our migrations, the
/// database down) is logged and tried again next time: it never stops the server.
async fn sweep_expired_keys(state: AppState, stop: CancellationToken) {
    let (ttl, every) = (
        state.config().idempotency_ttl,
        state.config().key_sweep_every,
    );
    loop {
        match state.purchaser().store().expire_idempotency_keys(ttl).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(swept = n, ?ttl, "expired idempotency keys swept"),
            Err(e) => tracing::warn!(error = %e, "idempotency key sweep failed; will retry"),
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = stop.cancelled() => return,
        }
    }
}

/// SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// The `serve` command: opens the store and limiter the settings name, prints the address it
/// listens on, and serves until SIGTERM or Ctrl-C.
pub async fn serve(settings: &Settings, listen: SocketAddr) -> Result<(), ServeError> {
    let store = Store::open(&settings.database, &settings.pool).await?;
    let limiter = RateLimiter::new(settings.limits.clone(), settings.redis_url.as_ref())?;
    let purchaser = Purchaser::new(store.clone(), limiter, settings.max_quantity);
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: listen,
            source,
        })?;
    let local = listener.local_addr()?;
    let config = ServerConfig::from_settings(settings);
    if config.strategy.is_unsafe() {
        eprintln!("flashsale: warning: strategy {}", config.strategy.label());
    }
    if config.admin_token.is_none() && !local.ip().is_loopback() {
        eprintln!(
            "flashsale: warning: no ADMIN_TOKEN: /api/admin/* and /metrics answer 403 on {local}"
        );
    }
    tracing::info!(
        %local,
        strategy = %config.strategy,
        database = %settings.database,
        limiter = %purchaser.limiter().describe(),
        trusted_proxies = %config.trusted_proxies,
        "serving"
    );
    // The one line on stdout: scripts (and tests) read the bound address from it.
    println!("flashsale: listening on http://{local}");
    let _ = std::io::stdout().flush();
    let state = AppState::new(purchaser, config);
    run(listener, state, shutdown_signal()).await?;
    store.close().await;
    Ok(())
}
