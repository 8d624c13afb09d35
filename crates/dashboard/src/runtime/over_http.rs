//! `--api` mode in the runtime: reach the server (retrying), start the API samplers, open the
//! explicitly named database beside it for restocks and the audit, and fire bursts over HTTP.

use tokio::sync::{mpsc, watch};

use super::super::state::{BurstRequest, Level};
use super::super::{API_TIMEOUT, ApiSource, RECONNECT};
use crate::event::Event;
use flashsale_burst::{self as burst, Target};
use flashsale_client::ApiClient;
use flashsale_core::config::PoolSettings;
use flashsale_core::store::Store;
use flashsale_monitor::Control;
use flashsale_monitor::over_http::{ApiMonitor, describe, reached};

/// Asks `/api/health` until the server answers (healthy or not, or with no such endpoint: any
/// HTTP answer shows it is there), then starts the samplers. The database, when one was
/// named, opens in a task of its own: the API is watched either way.
pub(super) async fn connect(
    source: ApiSource,
    tx: mpsc::Sender<Event>,
    control: watch::Receiver<Control>,
    done: mpsc::Sender<Store>,
) {
    if let Some(target) = source.database.clone() {
        let pool = PoolSettings {
            // The audit and restocks only: a few queries at a time.
            max_connections: 2,
            ..source.settings.pool
        };
        tokio::spawn(open_database(target, pool, tx.clone(), done));
    }
    // Several replicas: the first that answers will do (the samplers read each one anyway).
    let clients: Vec<&ApiClient> = if source.replicas.is_empty() {
        vec![&source.client]
    } else {
        source.replicas.iter().map(|(_, c)| c).collect()
    };
    loop {
        let mut first = None;
        for client in &clients {
            match client.health().await {
                Err(e) if !reached(&e) => {
                    first.get_or_insert(e);
                }
                _ => {
                    first = None;
                    break;
                }
            }
        }
        match first {
            Some(e) => {
                let event = Event::ConnectFailed {
                    error: describe(&e),
                    retry_in_secs: RECONNECT.as_secs(),
                };
                if tx.send(event).await.is_err() {
                    return;
                }
                tokio::time::sleep(RECONNECT).await;
            }
            None => {
                // The tasks end by themselves when the event channel closes.
                let mut monitor = ApiMonitor::new(source.client.clone());
                monitor.replicas = source.replicas.clone();
                let _tasks = monitor.spawn(tx.clone(), control);
                let _ = tx.send(Event::Connected).await;
                return;
            }
        }
    }
}

/// Opens the `--database-url` database, retrying every [`RECONNECT`]; says so in the events
/// once per distinct error, and once when it opens.
async fn open_database(
    target: flashsale_core::config::DatabaseTarget,
    pool: PoolSettings,
    tx: mpsc::Sender<Event>,
    done: mpsc::Sender<Store>,
) {
    let mut last_error = None;
    while !tx.is_closed() {
        match Store::open(&target, &pool).await {
            Ok(store) => {
                let text =
                    format!("database open (--database-url) for restocks and the audit: {target}");
                let _ = tx.send(Event::Note(Level::Ok, text)).await;
                let _ = done.send(store).await;
                return;
            }
            Err(e) => {
                let error = e.to_string();
                if last_error.as_ref() != Some(&error) {
                    let text = format!(
                        "cannot open the database (--database-url) for restocks and the audit: \
                         {error}; retrying every {}s",
                        RECONNECT.as_secs()
                    );
                    let _ = tx.send(Event::Note(Level::Warn, text)).await;
                    last_error = Some(error);
                }
                tokio::time::sleep(RECONNECT).await;
            }
        }
    }
}

/// Why a write that needs the database cannot run now.
pub(super) fn no_database(source: &ApiSource) -> String {
    if source.database.is_some() {
        "the database (--database-url) is not open yet".into()
    } else {
        "the API has no restock: start with --database-url to restock".into()
    }
}

/// A burst over HTTP: a client of its own with a connection pool sized to the burst's
/// concurrency, audited when a database was named (and only once it is open).
pub(super) fn burst(
    request: &BurstRequest,
    store: Option<&Store>,
    source: &ApiSource,
) -> Result<burst::BurstHandle, String> {
    let auditor = match (&source.database, store) {
        (None, _) => None,
        (Some(_), Some(store)) => Some(store.clone()),
        (Some(_), None) => {
            return Err(format!("{}: the audit needs it", no_database(source)));
        }
    };
    let client = ApiClient::new(
        source.client.base_url(),
        request.params.concurrency as usize,
        API_TIMEOUT,
    )
    .map_err(|e| e.to_string())?;
    burst::start(request.spec(), Target::Http(client), auditor).map_err(|e| e.to_string())
}
