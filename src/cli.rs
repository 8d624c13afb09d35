//! The command line: a thin face over the core. Every command takes the global connection and
//! limit flags; each has a `--json` form for scripts.

pub mod activity;
pub mod bench;
pub mod burst;
pub mod confirm;
pub mod dashboard;
pub mod db;
pub mod exit;
pub mod limits;
pub mod output;
pub mod report;
pub mod restock;
pub mod run;
pub mod stock;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use flashsale_core::config::{ConfigError, Layer, Settings, keys};
use flashsale_core::strategy::Strategy;

const AFTER_HELP: &str = "\
Configuration, highest precedence first: flags, environment (also read from ./.env),
config.toml in the config directory (or --config), defaults.
Passwords: a flag is visible to every user of the machine (ps, /proc/PID/cmdline); give a
URL with a password through the environment or config.toml, not --database-url/--redis-url.
Files: embedded database in $FLASHSALE_DATA_DIR or ~/.local/share/flashsale/flashsale.db,
config in ~/.config/flashsale/config.toml, log in ~/.local/state/flashsale/flashsale.log.";

/// A flash sale that never oversells: dashboard, burst engine, HTTP API.
#[derive(Debug, Parser)]
#[command(name = "flashsale", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Flags every command accepts, before or after the subcommand.
#[derive(Debug, Args, Default)]
pub struct GlobalArgs {
    /// Refuse everything that changes the database or Redis (purchases, bursts, restocks,
    /// `db`, `limits --reset`, `activity --cancel`); the dashboard hides those actions.
    #[arg(long, global = true)]
    pub read_only: bool,
    /// postgres://... or sqlite://path; with a password, prefer the env or the config file:
    /// flags show in /proc/PID/cmdline [env: DATABASE_URL] [default: embedded SQLite]
    #[arg(long, global = true, value_name = "URL", help_heading = "Connections")]
    pub database_url: Option<String>,
    /// redis://... or rediss://...; with a password, prefer the env or the config file:
    /// flags show in /proc/PID/cmdline [env: REDIS_URL] [default: in-process limiter]
    #[arg(long, global = true, value_name = "URL", help_heading = "Connections")]
    pub redis_url: Option<String>,
    /// A PostgreSQL streaming replica the dashboard reads stock, sales and statistics from;
    /// purchases, restocks and the audit stay on the database [env: DATABASE_REPLICA_URL]
    #[arg(long, global = true, value_name = "URL", help_heading = "Connections")]
    pub replica_url: Option<String>,
    /// Config file to read instead of ~/.config/flashsale/config.toml [env: FLASHSALE_CONFIG]
    #[arg(long, global = true, value_name = "FILE", help_heading = "Connections")]
    pub config: Option<PathBuf>,
    /// Maximum database connections [env: DB_POOL_MAX] [default: 20]
    #[arg(
        long,
        global = true,
        value_name = "N",
        allow_hyphen_values = true,
        help_heading = "Connections"
    )]
    pub db_pool_max: Option<String>,
    /// Statement timeout in ms [env: DB_TIMEOUT] [default: 5000]
    #[arg(
        long,
        global = true,
        value_name = "MS",
        allow_hyphen_values = true,
        help_heading = "Connections"
    )]
    pub db_timeout_ms: Option<String>,
    /// Wait for a pooled connection, in ms, before answering Busy [env: DB_ACQUIRE_TIMEOUT] [default: 2000]
    #[arg(
        long,
        global = true,
        value_name = "MS",
        allow_hyphen_values = true,
        help_heading = "Connections"
    )]
    pub db_acquire_timeout_ms: Option<String>,
    /// Timeout of each Redis call in ms [env: REDIS_TIMEOUT] [default: 250]
    #[arg(
        long,
        global = true,
        value_name = "MS",
        allow_hyphen_values = true,
        help_heading = "Connections"
    )]
    pub redis_timeout_ms: Option<String>,
    /// Purchases per user per window [env: RATE_LIMIT_USER_MAX] [default: 5]
    #[arg(
        long,
        global = true,
        value_name = "N",
        allow_hyphen_values = true,
        help_heading = "Rate limits"
    )]
    pub rate_limit_user_max: Option<String>,
    /// Purchases per client IP per window [env: RATE_LIMIT_IP_MAX] [default: 10]
    #[arg(
        long,
        global = true,
        value_name = "N",
        allow_hyphen_values = true,
        help_heading = "Rate limits"
    )]
    pub rate_limit_ip_max: Option<String>,
    /// Window length in ms [env: RATE_LIMIT_WINDOW_MS] [default: 60000]
    #[arg(
        long,
        global = true,
        value_name = "MS",
        allow_hyphen_values = true,
        help_heading = "Rate limits"
    )]
    pub rate_limit_window_ms: Option<String>,
    /// fail-open or fail-closed when Redis is unreachable [env: RATE_LIMIT_ON_REDIS_DOWN] [default: fail-open]
    #[arg(
        long,
        global = true,
        value_name = "POLICY",
        help_heading = "Rate limits"
    )]
    pub rate_limit_on_redis_down: Option<String>,
    /// Prefix for every Redis key [env: RATE_LIMIT_PREFIX] [default: none]
    #[arg(long, global = true, value_name = "TEXT", help_heading = "Rate limits")]
    pub rate_limit_prefix: Option<String>,
    /// Most purchases per transaction for the batched strategy [env: FLASHSALE_BATCH_MAX] [default: 256]
    #[arg(
        long,
        global = true,
        value_name = "N",
        allow_hyphen_values = true,
        help_heading = "Purchases"
    )]
    pub batch_max: Option<String>,
    /// IP:PORT where this process takes other processes' batched purchases of the products it
    /// sells and forwards its own to theirs, so they share commits (PostgreSQL) [env: FLASHSALE_FORWARD_LISTEN] [default: off]
    #[arg(
        long,
        global = true,
        value_name = "IP:PORT",
        help_heading = "Purchases"
    )]
    pub forward_listen: Option<String>,
    /// Largest quantity per purchase [env: MAX_QUANTITY] [default: 10]
    #[arg(
        long,
        global = true,
        value_name = "N",
        allow_hyphen_values = true,
        help_heading = "Purchases"
    )]
    pub max_quantity: Option<String>,
    /// IPs/CIDRs of proxies whose X-Forwarded-For `serve` believes [env: TRUSTED_PROXIES] [default: none]
    #[arg(long, global = true, value_name = "LIST", help_heading = "HTTP server")]
    pub trusted_proxies: Option<String>,
    /// Hours `serve` keeps an Idempotency-Key's record [env: IDEMPOTENCY_TTL_HOURS] [default: 24]
    #[arg(
        long,
        global = true,
        value_name = "HOURS",
        allow_hyphen_values = true,
        help_heading = "HTTP server"
    )]
    pub idempotency_ttl_hours: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, seed or reset the schema.
    Db {
        #[command(subcommand)]
        action: db::DbCommand,
    },
    /// Revenue, units sold, top products and revenue by day.
    Stats {
        /// Print JSON: {"totalRevenue","totalUnitsSold","topProducts","revenueByDay"}.
        #[arg(long)]
        json: bool,
    },
    /// Every product with its price and stock; --product N: one, with its latest orders.
    Stock(stock::StockArgs),
    /// Make one purchase through the shared purchase module.
    Buy(report::BuyArgs),
    /// Set one product's stock (the units available), saying what it replaced.
    Restock(restock::RestockArgs),
    /// The backends of our PostgreSQL database (pg_stat_activity): queries, waits, blockers,
    /// transactions, commit rates, locks on products; --cancel/--terminate one.
    Activity(activity::ActivityArgs),
    /// One customer's rate-limit windows in Redis (count, limit, remaining, time to reset);
    /// --reset lifts them.
    Limits(limits::LimitsArgs),
    /// Fire a storm of concurrent purchases and audit the database afterwards.
    Burst(burst::BurstArgs),
    /// Benchmarks against anchors measured in the same run (writes to the database: use a
    /// throwaway one).
    Bench(bench::BenchArgs),
    /// Serve the HTTP API (the reference system's contract) until SIGTERM or Ctrl-C.
    Serve(ServeArgs),
    /// The terminal dashboard (the default on a terminal); --once --json for one snapshot.
    Dashboard(dashboard::DashboardArgs),
    /// Show the resolved settings (passwords masked) and where each came from, [alerts] and
    /// [keys] included; --check validates the config file, [keys], [alerts] and every theme.
    Config {
        #[arg(long)]
        json: bool,
        /// Validate everything the commands would read (exit 2 naming each problem).
        #[arg(long)]
        check: bool,
    },
}

impl Command {
    /// The subcommand's name, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Db { .. } => "db",
            Command::Stats { .. } => "stats",
            Command::Stock { .. } => "stock",
            Command::Buy(_) => "buy",
            Command::Restock(_) => "restock",
            Command::Limits(_) => "limits",
            Command::Activity(_) => "activity",
            Command::Burst(_) => "burst",
            Command::Bench(_) => "bench",
            Command::Dashboard(_) => "dashboard",
            Command::Config { .. } => "config",
            Command::Serve(_) => "serve",
        }
    }
}

impl Command {
    /// What the command would change, for the refusal under `--read-only`; `None` for one
    /// that only reads.
    pub fn writes(&self) -> Option<&'static str> {
        match self {
            Command::Db { .. } => Some("db writes the schema"),
            Command::Buy(_) => Some("buy makes a purchase"),
            Command::Restock(_) => Some("restock sets a product's stock"),
            Command::Burst(_) => Some("burst makes purchases"),
            Command::Bench(_) => Some("bench writes to the database"),
            Command::Serve(_) => Some("serve takes purchases"),
            Command::Limits(a) if a.reset => {
                Some("limits --reset deletes a customer's rate-limit windows in Redis")
            }
            Command::Activity(a) if a.signal().is_some() => {
                Some("activity --cancel/--terminate signals a database backend")
            }
            Command::Stats { .. }
            | Command::Stock { .. }
            | Command::Activity(_)
            | Command::Limits(_)
            | Command::Dashboard(_)
            | Command::Config { .. } => None,
        }
    }
}

impl GlobalArgs {
    fn flag_layer(&self) -> Layer {
        fn o(v: &Option<String>) -> Option<&str> {
            v.as_deref()
        }
        Layer::from_flags([
            (keys::DATABASE_URL, o(&self.database_url)),
            (keys::REDIS_URL, o(&self.redis_url)),
            (keys::DATABASE_REPLICA_URL, o(&self.replica_url)),
            (keys::DB_POOL_MAX, o(&self.db_pool_max)),
            (keys::DB_TIMEOUT, o(&self.db_timeout_ms)),
            (keys::DB_ACQUIRE_TIMEOUT, o(&self.db_acquire_timeout_ms)),
            (keys::REDIS_TIMEOUT, o(&self.redis_timeout_ms)),
            (keys::RATE_LIMIT_USER_MAX, o(&self.rate_limit_user_max)),
            (keys::RATE_LIMIT_IP_MAX, o(&self.rate_limit_ip_max)),
            (keys::RATE_LIMIT_WINDOW, o(&self.rate_limit_window_ms)),
            (
                keys::RATE_LIMIT_ON_REDIS_DOWN,
                o(&self.rate_limit_on_redis_down),
            ),
            (keys::RATE_LIMIT_PREFIX, o(&self.rate_limit_prefix)),
            (keys::MAX_QUANTITY, o(&self.max_quantity)),
            (keys::BATCH_MAX, o(&self.batch_max)),
            (keys::FORWARD_LISTEN, o(&self.forward_listen)),
            (keys::TRUSTED_PROXIES, o(&self.trusted_proxies)),
            (keys::IDEMPOTENCY_TTL, o(&self.idempotency_ttl_hours)),
        ])
    }

    /// Settings from flags over `env` over the config file over defaults.
    pub fn settings(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<(Settings, Layer), ConfigError> {
        let (file_path, required) = match (&self.config, env("FLASHSALE_CONFIG")) {
            (Some(p), _) => (p.clone(), true),
            (None, Some(p)) if !p.is_empty() => (PathBuf::from(p), true),
            _ => (flashsale_core::paths::default_config_file(), false),
        };
        let file = Layer::from_file(&file_path, required)?;
        let file_used = file_path.exists().then_some(file_path);
        let layer = self.flag_layer().over(Layer::from_env(env)).over(file);
        let settings = Settings::resolve(&layer, file_used.as_deref())?;
        Ok((settings, layer))
    }
}

/// The command line, with every global option (connections, limits, ...) hidden from the
/// subcommands' `--help`: they are accepted there, but listed once, by `flashsale --help`.
/// (clap copies a global option into each subcommand unless one of that name is there: a
/// hidden copy is put there first.)
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    let root = Cli::command();
    let globals: Vec<clap::Arg> = root
        .get_arguments()
        .filter(|a| a.is_global_set())
        .cloned()
        .collect();
    let names: Vec<String> = root
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    names.into_iter().fold(root, |root, name| {
        root.mut_subcommand(name, |sub| {
            // The hint after the subcommand's own closing text (the dashboard's keys), if any.
            let after = match sub.get_after_help() {
                Some(own) => format!("{own}\n\n{GLOBAL_HINT}"),
                None => GLOBAL_HINT.to_string(),
            };
            globals
                .iter()
                .fold(sub, |sub, a| sub.arg(a.clone().hide(true)))
                .after_help(after)
        })
    })
}

const GLOBAL_HINT: &str = "Global options (--database-url, --redis-url, --config, --read-only, \
     pool, rate-limit and server settings) are accepted here too; `flashsale --help` lists them.";

/// What this process's PostgreSQL connections call themselves: `flashsale <command>`, and
/// `flashsale dashboard` for the bare command on a terminal (which runs it).
pub fn application_name(command: Option<&Command>) -> String {
    match command {
        Some(c) => format!("flashsale {}", c.name()),
        None if std::io::IsTerminal::is_terminal(&std::io::stdout()) => {
            "flashsale dashboard".into()
        }
        None => "flashsale".into(),
    }
}

/// Parses the process's arguments (clap's own errors and `--help` exit here, as clap does).
pub fn parse() -> Cli {
    use clap::FromArgMatches;
    let matches = command().get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// Parses a strategy flag, saying which are unsafe.
pub fn parse_strategy(s: &str) -> Result<Strategy, String> {
    s.parse::<Strategy>().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
        command().debug_assert();
    }

    #[test]
    fn subcommand_help_does_not_repeat_the_global_options_which_still_parse() {
        use clap::FromArgMatches;
        let mut cmd = command();
        let help = cmd
            .find_subcommand_mut("stock")
            .expect("stock")
            .render_long_help()
            .to_string();
        assert!(!help.contains("--db-pool-max"), "{help}");
        assert!(help.contains("flashsale --help"), "{help}");
        assert!(
            command()
                .render_long_help()
                .to_string()
                .contains("--db-pool-max")
        );
        let matches = command()
            .try_get_matches_from(["flashsale", "stock", "--db-pool-max", "3", "--json"])
            .expect("parse");
        let cli = Cli::from_arg_matches(&matches).expect("cli");
        assert_eq!(cli.global.db_pool_max.as_deref(), Some("3"));
        let matches = command()
            .try_get_matches_from(["flashsale", "db", "init", "--database-url", "sqlite:///x"])
            .expect("parse db init");
        let cli = Cli::from_arg_matches(&matches).expect("cli");
        assert_eq!(cli.global.database_url.as_deref(), Some("sqlite:///x"));
    }

    #[test]
    fn flags_beat_env() {
        let cli = Cli::try_parse_from(["flashsale", "stock", "--db-pool-max", "3"]).expect("parse");
        let (s, _) = cli
            .global
            .settings(|k| (k == "DB_POOL_MAX").then(|| "9".to_string()))
            .expect("settings");
        assert_eq!(s.pool.max_connections, 3);
    }

    #[test]
    fn global_flags_work_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "flashsale",
            "stats",
            "--json",
            "--database-url",
            "sqlite:///tmp/a.db",
        ])
        .expect("parse");
        assert_eq!(
            cli.global.database_url.as_deref(),
            Some("sqlite:///tmp/a.db")
        );
    }

    #[test]
    fn missing_explicit_config_file_is_an_error() {
        let cli = Cli::try_parse_from([
            "flashsale",
            "stock",
            "--config",
            "/nonexistent/flashsale.toml",
        ])
        .expect("parse");
        let err = cli.global.settings(|_| None).expect_err("missing file");
        assert!(
            err.to_string().contains("/nonexistent/flashsale.toml"),
            "{err}"
        );
    }
}

/// `flashsale serve` arguments.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free one (the address is printed on stdout).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:3000")]
    pub listen: std::net::SocketAddr,
}
