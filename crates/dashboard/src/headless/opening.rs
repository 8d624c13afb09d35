//! The Burst and Events panes of `--once --json`. The snapshot is played into a fresh state the
//! way the dashboard opens (connected, then each source's first answer, through
//! `App::update`), so the JSON says what the screen would at that moment: the burst `b` would
//! fire, and the events shown (the connection, failing sources, alerts).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::app::App;
use crate::event::Event;
use crate::keymap::Keymap;
use crate::state::replica_rows::ReplicaJson;
use crate::state::{Connection, Level, State};
use crate::theme::{ColorMode, ThemeSet};
use flashsale_burst::Quantity;
use flashsale_core::strategy::Strategy;
use flashsale_monitor::driver::Report;
use flashsale_monitor::over_http::{ApiSnapshot, sales_from_stats};
use flashsale_monitor::{Snapshot, Source, Thresholds, Update};

/// The parameters the next burst would fire with.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BurstJson {
    /// The target (the stock pane's selection); `null` when no product is known.
    pub product: Option<ProductRef>,
    pub buyers: u32,
    pub concurrency: u32,
    pub quantity: QuantityJson,
    /// `null` over the API when the server's health report does not name its strategy.
    pub strategy: Option<String>,
    /// `dashboard` (ours, changeable with `s`) or `server` (over the API).
    pub strategy_from: &'static str,
    /// The strategy oversells on purpose (`naive`).
    #[serde(rename = "unsafe")]
    pub is_unsafe: bool,
    /// Client IPs the buyers are spread over.
    pub ip_spread: u32,
    /// What a restock (`r`) sets the stock to; `null` when restocking is not possible (over
    /// the API without `--database-url`).
    pub restock_to: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProductRef {
    pub id: i32,
    pub name: String,
}

/// Units per purchase, inclusive (equal for a fixed quantity).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct QuantityJson {
    pub min: u32,
    pub max: u32,
}

/// One line of the Events pane.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventJson {
    pub at: DateTime<Utc>,
    /// `info`, `ok`, `warn` or `error`.
    pub level: &'static str,
    pub text: String,
}

/// The Burst and Events panes after `updates`, on a dashboard connected through `conn`.
pub fn panes(
    conn: Connection,
    strategy: Option<Strategy>,
    thresholds: &Thresholds,
    wall: DateTime<Utc>,
    updates: Vec<Update>,
    oversells: Vec<flashsale_monitor::Oversell>,
) -> (BurstJson, Vec<EventJson>, Vec<ReplicaJson>) {
    let now = std::time::Instant::now();
    let tz = *chrono::Local::now().offset();
    let mut state = State::new(conn, now, wall, tz);
    state.thresholds = *thresholds;
    state.oversells = oversells;
    if let Some(strategy) = strategy {
        state.burst.params.strategy = strategy;
    }
    let mut app = App::new(
        state,
        Keymap::default(),
        ThemeSet::embedded(ColorMode::None),
    );
    app.update(Event::Connected, now, wall);
    for update in updates {
        app.update(update.into(), now, wall);
    }
    (
        burst(&app.state),
        events(&app.state),
        app.state.replicas.json(),
    )
}

fn burst(s: &State) -> BurstJson {
    let p = &s.burst.params;
    let (strategy, strategy_from) = match &s.conn.api {
        Some(_) => (s.server_strategy().map(str::to_string), "server"),
        None => (Some(p.strategy.as_str().to_string()), "dashboard"),
    };
    let (min, max) = match p.quantity {
        Quantity::Fixed(q) => (q, q),
        Quantity::Range(a, b) => (a, b),
    };
    BurstJson {
        product: s.selected_product().map(|p| ProductRef {
            id: p.id,
            name: p.name.clone(),
        }),
        buyers: p.buyers,
        concurrency: p.concurrency,
        quantity: QuantityJson { min, max },
        is_unsafe: strategy.as_deref() == Some(Strategy::Naive.as_str()),
        strategy,
        strategy_from,
        // As the engine spreads them (`BurstRequest::spec`).
        ip_spread: p.ips.unwrap_or(p.buyers).max(1),
        restock_to: s
            .offers(crate::action::Action::Restock)
            .then_some(p.restock_to),
    }
}

fn events(s: &State) -> Vec<EventJson> {
    s.log
        .entries
        .iter()
        .map(|e| EventJson {
            at: e.at,
            level: match e.level {
                Level::Info => "info",
                Level::Ok => "ok",
                Level::Warn => "warn",
                Level::Error => "error",
            },
            text: e.text.clone(),
        })
        .collect()
}

/// The updates the direct samplers' first answers would have been.
pub fn direct_updates(snap: &Snapshot) -> Vec<Update> {
    let failed = |source: Source| Update::Failed {
        source,
        error: snap.errors.get(&source).cloned().unwrap_or_default(),
        retry_in: flashsale_monitor::RETRY,
    };
    let mut out = vec![
        snap.stock
            .clone()
            .map_or_else(|| failed(Source::Stock), Update::Stock),
        snap.sales
            .clone()
            .map_or_else(|| failed(Source::Sales), Update::Sales),
        Update::Pool(snap.pool.clone()),
    ];
    if snap.pool.server_error.is_some() {
        out.push(failed(Source::Pool));
    }
    if let Some(redis) = &snap.redis {
        out.push(Update::Redis(redis.clone()));
        if redis.error.is_some() {
            out.push(failed(Source::Redis));
        }
    }
    if let Some(replica) = &snap.read_replica {
        out.push(Update::ReadReplica(replica.clone()));
        if replica.error.is_some() {
            out.push(failed(Source::ReadReplica));
        }
    }
    out
}

/// The updates the API samplers' first answers would have been (a withheld source as such,
/// not as a failure).
pub fn api_updates(snap: &ApiSnapshot) -> Vec<Update> {
    let missing = |source: Source| {
        let reason = snap.errors.get(&source).cloned().unwrap_or_default();
        if snap.withheld.contains(&source) {
            Update::Withheld { source, reason }
        } else {
            Update::Failed {
                source,
                error: reason,
                retry_in: flashsale_monitor::RETRY,
            }
        }
    };
    let mut out = vec![
        snap.stock
            .clone()
            .map_or_else(|| missing(Source::Stock), Update::Stock),
        snap.stats.as_ref().map_or_else(
            || missing(Source::Sales),
            |s| Update::Sales(sales_from_stats(s)),
        ),
        snap.health
            .clone()
            .map_or_else(|| missing(Source::Health), Update::Health),
    ];
    if !snap.replica_reports.is_empty() {
        // Several replicas: no server-wide counters were read, each replica's are its own.
        for (i, report) in (0u16..).zip(&snap.replica_reports) {
            out.push(match report.clone() {
                Report::Data(r) => Update::Replica(r),
                Report::Withheld(error) | Report::Failed { error, .. } => Update::Failed {
                    source: Source::Replica(i),
                    error,
                    retry_in: flashsale_monitor::RETRY,
                },
            });
        }
        return out;
    }
    out.push(match snap.server_reading {
        Some(r) => Update::ServerPurchases(r),
        // Withheld counters have their reason in the rate's JSON, not in `errors`.
        None if snap.withheld.contains(&Source::Metrics) => Update::Withheld {
            source: Source::Metrics,
            reason: snap.server_error_rate.reason.clone().unwrap_or_default(),
        },
        None => missing(Source::Metrics),
    });
    out
}
