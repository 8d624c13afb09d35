//! One product's latest orders (issue 17 item 4): `Store::recent_orders` on both engines, and
//! its headless form `flashsale stock --product N --json`.

use rstest::rstest;
use serde_json::Value;

use crate::support::bin::run;
use crate::support::json::keys;
use crate::support::{Engine, Held, flashsale, seeded};
use flashsale_core::store::{NewPurchase, Sale};
use flashsale_core::strategy::Strategy;

/// The URL a launch names the database by.
fn url_of(held: &Held) -> String {
    match held {
        Held::Pg(db) => db.url.clone(),
        Held::Lite(lite) => format!("sqlite://{}", lite.path().display()),
    }
}

/// Buys `quantity` of `product` for each user, in order; the order ids.
async fn buy(
    store: &flashsale_core::store::Store,
    product: i32,
    users: &[(&str, i32)],
) -> Vec<i64> {
    let mut ids = Vec::new();
    for (user, quantity) in users {
        let p = NewPurchase {
            product_id: product,
            user_id: user,
            quantity: *quantity,
        };
        match store
            .purchase(p, Strategy::Atomic, None)
            .await
            .expect("purchase")
        {
            Sale::Purchased(order) => ids.push(order.id),
            other => panic!("expected a purchase, got {other:?}"),
        }
    }
    ids
}

fn is_rfc3339_utc(s: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(s).is_ok() && s.ends_with('Z') && s.len() == 20
}

#[rstest]
#[case::postgres(Engine::Postgres)]
#[case::sqlite(Engine::Sqlite)]
#[tokio::test]
async fn recent_orders_are_the_products_newest_first_and_bounded(#[case] engine: Engine) {
    let (_held, store) = seeded(engine).await;
    let ids = buy(&store, 2, &[("drill-a", 1), ("drill-b", 2), ("drill-c", 3)]).await;
    // An order of another product in between must not show.
    buy(&store, 3, &[("drill-other", 1)]).await;
    let recent = store.recent_orders(2, 2).await.expect("recent");
    assert_eq!(recent.len(), 2, "{recent:?}");
    assert_eq!(
        recent
            .iter()
            .map(|o| (o.id, o.user_id.as_str(), o.quantity))
            .collect::<Vec<_>>(),
        [(ids[2], "drill-c", 3), (ids[1], "drill-b", 2)]
    );
    // The Wireless Mouse costs 29.99.
    assert_eq!(recent[0].total_price.cents(), 3 * 2999);
    assert_eq!(recent[0].status, "completed");
    assert!(
        is_rfc3339_utc(&recent[0].created_at),
        "{}",
        recent[0].created_at
    );
    // The seed's week of orders follows the three new ones.
    let more = store.recent_orders(2, 50).await.expect("recent");
    assert!(more.len() > 3, "{}", more.len());
    assert!(more.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    assert!(store.recent_orders(99, 10).await.expect("none").is_empty());
    assert!(store.recent_orders(2, 0).await.expect("none").is_empty());
}

fn stock_cli(url: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let home = tempfile::tempdir().expect("tmp");
    let (out, stdout, stderr) = run(flashsale(home.path())
        .arg("stock")
        .args(args)
        .env("DATABASE_URL", url));
    (out.status.code(), stdout, stderr)
}

#[tokio::test]
async fn stock_product_json_gives_its_stock_and_latest_orders_on_postgres() {
    let (held, store) = seeded(Engine::Postgres).await;
    let url = url_of(&held);
    let ids = buy(&store, 3, &[("cli-a", 1), ("cli-b", 2)]).await;
    let (code, stdout, stderr) = stock_cli(&url, &["--product", "3", "--orders", "2", "--json"]);
    assert_eq!(code, Some(0), "{stderr}");
    let body: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(
        keys(&body),
        ["id", "name", "price", "recentOrders", "stock"]
    );
    assert_eq!(body["id"], 3);
    assert_eq!(body["name"], "Mechanical Keyboard");
    // Seeded with 15, three bought.
    assert_eq!(body["stock"], 12);
    let orders = body["recentOrders"].as_array().expect("orders");
    assert_eq!(orders.len(), 2);
    assert_eq!(
        keys(&orders[0]),
        [
            "createdAt",
            "id",
            "quantity",
            "status",
            "totalPrice",
            "userId"
        ]
    );
    assert_eq!(orders[0]["id"], ids[1]);
    assert_eq!(orders[0]["userId"], "cli-b");
    assert_eq!(orders[0]["quantity"], 2);
    assert_eq!(orders[1]["userId"], "cli-a");
    assert!(is_rfc3339_utc(
        orders[0]["createdAt"].as_str().expect("text")
    ));

    let (code, stdout, stderr) = stock_cli(&url, &["--product", "3", "--orders", "1"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.starts_with("#3 Mechanical Keyboard"), "{stdout}");
    assert!(stdout.contains("cli-b"), "{stdout}");
    assert!(!stdout.contains("cli-a"), "one order asked for: {stdout}");

    let (code, stdout, stderr) = stock_cli(&url, &["--product", "99", "--json"]);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("no product 99"), "{stderr}");

    let (code, _, stderr) = stock_cli(&url, &["--product", "0"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--product 0"), "{stderr}");
    let (code, _, stderr) = stock_cli(&url, &["--orders", "5"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--orders needs --product"), "{stderr}");
}
