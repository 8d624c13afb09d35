//! The storm's buyers, each retrying under its own `Idempotency-Key` until told purchased or
//! sold out, and the SQL the invariant is read back with.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use sqlx::Row as _;

use crate::support::TestDb;

pub const PRODUCT: i32 = 1;
/// Tries per purchase before the test gives up on it (and fails).
const MAX_TRIES: u32 = 100;

/// What a buyer was finally told.
#[derive(Debug, Clone, Copy)]
pub enum Told {
    Purchased(i64),
    SoldOut,
}

/// Why a request was tried again, counted.
#[derive(Default)]
pub struct Retries {
    pub transport: AtomicU64,
    pub bad_gateway: AtomicU64,
    pub unavailable: AtomicU64,
    pub timeout: AtomicU64,
    pub replayed: AtomicU64,
    /// The first few transport errors, for the figures.
    pub seen: std::sync::Mutex<Vec<String>>,
    /// When each transport error happened.
    pub at: std::sync::Mutex<Vec<std::time::Instant>>,
}

impl Retries {
    fn transport(&self, what: String) {
        self.transport.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut at) = self.at.lock() {
            at.push(std::time::Instant::now());
        }
        if let Ok(mut seen) = self.seen.lock()
            && seen.len() < 3
        {
            seen.push(what);
        }
    }
}

/// Buys one unit as buyer `i` under key `lbkey-<i>`, trying again (same key, same body) on a
/// connection error, 502, 503 or 504 until the answer is a purchase or a sell-out.
pub async fn buy(
    client: &reqwest::Client,
    url: &str,
    i: usize,
    r: &Retries,
) -> Result<Told, String> {
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
pub struct Ledger {
    pub stock_row: i64,
    pub leased: i64,
    pub orders: i64,
    pub units: i64,
    pub orders_without_key: i64,
    pub users_with_two_orders: i64,
    pub purchased_keys: i64,
    pub ids: Vec<i64>,
}

pub async fn ledger(db: &TestDb) -> Ledger {
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
