//! The schema migrations of both engines, embedded in the binary. Built at run time from the
//! SQL files (what sqlx's `migrate!` macro did at compile time), with the same versions,
//! descriptions and checksums, so a database migrated by an earlier build is recognised.

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// (version, description, SQL) of each PostgreSQL migration, oldest first.
const POSTGRES: &[(i64, &str, &str)] = &[
    (
        1,
        "schema",
        include_str!("../../migrations/postgres/0001_schema.sql"),
    ),
    (
        2,
        "idempotency",
        include_str!("../../migrations/postgres/0002_idempotency.sql"),
    ),
    (
        3,
        "stock leases",
        include_str!("../../migrations/postgres/0003_stock_leases.sql"),
    ),
    (
        4,
        "restock notify",
        include_str!("../../migrations/postgres/0004_restock_notify.sql"),
    ),
    (
        5,
        "lean idempotency keys",
        include_str!("../../migrations/postgres/0005_lean_idempotency_keys.sql"),
    ),
    (
        6,
        "product sellers",
        include_str!("../../migrations/postgres/0006_product_sellers.sql"),
    ),
];

/// The same for SQLite.
const SQLITE: &[(i64, &str, &str)] = &[
    (
        1,
        "schema",
        include_str!("../../migrations/sqlite/0001_schema.sql"),
    ),
    (
        2,
        "idempotency",
        include_str!("../../migrations/sqlite/0002_idempotency.sql"),
    ),
];

pub(crate) fn postgres() -> Migrator {
    migrator(POSTGRES)
}

pub(crate) fn sqlite() -> Migrator {
    migrator(SQLITE)
}

fn migrator(files: &'static [(i64, &'static str, &'static str)]) -> Migrator {
    Migrator::with_migrations(
        files
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    description.into(),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    // sqlx's own rule: a file may opt out of the migration's transaction.
                    sql.starts_with("-- no-transaction"),
                )
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each engine's list against its folder: a migration file added to the folder and not
    /// here would never run.
    #[test]
    fn every_migration_file_is_listed_with_its_version_and_description() {
        for (engine, listed) in [("postgres", POSTGRES), ("sqlite", SQLITE)] {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(engine);
            let mut files: Vec<(i64, String, String)> = std::fs::read_dir(&dir)
                .expect("migrations folder")
                .map(|e| e.expect("entry").path())
                .map(|p| {
                    let name = p.file_name().and_then(|n| n.to_str()).expect("utf-8 name");
                    let (version, rest) = name.split_once('_').expect("<version>_<name>.sql");
                    let description = rest.trim_end_matches(".sql").replace('_', " ");
                    let sql = std::fs::read_to_string(&p).expect("readable");
                    (version.parse().expect("numeric version"), description, sql)
                })
                .collect();
            files.sort();
            let listed: Vec<(i64, String, String)> = listed
                .iter()
                .map(|(v, d, s)| (*v, d.to_string(), s.to_string()))
                .collect();
            assert_eq!(files, listed, "{engine}");
        }
    }
}
