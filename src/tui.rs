//! The dashboard: a terminal face over the core for watching a live sale and firing purchase
//! storms. One data flow:
//!
//! ```text
//!  samplers (monitor)     ─┐
//!  burst engine           ─┼─> mpsc<Event> ─> App::update(state) ─> ui::draw(&state)
//!  terminal, signals, tick ┘        keys ─> keymap ─> Action ─┘        (≤ 30 fps, dirty only)
//!                                   update ─> Effect ─> runtime (burst, cancel, restock)
//! ```
//!
//! No query or network call runs on the render path: data sources are tasks that send owned
//! snapshots; the loop only receives, updates and draws.

pub mod action;
pub mod app;
pub mod event;
pub mod fixture;
pub mod format;
pub mod headless;
pub mod keymap;
pub mod layout;
pub mod panes;
mod runtime;
pub mod state;
pub mod terminal;
pub mod theme;
pub mod ui;

pub use runtime::run;

#[cfg(test)]
mod drive_tests;
#[cfg(test)]
mod snapshot_tests;

use std::time::Duration;

use crate::config::source::Section;
use crate::config::{DatabaseTarget, Settings};
use crate::monitor::Thresholds;
use state::Connection;

use keymap::Keymap;
use theme::{ColorMode, ThemeSet};

/// The frame-rate cap: at most one frame per this long.
pub const FRAME: Duration = Duration::from_millis(33);
/// How long a database that cannot be opened waits before the next try.
pub const RECONNECT: Duration = Duration::from_secs(2);

/// Where the dashboard's data comes from.
#[derive(Debug, Clone)]
pub enum DataSource {
    /// The database (and Redis) directly, purchases through the shared purchase module.
    Direct(Settings),
    // `Api(url)`: the HTTP client's mode (`--api`) plugs in here: samplers over its endpoints,
    // bursts with `Target::Http`. It needs the HTTP client, which is being written separately.
}

/// Everything the dashboard needs to start, already validated.
#[derive(Debug, Clone)]
pub struct Options {
    pub source: DataSource,
    pub read_only: bool,
    pub theme: Option<String>,
    pub color: ColorMode,
    pub refresh: Duration,
    pub keys: Option<Section>,
    pub alerts: Option<Section>,
    /// `naive` bursts pause this long between read and write (demos).
    pub naive_delay: Option<Duration>,
}

/// The theme set, keymap and thresholds the options name; errors name file, line and key.
pub fn prepare(opts: &Options) -> Result<(ThemeSet, usize, Keymap, Thresholds), String> {
    let user = crate::paths::config_dir().join("themes");
    let themes = ThemeSet::load(Some(&user), opts.color).map_err(|e| e.to_string())?;
    let wanted = opts.theme.clone().unwrap_or_else(|| {
        if opts.color == ColorMode::None {
            "mono"
        } else {
            "dark"
        }
        .into()
    });
    let theme = themes.index_of(&wanted).ok_or_else(|| {
        format!(
            "--theme: no theme named '{wanted}' (themes: {})",
            themes.names().join(", ")
        )
    })?;
    let keymap = Keymap::from_section(opts.keys.as_ref()).map_err(|e| e.to_string())?;
    let thresholds = headless::thresholds(opts.alerts.as_ref()).map_err(|e| e.to_string())?;
    Ok((themes, theme, keymap, thresholds))
}

/// What the header shows about the connection, passwords masked.
pub fn connection(settings: &Settings, limiter: &str) -> Connection {
    let (database, short) = match &settings.database {
        DatabaseTarget::Postgres(url) => {
            let shown = url.to_string();
            let short = url::Url::parse(url.expose())
                .map(|u| {
                    format!(
                        "{}:{}{}",
                        u.host_str().unwrap_or_default(),
                        u.port().unwrap_or(5432),
                        u.path()
                    )
                })
                .unwrap_or_else(|_| shown.clone());
            (shown, short)
        }
        DatabaseTarget::Sqlite { path, .. } => (
            path.display().to_string(),
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        ),
    };
    Connection {
        backend: settings.database.kind(),
        database,
        short,
        embedded: settings.database.is_embedded(),
        redis: settings.redis_url.as_ref().map(ToString::to_string),
        limiter: limiter.to_string(),
        max_quantity: settings.max_quantity,
    }
}
