//! Stock and product reads from `serve`'s read view (`crates/server/src/read_view.rs`): an ETag
//! and a 304, a `Cache-Control` stating the bound, read-your-writes after a purchase, a plain
//! SQL restock seen, and, during a storm from two other processes, no answer older than the
//! bound against the database's own stock sampled at the same time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use flashsale_core::strategy::Strategy;
use flashsale_server::ServerConfig;
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, ETAG, IF_NONE_MATCH};

use crate::support::buyers::{PRODUCT, burst_process};
use crate::support::http::{TestServer, config, raw};
use crate::support::{TestDb, unlimited};

fn batched_with_staleness(ms: u64) -> ServerConfig {
    let mut c = config();
    c.strategy = Strategy::Batched;
    c.http.read_staleness = Duration::from_millis(ms);
    c
}

async fn json_of(r: reqwest::Response) -> serde_json::Value {
    serde_json::from_slice(&r.bytes().await.expect("body")).expect("json")
}

async fn stock_of(client: &reqwest::Client, url: &str) -> i64 {
    let r = client
        .get(format!("{url}/api/stock/{PRODUCT}"))
        .send()
        .await
        .expect("stock");
    assert_eq!(r.status(), StatusCode::OK);
    let v: serde_json::Value = json_of(r).await;
    v["stock"].as_i64().expect("stock figure")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_carry_an_etag_a_304_the_bound_and_the_buyers_own_purchase() {
    let (db, store) = TestDb::seeded().await;
    store.set_stock(PRODUCT, 500).await.expect("restock");
    let s = TestServer::start(unlimited(&store), batched_with_staleness(100)).await;
    let client = raw();
    let stock_url = format!("{}/api/stock/{PRODUCT}", s.url);

    let first = client.get(&stock_url).send().await.expect("stock");
    assert_eq!(first.status(), StatusCode::OK);
    let tag = first.headers()[ETAG].to_str().expect("etag").to_string();
    let control = first.headers()[CACHE_CONTROL]
        .to_str()
        .expect("cc")
        .to_string();
    assert_eq!(control, "max-age=0, must-revalidate, max-staleness-ms=100");
    let body: serde_json::Value = json_of(first).await;
    assert_eq!(body, serde_json::json!({"success": true, "stock": 500}));

    let again = client
        .get(&stock_url)
        .header(IF_NONE_MATCH, &tag)
        .send()
        .await
        .expect("conditional");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()[ETAG], tag.as_str());
    assert!(
        again.bytes().await.expect("body").is_empty(),
        "304 has no body"
    );

    // The product the same way.
    let product_url = format!("{}/api/products/{PRODUCT}", s.url);
    let p = client.get(&product_url).send().await.expect("product");
    assert_eq!(p.status(), StatusCode::OK);
    let ptag = p.headers()[ETAG].to_str().expect("etag").to_string();
    let pbody: serde_json::Value = json_of(p).await;
    assert_eq!(pbody["product"]["stock"], 500);
    let p304 = client
        .get(&product_url)
        .header(IF_NONE_MATCH, format!("\"other\", W/{ptag}"))
        .send()
        .await
        .expect("conditional");
    assert_eq!(p304.status(), StatusCode::NOT_MODIFIED);

    // Read-your-writes: the buyer's next read says at most what their purchase left, at once
    // (the view still holds the 500 it read a moment ago).
    let bought = json_of(
        client
            .post(format!("{}/api/purchase", s.url))
            .header("content-type", "application/json")
            .body(format!(
                r#"{{"productId":{PRODUCT},"userId":"reader-1","quantity":3}}"#
            ))
            .send()
            .await
            .expect("purchase"),
    )
    .await;
    let left = bought["order"]["remainingStock"]
        .as_i64()
        .expect("remaining");
    assert_eq!(left, 497);
    let after = client
        .get(&stock_url)
        .header(IF_NONE_MATCH, &tag)
        .send()
        .await
        .expect("stock");
    assert_eq!(
        after.status(),
        StatusCode::OK,
        "the old ETag no longer matches"
    );
    let body: serde_json::Value = json_of(after).await;
    assert!(body["stock"].as_i64().expect("stock") <= left, "{body}");
    let product = json_of(client.get(&product_url).send().await.expect("product")).await;
    assert!(product["product"]["stock"].as_i64().expect("stock") <= left);

    // A restock by plain SQL is seen once the figure held is older than the bound.
    let mut psql = db.conn().await;
    sqlx::query("UPDATE products SET stock = 800 WHERE id = $1")
        .bind(PRODUCT)
        .execute(&mut psql)
        .await
        .expect("plain SQL restock");
    let restocked = Instant::now();
    loop {
        if stock_of(&client, &s.url).await == 800 {
            break;
        }
        assert!(
            restocked.elapsed() < Duration::from_secs(10),
            "the restock was never seen"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!(
        "reads: plain SQL restock seen after {:?}",
        restocked.elapsed()
    );

    // Unknown products: 404, from the database and then from memory.
    for _ in 0..2 {
        let r = client
            .get(format!("{}/api/stock/987654", s.url))
            .send()
            .await
            .expect("unknown");
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_staleness_every_read_asks_the_database() {
    let (db, store) = TestDb::seeded().await;
    store.set_stock(PRODUCT, 50).await.expect("restock");
    let s = TestServer::start(unlimited(&store), batched_with_staleness(0)).await;
    let client = raw();
    assert_eq!(stock_of(&client, &s.url).await, 50);
    let mut psql = db.conn().await;
    sqlx::query("UPDATE products SET stock = 7 WHERE id = $1")
        .bind(PRODUCT)
        .execute(&mut psql)
        .await
        .expect("plain SQL");
    assert_eq!(stock_of(&client, &s.url).await, 7, "the very next read");
    let r = client
        .get(format!("{}/api/stock/{PRODUCT}", s.url))
        .send()
        .await
        .expect("stock");
    assert_eq!(
        r.headers()[CACHE_CONTROL],
        "max-age=0, must-revalidate, max-staleness-ms=0"
    );
}

/// One answer of the server, or one sample of the database: sent, received, the figure.
type Seen = (Instant, Instant, i64);

/// The check: the database's stock only falls during the storm (no restock), so an answer of
/// `v` sent at `t` is older than `bound` exactly when the database had already fallen below `v`
/// before `t - bound`: when a sample that was back before then read less than `v`.
fn staler_than(bound: Duration, answers: &[Seen], samples: &[Seen]) -> (usize, Vec<String>) {
    let mut checked = 0;
    let mut stale = Vec::new();
    for &(sent, _, v) in answers {
        let Some(horizon) = sent.checked_sub(bound) else {
            continue;
        };
        // The last sample back before the horizon read the lowest figure of all such samples.
        let Some(&(_, back, w)) = samples.iter().rev().find(|(_, back, _)| *back <= horizon) else {
            continue;
        };
        checked += 1;
        if w < v {
            stale.push(format!(
                "answered {v} at {:?}, but the database read {w} {:?} before that",
                sent,
                sent.duration_since(back)
            ));
        }
    }
    (checked, stale)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_stock_answer_is_older_than_the_bound_during_a_storm_from_two_other_processes() {
    const BOUND: Duration = Duration::from_millis(100);
    let (db, store) = TestDb::seeded().await;
    store.set_stock(PRODUCT, 60_000).await.expect("restock");
    let s = TestServer::start(unlimited(&store), batched_with_staleness(100)).await;
    let home = tempfile::tempdir().expect("tmp");
    // The storm: two burst processes selling the product straight to the database. The
    // server only reads, so nothing it sells refreshes its view: every answer's age is the
    // view's own doing.
    let mut sellers: Vec<std::process::Child> = (0..2)
        .map(|_| burst_process(&db.url, home.path(), 15_000, 16))
        .collect();

    let stop = Arc::new(AtomicBool::new(false));
    let client = raw();
    let mut readers = Vec::new();
    for _ in 0..8 {
        let (client, url, stop) = (client.clone(), s.url.clone(), stop.clone());
        readers.push(tokio::spawn(async move {
            let mut seen: Vec<Seen> = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let sent = Instant::now();
                let v = stock_of(&client, &url).await;
                seen.push((sent, Instant::now(), v));
            }
            seen
        }));
    }
    let sampler = {
        let stop = stop.clone();
        let mut conn = db.conn().await;
        tokio::spawn(async move {
            let mut seen: Vec<Seen> = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let sent = Instant::now();
                let w: i64 = sqlx::query_scalar(
                    "SELECT (stock + (SELECT COALESCE(sum(units), 0) FROM stock_leases
                                      WHERE product_id = $1))::int8
                     FROM products WHERE id = $1",
                )
                .bind(PRODUCT)
                .fetch_one(&mut conn)
                .await
                .expect("sample");
                seen.push((sent, Instant::now(), w));
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            seen
        })
    };
    let storm = Instant::now();
    while storm.elapsed() < Duration::from_secs(6) {
        if sellers
            .iter_mut()
            .all(|c| c.try_wait().expect("burst").is_some())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for mut c in sellers {
        let _ = c.kill();
        let _ = c.wait();
    }
    let mut answers = Vec::new();
    for r in readers {
        answers.extend(r.await.expect("reader"));
    }
    answers.sort();
    let samples = sampler.await.expect("sampler");
    let (checked, stale) = staler_than(BOUND, &answers, &samples);
    let distinct: std::collections::BTreeSet<i64> = answers.iter().map(|a| a.2).collect();
    let first = samples.first().map_or(0, |s| s.2);
    let last = samples.last().map_or(0, |s| s.2);
    println!(
        "reads: {} answers in {:?} ({} checked against {} database samples, {} distinct figures), \
         database stock {first} -> {last}; {} older than {BOUND:?}",
        answers.len(),
        storm.elapsed(),
        checked,
        samples.len(),
        distinct.len(),
        stale.len(),
    );
    assert!(
        first - last >= 1_000,
        "the storm sold {} units: too few to test anything",
        first - last
    );
    assert!(
        checked >= 200 && distinct.len() >= 10,
        "too few answers to judge: {checked} checked, {} distinct",
        distinct.len()
    );
    assert!(stale.is_empty(), "answers older than the bound: {stale:#?}");
}
