//! Hostile input: random bodies, types, sizes, unicode and header values against the HTTP API
//! (never a 500, never a panic, nothing written but real purchases), and random text as a
//! config file (never a panic; errors name the file and line).

use std::sync::OnceLock;
use std::time::Duration;

use flashsale_core::config::Layer;
use flashsale_core::purchase::Purchaser;
use flashsale_core::ratelimit::RateLimiter;
use flashsale_core::store::Store;
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::support::TestSqlite;
use crate::support::http::{TestServer, config, raw};

/// One server for every generated case: a runtime, a database and a listener, kept alive.
struct Fixture {
    rt: tokio::runtime::Runtime,
    server: TestServer,
    store: Store,
    client: reqwest::Client,
    _db: TestSqlite,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let (db, store, server) = rt.block_on(async {
            let (db, store) = TestSqlite::seeded().await;
            store.set_stock(1, 1_000_000).await.expect("restock");
            let purchaser = Purchaser::new(store.clone(), RateLimiter::off(), 10);
            let server = TestServer::start(purchaser, config()).await;
            (db, store, server)
        });
        Fixture {
            rt,
            server,
            store,
            client: raw(),
            _db: db,
        }
    })
}

/// Any JSON value, nested a little.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
        prop_oneof![
            Just(1i64),
            Just(0),
            Just(-1),
            Just(10),
            Just(11),
            Just(i64::from(i32::MAX) + 1)
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(".{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A purchase body whose fields are each well-formed, absent, or anything at all.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let field = |good: Value| prop_oneof![3 => Just(Some(good)), 1 => Just(None), 3 => any_json().prop_map(Some)];
    prop_oneof![
        4 => (field(json!(1)), field(json!("prop-user")), field(json!(1)), any_json()).prop_map(|(p, u, q, extra)| {
            let mut o = serde_json::Map::new();
            if let Some(p) = p { o.insert("productId".into(), p); }
            if let Some(u) = u { o.insert("userId".into(), u); }
            if let Some(q) = q { o.insert("quantity".into(), q); }
            o.insert("extra".into(), extra);
            serde_json::to_vec(&Value::Object(o)).unwrap_or_default()
        }),
        1 => prop::collection::vec(any::<u8>(), 0..512),
        1 => ".{0,200}".prop_map(String::into_bytes),
    ]
}

fn header_value() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        "[ -~]{0,60}".prop_map(Some),
        ".{0,20}".prop_map(Some)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_purchase_requests_never_get_a_500_and_write_only_real_purchases(
        body in body(),
        content_type in header_value(),
        key in header_value(),
        forwarded in header_value(),
    ) {
        let f = fixture();
        let (status, reply, orders_added) = f.rt.block_on(async {
            let before = f.store.max_order_id().await.expect("max id");
            let mut req = f.client.post(format!("{}/api/purchase", f.server.url)).body(body.clone());
            for (name, value) in [("content-type", &content_type), ("idempotency-key", &key), ("x-forwarded-for", &forwarded)] {
                if let Some(v) = value
                    && let Ok(v) = reqwest::header::HeaderValue::from_str(v)
                {
                    req = req.header(name, v);
                }
            }
            let resp = tokio::time::timeout(Duration::from_secs(10), req.send()).await.expect("answered in time").expect("response");
            let status = resp.status().as_u16();
            let replayed = resp.headers().contains_key(flashsale_api::IDEMPOTENT_REPLAYED);
            let text = resp.text().await.unwrap_or_default();
            let after = f.store.max_order_id().await.expect("max id");
            (status, (text, replayed), after - before)
        });
        let (reply, replayed) = reply;
        prop_assert!(status < 500, "status {status} for body {:?}: {reply}", String::from_utf8_lossy(&body));
        let parsed: Value = serde_json::from_str(&reply).map_err(|e| TestCaseError::fail(format!("not JSON ({e}): {reply}")))?;
        prop_assert!(parsed["success"].is_boolean() && parsed["message"].is_string(), "{reply}");
        // A replayed key answers with the order an earlier case made; only a fresh purchase writes.
        let fresh_purchase = status == 200 && parsed["success"] == true && !replayed;
        prop_assert_eq!(orders_added, i64::from(fresh_purchase), "orders written only by real purchases: {}", reply);
    }

    #[test]
    fn random_text_as_a_config_file_never_panics_and_errors_name_file_and_line(text in ".{0,300}") {
        let path = std::path::Path::new("/etc/flashsale/config.toml");
        if let Err(e) = Layer::from_toml(path, &text) {
            let msg = e.to_string();
            prop_assert!(msg.starts_with("/etc/flashsale/config.toml:"), "{}", msg);
        }
    }

    #[test]
    fn random_values_for_known_keys_are_accepted_or_refused_by_name(key in prop::sample::select(flashsale_core::config::keys::ALL.to_vec()), value in ".{0,40}") {
        let path = std::path::Path::new("/home/u/.config/flashsale/config.toml");
        let text = format!("{} = {}\n", key.file, toml_string(&value));
        let layer = Layer::from_toml(path, &text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        if let Err(e) = flashsale_core::config::Settings::resolve(&layer, Some(path)) {
            let msg = e.to_string();
            prop_assert!(msg.contains("config.toml:1") && msg.contains(key.file), "{}", msg);
        }
    }
}

/// `value` as a TOML basic string.
fn toml_string(value: &str) -> String {
    toml::Value::String(value.to_string()).to_string()
}
