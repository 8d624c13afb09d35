//! Three `flashsale serve` replicas behind a real HAProxy, before a real PgBouncer, every piece
//! started from the files in `deploy/` (`haproxy.cfg`, `pgbouncer.ini`,
//! `flashsale-serve@.service`) with only addresses swapped: a storm of keyed purchases through
//! the balancer while one replica is killed with SIGKILL and another is sent SIGTERM; buyers
//! retrying with their `Idempotency-Key` never buy twice; the invariant is read back in SQL;
//! and the balancer's `X-Forwarded-For` counts only through `TRUSTED_PROXIES`.

mod drained_storm;
mod forwarded_for;
mod keyed_buyers;
mod one_key;

use std::path::Path;

use crate::support::deploy::{self, Unit};
use crate::support::http::{ADMIN_TOKEN, ServeProcess};
use crate::support::pgbouncer::PgBouncer;
use crate::support::redis_server::free_port;
use crate::support::{TestDb, TestRedis};

const UNIT: &str = "flashsale-serve@.service";

/// One replica as systemd would start `flashsale-serve@<port>`: the unit's `ExecStart` and
/// `Environment=` lines, then what its `EnvironmentFile` holds (`secrets`), then the test's
/// own settings (`extra`: the Redis key prefix, limits).
fn replica(home: &Path, secrets: &[(&str, String)], extra: &[(&str, &str)]) -> ServeProcess {
    let port = free_port();
    let state_root = home.join("var-lib");
    let unit = Unit::instance(UNIT, &port.to_string(), &state_root);
    // systemd creates StateDirectory= before starting the process.
    let state = unit
        .env("FLASHSALE_STATE_DIR")
        .expect("the unit names a state dir");
    std::fs::create_dir_all(state).expect("state directory");
    let mut env: Vec<(&str, &str)> = unit
        .environment
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    env.extend(secrets.iter().map(|(k, v)| (*k, v.as_str())));
    env.extend_from_slice(extra);
    let args: Vec<&str> = unit.args().iter().map(String::as_str).collect();
    let server = ServeProcess::start_args(&home.join(port.to_string()), &args, &env);
    assert_eq!(
        server.url,
        format!("http://127.0.0.1:{port}"),
        "listens where the unit says"
    );
    server
}

fn port_of(server: &ServeProcess) -> u16 {
    server
        .url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port in the url")
}

/// The deployment's secrets, as `/etc/flashsale/serve.env` would hold them; the database
/// through `bouncer` when given, else directly.
fn secrets(
    bouncer: Option<&PgBouncer>,
    db: &TestDb,
    redis: &TestRedis,
) -> Vec<(&'static str, String)> {
    vec![
        (
            "DATABASE_URL",
            bouncer.map_or_else(|| db.url.clone(), |b| b.url(&db.name)),
        ),
        ("DATABASE_LISTEN_URL", db.url.clone()),
        ("REDIS_URL", redis.url.clone()),
        ("ADMIN_TOKEN", ADMIN_TOKEN.to_string()),
    ]
}

/// The unit's drain, stop timeout and HAProxy's check cadence fit together: HAProxy takes a
/// draining replica out before its listener closes, and systemd does not SIGKILL a replica
/// still finishing its requests.
#[test]
fn load_balancer_files_agree_on_the_drain() {
    let unit = Unit::instance(UNIT, "3001", Path::new("/var/lib"));
    assert_eq!(
        unit.args(),
        ["serve", "--listen", "127.0.0.1:3001"],
        "{unit:?}"
    );
    assert_eq!(unit.setting("KillSignal"), Some("SIGTERM"));
    let drain_ms: u64 = unit
        .env("SHUTDOWN_DRAIN_MS")
        .expect("the unit sets SHUTDOWN_DRAIN_MS")
        .parse()
        .expect("a number");
    let stop_s: u64 = unit
        .setting("TimeoutStopSec")
        .expect("TimeoutStopSec")
        .parse()
        .expect("seconds");
    // serve's drain limit for requests in flight after the drain: 30 s.
    assert!(
        stop_s * 1000 > drain_ms + 30_000,
        "TimeoutStopSec={stop_s} must outlast the drain ({drain_ms} ms) and 30 s of requests"
    );
    let cfg = deploy::read("haproxy.cfg");
    let line = cfg
        .lines()
        .find(|l| l.trim_start().starts_with("default-server check"))
        .expect("a default-server check line");
    let word = |name: &str| -> u64 {
        let words: Vec<&str> = line.split_whitespace().collect();
        let i = words
            .iter()
            .position(|w| *w == name)
            .unwrap_or_else(|| panic!("{name} in {line:?}"));
        let v = words[i + 1];
        v.strip_suffix("ms")
            .map(|n| n.parse().expect("ms"))
            .or_else(|| {
                v.strip_suffix('s')
                    .map(|n| n.parse::<u64>().expect("s") * 1000)
            })
            .unwrap_or_else(|| v.parse().expect("a count"))
    };
    let check_timeout = cfg
        .lines()
        .find_map(|l| l.trim().strip_prefix("timeout check "))
        .map(|v| {
            v.strip_suffix('s')
                .and_then(|n| n.parse::<u64>().ok())
                .expect("timeout check in seconds")
                * 1000
        })
        .expect("a timeout check line");
    // A check in flight at the signal may take its whole timeout; then `fall` more checks.
    let out_after = check_timeout + word("inter") * word("fall");
    assert!(
        out_after < drain_ms,
        "HAProxy takes a replica out after {out_after} ms; the drain is {drain_ms} ms"
    );
    assert!(cfg.contains("option httpchk GET /api/ready"), "{cfg}");
    assert!(cfg.contains("option forwardfor"), "{cfg}");
    let ini = deploy::read("pgbouncer.ini");
    assert!(ini.contains("pool_mode = transaction"), "{ini}");
    assert!(
        ini.contains("ignore_startup_parameters = extra_float_digits"),
        "{ini}"
    );
}
