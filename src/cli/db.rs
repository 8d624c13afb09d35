//! `flashsale db init | seed | reset | partitions`, and opening an existing database for other
//! commands.

use clap::Subcommand;

use flashsale_core::config::DatabaseTarget;
use flashsale_core::config::Settings;
use flashsale_core::store::partitions::{self, Conversion, PartitionPlan, PartitionReport};
use flashsale_core::store::{OpenMode, SeedReport, Store, StoreError};

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Apply the migrations (tables, indexes, constraints). Safe on an existing database.
    Init {
        /// PostgreSQL: make `orders` partitioned by month of `created_at`, with a default
        /// partition, from last month through --months-ahead. An existing ordinary `orders`
        /// with orders in it is refused, untouched, unless --copy-orders.
        #[arg(long)]
        partitioned: bool,
        /// With --partitioned: rebuild an existing ordinary `orders` partitioned, copying every
        /// order in one transaction (purchases wait until it commits).
        #[arg(long, requires = "partitioned")]
        copy_orders: bool,
        /// With --partitioned: months after the current one to create partitions for.
        #[arg(long, default_value_t = partitions::MONTHS_AHEAD, requires = "partitioned")]
        months_ahead: u32,
    },
    /// Insert the reference system's five products and a week of sample orders (only into an
    /// empty products table).
    Seed,
    /// Drop every flashsale table, then migrate and seed again.
    Reset {
        /// Required unless the database is the embedded default.
        #[arg(long)]
        yes: bool,
    },
    /// PostgreSQL, a partitioned `orders`: create the monthly partitions missing up to
    /// --months-ahead (orders the default partition took for those months move into them).
    /// Run it monthly, e.g. from cron; each month takes `orders` to itself for a moment.
    Partitions {
        /// Months after the current one to have a partition of their own.
        #[arg(long, default_value_t = partitions::MONTHS_AHEAD)]
        months_ahead: u32,
    },
}

/// Why a `db` command did not run.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("refusing to drop every table of {0} without --yes")]
    NeedsConfirmation(String),
    #[error("{target}: {source}")]
    Partitioning { target: String, source: StoreError },
    #[error("{0}: partitioned orders need PostgreSQL; SQLite has no partitions")]
    NoPartitions(String),
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
    let target = &settings.database;
    let partitions = matches!(
        action,
        DbCommand::Partitions { .. }
            | DbCommand::Init {
                partitioned: true,
                ..
            }
    );
    // Refused before opening: opening an SQLite file would create it.
    if partitions && !matches!(target, DatabaseTarget::Postgres(_)) {
        return Err(DbError::NoPartitions(target.to_string()));
    }
    let store = Store::open(&settings.database, &settings.pool).await?;
    let line = match action {
        DbCommand::Init {
            partitioned: false, ..
        } => {
            store.migrate().await?;
            format!("migrated {target}")
        }
        DbCommand::Init {
            partitioned: true,
            copy_orders,
            months_ahead,
        } => {
            let conversion = if *copy_orders {
                Conversion::Copy
            } else {
                Conversion::IfEmpty
            };
            // An ordinary table full of orders is refused before anything is written.
            if conversion == Conversion::IfEmpty && !store.orders_partitioned().await? {
                refuse_if_orders(&store, target).await?;
            }
            store.migrate().await?;
            let plan = PartitionPlan {
                conversion,
                months_ahead: *months_ahead,
            };
            let report = partition(&store, target, plan).await?;
            format!("migrated {target}; {}", describe_partitions(&report))
        }
        DbCommand::Partitions { months_ahead } => {
            let plan = PartitionPlan {
                conversion: Conversion::Never,
                months_ahead: *months_ahead,
            };
            let report = partition(&store, target, plan).await?;
            format!("{target}: {}", describe_partitions(&report))
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

async fn partition(
    store: &Store,
    target: &DatabaseTarget,
    plan: PartitionPlan,
) -> Result<PartitionReport, DbError> {
    match store.partition_orders(plan).await {
        Ok(Some(report)) => Ok(report),
        Ok(None) => Err(DbError::NoPartitions(target.to_string())),
        Err(source) => Err(DbError::Partitioning {
            target: target.to_string(),
            source,
        }),
    }
}

/// The refusal of `db init --partitioned` (without `--copy-orders`) on an ordinary `orders`
/// that holds orders, before anything is written (not even the migrations). The conversion
/// counts again under its lock: an order that arrives in between is refused there.
async fn refuse_if_orders(store: &Store, target: &DatabaseTarget) -> Result<(), DbError> {
    match store.max_order_id().await {
        Ok(0) | Err(StoreError::NoSchema) => Ok(()),
        Ok(last) => Err(DbError::Partitioning {
            target: target.to_string(),
            source: StoreError::Invalid(format!(
                "orders is an ordinary table with orders in it (ids up to {last}), left as it \
                 is; `flashsale db init --partitioned --copy-orders` rebuilds it partitioned, \
                 copying every order in one transaction (purchases wait until it commits)"
            )),
        }),
        Err(e) => Err(e.into()),
    }
}

fn describe_partitions(r: &PartitionReport) -> String {
    let mut line = match r.converted {
        Some(0) => "orders rebuilt partitioned by month (it was empty)".to_string(),
        Some(n) => format!("orders rebuilt partitioned by month, {n} orders copied"),
        None => "orders is partitioned by month".to_string(),
    };
    line.push_str(&format!(
        "; {} monthly partitions{}, {} created now",
        r.months,
        r.last_month
            .map(|d| format!(" through {}", d.format("%Y-%m")))
            .unwrap_or_default(),
        r.created.len()
    ));
    if r.moved_from_default > 0 {
        line.push_str(&format!(
            ", {} orders moved out of {}",
            r.moved_from_default,
            partitions::DEFAULT_PARTITION
        ));
    }
    line.push_str(&format!(
        "; {} orders in {}",
        r.in_default,
        partitions::DEFAULT_PARTITION
    ));
    line
}

fn describe_seed(report: &SeedReport, target: &DatabaseTarget) -> String {
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
