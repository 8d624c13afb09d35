//! Stock event streams (`crates/server/src/event_stream.rs`, `stock_events.rs`): the first
//! figure at once, a purchase made here and a change made by another process pushed,
//! coalescing under a storm, `Last-Event-ID` resumes, heartbeats on a stream that outlives the
//! header timeout, and bad requests answered 4xx in the API's error shape.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use flashsale_core::purchase::Outcome;
use flashsale_core::strategy::Strategy;
use flashsale_server::ServerConfig;
use reqwest::StatusCode;
use rstest::rstest;

use crate::support::buyers::{PRODUCT, req};
use crate::support::http::{TestServer, buy_at, config, raw};
use crate::support::sse::{Block, Sse};
use crate::support::{Engine, TestDb, seeded, unlimited};

/// Generous: "it arrives", never a timing.
const ARRIVES: Duration = Duration::from_secs(10);

fn events_config(heartbeat_ms: u64) -> ServerConfig {
    let mut c = config();
    c.strategy = Strategy::Batched;
    c.http.read_staleness = Duration::from_millis(100);
    c.http.sse_heartbeat = Duration::from_millis(heartbeat_ms);
    c
}

async fn buy(s: &TestServer, user: &str, quantity: u32) -> i64 {
    buy_at(&s.url, user, quantity).await
}

/// Reads data events until one says `stock`; panics if none does within [`ARRIVES`].
async fn until_stock(sse: &mut Sse, stock: i64) -> Block {
    let deadline = Instant::now() + ARRIVES;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(block) = sse.next_stock(left).await else {
            panic!("no event with stock {stock} within {ARRIVES:?}");
        };
        if block.stock().map(|(_, s)| s) == Some(stock) {
            return block;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_starts_with_the_stock_then_hears_a_purchase_here_and_sql_from_elsewhere() {
    let (db, store) = TestDb::seeded().await;
    store.set_stock(PRODUCT, 500).await.expect("restock");
    let s = TestServer::start(unlimited(&store), events_config(15_000)).await;
    let mut sse = Sse::open(&format!("{}/api/stock/{PRODUCT}/events", s.url), None).await;

    let first = sse.next(ARRIVES).await.expect("a first block");
    assert!(
        matches!(
            first,
            Block::Event {
                retry: Some(2000),
                data: None,
                ..
            }
        ),
        "{first:?}"
    );
    let now = sse.next(ARRIVES).await.expect("the current figure");
    assert_eq!(now.stock(), Some((i64::from(PRODUCT), 500)), "{now:?}");
    let id = now.id().expect("an id").to_string();

    // A purchase through this server: pushed from its answer.
    let left = buy(&s, "watcher-1", 3).await;
    assert_eq!(left, 497);
    let pushed = until_stock(&mut sse, 497).await;
    assert_ne!(pushed.id(), Some(id.as_str()), "a new change, a new id");

    // Another process's change (plain SQL, no notification): the poller's one query sees it.
    let mut psql = db.conn().await;
    sqlx::query("UPDATE products SET stock = 800 WHERE id = $1")
        .bind(PRODUCT)
        .execute(&mut psql)
        .await
        .expect("plain SQL");
    until_stock(&mut sse, 800).await;

    // The multi-product form: every product's figure first.
    let mut both = Sse::open(&format!("{}/api/stock/events?ids={PRODUCT},2", s.url), None).await;
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let b = both.next_stock(ARRIVES).await.expect("both figures");
        seen.push(b.stock().expect("stock").0);
    }
    seen.sort();
    assert_eq!(seen, [i64::from(PRODUCT), 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_purchases_gives_at_most_about_one_event_per_interval() {
    let (_db, store) = TestDb::seeded().await;
    store.set_stock(PRODUCT, 1_000_000).await.expect("restock");
    let s = TestServer::start(unlimited(&store), events_config(15_000)).await;
    let mut sse = Sse::open(&format!("{}/api/stock/{PRODUCT}/events", s.url), None).await;
    sse.next_stock(ARRIVES).await.expect("the current figure");

    let stop = Arc::new(AtomicBool::new(false));
    let bought = Arc::new(AtomicU32::new(0));
    let client = s.client();
    let mut buyers = Vec::new();
    for b in 0..16u32 {
        let (client, stop, bought) = (client.clone(), stop.clone(), bought.clone());
        buyers.push(tokio::spawn(async move {
            let mut i = b;
            while !stop.load(Ordering::Relaxed) {
                let user = format!("storm-{i}");
                let outcome = client.purchase(&req(&user, i)).await;
                assert!(matches!(outcome, Outcome::Purchased(_)), "{outcome:?}");
                bought.fetch_add(1, Ordering::Relaxed);
                i += 16;
            }
        }));
    }
    // Count the events of a known window of the storm.
    const WINDOW: Duration = Duration::from_secs(3);
    let began = Instant::now();
    let mut events = 0u32;
    while let Some(left) = WINDOW.checked_sub(began.elapsed()) {
        if sse.next_stock(left).await.is_some() {
            events += 1;
        }
    }
    let window = began.elapsed();
    let during = bought.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    for b in buyers {
        b.await.expect("buyer");
    }
    // At most one per 100 ms, plus slack for the window's edges and scheduling.
    let cap = (window.as_millis() / 100) as u32 + 5;
    println!("stock events: {events} events for {during} purchases in {window:?} (cap {cap})");
    assert!(
        during > 3 * cap,
        "the storm made only {during} purchases: too few to tell coalescing from none"
    );
    assert!(events >= 3, "only {events} events during a storm");
    assert!(
        events <= cap,
        "{events} events in {window:?}: not coalesced"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_event_id_resumes_with_only_what_changed_since() {
    let (_db, store) = TestDb::seeded().await;
    store.set_stock(PRODUCT, 300).await.expect("restock");
    let s = TestServer::start(unlimited(&store), events_config(300)).await;
    let url = format!("{}/api/stock/events?ids={PRODUCT},2", s.url);
    let mut sse = Sse::open(&url, None).await;
    let mut last = String::new();
    for _ in 0..2 {
        let b = sse.next_stock(ARRIVES).await.expect("a figure");
        last = b.id().expect("id").to_string();
    }
    drop(sse);

    // Nothing changed: the resumed stream sends no figure, only its pings.
    let mut resumed = Sse::open(&url, Some(&last)).await;
    let mut pings = 0;
    while pings < 2 {
        match resumed.next(ARRIVES).await.expect("a block") {
            Block::Comment(c) => {
                assert_eq!(c, "ping");
                pings += 1;
            }
            Block::Event { data: None, .. } => {}
            other => panic!("nothing changed, yet {other:?}"),
        }
    }
    drop(resumed);

    // Product 1 changed: resuming sends its figure (and not product 2's).
    let left = buy(&s, "resumer", 2).await;
    let mut resumed = Sse::open(&url, Some(&last)).await;
    let b = resumed.next_stock(ARRIVES).await.expect("what changed");
    assert_eq!(b.stock(), Some((i64::from(PRODUCT), left)));
    let mut after = Vec::new();
    let listening = Instant::now();
    while let Some(left) = Duration::from_secs(1).checked_sub(listening.elapsed()) {
        if let Some(b) = resumed.next(left).await {
            after.push(b);
        }
    }
    assert!(
        after.iter().all(|b| b.stock().is_none()),
        "product 2 did not change: {after:?}"
    );

    // An id this process never wrote (another replica's, an old run's): every figure afresh.
    let mut foreign = Sse::open(&url, Some("00000000-1")).await;
    let mut ids = Vec::new();
    while ids.len() < 2 {
        ids.push(foreign.next_stock(ARRIVES).await.expect("a figure").stock());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_stream_gets_pings_and_outlives_the_header_and_request_timeouts() {
    let (_db, store) = TestDb::seeded().await;
    let mut c = events_config(200);
    c.http.header_timeout = Duration::from_millis(300);
    c.http.request_timeout = Duration::from_millis(500);
    let s = TestServer::start(unlimited(&store), c).await;
    let mut sse = Sse::open(&format!("{}/api/stock/{PRODUCT}/events", s.url), None).await;
    sse.next_stock(ARRIVES).await.expect("the current figure");
    let opened = Instant::now();
    let mut pings = 0;
    while opened.elapsed() < Duration::from_secs(2) {
        match sse.next(ARRIVES).await {
            Some(Block::Comment(c)) if c == "ping" => pings += 1,
            Some(other) => panic!("a quiet stream sent {other:?}"),
            None => panic!("the stream ended after {:?}", opened.elapsed()),
        }
    }
    assert!(pings >= 3, "{pings} pings in 2 s at a 200 ms heartbeat");
    assert_eq!(s.state.events().streams(), 1);
    // Still live: a purchase arrives after both timeouts have passed several times over.
    let left = buy(&s, "late", 1).await;
    until_stock(&mut sse, left).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_stream_requests_get_4xx_json_never_5xx() {
    let (_db, store) = TestDb::seeded().await;
    let s = TestServer::start(unlimited(&store), events_config(15_000)).await;
    let many: Vec<String> = (1..=101).map(|n| n.to_string()).collect();
    let cases = [
        ("/api/stock/abc/events", 400, Some("positive integer")),
        ("/api/stock/0/events", 400, Some("positive integer")),
        ("/api/stock/events", 400, Some("at least one")),
        ("/api/stock/events?ids=", 400, Some("at least one")),
        ("/api/stock/events?ids=1,x", 400, Some("positive integers")),
        (
            &*format!("/api/stock/events?ids={}", many.join(",")),
            400,
            Some("at most 100"),
        ),
        ("/api/stock/987654/events", 404, Some("987654")),
        (
            "/api/stock/events?ids=1,987654,987655",
            404,
            Some("987654, 987655"),
        ),
    ];
    for (path, status, says) in cases {
        let r = raw()
            .get(format!("{}{path}", s.url))
            .send()
            .await
            .expect("answer");
        assert_eq!(r.status().as_u16(), status, "{path}");
        assert_eq!(r.headers()["content-type"], "application/json", "{path}");
        let v: serde_json::Value =
            serde_json::from_slice(&r.bytes().await.expect("body")).expect("json");
        assert_eq!(v["success"], false, "{path}: {v}");
        let message = v["message"].as_str().expect("message");
        if let Some(says) = says {
            assert!(message.contains(says), "{path}: {message}");
        }
    }
    assert_eq!(s.state.events().streams(), 0, "no stream was opened");
    let r = raw()
        .post(format!("{}/api/stock/1/events", s.url))
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[rstest]
#[case::postgres(Engine::Postgres)]
#[case::sqlite(Engine::Sqlite)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_poller_reads_many_products_in_one_query_on_either_engine(#[case] engine: Engine) {
    let (_held, store) = seeded(engine).await;
    let found = store.stocks(&[2, PRODUCT, 987_654]).await.expect("stocks");
    let mut ids: Vec<i32> = found.iter().map(|(id, _)| *id).collect();
    ids.sort();
    assert_eq!(ids, [PRODUCT, 2], "the unknown id is left out");
    let s = TestServer::start(unlimited(&store), events_config(15_000)).await;
    let mut sse = Sse::open(&format!("{}/api/stock/events?ids={PRODUCT},2", s.url), None).await;
    for _ in 0..2 {
        sse.next_stock(ARRIVES).await.expect("a figure");
    }
    // A restock by another tool (not through this server): seen by the poller.
    store.set_stock(2, 4_321).await.expect("restock");
    let b = until_stock(&mut sse, 4_321).await;
    assert_eq!(b.stock(), Some((2, 4_321)));
}
