//! `flashsale activity` (issue 17): a real long-running query (`SELECT pg_sleep(30)` from
//! another connection) listed with its query, duration and wait, and cancelled from the
//! command (the sleeper gets SQLSTATE 57014 well before its 30 s); an idle transaction's age,
//! its lock on `products` and the backend it blocks, ended with `--terminate`; a role without
//! the right told why; SQLite saying what it cannot show.

use std::str::FromStr;
use std::time::Duration;

use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection, Executor};
use tokio::task::JoinHandle;

use crate::support::bin::run;
use crate::support::json::keys;
use crate::support::{TestDb, TestSqlite, flashsale, unique};

/// How long a signalled backend may take to show it: far below the sleeper's 30 s.
pub(crate) const ENDS_WITHIN: Duration = Duration::from_secs(15);

fn activity(url: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let home = tempfile::tempdir().expect("tmp");
    let (out, stdout, stderr) = run(flashsale(home.path())
        .arg("activity")
        .args(args)
        .env("DATABASE_URL", url)
        .env("COLUMNS", "110")
        .stdin(std::process::Stdio::null()));
    (out.status.code(), stdout, stderr)
}

fn activity_json(url: &str) -> Value {
    let (code, stdout, stderr) = activity(url, &["--json"]);
    assert_eq!(code, Some(0), "{stderr}");
    serde_json::from_str(&stdout).expect("activity JSON")
}

fn backend(body: &Value, pid: i32) -> Value {
    body["backends"]
        .as_array()
        .expect("backends")
        .iter()
        .find(|b| b["pid"] == pid)
        .unwrap_or_else(|| panic!("backend {pid} not listed: {body}"))
        .clone()
}

/// A connection of its own named `name`, and its backend's pid.
pub(crate) async fn session(db: &TestDb, name: &str) -> (PgConnection, i32) {
    let options = PgConnectOptions::from_str(&db.url)
        .expect("url")
        .application_name(name);
    let mut conn = PgConnection::connect_with(&options).await.expect("connect");
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut conn)
        .await
        .expect("pid");
    (conn, pid)
}

/// Waits until backend `pid` is in `state` (and waiting on `wait_type`, when given).
pub(crate) async fn until(db: &TestDb, pid: i32, state: &str, wait_type: Option<&str>) {
    let mut conn = db.conn().await;
    let seen = async {
        loop {
            let row: Option<(Option<String>, Option<String>)> = sqlx::query_as(
                "SELECT state, wait_event_type FROM pg_stat_activity WHERE pid = $1",
            )
            .bind(pid)
            .fetch_optional(&mut conn)
            .await
            .expect("pg_stat_activity");
            if let Some((Some(s), w)) = row
                && s == state
                && (wait_type.is_none() || w.as_deref() == wait_type)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), seen)
        .await
        .unwrap_or_else(|_| panic!("backend {pid} never {state} ({wait_type:?})"));
}

/// `SELECT pg_sleep(30)` running on a connection of its own; its pid.
pub(crate) async fn sleeper(db: &TestDb) -> (i32, JoinHandle<Result<(), sqlx::Error>>) {
    let (mut conn, pid) = session(db, "pg_sleeper").await;
    let task = tokio::spawn(async move { conn.execute("SELECT pg_sleep(30)").await.map(|_| ()) });
    until(db, pid, "active", Some("Timeout")).await;
    (pid, task)
}

/// `activity --cancel PID --yes` through `url`: it says so, and the sleeper's query ends with
/// 57014 (query_canceled) long before its 30 s.
async fn cancel_and_see_it_end(url: &str, pid: i32, task: JoinHandle<Result<(), sqlx::Error>>) {
    let (code, stdout, stderr) = activity(url, &["--cancel", &pid.to_string(), "--yes"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        stdout,
        format!("pg_cancel_backend({pid}): sent; its query is being cancelled\n")
    );
    let ended = tokio::time::timeout(ENDS_WITHIN, task)
        .await
        .expect("the sleeper ended long before its 30 s")
        .expect("task");
    assert_eq!(sqlstate(ended).as_deref(), Some("57014"), "query_canceled");
}

pub(crate) fn sqlstate(result: Result<(), sqlx::Error>) -> Option<String> {
    match result {
        Err(sqlx::Error::Database(e)) => e.code().map(|c| c.to_string()),
        other => panic!("expected a database error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_long_query_is_listed_with_its_duration_and_cancelling_it_ends_it() {
    let (db, _store) = TestDb::seeded().await;
    let (pid, task) = sleeper(&db).await;

    let body = activity_json(&db.url);
    assert_eq!(
        keys(&body),
        [
            "backends",
            "commitsPerS",
            "database",
            "intervalMs",
            "longestTransaction",
            "productLocks",
            "rollbacksPerS",
            "supported"
        ]
    );
    assert_eq!(body["supported"], true);
    assert_eq!(body["database"], db.name);
    assert!(
        body["intervalMs"].as_u64().expect("interval") >= 1000,
        "{body}"
    );
    assert!(body["commitsPerS"].as_f64().expect("commits") >= 0.0);
    let b = backend(&body, pid);
    assert_eq!(
        keys(&b),
        [
            "application",
            "backendType",
            "blockedBy",
            "client",
            "idleInTransactionMs",
            "pid",
            "query",
            "queryMs",
            "state",
            "transactionMs",
            "user",
            "waitEvent",
            "waitEventType"
        ]
    );
    assert_eq!(b["application"], "pg_sleeper");
    assert_eq!(b["state"], "active");
    assert_eq!(b["query"], "SELECT pg_sleep(30)");
    assert!(b["queryMs"].as_f64().expect("queryMs") > 0.0, "{b}");
    assert_eq!(
        (&b["waitEventType"], &b["waitEvent"]),
        (&"Timeout".into(), &"PgSleep".into())
    );
    assert_eq!(b["blockedBy"], serde_json::json!([]));
    assert_eq!(b["idleInTransactionMs"], Value::Null);
    assert_eq!(b["user"], "postgres");
    let own = body["backends"]
        .as_array()
        .expect("backends")
        .iter()
        .filter(|b| b["application"] == "flashsale activity")
        .count();
    assert_eq!(own, 0, "the command's own connection is left out: {body}");

    // The text form fits the width, the query cut to what is left.
    let (code, stdout, stderr) = activity(&db.url, &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.starts_with(&format!("database {}: ", db.name)),
        "{stdout}"
    );
    let row = stdout
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{pid} ")))
        .unwrap_or_else(|| panic!("no row for {pid}:\n{stdout}"));
    assert!(row.contains("pg_sleeper"), "{row}");
    assert!(row.contains("Timeout:PgSleep"), "{row}");
    assert!(
        row.ends_with("  SELECT pg_sle…"),
        "the query cut to fit 110 columns: {row}"
    );
    for line in stdout.lines() {
        assert!(line.chars().count() <= 110, "wider than COLUMNS: {line}");
    }

    // Without a terminal and without --yes: refused, nothing sent.
    let (code, _, stderr) = activity(&db.url, &["--cancel", &pid.to_string()]);
    assert_eq!(code, Some(2));
    assert_eq!(
        stderr,
        "flashsale: error: activity --cancel asks before it acts, and stdin is not a terminal: \
         add --yes to go ahead without asking\n"
    );
    assert!(!task.is_finished(), "nothing was sent");

    cancel_and_see_it_end(&db.url, pid, task).await;
}

#[tokio::test]
async fn an_idle_transaction_shows_its_age_its_lock_and_whom_it_blocks_and_terminate_ends_it() {
    let (db, _store) = TestDb::seeded().await;
    let (mut holder, holder_pid) = session(&db, "holder").await;
    holder
        .execute("BEGIN; SELECT stock FROM products WHERE id = 1 FOR UPDATE")
        .await
        .expect("lock the row");
    until(&db, holder_pid, "idle in transaction", None).await;
    let (mut waiter, waiter_pid) = session(&db, "waiter").await;
    let waiting = tokio::spawn(async move {
        waiter
            .execute("UPDATE products SET stock = stock WHERE id = 1")
            .await
            .map(|_| ())
    });
    until(&db, waiter_pid, "active", Some("Lock")).await;

    let body = activity_json(&db.url);
    let h = backend(&body, holder_pid);
    assert_eq!(h["state"], "idle in transaction");
    assert!(
        h["idleInTransactionMs"].as_f64().expect("idle in tx") >= 0.0,
        "{h}"
    );
    assert!(h["transactionMs"].as_f64().expect("tx age") > 0.0, "{h}");
    let w = backend(&body, waiter_pid);
    assert_eq!(w["blockedBy"], serde_json::json!([holder_pid]));
    assert_eq!(w["waitEventType"], "Lock");
    assert_eq!(body["longestTransaction"]["pid"], holder_pid);
    assert_eq!(body["longestTransaction"]["application"], "holder");
    let locks = body["productLocks"].as_array().expect("locks");
    let has = |pid: i32, mode: &str| {
        locks
            .iter()
            .any(|l| l["pid"] == pid && l["mode"] == mode && l["locktype"] == "relation")
    };
    assert!(has(holder_pid, "RowShareLock"), "{locks:?}");
    assert!(has(waiter_pid, "RowExclusiveLock"), "{locks:?}");

    let (code, stdout, stderr) =
        activity(&db.url, &["--terminate", &holder_pid.to_string(), "--yes"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        stdout,
        format!("pg_terminate_backend({holder_pid}): sent; its session is ending\n")
    );
    let unblocked = tokio::time::timeout(ENDS_WITHIN, waiting)
        .await
        .expect("the waiter went on once the holder ended")
        .expect("task");
    assert!(unblocked.is_ok(), "{unblocked:?}");
    assert!(
        holder.execute("SELECT 1").await.is_err(),
        "the session ended"
    );
}

#[tokio::test]
async fn a_role_without_the_right_is_told_why_in_the_servers_words() {
    let (db, _store) = TestDb::seeded().await;
    let role = unique("fs_nosig_");
    let mut admin = db.conn().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE ROLE {role} LOGIN; GRANT CONNECT ON DATABASE {} TO {role}",
        db.name
    )))
    .execute(&mut admin)
    .await
    .expect("role");
    let (pid, task) = sleeper(&db).await;
    let mut url = url::Url::parse(&db.url).expect("url");
    url.set_username(&role).expect("user");
    // What the server itself says to this role for this call.
    let mut as_role = PgConnection::connect(url.as_str())
        .await
        .expect("connect as role");
    let said = match sqlx::query("SELECT pg_cancel_backend($1)")
        .bind(pid)
        .execute(&mut as_role)
        .await
    {
        Err(sqlx::Error::Database(e)) => {
            assert_eq!(e.code().as_deref(), Some("42501"));
            e.message().to_string()
        }
        other => panic!("a non-superuser may not cancel a superuser's query: {other:?}"),
    };
    let _ = as_role.close().await;

    let (code, stdout, stderr) = activity(url.as_str(), &["--cancel", &pid.to_string(), "--yes"]);
    assert_eq!(code, Some(1), "{stdout}");
    assert_eq!(
        stderr,
        format!("flashsale: error: the role {role} may not signal backend {pid}: {said}\n")
    );
    assert!(!task.is_finished(), "still sleeping");
    task.abort();
    let _ = sqlx::query("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .execute(&mut admin)
        .await;
    drop(admin);
    drop(db);
    let mut conn = PgConnection::connect(&crate::support::pg_admin_url())
        .await
        .expect("admin");
    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP ROLE IF EXISTS {role}")))
        .execute(&mut conn)
        .await;
}

#[tokio::test]
async fn unknown_pids_bad_pids_and_read_only_each_have_their_words() {
    let (db, _store) = TestDb::seeded().await;
    let (code, _, stderr) = activity(&db.url, &["--terminate", "2147483647", "--yes"]);
    assert_eq!(code, Some(3));
    assert_eq!(
        stderr,
        format!(
            "flashsale: error: no backend 2147483647 in {} (it ended, or it is another \
             database's, or it is this command's own): nothing sent\n",
            db.url.trim_end_matches('/')
        )
    );
    let (code, _, stderr) = activity(&db.url, &["--cancel", "0", "--yes"]);
    assert_eq!(code, Some(2));
    assert_eq!(
        stderr,
        "flashsale: error: --cancel 0: a backend PID is a positive whole number\n"
    );
    let (code, _, stderr) = activity(&db.url, &["--cancel", "5", "--yes", "--read-only"]);
    assert_eq!(code, Some(2));
    assert_eq!(
        stderr,
        "flashsale: error: --read-only refuses it: activity --cancel/--terminate signals a \
         database backend (run it without --read-only)\n"
    );
    let (code, _, _) = activity(&db.url, &["--read-only", "--json"]);
    assert_eq!(code, Some(0), "listing is reading");
}

#[tokio::test]
async fn on_sqlite_it_says_what_it_cannot_show() {
    let (lite, _store) = TestSqlite::seeded().await;
    let url = format!("sqlite://{}", lite.path().display());
    let reason = "activity needs PostgreSQL's server view: an SQLite file has no server, so \
                  there are no backends, queries, waits, locks, transactions or commit rates \
                  to show";
    let (code, stdout, stderr) = activity(&url, &["--json"]);
    assert_eq!(code, Some(0), "{stderr}");
    let body: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(keys(&body), ["database", "reason", "supported"]);
    assert_eq!(body["supported"], false);
    assert_eq!(body["database"], url);
    assert_eq!(body["reason"], reason);
    let (code, stdout, _) = activity(&url, &[]);
    assert_eq!(code, Some(0));
    assert_eq!(stdout, format!("{url}: {reason}\n"));
    let (code, _, stderr) = activity(&url, &["--cancel", "5", "--yes"]);
    assert_eq!(code, Some(2));
    assert_eq!(
        stderr,
        format!(
            "flashsale: error: activity --cancel needs PostgreSQL: {url} has no server \
             backends to signal\n"
        )
    );
}

#[tokio::test]
async fn through_pgbouncer_it_lists_and_cancels_the_same() {
    let bouncer = crate::support::pgbouncer::PgBouncer::start();
    let (db, _store) = TestDb::seeded().await;
    let (pid, task) = sleeper(&db).await;
    let url = bouncer.url(&db.name);
    let body = activity_json(&url);
    let b = backend(&body, pid);
    assert_eq!(b["query"], "SELECT pg_sleep(30)");
    assert_eq!(body["database"], db.name);
    cancel_and_see_it_end(&url, pid, task).await;
}
