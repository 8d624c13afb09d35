//! Everything that reaches the app: terminal input, clock ticks, sampler updates, the burst
//! engine's progress and report, and results of writes. One channel carries them all.

use crossterm::event::{KeyEvent, MouseEvent};

use super::state::Level;
use flashsale_burst::{BurstReport, Progress};
use flashsale_monitor::Update;

/// One input to `App::update`.
#[derive(Debug, Clone)]
pub enum Event {
    Key(KeyEvent),
    /// A click or a wheel step (with `--no-mouse`, none arrive).
    Mouse(MouseEvent),
    Resize(u16, u16),
    /// The 1 Hz clock: ages and the header clock move.
    Tick,
    /// A sampler's snapshot or failure.
    Monitor(Update),
    /// The database could not be opened yet (the embedded file, say); retrying.
    ConnectFailed {
        error: String,
        retry_in_secs: u64,
    },
    /// The database is open and the samplers run.
    Connected,
    BurstProgress(Progress),
    BurstFinished(Result<Box<BurstReport>, String>),
    /// A restock was applied (product id, new stock) or failed.
    Restocked(Result<(i32, i32), String>),
    /// What came of cancelling or ending a backend from the activity view.
    Signalled {
        pid: i32,
        signal: flashsale_core::store::activity::Signal,
        result: Result<flashsale_core::store::activity::Signalled, String>,
    },
    /// A lookup of the limits prompt answered.
    LimitsFound(Result<crate::state::Found, String>),
    /// A reset of the limits prompt answered: windows deleted, or why not.
    LimitsReset(crate::state::Who, Result<u64, String>),
    /// A product's latest orders (for the drill-down), or why they could not be read.
    RecentOrders {
        product_id: i32,
        result: Result<Vec<flashsale_core::store::recent::RecentOrder>, String>,
    },
    /// A burst report was saved: (the JSON file, the text file), or why not.
    Exported(Result<(String, String), String>),
    /// SIGTERM, SIGINT or SIGHUP: leave cleanly.
    Signal(&'static str),
    /// Something for the events pane from the runtime (the `--database-url` of `--api` mode
    /// opening or failing to).
    Note(Level, String),
}

impl From<Update> for Event {
    fn from(u: Update) -> Self {
        Event::Monitor(u)
    }
}
