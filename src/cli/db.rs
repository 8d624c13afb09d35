//! `flashsale db init | seed | reset`, and opening an existing database for other commands.

use clap::Subcommand;

use flashsale_core::config::Settings;
use flashsale_core::store::{OpenMode, SeedReport, Store, StoreError};

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Apply the migrations (tables, indexes, constraints). Safe on an existing database.
    Init,
    /// Insert the reference system's five products and a week of sample orders (only into an
    /// empty products table).
    Seed,
    /// Drop every flashsale table, then migrate and seed again.
    Reset {
        /// Required unless the database is the embedded default.
        #[arg(long)]
        yes: bool,
    },
}

/// Why a `db` command did not run.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("refusing to drop every table of {0} without --yes")]
    NeedsConfirmation(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs a `db` command and returns the line to print.
pub async fn run(action: &DbCommand, settings: &Settings) -> Result<String, DbError> {
    if let DbCommand::Reset { yes: false } = action
        && !settings.database.is_embedded()
    {
        return Err(DbError::NeedsConfirmation(settings.database.to_string()));
    }
    let store = Store::open(&settings.database, &settings.pool).await?;
    let target = &settings.database;
    let line = match action {
        DbCommand::Init => {
            store.migrate().await?;
            format!("migrated {target}")
        }
        DbCommand::Seed => describe_seed(&store.seed().await?, target),
        DbCommand::Reset { .. } => {
            let report = store.reset().await?;
            format!("reset {target}: {}", describe_seed(&report, target))
        }
    };
    store.close().await;
    Ok(line)
}

fn describe_seed(report: &SeedReport, target: &flashsale_core::config::DatabaseTarget) -> String {
    if report.already_seeded {
        format!("{target} already has products; nothing seeded (use `db reset` to start over)")
    } else {
        format!(
            "seeded {target}: {} products, {} sample orders",
            report.products, report.orders
        )
    }
}

/// The store for a command that reads, or changes rows (`restock`), but never makes a sale up:
/// the embedded default is set up as on any first run, but another SQLite file must exist
/// already (a mistyped path is an error, not a new database with sample orders in it).
pub async fn open_existing(settings: &Settings) -> Result<Store, StoreError> {
    let mode = if settings.database.is_embedded() {
        OpenMode::Create
    } else {
        OpenMode::Existing
    };
    Store::open_with(&settings.database, &settings.pool, mode).await
}
