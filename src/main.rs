//! The `flashsale` binary: parses the command line, resolves settings, starts logging, and hands
//! off to the command. Errors end as one line on stderr and a non-zero exit code.

use std::process::ExitCode;

use clap::Parser;
use flashsale::cli::{self, Cli, Command, exit};
use flashsale::config::Settings;
use flashsale::purchase::Purchaser;
use flashsale::ratelimit::RateLimiter;
use flashsale::store::Store;

fn main() -> ExitCode {
    let _ = color_eyre::install();
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("flashsale: error: .env: {e}");
        return ExitCode::from(exit::USAGE);
    }
    let cli = Cli::parse();
    let (settings, layer) = match cli.global.settings(|k| std::env::var(k).ok()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("flashsale: error: {e}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let _log = flashsale::logging::init(&flashsale::paths::log_file());
    tracing::info!(database = %settings.database, command = ?cli.command.as_ref().map(command_name), "start");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("flashsale: error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::ERROR);
        }
    };
    let code = runtime.block_on(run(cli, settings, layer));
    ExitCode::from(code)
}

fn command_name(c: &Command) -> &'static str {
    match c {
        Command::Db { .. } => "db",
        Command::Stats { .. } => "stats",
        Command::Stock { .. } => "stock",
        Command::Buy(_) => "buy",
        Command::Burst(_) => "burst",
        Command::Bench(_) => "bench",
        Command::Dashboard(_) => "dashboard",
        Command::Config { .. } => "config",
        Command::Serve(_) => "serve",
    }
}

/// Prints an error as one line and returns the code for it.
fn fail(e: impl std::fmt::Display) -> u8 {
    tracing::error!(error = %e, "command failed");
    eprintln!("flashsale: error: {e}");
    exit::ERROR
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    println!("{text}");
    Ok(())
}

async fn run(cli: Cli, settings: Settings, layer: flashsale::config::Layer) -> u8 {
    let Some(command) = cli.command else {
        // On a terminal, the dashboard; in a pipe or a script, the text overview.
        if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            let args = cli::dashboard::DashboardArgs::default();
            return cli::dashboard::run(&settings, &layer, &args).await;
        }
        return overview(&settings).await;
    };
    match command {
        Command::Db { action } => match cli::db::run(&action, &settings).await {
            Ok(line) => {
                println!("{line}");
                exit::OK
            }
            Err(e @ cli::db::DbError::NeedsConfirmation(_)) => {
                eprintln!("flashsale: error: {e}");
                exit::USAGE
            }
            Err(e) => fail(e),
        },
        Command::Stats { json } => {
            let store = match Store::open(&settings.database, &settings.pool).await {
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
        Command::Stock { json } => {
            let store = match Store::open(&settings.database, &settings.pool).await {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            match store.products().await {
                Ok(products) if json => print_json(&products).map_or_else(fail, |_| exit::OK),
                Ok(products) => {
                    print!("{}", cli::report::stock_text(&products));
                    exit::OK
                }
                Err(e) => fail(e),
            }
        }
        Command::Buy(args) => {
            let purchaser = match purchaser(&settings).await {
                Ok(p) => p,
                Err(code) => return code,
            };
            let strategy = args.strategy.unwrap_or(settings.strategy);
            let receipt = cli::report::buy(&purchaser, &args, settings.strategy).await;
            if args.json {
                if let Err(e) = print_json(&receipt.to_json()) {
                    return fail(e);
                }
            } else {
                println!("{}", cli::report::receipt_text(&receipt, strategy));
            }
            purchaser.store().close().await;
            if receipt.outcome.order().is_some() {
                exit::OK
            } else {
                exit::NOT_PURCHASED
            }
        }
        Command::Burst(args) => {
            let database_given = layer.get(flashsale::config::keys::DATABASE_URL).is_some();
            burst(&settings, &args, database_given).await
        }
        Command::Bench(args) => match flashsale::bench::run(&args, &settings).await {
            Ok(report) => {
                print!("{report}");
                exit::OK
            }
            Err(e @ flashsale::bench::BenchError::NeedsYes(_)) => {
                eprintln!("flashsale: error: {e}");
                exit::USAGE
            }
            Err(e) => fail(e),
        },
        Command::Serve(args) => match flashsale::server::serve(&settings, &args).await {
            Ok(()) => exit::OK,
            Err(e) => fail(e),
        },
        Command::Dashboard(args) => cli::dashboard::run(&settings, &layer, &args).await,
        Command::Config { json } => {
            let rows = cli::report::config_report(&settings, &layer);
            if json {
                let map: serde_json::Map<String, serde_json::Value> = rows
                    .into_iter()
                    .map(|(k, v, origin)| (k, serde_json::json!({ "value": v, "from": origin })))
                    .collect();
                print_json(&map).map_or_else(fail, |_| exit::OK)
            } else {
                for (k, v, origin) in rows {
                    println!("{k:<26} {v:<40} ({origin})");
                }
                exit::OK
            }
        }
    }
}

/// Fires a burst (in process, or at `--target` over HTTP) with a progress bar, Ctrl-C to
/// cancel, and the report.
async fn burst(settings: &Settings, args: &cli::burst::BurstArgs, database_given: bool) -> u8 {
    let spec = match args.spec(settings.strategy) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("flashsale: error: {e}");
            return exit::USAGE;
        }
    };
    // Over HTTP the audit reads the server's database, which only an explicit URL names.
    let auditor = if args.target.is_none() || database_given {
        match Store::open(&settings.database, &settings.pool).await {
            Ok(s) => Some(s),
            Err(e) => return fail(e),
        }
    } else {
        None
    };
    let target = match &args.target {
        Some(url) => {
            if args.strategy.is_some() {
                eprintln!(
                    "flashsale: warning: --strategy is ignored with --target: the server applies its own"
                );
            }
            let timeout = std::time::Duration::from_millis(args.timeout_ms);
            match flashsale::http_client::HttpPurchaser::new(
                url,
                spec.concurrency() as usize,
                timeout,
            ) {
                Ok(h) => flashsale::burst::Target::Http(h),
                Err(e) => {
                    eprintln!("flashsale: error: --target: {e}");
                    return exit::USAGE;
                }
            }
        }
        None => {
            let Some(store) = auditor.clone() else {
                return fail("no database");
            };
            let limiter = if args.no_rate_limit {
                RateLimiter::off()
            } else {
                match RateLimiter::new(settings.limits.clone(), settings.redis_url.as_ref()) {
                    Ok(l) => l,
                    Err(e) => return fail(e),
                }
            };
            let purchaser = match args.naive_delay_ms {
                Some(ms) if ms > 0 => Purchaser::with_race_hook(
                    store,
                    limiter,
                    settings.max_quantity,
                    flashsale::purchase::RaceHook::Delay(std::time::Duration::from_millis(ms)),
                ),
                _ => Purchaser::new(store, limiter, settings.max_quantity),
            };
            if spec.strategy.is_unsafe() {
                eprintln!(
                    "flashsale: warning: strategy naive is UNSAFE: it oversells, on purpose, for demonstrations"
                );
            }
            flashsale::burst::Target::Local(purchaser)
        }
    };
    let handle = match flashsale::burst::start(spec, target, auditor.clone()) {
        Ok(h) => h,
        Err(e @ flashsale::burst::BurstError::RestockNeedsDatabase) => {
            eprintln!("flashsale: error: {e}");
            return exit::USAGE;
        }
        Err(e) => return fail(e),
    };
    let progress = tokio::spawn(cli::burst::show_progress(handle.progress()));
    let report = wait_cancelling_on_ctrl_c(handle).await;
    let _ = progress.await;
    if let Some(store) = &auditor {
        store.close().await;
    }
    match report {
        Ok(report) => {
            if args.json {
                if let Err(e) = print_json(&report) {
                    return fail(e);
                }
            } else {
                print!("{}", report.text());
            }
            cli::burst::exit_code(&report)
        }
        Err(e) => fail(e),
    }
}

/// Awaits a burst; the first Ctrl-C cancels it (in-flight purchases finish and the audit runs).
async fn wait_cancelling_on_ctrl_c(
    handle: flashsale::burst::BurstHandle,
) -> Result<flashsale::burst::BurstReport, flashsale::burst::BurstError> {
    let cancel = handle_canceller(&handle);
    let signal = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\nflashsale: cancelling: letting in-flight purchases finish, then auditing");
            cancel();
        }
    });
    let report = handle.finish().await;
    signal.abort();
    report
}

fn handle_canceller(handle: &flashsale::burst::BurstHandle) -> impl FnOnce() + Send + 'static {
    let token = handle.cancel_token();
    move || token.cancel()
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
    let store = match Store::open(&settings.database, &settings.pool).await {
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
