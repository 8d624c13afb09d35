//! Real services for integration tests: a fresh PostgreSQL database per test (dropped
//! afterwards), a fresh SQLite file, a Redis key prefix of its own, and a private redis-server
//! process for tests that stop Redis. Unreachable services fail the test loudly, with the fix.

#![allow(dead_code)]

pub mod certs;
pub mod http;
pub mod pg_server;
pub mod proxy;
pub mod redis_server;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use flashsale::config::{DatabaseTarget, LimitSettings, PoolSettings};
use flashsale::purchase::Purchaser;
use flashsale::ratelimit::RateLimiter;
use flashsale::redact::{SecretUrl, redact_url};
use flashsale::store::Store;
use sqlx::Connection;

pub use redis_server::RedisServer;

/// The admin connection tests create their databases through.
pub fn pg_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "redis://127.0.0.1:6379".into())
}

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    // Unix seconds first: `scripts/test` drops databases and roles of killed runs by their age.
    format!(
        "{prefix}{}_{}_{n}_{:x}",
        now.as_secs(),
        std::process::id(),
        now.subsec_nanos()
    )
}

fn unreachable(what: &str, url: &str, err: impl std::fmt::Display) -> ! {
    panic!(
        "{what} is unreachable at {} ({err}). These tests need a real {what}: run scripts/test, \
         which starts it, or point TEST_DATABASE_URL / TEST_REDIS_URL at one.",
        redact_url(url)
    )
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

    /// A database migrated and seeded by flashsale.
    pub async fn seeded() -> (TestDb, Store) {
        let db = TestDb::empty().await;
        // A generous acquire timeout: on a 2-core machine running the whole suite (and serve
        // processes) at once, a fresh database's first connections can take seconds.
        let store = db
            .store_with(PoolSettings {
                acquire_timeout: std::time::Duration::from_secs(10),
                ..PoolSettings::default()
            })
            .await;
        store.migrate().await.expect("migrate");
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

/// One single-unit purchase of `product` per entry of `users`, all at once; the outcomes in the
/// users' order.
pub async fn buy_all(
    p: &Purchaser,
    users: &[String],
    product: i32,
    strategy: flashsale::purchase::Strategy,
) -> Vec<flashsale::purchase::Outcome> {
    futures::future::join_all(users.iter().map(|u| {
        let p = p.clone();
        async move {
            p.purchase(flashsale::purchase::PurchaseRequest {
                product_id: i64::from(product),
                user_id: u,
                client_ip: std::net::IpAddr::from([127, 0, 0, 1]),
                quantity: 1,
                strategy,
            })
            .await
            .outcome
        }
    }))
    .await
}

/// A purchaser with no rate limiting (for the database scenarios).
pub fn unlimited(store: &Store) -> Purchaser {
    Purchaser::new(store.clone(), RateLimiter::off(), 10)
}

/// A Redis key prefix of the test's own; its keys are deleted on drop.
pub struct TestRedis {
    pub url: String,
    pub prefix: String,
}

impl TestRedis {
    pub async fn new() -> TestRedis {
        let url = redis_url();
        let client = redis::Client::open(url.as_str()).expect("redis url");
        let mut conn = match client.get_multiplexed_async_connection().await {
            Ok(c) => c,
            Err(e) => unreachable("Redis", &url, e),
        };
        let pong: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .unwrap_or_else(|e| unreachable("Redis", &url, e));
        assert_eq!(pong, "PONG");
        TestRedis {
            url,
            prefix: format!("{}:", unique("fs_t")),
        }
    }

    pub fn settings(&self) -> LimitSettings {
        LimitSettings {
            key_prefix: self.prefix.clone(),
            ..LimitSettings::default()
        }
    }

    pub fn limiter(&self, settings: LimitSettings) -> RateLimiter {
        RateLimiter::new(settings, Some(&SecretUrl::new(self.url.clone()))).expect("redis limiter")
    }

    pub async fn conn(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url.as_str())
            .expect("redis url")
            .get_multiplexed_async_connection()
            .await
            .expect("redis connection")
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        if let Ok(client) = redis::Client::open(self.url.as_str())
            && let Ok(mut conn) = client.get_connection()
        {
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{}*", self.prefix))
                .query(&mut conn)
                .unwrap_or_default();
            if !keys.is_empty() {
                let _: Result<(), _> = redis::cmd("DEL").arg(keys).query(&mut conn);
            }
        }
    }
}
