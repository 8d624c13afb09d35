//! Dispatches a parsed command line to the command that runs it; every command ends in an exit
//! code, every error in one line on stderr.

use crate::cli::output::{fail, print_json};
use crate::cli::{self, Cli, Command, exit};
use flashsale_core::config::{Layer, Settings};
use flashsale_core::purchase::Purchaser;
use flashsale_core::ratelimit::RateLimiter;
use flashsale_core::store::Store;

/// Runs the command `cli` names (the dashboard, or the overview, when it names none).
pub async fn run(cli: Cli, settings: Settings, layer: Layer) -> u8 {
    let read_only = cli.global.read_only;
    let Some(command) = cli.command else {
        // On a terminal, the dashboard; in a pipe or a script, the text overview.
        if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            // The same environment a `flashsale dashboard` would read.
            let args = cli::dashboard::DashboardArgs {
                theme: std::env::var("FLASHSALE_THEME")
                    .ok()
                    .filter(|t| !t.is_empty()),
                read_only,
                ..cli::dashboard::DashboardArgs::default()
            };
            return cli::dashboard::run(&settings, &layer, &args).await;
        }
        return overview(&settings).await;
    };
    if read_only && let Some(what) = command.writes() {
        eprintln!("flashsale: error: {}", refused_read_only(what));
        return exit::USAGE;
    }
    match command {
        Command::Db { action } => match cli::db::run(&action, &settings).await {
            Ok(line) => {
                println!("{line}");
                exit::OK
            }
            Err(
                e @ (cli::db::DbError::NeedsConfirmation(_) | cli::db::DbError::NoPartitions(_)),
            ) => {
                eprintln!("flashsale: error: {e}");
                exit::USAGE
            }
            Err(e) => fail(e),
        },
        Command::Stats { json } => {
            let store = match cli::db::open_existing(&settings).await {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            match store.stats().await {
                Ok(stats) if json => print_json(&stats).map_or_else(fail, |_| exit::OK),
                Ok(stats) => {
                    print!("{}", cli::report::stats_text(&stats));
                    exit::OK
                }
                Err(e) => fail(e),
            }
        }
        Command::Stock(args) => cli::stock::run(&settings, &args).await,
        Command::Buy(args) => {
            let purchaser = match purchaser(&settings).await {
                Ok(p) => p,
                Err(code) => return code,
            };
            let strategy = args.strategy.unwrap_or(settings.strategy);
            if strategy.is_unsafe() {
                eprintln!("{}", cli::report::NAIVE_WARNING);
            }
            let receipt = cli::report::buy(&purchaser, &args, settings.strategy).await;
            if let Some(warning) = cli::report::limiter_warning(&receipt) {
                eprintln!("{warning}");
            }
            if args.json {
                let body = cli::report::BuyJson::new(&receipt, strategy, purchaser.limiter());
                if let Err(e) = print_json(&body) {
                    return fail(e);
                }
            } else {
                println!("{}", cli::report::receipt_text(&receipt, strategy));
            }
            purchaser.store().close().await;
            exit::of_purchase(&receipt.outcome)
        }
        Command::Restock(args) => cli::restock::run(&settings, &args).await,
        Command::Limits(args) => cli::limits::run(&settings, &args).await,
        Command::Activity(args) => cli::activity::run(&settings, &args).await,
        Command::Burst(args) => {
            let database_given = layer
                .get(flashsale_core::config::keys::DATABASE_URL)
                .is_some();
            cli::burst::run(&settings, &args, database_given).await
        }
        Command::Bench(args) => {
            match flashsale_bench::run(&args.what.plan(), args.yes, &settings).await {
                Ok(report) => {
                    print!("{report}");
                    exit::OK
                }
                Err(e @ flashsale_bench::BenchError::NeedsYes(_)) => {
                    eprintln!("flashsale: error: {e}");
                    exit::USAGE
                }
                Err(e) => fail(e),
            }
        }
        Command::Serve(args) => match flashsale_server::serve(&settings, args.listen).await {
            Ok(()) => exit::OK,
            Err(e) => fail(e),
        },
        Command::Dashboard(mut args) => {
            args.read_only = read_only;
            cli::dashboard::run(&settings, &layer, &args).await
        }
        Command::Config { json, check } => {
            if check {
                return config_check(&layer);
            }
            let rows = cli::report::config_report(&settings, &layer);
            if json {
                let map: serde_json::Map<String, serde_json::Value> = rows
                    .into_iter()
                    .map(|(k, v, origin)| {
                        let value = cli::report::typed_value(&v);
                        (k, serde_json::json!({ "value": value, "from": origin }))
                    })
                    .collect();
                if let Err(e) = print_json(&map) {
                    return fail(e);
                }
            } else {
                for (k, v, origin) in rows {
                    println!("{k:<26} {v:<40} ({origin})");
                }
            }
            // What was shown, then what is wrong in it: a config with problems is not 0.
            config_problems(&layer)
        }
    }
}

/// Why `--read-only` refused a command: `what` says what it would have changed.
pub fn refused_read_only(what: &str) -> String {
    format!("--read-only refuses it: {what} (run it without --read-only)")
}

/// `config --check`: the config file was read and its keys checked to get here; this checks
/// the rest of what the dashboard would load (`[keys]`, `[alerts]`, every theme file), prints
/// each problem with its file and line, and exits 2 if there is one.
fn config_check(layer: &Layer) -> u8 {
    let code = config_problems(layer);
    if code == exit::OK {
        println!("config ok: settings, [keys], [alerts] and theme files");
    }
    code
}

/// Each problem of `[keys]`, `[alerts]` and the theme files on stderr; 2 if there is one.
fn config_problems(layer: &Layer) -> u8 {
    let problems =
        flashsale_dashboard::check_config(layer.section("keys"), layer.section("alerts"));
    for p in &problems {
        eprintln!("flashsale: error: {p}");
    }
    if problems.is_empty() {
        exit::OK
    } else {
        exit::USAGE
    }
}

/// Opens the store and the limiter the settings name.
async fn purchaser(settings: &Settings) -> Result<Purchaser, u8> {
    let store = Store::open(&settings.database, &settings.pool)
        .await
        .map_err(fail)?;
    let limiter =
        RateLimiter::new(settings.limits.clone(), settings.redis_url.as_ref()).map_err(fail)?;
    Ok(Purchaser::new(store, limiter, settings.max_quantity))
}

/// With no command: a one-screen overview of the sale.
async fn overview(settings: &Settings) -> u8 {
    let store = match cli::db::open_existing(settings).await {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    println!("flashsale on {}\n", settings.database);
    match store.products().await {
        Ok(p) => print!("{}", cli::report::stock_text(&p)),
        Err(e) => return fail(e),
    }
    match store.stats().await {
        Ok(s) => print!("\n{}", cli::report::stats_text(&s)),
        Err(e) => return fail(e),
    }
    exit::OK
}
