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
#[cfg(any(test, feature = "fixture"))]
pub mod fixture;
pub mod format;
pub mod headless;
pub mod keymap;
pub mod layout;
pub mod panes;
pub mod prefs;
mod replica_urls;
mod runtime;
pub mod state;
pub mod terminal;
pub mod theme;
pub mod ui;

pub use replica_urls::parse_api_list;
pub use runtime::run;

/// How the dashboard ended. The binary turns it into its exit code: the dashboard knows no
/// process exit codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The operator quit.
    Quit,
    /// A signal ended it: `SIGINT`, `SIGTERM` or `SIGHUP`.
    Signal(&'static str),
    /// The options cannot work (a theme, key or alert setting): bad usage; the message says
    /// which and where.
    BadOptions(String),
    /// It could not start or go on (the limiter's settings, the terminal); the message says why.
    Failed(String),
    /// Drawing to the terminal failed (logged): nothing more can be shown.
    DrawFailed,
}

#[cfg(test)]
mod api_drive_tests;
#[cfg(test)]
mod big_numbers_tests;
#[cfg(test)]
mod burst_history_tests;
#[cfg(test)]
mod compact_tests;
#[cfg(test)]
mod drill_tests;
#[cfg(test)]
mod drive_tests;
#[cfg(test)]
mod mouse_tests;
#[cfg(test)]
mod navigate_tests;
#[cfg(test)]
mod operator_tests;
#[cfg(test)]
mod prefs_tests;
#[cfg(test)]
mod read_replica_tests;
#[cfg(test)]
mod redis_detail_tests;
#[cfg(test)]
mod replicas_tests;
#[cfg(test)]
mod sampler_feed_tests;
#[cfg(test)]
mod snapshot_tests;
#[cfg(test)]
mod truth_tests;
#[cfg(test)]
mod whole_tests;

use std::time::Duration;

use flashsale_client::ApiClient;
use flashsale_core::config::source::Section;
use flashsale_core::config::{DatabaseTarget, Settings};
use flashsale_core::store::{OpenMode, Store};
use flashsale_monitor::{ReadRoute, Thresholds};
use state::Connection;

use keymap::Keymap;
use theme::{ColorMode, ThemeSet};

/// The frame-rate cap: at most one frame per this long.
pub const FRAME: Duration = Duration::from_millis(33);
/// The longest a read waits for a connection to the read replica before the primary is read
/// instead.
pub const REPLICA_ACQUIRE_TIMEOUT: Duration = Duration::from_millis(1000);
/// How long a database that cannot be opened waits before the next try.
pub const RECONNECT: Duration = Duration::from_secs(2);

/// Where the dashboard's data comes from.
#[derive(Debug, Clone)]
pub enum DataSource {
    /// The database (and Redis) directly, purchases through the shared purchase module.
    Direct(Settings),
    /// A deployment through its HTTP API alone (`--api`): samplers over its endpoints
    /// ([`flashsale_monitor::over_http`]), bursts with `Target::Http`.
    Api(ApiSource),
}

/// A deployment watched over its HTTP API.
#[derive(Debug, Clone)]
pub struct ApiSource {
    /// The samplers' client (with the admin token, when one is set); bursts go to its URL
    /// through clients of their own, sized to their concurrency.
    pub client: ApiClient,
    /// The admin token and the largest quantity come from here; its database does not, unless
    /// it was named explicitly (`database`).
    pub settings: Settings,
    /// The database named explicitly (`--database-url`, `DATABASE_URL`, config file): restocks
    /// and the burst audit use it. `None`: the API alone, which has no restock.
    pub database: Option<DatabaseTarget>,
    /// `--api A,B,C`: every replica (URL as shown, client), `client` the first's; empty for
    /// one URL.
    pub replicas: Vec<(String, ApiClient)>,
}

/// How long any request of `--api` mode may take (samplers and burst purchases alike).
pub const API_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything the dashboard needs to start, already validated.
#[derive(Debug, Clone)]
pub struct Options {
    pub source: DataSource,
    pub read_only: bool,
    pub theme: Option<String>,
    pub color: ColorMode,
    /// How often panes refresh when given (`--refresh`): else the saved preference, else 1 s.
    pub refresh: Option<Duration>,
    /// The strategy was named (`--strategy`, `FLASHSALE_STRATEGY`, the config file): it wins
    /// over the one in the saved burst parameters.
    pub strategy_given: bool,
    /// What the help says of the log file: its path, or that nothing is logged.
    pub log_file: String,
    pub keys: Option<Section>,
    pub alerts: Option<Section>,
    /// `naive` bursts pause this long between read and write (demos).
    pub naive_delay: Option<Duration>,
    /// Clicks and the wheel (off with `--no-mouse`: the terminal's own selection then works).
    pub mouse: bool,
}

/// The theme set, keymap and thresholds the options name; errors name file, line and key.
pub fn prepare(opts: &Options) -> Result<(ThemeSet, usize, Keymap, Thresholds), String> {
    let user = flashsale_core::paths::config_dir().join("themes");
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

/// Every problem in what the dashboard would load: the `[keys]` and `[alerts]` tables and
/// each theme file (all of them, used or not), each naming its file and line.
pub fn check_config(keys: Option<&Section>, alerts: Option<&Section>) -> Vec<String> {
    let mut problems = Vec::new();
    if let Err(e) = Keymap::from_section(keys) {
        problems.push(e.to_string());
    }
    if let Err(e) = headless::thresholds(alerts) {
        problems.push(e.to_string());
    }
    let user = flashsale_core::paths::config_dir().join("themes");
    if let Err(e) = ThemeSet::load(Some(&user), ColorMode::TrueColor) {
        problems.push(e.to_string());
    }
    problems
}

/// Where the samplers read: `samplers` (their own store on the database), and the read
/// replica when one is configured, in a pool of two connections of its own. Only a URL the
/// driver cannot read fails here: a replica that is down is found out by the samplers.
pub async fn read_route(
    settings: &Settings,
    samplers: &Store,
    mode: OpenMode,
) -> Result<ReadRoute, String> {
    let Some(url) = &settings.read_replica else {
        return Ok(ReadRoute::primary_only(samplers.clone()));
    };
    let pool = flashsale_core::config::PoolSettings {
        max_connections: 2,
        listen_url: None,
        // A replica that is gone should cost the panes a moment, not the 2 s a purchase may
        // wait: the primary answers the read instead.
        acquire_timeout: settings.pool.acquire_timeout.min(REPLICA_ACQUIRE_TIMEOUT),
        ..settings.pool.clone()
    };
    let replica = Store::open_with(&DatabaseTarget::Postgres(url.clone()), &pool, mode)
        .await
        .map_err(|e| format!("read replica: {e}"))?;
    Ok(ReadRoute::with_replica(
        samplers.clone(),
        replica,
        url.to_string(),
    ))
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
        limits_short: limits_short(&settings.limits),
        on_redis_down: settings
            .redis_url
            .as_ref()
            .map(|_| settings.limits.on_unavailable.to_string()),
        max_quantity: settings.max_quantity,
        api: None,
    }
}

/// `5/user, 10/IP per 1 min`: the limits in as few columns as they can be read in.
fn limits_short(l: &flashsale_core::config::LimitSettings) -> String {
    let ms = l.window.as_millis();
    let window = if ms > 0 && ms.is_multiple_of(60_000) {
        format!("{} min", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{ms} ms")
    };
    format!("{}/user, {}/IP per {window}", l.user_max, l.ip_max)
}

/// The `--api` URL: `http://host[:port][/prefix]`, no query or fragment (paths are appended to
/// it). `https://` is refused: the HTTP client is built without TLS, as for `burst --target`.
pub fn parse_api_url(raw: &str) -> Result<url::Url, String> {
    let text = raw.trim();
    let url = url::Url::parse(text).map_err(|_| {
        // Echoed only without credentials: a malformed URL defeats the masking of its parts.
        if text.contains('@') {
            "not a URL (expected http://host:port)".to_string()
        } else {
            format!("'{text}' is not a URL (expected http://host:port)")
        }
    })?;
    match url.scheme() {
        "http" => {}
        "https" => {
            return Err(
                "https:// is not supported: flashsale's HTTP client is built without \
                 TLS (like burst --target); use http:// to the server or to a local tunnel"
                    .into(),
            );
        }
        other => {
            return Err(format!(
                "unsupported scheme '{other}' (expected http://host:port)"
            ));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("a URL needs a host, e.g. http://127.0.0.1:3000".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(
            "expected a base URL without ?query or #fragment (paths are added to it)".into(),
        );
    }
    Ok(url)
}

/// The URL as shown: any user name or password masked, no trailing slash.
pub fn shown_api_url(url: &url::Url) -> String {
    let auth = if url.username().is_empty() && url.password().is_none() {
        ""
    } else {
        "***@"
    };
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!(
        "{}://{auth}{}{port}{}",
        url.scheme(),
        url.host_str().unwrap_or_default(),
        url.path().trim_end_matches('/')
    )
}

/// What the header shows about a deployment watched over its API.
pub fn api_connection(source: &ApiSource) -> Connection {
    let (url, short) = match url::Url::parse(source.client.base_url()) {
        Ok(u) => (
            shown_api_url(&u),
            format!(
                "{}:{}",
                u.host_str().unwrap_or_default(),
                u.port_or_known_default().unwrap_or(80)
            ),
        ),
        Err(_) => {
            let shown = flashsale_core::redact::redact_url(source.client.base_url());
            (shown.clone(), shown)
        }
    };
    // Several replicas: the first, and how many more.
    let short = match source.replicas.len() {
        0 | 1 => short,
        n => format!("{short} +{}", n - 1),
    };
    Connection {
        backend: source.settings.database.kind(),
        database: url.clone(),
        short,
        embedded: false,
        redis: None,
        limiter: "the server's".into(),
        limits_short: "the server's".into(),
        on_redis_down: None,
        max_quantity: source.settings.max_quantity,
        api: Some(state::ApiLink {
            url,
            database: source.database.as_ref().map(ToString::to_string),
            replicas: source.replicas.iter().map(|(u, _)| u.clone()).collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_urls_are_http_base_urls() {
        assert!(parse_api_url("http://127.0.0.1:3000").is_ok());
        assert!(parse_api_url(" http://sale.internal/api-gw/ ").is_ok());
        let e = parse_api_url("https://sale.example.com").expect_err("no TLS");
        assert!(
            e.contains("https:// is not supported") && e.contains("TLS"),
            "{e}"
        );
        assert!(!e.contains('\n'), "one line: {e}");
        assert!(
            parse_api_url("ftp://x")
                .expect_err("scheme")
                .contains("'ftp'")
        );
        assert!(parse_api_url("127.0.0.1:3000").is_err());
        assert!(parse_api_url("http://h:1/?token=x").is_err());
        let e = parse_api_url("http//u:hunter2@h").expect_err("not a URL");
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn the_shown_url_masks_credentials() {
        let u = parse_api_url("http://ops:hunter2@10.0.0.5:3000/").expect("valid");
        assert_eq!(shown_api_url(&u), "http://***@10.0.0.5:3000");
        let u = parse_api_url("http://sale.internal/gw/").expect("valid");
        assert_eq!(shown_api_url(&u), "http://sale.internal/gw");
    }
}
