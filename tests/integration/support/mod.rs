//! Harnesses for the integration tests, one job per file, shared by every test module (no test
//! module imports another's). Real services only: unreachable ones fail the test loudly, with
//! the fix.
//!
//! - `bin`: launching the `flashsale` binary from a cleared environment;
//! - `db`: a PostgreSQL database or SQLite file of the test's own, and the engine of a case;
//! - `redis_keys`: a Redis key prefix of the test's own on the shared Redis;
//! - `redis_server`, `pg_server`: private servers for tests that stop or restart them;
//! - `pgbouncer`: a real PgBouncer in transaction-pooling mode before the shared PostgreSQL;
//! - `haproxy`: a real HAProxy; `deploy`: the files of `deploy/`, as the tests run them;
//! - `proxy`: a TCP proxy that injects network faults; `certs`: a CA for the TLS tests;
//! - `buyers`: many buyers at once, in process or over HTTP;
//! - `invariant`: what must hold after a storm, faults or not;
//! - `http`: servers (in process and the real `serve`); `api`: raw requests and JSON answers;
//! - `terminal`: the real binary on a real terminal (tmux); `json`: checks of JSON shapes.

#![allow(dead_code)]

pub mod api;
pub mod bin;
pub mod buyers;
pub mod certs;
pub mod db;
pub mod deploy;
pub mod haproxy;
pub mod http;
pub mod invariant;
pub mod json;
pub mod pg_server;
pub mod pgbouncer;
pub mod proxy;
pub mod redis_cluster;
pub mod redis_keys;
pub mod redis_server;
pub mod sgr;
pub mod sse;
pub mod terminal;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use flashsale_core::redact::redact_url;

pub use bin::flashsale;
pub use buyers::{buy_all, unlimited};
pub use db::{Engine, Held, TestDb, TestSqlite, pg_admin_url, seeded};
pub use redis_keys::TestRedis;
pub use redis_server::RedisServer;

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
