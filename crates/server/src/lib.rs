//! `flashsale serve`: the HTTP API, a thin face over the same [`Purchaser`] every other caller
//! uses, compatible field for field with the reference system's API (see README "HTTP API").
//! The core never imports this module.

mod accept;
pub mod admin;
pub mod body;
mod chunked;
pub mod client_ip;
pub mod connections;
pub mod cors;
mod event_socket;
pub mod event_stream;
pub mod fd_limit;
pub mod front;
mod give_back;
mod heard_io;
pub mod metrics;
pub mod read_view;
pub mod reply;
pub mod routes;
pub mod slow_log;
pub mod state;
pub mod stock_events;
pub mod timing;

use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::{Extension, Router, middleware};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

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
        .route_layer(middleware::from_fn_with_state(
            guard.clone(),
            admin::require_admin,
        ));
    Router::new()
        .route(api::PURCHASE, post(routes::purchase))
        .route(&format!("{}/{{id}}", api::STOCK), get(routes::stock))
        .route(&format!("{}/events", api::STOCK), get(event_stream::many))
        .route(
            &format!("{}/{{id}}/events", api::STOCK),
            get(event_stream::one),
        )
        .route(&format!("{}/{{id}}", api::PRODUCTS), get(routes::product))
        .route(api::HEALTH, get(routes::health))
        .route(api::READY, get(routes::ready))
        .merge(admin)
        .layer(Extension(guard))
        .fallback(routes::fallback)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            timing::time_requests,
        ))
        .with_state(state)
}

/// How long a new connection is safe from eviction, whatever it does. Eviction takes the
/// oldest first, so a new connection is in fact safe until every connection opened after it
/// has been evicted or is busy: under a flood, as many arrivals as there are slots. This floor
/// only matters when connections arrive slowly.
pub const SILENT_GRACE: Duration = Duration::from_millis(20);
/// How long a connection that has sent something (a trickling head, an idle keep-alive) is
/// safe, while silent ones are there to evict first.
pub const EVICTION_GRACE: Duration = Duration::from_millis(20);

/// Serves on `listener` until `shutdown` completes, then drains (below), stops accepting,
/// lets in-flight requests and purchases finish (for at most the drain limit) and returns.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    run_until(listener, state, shutdown, std::future::pending()).await
}

/// [`run`], whose drain `hurry` cuts short (a second signal).
///
/// The drain: from `shutdown` on, `/api/ready` answers 503 and for
/// [`ServerConfig::shutdown_drain`] everything else is served as before, each answer with
/// `Connection: close`. A load balancer checking `/api/ready` takes the replica out of its
/// pool meanwhile, so no request it routes here meets a closed listener; only then does the
/// listener close.
pub async fn run_until(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
    hurry: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    let app = router(state.clone(), local.ip().is_loopback());
    let signaled = CancellationToken::new();
    // Aborted when `run` returns, whichever way.
    let _sweeper = AbortOnDrop(tokio::spawn(sweep_expired_keys(
        state.clone(),
        signaled.clone(),
    )));
    let _stock_events = AbortOnDrop(tokio::spawn(stock_events::run(
        state.events().clone(),
        state.purchaser().store().clone(),
        signaled.clone(),
    )));
    let _slow_log = AbortOnDrop(tokio::spawn({
        let state = state.clone();
        async move { slow_log::summarise(state.slow_log()).await }
    }));
    let http = &state.config().http;
    let max = match http.max_connections {
        0 => fd_limit::auto_max_connections(DEFAULT_POOL),
        n => usize::try_from(n).unwrap_or(usize::MAX),
    };
    let connections =
        connections::Connections::new(max, SILENT_GRACE, EVICTION_GRACE.min(http.header_timeout));
    let _give_back = AbortOnDrop(tokio::spawn(give_back::after_floods(
        connections.clone(),
        signaled.clone(),
    )));
    let cors = Arc::new(cors::Cors::new(&http.cors_origins));
    let acceptor = accept::Acceptor {
        front: front::Front {
            router: app,
            cors: cors.clone(),
            request_timeout: http.request_timeout,
        },
        event_sockets: event_socket::EventSockets {
            state: state.clone(),
            cors,
            header_timeout: http.header_timeout,
            request_timeout: http.request_timeout,
        },
        connections: connections.clone(),
        header_timeout: http.header_timeout,
        drain_limit: state.config().drain_limit,
    };
    tracing::info!(
        max_connections = max,
        header_timeout_ms = http.header_timeout.as_millis() as u64,
        "accepting connections"
    );
    let conn_tasks = TaskTracker::new();
    let accepting = acceptor.run(listener, signaled.clone(), &conn_tasks);
    tokio::pin!(accepting);
    // The accept loop only returns once told to; a finished future must not be polled again.
    let mut accept_ended = tokio::select! {
        () = &mut accepting => true,
        () = shutdown => false,
    };
    state.start_draining();
    let drain = state.config().shutdown_drain;
    if !accept_ended && !drain.is_zero() {
        tracing::info!(
            drain_ms = drain.as_millis() as u64,
            "shutdown requested; /api/ready answers 503, still serving until the drain ends"
        );
        tokio::select! {
            () = &mut accepting => accept_ended = true,
            () = tokio::time::sleep(drain) => {}
            () = hurry => tracing::info!("asked again: drain cut short"),
        }
    }
    tracing::info!("closing the listener; finishing the requests in flight");
    signaled.cancel();
    if !accept_ended {
        accepting.await;
    }
    // The listener is closed; every connection finishes its request in flight and closes.
    connections.close_all();
    conn_tasks.close();
    let limit = state.config().drain_limit;
    if tokio::time::timeout(limit, conn_tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after {limit:?}; stopping anyway");
    }
    let tasks = state.tasks();
    tasks.close();
    if tokio::time::timeout(limit, tasks.wait()).await.is_err() {
        tracing::warn!(left = tasks.len(), "purchases still running at exit");
    }
    tracing::info!("server stopped");
    Ok(())
}

/// The pool size assumed for the automatic connection limit of a server started without
/// settings (tests); `serve` sets the limit from its own pool.
const DEFAULT_POOL: u32 = 20;

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
    let listener = bind(listen).map_err(|source| ServeError::Bind {
        addr: listen,
        source,
    })?;
    let local = listener.local_addr()?;
    let (soft_before, soft_now) = fd_limit::raise_nofile();
    let mut config = ServerConfig::from_settings(settings);
    if config.http.max_connections == 0 {
        let auto = fd_limit::auto_max_connections(settings.pool.max_connections);
        config.http.max_connections = u32::try_from(auto).unwrap_or(u32::MAX);
    }
    tracing::info!(
        soft_before = ?soft_before,
        soft_now = ?soft_now,
        max_connections = config.http.max_connections,
        "descriptor limit"
    );
    for warning in warnings(&config, local) {
        tracing::warn!("{warning}");
        eprintln!("flashsale: warning: {warning}");
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
    let drain = config.shutdown_drain;
    let state = AppState::new(purchaser, config);
    let first = async move {
        shutdown_signal().await;
        if !drain.is_zero() {
            eprintln!(
                "flashsale: draining for {} ms (SHUTDOWN_DRAIN_MS): /api/ready answers 503, \
                 requests are still served; signal again to stop now",
                drain.as_millis()
            );
        }
    };
    run_until(listener, state, first, shutdown_signal()).await?;
    store.close().await;
    Ok(())
}

/// Connections the kernel may hold for us before we accept them. Past the backlog a client's
/// handshake is dropped and retried a second later; Linux caps it at `net.core.somaxconn`
/// (4096 by default).
pub const BACKLOG: u32 = 4096;

/// A listener on `addr` with [`BACKLOG`] (tokio's `bind` asks for 1024).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// What `serve` warns about at start: an unsafe strategy; no admin token where the admin
/// endpoints are then closed (beyond loopback) or where a proxy's clients look local.
pub fn warnings(config: &ServerConfig, local: SocketAddr) -> Vec<String> {
    let mut out = Vec::new();
    if config.strategy.is_unsafe() {
        out.push(format!("strategy {}", config.strategy.label()));
    }
    if config.admin_token.is_none() {
        if !local.ip().is_loopback() {
            out.push(format!(
                "listening on {local} beyond loopback without ADMIN_TOKEN: /api/admin/* and /metrics answer 403"
            ));
        }
        if !config.trusted_proxies.is_empty() {
            out.push(
                "TRUSTED_PROXIES set without ADMIN_TOKEN: admin endpoints answer only direct loopback \
                 clients; make sure the proxy adds X-Forwarded-For or Forwarded, or set ADMIN_TOKEN"
                    .to_string(),
            );
        }
    }
    out
}
