//! Three `flashsale serve` replicas behind a real HAProxy, before a real PgBouncer, every piece
//! started from the files in `deploy/` (`haproxy.cfg`, `pgbouncer.ini`,
//! `flashsale-serve@.service`) with only addresses swapped: a storm of keyed purchases through
//! the balancer while one replica is killed with SIGKILL and another is sent SIGTERM; buyers
//! retrying with their `Idempotency-Key` never buy twice; the invariant is read back in SQL;
//! and the balancer's `X-Forwarded-For` counts only through `TRUSTED_PROXIES`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use sqlx::Row as _;

use crate::support::deploy::{self, Unit};
use crate::support::haproxy::HaProxy;
use crate::support::http::{ADMIN_TOKEN, ServeProcess};
use crate::support::pgbouncer::PgBouncer;
use crate::support::redis_server::free_port;
use crate::support::{TestDb, TestRedis};

const UNIT: &str = "flashsale-serve@.service";
const PRODUCT: i32 = 1;
/// Purchases in the storm (at least; it goes on until the drained replica has exited). See
/// RELIABILITY.md: 10^5 would take minutes in the debug build on CI's two cores.
const PURCHASES: usize = 20_000;
/// Less than the purchases: the sale sells out under the faults.
const STOCK: i32 = 15_000;
const CONCURRENCY: usize = 48;
/// Tries per purchase before the test gives up on it (and fails).
const MAX_TRIES: u32 = 100;

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

/// The deployment's secrets, as `/etc/flashsale/serve.env` would hold them.
fn secrets(bouncer: &PgBouncer, db: &TestDb, redis: &TestRedis) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", bouncer.url(&db.name)),
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
    let out_after = word("inter") * word("fall");
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

/// What a buyer was finally told.
#[derive(Debug, Clone, Copy)]
enum Told {
    Purchased(i64),
    SoldOut,
}

/// Why a request was tried again, counted.
#[derive(Default)]
struct Retries {
    transport: AtomicU64,
    bad_gateway: AtomicU64,
    unavailable: AtomicU64,
    timeout: AtomicU64,
    replayed: AtomicU64,
    /// The first few transport errors, for the figures.
    seen: std::sync::Mutex<Vec<String>>,
}

impl Retries {
    fn transport(&self, what: String) {
        self.transport.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut seen) = self.seen.lock()
            && seen.len() < 3
        {
            seen.push(what);
        }
    }
}

/// Buys one unit as buyer `i` under key `lbkey-<i>`, trying again (same key, same body) on a
/// connection error, 502, 503 or 504 until the answer is a purchase or a sell-out.
async fn buy(client: &reqwest::Client, url: &str, i: usize, r: &Retries) -> Result<Told, String> {
    let body = serde_json::json!({
        "productId": PRODUCT,
        "userId": format!("lb_{i}"),
        "quantity": 1,
    })
    .to_string();
    let key = format!("lbkey-{i}");
    let mut last = String::new();
    for attempt in 1..=MAX_TRIES {
        if attempt > 1 {
            let ms = (10 * u64::from(attempt)).min(300);
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        let sent = client
            .post(format!("{url}/api/purchase"))
            .header("content-type", "application/json")
            .header("idempotency-key", &key)
            .body(body.clone())
            .send()
            .await;
        let res = match sent {
            Ok(res) => res,
            Err(e) => {
                last = format!("transport: {e:?}");
                r.transport(last.clone());
                continue;
            }
        };
        let status = res.status();
        let replayed = res
            .headers()
            .get("idempotent-replayed")
            .is_some_and(|v| v == "true");
        let text = match res.text().await {
            Ok(t) => t,
            Err(e) => {
                last = format!("body: {e:?}");
                r.transport(last.clone());
                continue;
            }
        };
        let counter = match status {
            StatusCode::OK => {
                if replayed {
                    r.replayed.fetch_add(1, Ordering::Relaxed);
                }
                let v: Value = serde_json::from_str(&text).map_err(|e| {
                    format!("buyer {i}: 200 with a body that is not JSON ({e}): {text}")
                })?;
                return match (v["success"].as_bool(), v["order"]["id"].as_i64()) {
                    (Some(true), Some(id)) => Ok(Told::Purchased(id)),
                    (Some(false), _) => Ok(Told::SoldOut),
                    _ => Err(format!("buyer {i}: unexpected 200: {text}")),
                };
            }
            StatusCode::BAD_GATEWAY => &r.bad_gateway,
            StatusCode::SERVICE_UNAVAILABLE => &r.unavailable,
            StatusCode::GATEWAY_TIMEOUT => &r.timeout,
            other => return Err(format!("buyer {i}: HTTP {other}: {text}")),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        last = format!("HTTP {status}: {text}");
    }
    Err(format!(
        "buyer {i}: no answer in {MAX_TRIES} tries; last {last}"
    ))
}

/// SQL, on a connection of the test's own: the figures the invariant is made of.
struct Ledger {
    stock_row: i64,
    leased: i64,
    orders: i64,
    units: i64,
    orders_without_key: i64,
    users_with_two_orders: i64,
    purchased_keys: i64,
    ids: Vec<i64>,
}

async fn ledger(db: &TestDb) -> Ledger {
    let mut conn = db.conn().await;
    let one = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql);
    let stock_row = one("SELECT stock::bigint FROM products WHERE id = 1")
        .fetch_one(&mut conn)
        .await
        .expect("stock");
    let leased =
        one("SELECT COALESCE(SUM(units), 0)::bigint FROM stock_leases WHERE product_id = 1")
            .fetch_one(&mut conn)
            .await
            .expect("leases");
    let row = sqlx::query(
        "SELECT count(*)::bigint, COALESCE(SUM(quantity), 0)::bigint FROM orders \
         WHERE product_id = 1 AND user_id LIKE 'lb\\_%'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("orders");
    let orders_without_key = one(
        "SELECT count(*)::bigint FROM orders o WHERE o.user_id LIKE 'lb\\_%' AND NOT EXISTS \
         (SELECT 1 FROM idempotency_keys k WHERE k.order_id = o.id AND k.outcome = 'purchased')",
    )
    .fetch_one(&mut conn)
    .await
    .expect("orders without key");
    let users_with_two_orders = one(
        "SELECT count(*)::bigint FROM (SELECT user_id FROM orders WHERE user_id LIKE 'lb\\_%' \
         GROUP BY user_id HAVING count(*) > 1) twice",
    )
    .fetch_one(&mut conn)
    .await
    .expect("users with two orders");
    let purchased_keys = one(
        "SELECT count(*)::bigint FROM idempotency_keys WHERE key LIKE '%:lbkey-%' \
         AND outcome = 'purchased'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("keys");
    let ids = one("SELECT id::bigint FROM orders WHERE user_id LIKE 'lb\\_%' ORDER BY id")
        .fetch_all(&mut conn)
        .await
        .expect("ids");
    Ledger {
        stock_row,
        leased,
        orders: row.get(0),
        units: row.get(1),
        orders_without_key,
        users_with_two_orders,
        purchased_keys,
        ids,
    }
}

/// The storm. Replica s1 is killed (SIGKILL) at 30 % of the purchases, s2 sent SIGTERM at
/// 50 %; the storm goes on at least until s2 has exited. Asserted: every buyer gets an answer
/// (retrying through the balancer); in SQL, stock + units sold = the stock at the start, the
/// sale sold out to exactly 0, every order has its key, nobody bought twice, and the orders are
/// exactly those the buyers were told of; in HAProxy's log, s2 left the pool by failing its
/// `/api/ready` check (Layer7, 503) while still accepting, not by refusing connections (as
/// the killed s1 did), and no request routed to s2 failed; s2 exited 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn load_balancer_storm_loses_nothing_to_a_killed_and_a_drained_replica() {
    let (db, store) = TestDb::seeded().await;
    store.set_stock(PRODUCT, STOCK).await.expect("restock");
    let redis = TestRedis::new().await;
    let bouncer = PgBouncer::deployed();
    let home = tempfile::tempdir().expect("tmp");
    let secrets = secrets(&bouncer, &db, &redis);
    let extra = [
        ("RATE_LIMIT_PREFIX", redis.prefix.as_str()),
        // One client address sends every purchase: limits out of the way.
        ("RATE_LIMIT_USER_MAX", "1000000"),
        ("RATE_LIMIT_IP_MAX", "1000000"),
    ];
    let s1 = replica(home.path(), &secrets, &extra);
    let s2 = replica(home.path(), &secrets, &extra);
    let s3 = replica(home.path(), &secrets, &extra);
    let proxy = Arc::new(HaProxy::deployed(&[
        port_of(&s1),
        port_of(&s2),
        port_of(&s3),
    ]));
    for s in ["s1", "s2", "s3"] {
        proxy.wait_for_status(s, "UP", Duration::from_secs(20));
    }
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(CONCURRENCY)
        .pool_idle_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(40))
        .build()
        .expect("client");
    let url = proxy.url();

    let done = Arc::new(AtomicUsize::new(0));
    let next = Arc::new(AtomicUsize::new(0));
    let s2_exited = Arc::new(AtomicBool::new(false));
    let retries = Arc::new(Retries::default());
    let started = Instant::now();
    let faults = tokio::spawn({
        let (done, s2_exited) = (done.clone(), s2_exited.clone());
        let (mut s1, mut s2) = (s1, s2);
        async move {
            while done.load(Ordering::Relaxed) < PURCHASES * 3 / 10 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let killed_at = done.load(Ordering::Relaxed);
            let killed = tokio::task::spawn_blocking(move || s1.kill())
                .await
                .expect("kill");
            while done.load(Ordering::Relaxed) < PURCHASES / 2 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let termed_at = done.load(Ordering::Relaxed);
            let termed = Instant::now();
            let status = tokio::task::spawn_blocking(move || s2.terminate(Duration::from_secs(60)))
                .await
                .expect("terminate");
            s2_exited.store(true, Ordering::Relaxed);
            let exited_at = done.load(Ordering::Relaxed);
            (
                killed,
                killed_at,
                termed_at,
                exited_at,
                termed.elapsed(),
                status,
            )
        }
    });
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (client, url, done, next, s2_exited, retries) = (
                client.clone(),
                url.clone(),
                done.clone(),
                next.clone(),
                s2_exited.clone(),
                retries.clone(),
            );
            tokio::spawn(async move {
                let mut told = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    // Past the plan only while s2 drains, and never past three times it.
                    if i >= PURCHASES && (s2_exited.load(Ordering::Relaxed) || i >= 3 * PURCHASES) {
                        break;
                    }
                    told.push((i, buy(&client, &url, i, &retries).await));
                    done.fetch_add(1, Ordering::Relaxed);
                }
                told
            })
        })
        .collect();
    let mut answers = Vec::new();
    for w in workers {
        answers.extend(w.await.expect("worker"));
    }
    let elapsed = started.elapsed();
    let (killed, killed_at, termed_at, exited_at, drained_for, s2_status) =
        faults.await.expect("faults");
    let failures: Vec<&String> = answers
        .iter()
        .filter_map(|(_, a)| a.as_ref().err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} buyers got no answer, first: {:?}\n{}",
        failures.len(),
        failures.first(),
        proxy
            .log()
            .lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .join("\n")
    );
    let told: Vec<Told> = answers
        .iter()
        .filter_map(|(_, a)| a.as_ref().ok().copied())
        .collect();
    let mut acknowledged: Vec<i64> = told
        .iter()
        .filter_map(|t| match t {
            Told::Purchased(id) => Some(*id),
            Told::SoldOut => None,
        })
        .collect();
    acknowledged.sort_unstable();
    let sold_out = told.iter().filter(|t| matches!(t, Told::SoldOut)).count();

    // s2 drained: it exited 0 after SIGTERM; s1 was killed.
    assert_eq!(
        s2_status.and_then(|s| s.code()),
        Some(0),
        "s2 after SIGTERM: {s2_status:?}"
    );
    assert!(killed.code().is_none(), "s1 died of SIGKILL: {killed:?}");

    // The invariant, in SQL.
    let l = ledger(&db).await;
    assert_eq!(
        l.stock_row + l.leased + l.units,
        i64::from(STOCK),
        "stock {} + leased {} + units sold {} = the stock at the start",
        l.stock_row,
        l.leased,
        l.units
    );
    assert!(
        sold_out > 0,
        "demand above the stock: some buyers were told sold out"
    );
    assert_eq!(
        l.stock_row + l.leased,
        0,
        "sold out to exactly 0, the killed replica's lease too"
    );
    assert_eq!(l.orders, l.units, "one unit per order");
    assert_eq!(
        l.orders_without_key, 0,
        "every order has its Idempotency-Key row"
    );
    assert_eq!(l.users_with_two_orders, 0, "no buyer bought twice");
    assert_eq!(l.purchased_keys, l.orders, "one purchased key per order");
    assert_eq!(
        acknowledged.len() as i64,
        l.orders,
        "the buyers told 'purchased' are as many as the orders"
    );
    assert_eq!(
        acknowledged, l.ids,
        "the orders are exactly the ones buyers were told of"
    );

    // HAProxy's view.
    let log = proxy.log();
    let down = |server: &str| {
        // The failed check that took it out (`status: 0/2 DOWN`) says why.
        let said = format!("Health check for server flashsale/{server} failed, reason:");
        log.lines()
            .find(|l| l.contains(&said) && l.ends_with(" DOWN."))
            .unwrap_or_else(|| {
                let about: Vec<&str> = log
                    .lines()
                    .filter(|l| {
                        l.contains(&format!("flashsale/{server} ")) && !l.contains(" /api/")
                    })
                    .collect();
                panic!("HAProxy never said why it took {server} out: {about:#?}")
            })
            .to_string()
    };
    let (s1_down, s2_down) = (down("s1"), down("s2"));
    assert!(
        s2_down.contains("Layer7") && s2_down.contains("503"),
        "s2 left the pool by answering 503 on /api/ready, still accepting: {s2_down}"
    );
    assert!(
        s1_down.contains("Layer4"),
        "s1 refused connections: {s1_down}"
    );
    // HAProxy's own counters: nothing it sent s2 failed, and it never had to retry s2.
    let s2_stats = proxy.server_stats("s2");
    for counter in ["econ", "eresp", "wretr", "wredis", "srv_abrt"] {
        let n = s2_stats
            .get(counter)
            .map(String::as_str)
            .unwrap_or_default();
        assert!(
            n.is_empty() || n == "0",
            "HAProxy counted {counter} = {n} on the draining s2: {s2_stats:?}"
        );
    }
    let s1_stats = proxy.server_stats("s1");
    let s1_counts: Vec<String> = ["econ", "eresp", "wretr", "wredis", "srv_abrt", "cli_abrt"]
        .iter()
        .map(|c| {
            format!(
                "{c} {}",
                s1_stats.get(*c).map(String::as_str).unwrap_or("-")
            )
        })
        .collect();
    let requests = proxy.requests();
    let purchases: Vec<_> = requests
        .iter()
        .filter(|r| r.request.starts_with("POST /api/purchase"))
        .collect();
    assert!(
        purchases.len() >= answers.len(),
        "HAProxy logged {} purchases for {} buyers",
        purchases.len(),
        answers.len()
    );
    let s2_failed: Vec<_> = purchases
        .iter()
        .filter(|r| r.server == "s2" && (!r.ended_normally() || r.status == 502 || r.status == 504))
        .collect();
    assert!(
        s2_failed.is_empty(),
        "requests routed to the draining s2 failed: {s2_failed:?}"
    );
    let by = |server: &str, status: i32| {
        purchases
            .iter()
            .filter(|r| r.server == server && r.status == status)
            .count()
    };
    let cut_short: Vec<_> = purchases.iter().filter(|r| !r.ended_normally()).collect();
    assert!(
        cut_short
            .iter()
            .all(|r| r.server == "s1" || r.server == "<NOSRV>"),
        "only the killed s1 cut requests short: {:?}",
        cut_short
            .iter()
            .filter(|r| r.server != "s1")
            .take(5)
            .collect::<Vec<_>>()
    );
    // Served by s2 after its first failed check: requests it took while draining.
    let first_failed_check = log
        .lines()
        .position(|l| l.contains("Health check for server flashsale/s2 failed"))
        .unwrap_or(usize::MAX);
    let while_draining = log
        .lines()
        .enumerate()
        .filter(|(n, l)| *n > first_failed_check && l.contains(" flashsale/s2 "))
        .count();
    let redispatched = purchases
        .iter()
        .filter(|r| r.retries.starts_with('+'))
        .count();

    let mut s3 = s3;
    let s3_status = s3.terminate(Duration::from_secs(60));
    assert_eq!(
        s3_status.and_then(|s| s.code()),
        Some(0),
        "s3 after SIGTERM"
    );
    let at_rest = ledger(&db).await;

    println!(
        "load balancer storm: {} purchases ({PURCHASES} planned, {CONCURRENCY} at a time) through \
         HAProxy to 3 replicas through PgBouncer in {:.1} s ({:.0}/s); stock {STOCK}: {} \
         purchased, {sold_out} sold out; s1 SIGKILLed after {killed_at}, s2 SIGTERMed after \
         {termed_at}, exited 0 after {:.1} s (at {exited_at}), serving {while_draining} requests \
         after its first failed check; retries: {} transport, {} 502, {} 503, {} 504, {} \
         replayed by key; HAProxy: {} redispatched, s1 {}x200 {}x502 {}x503, s2 {}x200 {}x503, \
         s3 {}x200 {}x503; cut short {}; s1's counters: {}; leases left {} (s1's, until \
         reclaimed); after s3 stopped: stock row {} + leased {}; first transport errors: {:?}",
        answers.len(),
        elapsed.as_secs_f64(),
        answers.len() as f64 / elapsed.as_secs_f64(),
        acknowledged.len(),
        drained_for.as_secs_f64(),
        retries.transport.load(Ordering::Relaxed),
        retries.bad_gateway.load(Ordering::Relaxed),
        retries.unavailable.load(Ordering::Relaxed),
        retries.timeout.load(Ordering::Relaxed),
        retries.replayed.load(Ordering::Relaxed),
        redispatched,
        by("s1", 200),
        by("s1", 502),
        by("s1", 503),
        by("s2", 200),
        by("s2", 503),
        by("s3", 200),
        by("s3", 503),
        cut_short.len(),
        s1_counts.join(", "),
        l.leased,
        at_rest.stock_row,
        at_rest.leased,
        retries.seen.lock().map(|s| s.clone()).unwrap_or_default(),
    );
}
