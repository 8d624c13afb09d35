//! `flashsale dashboard` (also `flashsale` alone, on a terminal): the terminal dashboard, or
//! with `--once --json` (or when stdout is not a terminal) one JSON snapshot of every pane.

use std::io::IsTerminal;
use std::time::Duration;

use clap::Args;

use super::exit;
use flashsale_core::config::{Layer, Settings};
use flashsale_dashboard::theme::ColorMode;

const AFTER_HELP: &str = "\
Keys: q quit, ctrl-c quit at once, esc back/cancel a burst, ? help, tab focus or 1-7,
arrows/hjkl, b or enter (burst pane) fire, s strategy, e edit burst, r restock, space pause,
+/- refresh, t theme, v read a pane whole, / filter and o sort the stock, z zoom, ! alerts,
d database activity (x cancel, X terminate a backend), u rate limits (ctrl+r resets them).
enter (stock pane) drill down (r restock to a typed target), m graphs over 1/5/15 min.
B the bursts fired here (enter: a report, w: save it as JSON and text in <state dir>/bursts).
Mouse: a click focuses and selects, the wheel scrolls (--no-mouse leaves it to the terminal).
Remap keys in the [keys] table of config.toml (e.g. fire = [\"b\", \"f\"]); alert
thresholds go in [alerts] (redis_ping_ms, error_rate_percent, pool_waiters, low_stock).
Themes: dark, light, ansi16, mono, plus <config dir>/themes/*.toml. NO_COLOR is honoured.
The last burst parameters, theme and refresh are kept in <state dir>/prefs.json; --theme,
--refresh and --strategy (or their environment variables) win over it.
Log: $FLASHSALE_STATE_DIR or ~/.local/state/flashsale/flashsale.log.";

#[derive(Debug, Args, Clone)]
#[command(after_help = AFTER_HELP)]
pub struct DashboardArgs {
    /// Print one snapshot of every pane's data as JSON and exit (for scripts and on-call
    /// checks; also what happens when stdout is not a terminal). Exit 1 if a source failed.
    #[arg(long)]
    pub once: bool,
    /// The snapshot's format; JSON is the only one (accepted for `--once --json`).
    #[arg(long)]
    pub json: bool,
    /// Hide and refuse everything that writes (bursts, restocks): the global `--read-only`.
    #[arg(skip)]
    pub read_only: bool,
    /// Colour theme: dark, light, ansi16, mono, or a file name in <config dir>/themes
    /// [default: the last one chosen with t (prefs.json), else dark].
    #[arg(long, value_name = "NAME", env = "FLASHSALE_THEME")]
    pub theme: Option<String>,
    /// auto, truecolor, 256, 16 or never [default: auto: NO_COLOR, COLORTERM, TERM]
    #[arg(long, value_name = "WHEN", default_value = "auto")]
    pub color: String,
    /// How often panes refresh: 250ms, 500ms, 1s, 2s, 5s or 10s [default: the last one set
    /// with +/- (prefs.json in the state directory), else 1s].
    #[arg(long, value_name = "PERIOD", value_parser = parse_refresh)]
    pub refresh: Option<Duration>,
    /// naive bursts pause this long between read and write, widening the race (demos).
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub naive_delay_ms: Option<u64>,
    /// Watch a deployment through its HTTP API alone (http://host:port): stock, statistics and
    /// the purchase error rate of /metrics (with ADMIN_TOKEN when the server has one), and
    /// health; bursts go over HTTP. Restocks and the burst audit need --database-url as well.
    /// Several replicas of one deployment: URL1,URL2,... (stock and statistics read once, from
    /// the first that answers; health, purchases/s, error rate and p99 per replica; bursts go
    /// to the first).
    #[arg(long, value_name = "URL[,URL...]")]
    pub api: Option<String>,
    /// Leave the mouse to the terminal (its own text selection) instead of clicks focusing
    /// panes and selecting rows, and the wheel scrolling.
    #[arg(long)]
    pub no_mouse: bool,
}

impl Default for DashboardArgs {
    fn default() -> Self {
        Self {
            once: false,
            json: false,
            read_only: false,
            theme: None,
            color: "auto".into(),
            refresh: None,
            naive_delay_ms: None,
            api: None,
            no_mouse: false,
        }
    }
}

/// One of the refresh steps `+`/`-` walk through; the error names them all, and only them (the
/// general duration parser's examples, like `2m`, would be refused here).
fn parse_refresh(s: &str) -> Result<Duration, String> {
    let steps = flashsale_dashboard::state::REFRESH_STEPS;
    match flashsale_burst::spec::parse_duration(s) {
        Ok(d) if steps.contains(&d) => Ok(d),
        _ => Err(format!(
            "'{s}': expected one of {}",
            steps
                .iter()
                .map(|d| if d.as_millis() < 1000 {
                    format!("{}ms", d.as_millis())
                } else {
                    format!("{}s", d.as_secs())
                })
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Runs the dashboard, or prints its snapshot when there is no terminal to draw on.
pub async fn run(settings: &Settings, layer: &Layer, args: &DashboardArgs) -> u8 {
    let color = if args.color == "auto" {
        ColorMode::detect(|k| std::env::var(k).ok())
    } else {
        match args.color.parse() {
            Ok(c) => c,
            Err(e) => {
                eprintln!("flashsale: error: --color {e}");
                return exit::USAGE;
            }
        }
    };
    let source = match &args.api {
        None => flashsale_dashboard::DataSource::Direct(settings.clone()),
        Some(raw) => match api_source(raw, settings, layer) {
            Ok(source) => flashsale_dashboard::DataSource::Api(source),
            Err(e) => {
                eprintln!("flashsale: error: --api: {e}");
                return exit::USAGE;
            }
        },
    };
    let opts = flashsale_dashboard::Options {
        source,
        read_only: args.read_only,
        theme: args.theme.clone(),
        color,
        refresh: args.refresh,
        strategy_given: layer.get(flashsale_core::config::keys::STRATEGY).is_some(),
        log_file: shown_log_file(),
        keys: layer.section("keys").cloned(),
        alerts: layer.section("alerts").cloned(),
        naive_delay: args.naive_delay_ms.map(Duration::from_millis),
        mouse: !args.no_mouse,
    };
    let terminal = std::io::stdout().is_terminal();
    if args.once || args.json || !terminal {
        // The snapshot uses the thresholds only: a broken theme file or a `[keys]` typo is
        // said, not fatal (`config --check` lists them all).
        let thresholds = match flashsale_dashboard::headless::thresholds(opts.alerts.as_ref()) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("flashsale: error: {e}");
                return exit::USAGE;
            }
        };
        if let Err(e) = flashsale_dashboard::prepare(&opts) {
            eprintln!(
                "flashsale: warning: {e} (not used by --once; the dashboard would refuse it)"
            );
        }
        let printed = match &opts.source {
            flashsale_dashboard::DataSource::Direct(_) => {
                flashsale_dashboard::headless::print_once(settings, &thresholds).await
            }
            flashsale_dashboard::DataSource::Api(source) => {
                flashsale_dashboard::headless::print_once_api(source, &thresholds).await
            }
        };
        return match printed {
            Ok(true) => exit::OK,
            Ok(false) => exit::ERROR,
            Err(e) => {
                eprintln!("flashsale: error: {e}");
                exit::ERROR
            }
        };
    }
    // Bad themes, keys or thresholds are reported before the terminal is taken.
    if let Err(e) = flashsale_dashboard::prepare(&opts) {
        eprintln!("flashsale: error: {e}");
        return exit::USAGE;
    }
    exit::of_dashboard(&flashsale_dashboard::run(opts).await)
}

/// The log file as the help shows it: `main` opened it before this runs, and when it could
/// not, no subscriber was set and nothing is logged.
fn shown_log_file() -> String {
    let path = flashsale_core::paths::log_file();
    if tracing::dispatcher::has_been_set() {
        path.display().to_string()
    } else {
        format!("{} (cannot be opened: nothing is logged)", path.display())
    }
}

/// The log's start line for the dashboard, naming what it watches, passwords masked: over
/// `--api` the API's URL (and the database only when one was named, for restocks and the
/// audit), else the database.
pub fn log_start(args: &DashboardArgs, settings: &Settings, layer: &Layer) {
    let Some(raw) = &args.api else {
        match &settings.read_replica {
            Some(replica) => tracing::info!(
                database = %settings.database,
                read_replica = %replica,
                command = "dashboard",
                "start"
            ),
            None => tracing::info!(database = %settings.database, command = "dashboard", "start"),
        }
        return;
    };
    let api = flashsale_dashboard::parse_api_list(raw).map_or_else(
        |_| flashsale_core::redact::redact_url(raw.trim()),
        |urls| {
            urls.iter()
                .map(flashsale_dashboard::shown_api_url)
                .collect::<Vec<_>>()
                .join(",")
        },
    );
    let database = layer
        .get(flashsale_core::config::keys::DATABASE_URL)
        .map_or("none".to_string(), |_| settings.database.to_string());
    tracing::info!(api = %api, database = %database, command = "dashboard", "start");
}

/// The `--api` source: the URLs checked (one, or a list of replicas), the admin token from
/// the settings, and the database only when one was named explicitly (as `burst --target`
/// decides whether to audit).
fn api_source(
    raw: &str,
    settings: &Settings,
    layer: &Layer,
) -> Result<flashsale_dashboard::ApiSource, String> {
    if let Some(replica) = &settings.read_replica {
        return Err(format!(
            "--replica-url / DATABASE_REPLICA_URL ({replica}): over --api the server reads its own \
             database; a read replica is for a dashboard reading the database directly"
        ));
    }
    let urls = flashsale_dashboard::parse_api_list(raw)?;
    // Few connections: the samplers keep at most three requests (and eight stock reads during
    // a poll) in flight; bursts get clients of their own.
    let client_of = |url: &url::Url| {
        let client =
            flashsale_client::ApiClient::new(url.as_str(), 8, flashsale_dashboard::API_TIMEOUT)
                .map_err(|e| e.to_string())?;
        Ok::<_, String>(match &settings.admin_token {
            Some(token) => client.with_admin_token(token.clone()),
            None => client,
        })
    };
    let mut replicas = Vec::with_capacity(urls.len());
    for url in &urls {
        replicas.push((flashsale_dashboard::shown_api_url(url), client_of(url)?));
    }
    let client = replicas
        .first()
        .map(|(_, c)| c.clone())
        .ok_or("no URL given")?;
    if replicas.len() == 1 {
        // One URL may be a load balancer's: no per-replica view (see README).
        replicas.clear();
    }
    let database_given = layer
        .get(flashsale_core::config::keys::DATABASE_URL)
        .is_some();
    Ok(flashsale_dashboard::ApiSource {
        client,
        settings: settings.clone(),
        database: database_given.then(|| settings.database.clone()),
        replicas,
    })
}
