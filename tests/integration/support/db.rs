//! A database of the test's own: a fresh PostgreSQL database (dropped afterwards; its orders
//! partitioned by month if asked) or a fresh SQLite file, either seeded by flashsale, and the
//! engine a matrix case runs on.

use flashsale_core::config::{DatabaseTarget, PoolSettings};
use flashsale_core::redact::SecretUrl;
use flashsale_core::store::Store;
use sqlx::Connection;

use super::{unique, unreachable};

/// The admin connection tests create their databases through.
pub fn pg_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A PostgreSQL database of the test's own, dropped when this is dropped.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    /// An empty database (no schema).
    pub async fn empty() -> TestDb {
        let admin = pg_admin_url();
        let mut conn = match sqlx::PgConnection::connect(&admin).await {
            Ok(c) => c,
            Err(e) => unreachable("PostgreSQL", &admin, e),
        };
        let name = unique("fs_t_");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let _ = conn.close().await;
        let mut url = url::Url::parse(&admin).expect("admin url");
        url.set_path(&name);
        TestDb {
            name,
            url: url.to_string(),
        }
    }

    /// An empty database and a store on it with a generous acquire timeout: on a 2-core
    /// machine running the whole suite (and serve processes) at once, a fresh database's first
    /// connections can take seconds.
    async fn for_setup() -> (TestDb, Store) {
        let db = TestDb::empty().await;
        let store = db
            .store_with(PoolSettings {
                acquire_timeout: std::time::Duration::from_secs(10),
                ..PoolSettings::default()
            })
            .await;
        (db, store)
    }

    /// A database migrated and seeded by flashsale.
    pub async fn seeded() -> (TestDb, Store) {
        let (db, store) = TestDb::for_setup().await;
        store.migrate().await.expect("migrate");
        store.seed().await.expect("seed");
        (db, store)
    }

    /// A database migrated, its `orders` partitioned by month (what `db init --partitioned`
    /// does) and seeded.
    pub async fn partitioned() -> (TestDb, Store) {
        let (db, store) = TestDb::for_setup().await;
        store.migrate().await.expect("migrate");
        store
            .partition_orders(Default::default())
            .await
            .expect("partition orders")
            .expect("PostgreSQL partitions");
        store.seed().await.expect("seed");
        (db, store)
    }

    pub fn target(&self) -> DatabaseTarget {
        DatabaseTarget::Postgres(SecretUrl::new(self.url.clone()))
    }

    pub async fn store_with(&self, pool: PoolSettings) -> Store {
        Store::open(&self.target(), &pool)
            .await
            .expect("open store")
    }

    /// Waits, up to `limit`, until some session of this database listens for restocks
    /// (`LISTEN "flashsale_restock"`); fails the test with `what` otherwise.
    pub async fn wait_for_restock_listener(&self, limit: std::time::Duration, what: &str) {
        let mut conn = self.conn().await;
        let listening = async {
            loop {
                let n: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM pg_stat_activity
                     WHERE datname = current_database() AND query = 'LISTEN \"flashsale_restock\"'",
                )
                .fetch_one(&mut conn)
                .await
                .expect("pg_stat_activity");
                if n > 0 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(limit, listening).await.expect(what);
        let _ = conn.close().await;
    }

    /// A raw connection, for assertions that look past the store.
    pub async fn conn(&self) -> sqlx::PgConnection {
        sqlx::PgConnection::connect(&self.url)
            .await
            .expect("connect to test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin = pg_admin_url();
        let name = self.name.clone();
        // Drop may run inside a runtime (or while unwinding from a failed assertion): do the
        // cleanup on a thread with a runtime of its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}

/// An SQLite database file in a directory removed on drop.
pub struct TestSqlite {
    pub dir: tempfile::TempDir,
}

impl TestSqlite {
    pub async fn seeded() -> (TestSqlite, Store) {
        let dir = tempfile::tempdir().expect("temp dir");
        let t = TestSqlite { dir };
        let store = Store::open(&t.target(), &PoolSettings::default())
            .await
            .expect("open sqlite");
        (t, store)
    }

    pub fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("sale.db")
    }

    pub fn target(&self) -> DatabaseTarget {
        DatabaseTarget::Sqlite {
            path: self.path(),
            embedded: false,
        }
    }
}

/// Which database engine a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Postgres,
    Sqlite,
}

/// A seeded database of either engine, kept alive as long as this is.
pub enum Held {
    Pg(TestDb),
    Lite(TestSqlite),
}

impl Held {
    pub fn target(&self) -> DatabaseTarget {
        match self {
            Held::Pg(d) => d.target(),
            Held::Lite(l) => l.target(),
        }
    }
}

pub async fn seeded(engine: Engine) -> (Held, Store) {
    match engine {
        Engine::Postgres => {
            let (db, store) = TestDb::seeded().await;
            (Held::Pg(db), store)
        }
        Engine::Sqlite => {
            let (lite, store) = TestSqlite::seeded().await;
            (Held::Lite(lite), store)
        }
    }
}
