//! `flashsale activity [--json] [--cancel PID | --terminate PID [--yes]]`: pg_activity's view
//! of our database, headless: every backend with its query, waits, blockers and transaction
//! age; commit rates; locks on `products`; and cancelling or ending one backend.

use std::fmt::Write as _;

use clap::{ArgGroup, Args};
use serde_json::{Value, json};

use super::exit;
use super::output::{fail, print_json};
use flashsale_core::config::{BackendKind, Settings};
use flashsale_core::store::Store;
use flashsale_core::store::activity::{
    Activity, NO_SERVER, ProductLock, Signal, Signalled, duration_text, signal_outcome,
};

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("signal").args(["cancel", "terminate"])))]
pub struct ActivityArgs {
    /// Print JSON: {"supported","database","backends","commitsPerS","rollbacksPerS",
    /// "intervalMs","productLocks","longestTransaction"}.
    #[arg(long)]
    pub json: bool,
    /// Cancel backend PID's running query (pg_cancel_backend), after asking.
    #[arg(long, value_name = "PID")]
    pub cancel: Option<i32>,
    /// End backend PID's session (pg_terminate_backend), after asking.
    #[arg(long, value_name = "PID")]
    pub terminate: Option<i32>,
    /// With --cancel or --terminate: do not ask (needed when stdin is not a terminal).
    #[arg(long, requires = "signal")]
    pub yes: bool,
}

impl ActivityArgs {
    /// The signal asked for, and the pid.
    pub fn signal(&self) -> Option<(Signal, i32)> {
        match (self.cancel, self.terminate) {
            (Some(pid), _) => Some((Signal::Cancel, pid)),
            (_, Some(pid)) => Some((Signal::Terminate, pid)),
            _ => None,
        }
    }
}

/// Runs `activity`: 0 when shown or signalled; 2 for a bad pid, a signal on SQLite or one that
/// cannot be asked for; 3 when there is no such backend or the server answered false; 1 when
/// the database failed or the role may not signal that backend.
pub async fn run(settings: &Settings, args: &ActivityArgs) -> u8 {
    // One connection for every step, so the one backend left out of the list (the one
    // asking, `pg_backend_pid()`) is all of this command's.
    let mut settings = settings.clone();
    settings.pool.max_connections = 1;
    let settings = &settings;
    let store = match super::db::open_existing(settings).await {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let code = match args.signal() {
        Some((signal, pid)) => signal_one(&store, settings, signal, pid, args.yes).await,
        None => show(&store, settings, args.json).await,
    };
    store.close().await;
    code
}

fn usage(e: String) -> u8 {
    eprintln!("flashsale: error: {e}");
    exit::USAGE
}

fn flag(signal: Signal) -> &'static str {
    match signal {
        Signal::Cancel => "--cancel",
        Signal::Terminate => "--terminate",
    }
}

async fn signal_one(store: &Store, s: &Settings, signal: Signal, pid: i32, yes: bool) -> u8 {
    let flag = flag(signal);
    if pid <= 0 {
        return usage(format!(
            "{flag} {pid}: a backend PID is a positive whole number"
        ));
    }
    if store.kind() == BackendKind::Sqlite {
        return usage(format!(
            "activity {flag} needs PostgreSQL: {} has no server backends to signal",
            s.database
        ));
    }
    let question = match signal {
        Signal::Cancel => format!(
            "cancel the running query of backend {pid} of {}?",
            s.database
        ),
        Signal::Terminate => format!("end the session of backend {pid} of {}?", s.database),
    };
    match super::confirm::confirm(&question, yes, &format!("activity {flag}")) {
        Err(e) => return usage(e),
        Ok(false) => {
            println!("nothing sent (answered no)");
            return exit::OK;
        }
        Ok(true) => {}
    }
    match store.signal_backend(pid, signal).await {
        Ok(Some(outcome)) => {
            let text = signal_outcome(signal, pid, &outcome, &s.database.to_string());
            match outcome {
                Signalled::Sent => {
                    println!("{text}");
                    exit::OK
                }
                Signalled::NoSuchBackend | Signalled::Refused => {
                    eprintln!("flashsale: error: {text}");
                    exit::NOT_FOUND
                }
                Signalled::NotPermitted { .. } => fail(text),
            }
        }
        Ok(None) => usage(format!("activity {flag} needs PostgreSQL")),
        Err(e) => fail(e),
    }
}

async fn show(store: &Store, s: &Settings, as_json: bool) -> u8 {
    let activity = match store.activity().await {
        Ok(a) => a,
        Err(e) => return fail(e),
    };
    let Some(a) = activity else {
        if as_json {
            let body = json!({
                "supported": false,
                "database": s.database.to_string(),
                "reason": NO_SERVER,
            });
            return print_json(&body).map_or_else(fail, |_| exit::OK);
        }
        println!("{}: {NO_SERVER}", s.database);
        return exit::OK;
    };
    if as_json {
        return print_json(&to_json(&a)).map_or_else(fail, |_| exit::OK);
    }
    print!("{}", text(&a, width()));
    exit::OK
}

/// The JSON of `activity`.
pub fn to_json(a: &Activity) -> Value {
    let longest = a.longest_transaction().map(|b| {
        json!({
            "pid": b.pid,
            "application": b.application,
            "state": b.state,
            "transactionMs": b.transaction_ms,
            "query": b.query,
        })
    });
    json!({
        "supported": true,
        "database": a.database,
        "backends": serde_json::to_value(&a.backends).unwrap_or_default(),
        "commitsPerS": a.rates.commits_per_s,
        "rollbacksPerS": a.rates.rollbacks_per_s,
        "intervalMs": a.rates.interval_ms,
        "productLocks": serde_json::to_value(&a.product_locks).unwrap_or_default(),
        "longestTransaction": longest,
    })
}

/// The width the text table fits: `COLUMNS` when set (shells export it to a terminal's
/// width), else 120.
fn width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|w| *w >= 40)
        .unwrap_or(120)
}

/// The text form: a summary, then one row per backend, the query cut to fit `width`.
pub fn text(a: &Activity, width: usize) -> String {
    let mut out = format!(
        "database {}: {} backends; {:.1} commits/s, {:.1} rollbacks/s (over {:.1} s)\n",
        a.database,
        a.backends.len(),
        a.rates.commits_per_s,
        a.rates.rollbacks_per_s,
        a.rates.interval_ms as f64 / 1000.0
    );
    match a.longest_transaction() {
        Some(b) => {
            let _ = writeln!(
                out,
                "longest transaction: {} ({}), {}, {}",
                b.pid,
                b.name(),
                duration_text(b.transaction_ms),
                b.state.as_deref().unwrap_or("-")
            );
        }
        None => out.push_str("longest transaction: none open\n"),
    }
    let locks: Vec<String> = a.product_locks.iter().map(ProductLock::text).collect();
    let locks = if locks.is_empty() {
        "none".to_string()
    } else {
        locks.join(", ")
    };
    let _ = writeln!(out, "locks on products: {locks}\n");
    let head = format!(
        "{:>7}  {:<18} {:<19} {:>7}  {:<18} {:<10} {:>7}  ",
        "PID", "APPLICATION", "STATE", "RUNNING", "WAIT", "BLOCKED BY", "IDLE TX"
    );
    let room = width.saturating_sub(head.chars().count()).max(10);
    let _ = writeln!(out, "{head}QUERY");
    for b in &a.backends {
        let wait = match (&b.wait_event_type, &b.wait_event) {
            (Some(t), Some(e)) => format!("{t}:{e}"),
            _ => "-".into(),
        };
        let blocked = if b.blocked_by.is_empty() {
            "-".to_string()
        } else {
            b.blocked_by
                .iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        let query = b.query.split_whitespace().collect::<Vec<_>>().join(" ");
        let _ = writeln!(
            out,
            "{:>7}  {:<18} {:<19} {:>7}  {:<18} {:<10} {:>7}  {}",
            b.pid,
            cut(&b.name(), 18),
            cut(b.state.as_deref().unwrap_or("-"), 19),
            duration_text(b.query_ms),
            cut(&wait, 18),
            cut(&blocked, 10),
            b.idle_in_transaction_ms
                .map_or("-".into(), |ms| duration_text(Some(ms))),
            cut(&query, room)
        );
    }
    out
}

/// `text` cut to `max` characters, marked with `…` when cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_are_marked() {
        assert_eq!(cut("SELECT pg_sleep(30)", 10), "SELECT pg…");
        assert_eq!(cut("short", 10), "short");
    }
}
