//! The dashboard's state: everything the screen shows, as owned data. `App::update` is the one
//! writer; `draw` reads it and nothing else, so rendering never waits on anything.

pub mod activity_view;
pub mod alert_book;
pub mod burst_state;
pub mod drill_view;
pub mod editor;
pub mod gauges;
pub mod history;
pub mod limits_prompt;
pub mod log;
pub mod rates;
pub mod replica_rows;
pub mod stock_view;

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset, Utc};

use super::action::Action;
use flashsale_core::config::BackendKind;
use flashsale_core::model::Product;
use flashsale_monitor::{Alert, Oversell, PoolSnapshot, RedisSnapshot, SalesSnapshot, Thresholds};

pub use activity_view::ActivityView;
pub use alert_book::AlertBook;
pub use burst_state::{BurstParams, BurstPhase, BurstRecord, BurstRequest, BurstState};
pub use drill_view::{Drill, RecentOrders};
pub use editor::{Editor, Field};
pub use gauges::{GaugeRef, Gauges};
pub use history::{History, Range};
pub use limits_prompt::{Found, LimitsPrompt, Who};
pub use log::{Level, LevelFilter, Log, LogEntry};
pub use rates::SellRates;
pub use replica_rows::Replicas;
pub use stock_view::{SortBy, StockView};

/// The refresh periods `+` and `-` step through.
pub const REFRESH_STEPS: [Duration; 6] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(5),
    Duration::from_secs(10),
];

/// How long an alert's rule must have stopped firing before the alert clears: a rate that dips
/// under its threshold for a moment (one progress step, one poll) does not clear and re-raise
/// it. Until then it stays on screen, marked as clearing.
pub const ALERT_HOLD: Duration = Duration::from_secs(10);

/// The last value of a source, when it came, and the error since, if any.
#[derive(Debug, Clone)]
pub struct Sampled<T> {
    pub value: Option<T>,
    pub at: Option<Instant>,
    pub error: Option<String>,
    /// The source answers but keeps its data to itself: why (shown instead of the data).
    pub withheld: Option<String>,
}

impl<T> Default for Sampled<T> {
    fn default() -> Self {
        Self {
            value: None,
            at: None,
            error: None,
            withheld: None,
        }
    }
}

impl<T> Sampled<T> {
    pub fn set(&mut self, value: T, now: Instant) {
        self.value = Some(value);
        self.at = Some(now);
        self.error = None;
        self.withheld = None;
    }

    /// The source withholds its data: the last value goes (it would pass for current).
    pub fn withhold(&mut self, reason: String) {
        self.value = None;
        self.at = None;
        self.error = None;
        self.withheld = Some(reason);
    }

    /// How old the value is.
    pub fn age(&self, now: Instant) -> Option<Duration> {
        self.at.map(|at| now.saturating_duration_since(at))
    }

    /// Old enough to say so: three refresh periods, and at least three seconds.
    pub fn stale(&self, now: Instant, refresh: Duration) -> Option<Duration> {
        let age = self.age(now)?;
        (age > (refresh * 3).max(Duration::from_secs(3))).then_some(age)
    }
}

/// The panes, in focus order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pane {
    Stock,
    Burst,
    Revenue,
    Top,
    Pool,
    Redis,
    Events,
}

impl Pane {
    pub const ALL: [Pane; 7] = [
        Pane::Stock,
        Pane::Burst,
        Pane::Revenue,
        Pane::Top,
        Pane::Pool,
        Pane::Redis,
        Pane::Events,
    ];

    pub fn next(self) -> Pane {
        let i = Pane::ALL.iter().position(|p| *p == self).unwrap_or(0);
        Pane::ALL[(i + 1) % Pane::ALL.len()]
    }

    pub fn prev(self) -> Pane {
        let i = Pane::ALL.iter().position(|p| *p == self).unwrap_or(0);
        Pane::ALL[(i + Pane::ALL.len() - 1) % Pane::ALL.len()]
    }
}

/// A deployment watched over its HTTP API (`dashboard --api`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiLink {
    /// The base URL, any password masked.
    pub url: String,
    /// The database given explicitly (`--database-url`, masked), which restocks and the burst
    /// audit use; `None`: the API alone, which has no restock and cannot audit.
    pub database: Option<String>,
    /// `--api A,B,C`: every replica's URL, masked (`url` is the first); empty for one URL.
    pub replicas: Vec<String>,
}

/// What the dashboard is connected to, passwords already masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub backend: BackendKind,
    /// The masked URL (PostgreSQL) or the file (SQLite).
    pub database: String,
    /// Host and database, or the file name, for narrow screens.
    pub short: String,
    /// The embedded default database: bursts need no confirmation.
    pub embedded: bool,
    /// The masked Redis URL, if any.
    pub redis: Option<String>,
    /// The rate-limit policy in words.
    pub limiter: String,
    /// The limits alone, for narrow panes: `5/user, 10/IP per 1 min`.
    pub limits_short: String,
    /// What the limiter does while Redis is down (`fail-open`, `fail-closed`); `None` without
    /// Redis (or over the API, whose health report says it).
    pub on_redis_down: Option<String>,
    pub max_quantity: u32,
    /// Watching over the API: `database` and `short` are then the URL and `host:port`, and
    /// `backend`, `redis` and `limiter` are unknown (the server's own).
    pub api: Option<ApiLink>,
}

/// The server's health report (over the API) and since when what it reports down has been down.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerHealth {
    pub report: flashsale_api::Health,
    pub database_down_since: Option<DateTime<Utc>>,
    pub redis_down_since: Option<DateTime<Utc>>,
}

/// A message in the status line for a few seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub level: Level,
    pub until: Instant,
}

/// A question the user must answer before a write.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirm {
    pub title: String,
    pub lines: Vec<String>,
    pub on_yes: Pending,
    /// The view the dialog was opened from (the activity view, the limits prompt, a
    /// drill-down), shown again once it is answered; `None` goes back to the panes.
    pub back: Option<Box<Overlay>>,
}

/// The write a confirm dialog guards.
#[derive(Debug, Clone, PartialEq)]
pub enum Pending {
    Burst(BurstRequest),
    Restock {
        product_id: i32,
        name: String,
        stock: i32,
    },
    /// `x` / `X` in the activity view: cancel or end backend `pid` (back to the view after).
    Signal {
        pid: i32,
        signal: flashsale_core::store::activity::Signal,
    },
    /// `ctrl+r` in the limits prompt: delete these windows (back to the prompt after).
    ResetLimits {
        who: Who,
        keys: Vec<String>,
    },
}

/// What covers the panes.
#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    Help,
    Confirm(Confirm),
    /// A pane read whole (`v`), scrolled down by `scroll` lines.
    Whole {
        pane: Pane,
        scroll: u16,
    },
    /// Every active alert with since when and how often (`!`); `selected` indexes `alerts`.
    Alerts {
        selected: usize,
    },
    /// The backends of our database (`d`): state in [`State::activity`].
    Activity,
    /// A customer's rate-limit windows (`u`): state in [`State::limits`].
    Limits,
    /// One product drilled down into (`enter` on a Stock row): its charts, orders, restock.
    Drill(Drill),
    /// The bursts fired in this session (`B`), newest first; with `report`, the selected one's
    /// full report, scrolled down by `scroll` lines.
    Bursts {
        selected: usize,
        report: bool,
        scroll: u16,
    },
}

/// Everything on screen.
#[derive(Debug, Clone)]
pub struct State {
    pub now: Instant,
    pub wall: DateTime<Utc>,
    /// The clock's zone (the local one, fixed at start).
    pub tz: FixedOffset,
    pub conn: Connection,
    /// Opening the database failed: why, and the retry interval in seconds.
    pub connect_error: Option<(String, u64)>,
    pub connected: bool,
    pub refresh: Duration,
    pub paused: bool,
    pub read_only: bool,
    pub focus: Pane,
    pub stock: Sampled<Vec<Product>>,
    /// What each Stock gauge measures against (its 100%).
    pub gauges: Gauges,
    /// Over the API: sell rates from the stock polls (the statistics give none).
    pub sell_rates: SellRates,
    /// Index into the stock list: the burst target.
    pub selected: usize,
    /// The Stock table's filter and order.
    pub stock_view: StockView,
    /// The focused pane alone over the body of the screen (`z`).
    pub zoom: bool,
    pub sales: Sampled<SalesSnapshot>,
    pub pool: Sampled<PoolSnapshot>,
    pub redis: Sampled<RedisSnapshot>,
    /// The PostgreSQL read replica's lag (`--replica-url`); never sampled without one.
    pub read_replica: Sampled<flashsale_monitor::ReadReplicaSnapshot>,
    /// Over the API: the server's `/api/health`.
    pub health: Sampled<ServerHealth>,
    /// Over the API: the server's purchase counters (`/metrics`) and their growth over the
    /// last minute.
    pub server_purchases: Sampled<flashsale_monitor::error_rate::Reading>,
    /// Over `--api A,B,C`: each replica (empty otherwise).
    pub replicas: Replicas,
    pub burst: BurstState,
    pub log: Log,
    /// The alerts on screen, most severe first: those whose rule fires, and those whose rule
    /// stopped firing less than [`ALERT_HOLD`] ago.
    pub alerts: Vec<Alert>,
    /// Since when each alert on screen has not fired (it clears [`ALERT_HOLD`] after).
    pub alert_clearing: BTreeMap<String, Instant>,
    /// Since when and how often each alert was raised; which are silenced.
    pub alert_book: AlertBook,
    /// Oversells the audits found on this database, until acknowledged (kept in a file, so a
    /// restart does not forget them).
    pub oversells: Vec<Oversell>,
    pub thresholds: Thresholds,
    /// (when, purchases, errors) per burst progress step, for the error rate over a minute.
    pub purchases: VecDeque<(Instant, u64, u64)>,
    pub notice: Option<Notice>,
    pub overlay: Option<Overlay>,
    /// What the dashboard saw over the last minutes: the history graphs and the drill-down.
    pub history: History,
    /// The drilled-down product's latest orders, fetched on opening and after each stock
    /// sample while it is open.
    pub orders: Sampled<RecentOrders>,
    /// An orders fetch is in flight (never more than one).
    pub orders_pending: bool,
    /// How many rows of the help the user scrolled past (when it does not fit the screen).
    pub help_scroll: usize,
    /// The terminal's size (columns, rows), for placing a click; `None` until known.
    pub screen: Option<(u16, u16)>,
    pub theme: usize,
    pub theme_name: String,
    /// The activity view (`d`): its sample and selection.
    pub activity: ActivityView,
    /// The limits prompt (`u`): its input and last lookup.
    pub limits: LimitsPrompt,
    /// What the help says of the log file (its path); `None` where none is kept (tests).
    pub log_file: Option<String>,
    /// Set when the dashboard should end, with how.
    pub quit: Option<crate::Ending>,
    /// Ctrl-C or a signal: end without waiting for a cancelled burst's audit.
    pub leave_now: bool,
}

impl State {
    pub fn new(conn: Connection, now: Instant, wall: DateTime<Utc>, tz: FixedOffset) -> State {
        let replicas = Replicas::new(conn.api.as_ref().map_or(&[][..], |a| &a.replicas));
        State {
            now,
            wall,
            tz,
            conn,
            connect_error: None,
            connected: false,
            refresh: Duration::from_secs(1),
            paused: false,
            read_only: false,
            focus: Pane::Stock,
            stock: Sampled::default(),
            gauges: Gauges::default(),
            sell_rates: SellRates::default(),
            selected: 0,
            stock_view: StockView::default(),
            zoom: false,
            sales: Sampled::default(),
            pool: Sampled::default(),
            redis: Sampled::default(),
            read_replica: Sampled::default(),
            health: Sampled::default(),
            server_purchases: Sampled::default(),
            replicas,
            burst: BurstState::default(),
            log: Log::default(),
            alerts: Vec::new(),
            alert_clearing: BTreeMap::new(),
            alert_book: AlertBook::default(),
            oversells: Vec::new(),
            thresholds: Thresholds::default(),
            purchases: VecDeque::new(),
            notice: None,
            overlay: None,
            history: History::default(),
            orders: Sampled::default(),
            orders_pending: false,
            help_scroll: 0,
            screen: None,
            theme: 0,
            theme_name: "dark".into(),
            activity: ActivityView::default(),
            limits: LimitsPrompt::default(),
            log_file: None,
            quit: None,
            leave_now: false,
        }
    }

    /// Watching over the API.
    pub fn over_api(&self) -> bool {
        self.conn.api.is_some()
    }

    /// The server's strategy, when watching over the API and its health report told it.
    pub fn server_strategy(&self) -> Option<&str> {
        self.health
            .value
            .as_ref()
            .map(|h| h.report.strategy.as_str())
            .filter(|s| !s.is_empty())
    }

    /// Whether `action` can do anything in this mode, so that keys which cannot are neither
    /// offered in the footer nor listed in the help: writes are off with `--read-only`; over the
    /// API the strategy is the server's, and restocks need the `--database-url` database.
    pub fn offers(&self, action: Action) -> bool {
        if self.read_only && action.writes() {
            return false;
        }
        match (action, &self.conn.api) {
            (Action::CycleStrategy, Some(_)) => false,
            (Action::Restock, Some(api)) => api.database.is_some(),
            // The server's limiter is not ours to read over the API.
            (Action::Limits | Action::ResetLimits, Some(_)) => false,
            _ => true,
        }
    }

    /// What the audits found on product `id` and nobody has acknowledged yet.
    pub fn oversell(&self, id: i32) -> Option<&Oversell> {
        self.oversells.iter().find(|o| o.product_id == id)
    }

    /// The gauge's 100% for `p`.
    pub fn gauge_full(&self, p: &Product) -> i32 {
        self.gauges.full(p, self.sales.value.as_ref())
    }

    /// The selected product, if the stock list has one.
    pub fn selected_product(&self) -> Option<&Product> {
        self.stock.value.as_ref()?.get(self.selected)
    }

    /// The first error reaching the data (connecting; stock, sales, pool; over the API, its
    /// health endpoint), for the status line.
    pub fn database_error(&self) -> Option<&str> {
        if let Some((e, _)) = &self.connect_error {
            return Some(e);
        }
        [
            self.stock.error.as_deref(),
            self.sales.error.as_deref(),
            self.pool.error.as_deref(),
            self.health.error.as_deref(),
        ]
        .into_iter()
        .flatten()
        .next()
    }

    /// Why the database gives no data, watching it directly: opening it failed, or the stock
    /// poll did (over the API the server's health says it instead).
    pub fn direct_database_error(&self) -> Option<&str> {
        if self.over_api() {
            return None;
        }
        match &self.connect_error {
            Some((e, _)) => Some(e),
            None => self.stock.error.as_deref(),
        }
    }

    /// (errors, purchases) over the server's last minute, from its counters, while they tell
    /// about now: not after a read failed (the rule then has only the bursts fired here), nor
    /// once the last read is older than the window itself (paused, or a sampler stuck). A read
    /// that is merely slow keeps its rate: an overloaded server answers slowly, and that is
    /// when the alert must not flicker; a read that never ends times out and fails.
    pub fn server_purchases_last_minute(&self) -> Option<(u64, u64)> {
        let p = &self.server_purchases;
        if p.error.is_some()
            || p.age(self.now)
                .is_some_and(|age| age > flashsale_monitor::error_rate::WINDOW)
        {
            return None;
        }
        p.value.as_ref()?.last_minute.map(|c| c.pair())
    }

    /// (errors, purchases) over the last minute, from bursts fired here.
    pub fn purchases_last_minute(&self) -> Option<(u64, u64)> {
        let recent = self
            .purchases
            .iter()
            .filter(|(t, _, _)| self.now.saturating_duration_since(*t) <= Duration::from_secs(60));
        let (n, e) = recent.fold((0, 0), |(n, e), (_, dn, de)| (n + dn, e + de));
        (n > 0).then_some((e, n))
    }

    /// The alerts the banner shows: those not silenced.
    pub fn banner_alerts(&self) -> impl Iterator<Item = &Alert> {
        self.alerts
            .iter()
            .filter(|a| !self.alert_book.is_silenced(&a.key, self.now))
    }

    /// The wall clock in the display zone.
    pub fn local(&self, t: DateTime<Utc>) -> DateTime<FixedOffset> {
        t.with_timezone(&self.tz)
    }
}
