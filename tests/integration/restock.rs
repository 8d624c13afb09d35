//! `flashsale restock` (issue 17): one product's stock set headless, on both engines, with what
//! it replaced; bad flags, unknown products and `--read-only` each with their own words and
//! exit code.

use rstest::rstest;
use serde_json::Value;

use crate::support::bin::run;
use crate::support::json::keys;
use crate::support::{Engine, Held, TestDb, flashsale, seeded};

/// The URL a launch names the database by.
fn url_of(held: &Held) -> String {
    match held {
        Held::Pg(db) => db.url.clone(),
        Held::Lite(lite) => format!("sqlite://{}", lite.path().display()),
    }
}

fn restock(url: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let home = tempfile::tempdir().expect("tmp");
    let (out, stdout, stderr) = run(flashsale(home.path())
        .arg("restock")
        .args(args)
        .env("DATABASE_URL", url));
    (out.status.code(), stdout, stderr)
}

#[rstest]
#[case::postgres(Engine::Postgres)]
#[case::sqlite(Engine::Sqlite)]
#[tokio::test]
async fn restock_sets_the_stock_and_says_what_it_replaced(#[case] engine: Engine) {
    let (held, store) = seeded(engine).await;
    let url = url_of(&held);
    let (code, stdout, stderr) = restock(&url, &["--product", "3", "--stock", "40", "--json"]);
    assert_eq!(code, Some(0), "{stderr}");
    let body: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(keys(&body), ["name", "previousStock", "productId", "stock"]);
    assert_eq!(body["productId"], 3);
    assert_eq!(body["name"], "Mechanical Keyboard");
    assert_eq!(body["previousStock"], 15);
    assert_eq!(body["stock"], 40);
    assert_eq!(store.stock(3).await.expect("stock"), Some(40));

    let (code, stdout, stderr) = restock(&url, &["--product", "3", "--stock", "0"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, "restocked #3 Mechanical Keyboard: stock 40 -> 0\n");
    assert_eq!(store.stock(3).await.expect("stock"), Some(0));
}

#[rstest]
#[case::postgres(Engine::Postgres)]
#[case::sqlite(Engine::Sqlite)]
#[tokio::test]
async fn an_unknown_product_changes_nothing_and_exits_3(#[case] engine: Engine) {
    let (held, store) = seeded(engine).await;
    let url = url_of(&held);
    let before = store.products().await.expect("products");
    let (code, stdout, stderr) = restock(&url, &["--product", "99", "--stock", "5", "--json"]);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    let shown = held.target().to_string();
    assert_eq!(
        stderr,
        format!("flashsale: error: no product 99 in {shown}: nothing restocked\n")
    );
    assert_eq!(store.products().await.expect("products"), before);
}

#[tokio::test]
async fn the_units_a_process_leased_count_in_the_stock_replaced_and_go() {
    let (db, store) = TestDb::seeded().await;
    let mut conn = db.conn().await;
    // Another process holds 30 units of the Wireless Mouse (stock 25) off its row.
    sqlx::query("INSERT INTO stock_leases (product_id, holder, units) VALUES (2, 'elsewhere', 30)")
        .execute(&mut conn)
        .await
        .expect("lease");
    assert_eq!(store.stock(2).await.expect("stock"), Some(55));
    let (code, stdout, stderr) = restock(&db.url, &["--product", "2", "--stock", "10", "--json"]);
    assert_eq!(code, Some(0), "{stderr}");
    let body: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(body["previousStock"], 55);
    assert_eq!(body["stock"], 10);
    let leased: i64 = sqlx::query_scalar("SELECT count(*) FROM stock_leases")
        .fetch_one(&mut conn)
        .await
        .expect("leases");
    assert_eq!(leased, 0, "the restock is every unit there is");
    assert_eq!(store.stock(2).await.expect("stock"), Some(10));
}

#[tokio::test]
async fn bad_flags_exit_2_naming_the_flag_and_its_bounds() {
    let (db, store) = TestDb::seeded().await;
    let cases: [(&[&str], &str); 4] = [
        (
            &["--product", "3", "--stock", "-5"],
            "--stock -5: the stock must be a whole number from 0 to 1000000",
        ),
        (
            &["--product", "3", "--stock", "1000001"],
            "--stock 1000001: the stock must be a whole number from 0 to 1000000",
        ),
        (
            &["--product", "0", "--stock", "5"],
            "--product 0: a product id is a whole number from 1 to 2147483647",
        ),
        (
            &["--product", "4294967296", "--stock", "5"],
            "--product 4294967296: a product id is a whole number from 1 to 2147483647",
        ),
    ];
    for (args, words) in cases {
        let (code, stdout, stderr) = restock(&db.url, args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr, format!("flashsale: error: {words}\n"), "{args:?}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
    }
    let (code, _, stderr) = restock(&db.url, &["--product", "3", "--stock", "many"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("invalid value 'many' for '--stock <STOCK>'"),
        "{stderr}"
    );
    assert_eq!(store.stock(3).await.expect("stock"), Some(15));
}

#[tokio::test]
async fn read_only_refuses_restock_and_every_other_write_saying_why() {
    let (db, store) = TestDb::seeded().await;
    let home = tempfile::tempdir().expect("tmp");
    let refused = |what: &str| {
        format!("flashsale: error: --read-only refuses it: {what} (run it without --read-only)\n")
    };
    let cases: [(&[&str], &str); 4] = [
        (
            &["--read-only", "restock", "--product", "3", "--stock", "9"],
            "restock sets a product's stock",
        ),
        (
            &["restock", "--product", "3", "--stock", "9", "--read-only"],
            "restock sets a product's stock",
        ),
        (
            &["buy", "--product", "3", "--user", "ro", "--read-only"],
            "buy makes a purchase",
        ),
        (&["db", "seed", "--read-only"], "db writes the schema"),
    ];
    for (args, what) in cases {
        let (out, stdout, stderr) = run(flashsale(home.path())
            .args(args)
            .env("DATABASE_URL", &db.url));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr, refused(what), "{args:?}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
    }
    assert_eq!(store.stock(3).await.expect("stock"), Some(15));
    assert_eq!(store.max_order_id().await.expect("orders"), 10);
    // Reading is what --read-only is for.
    let (out, _, stderr) = run(flashsale(home.path())
        .args(["--read-only", "stock", "--json"])
        .env("DATABASE_URL", &db.url));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

#[tokio::test]
async fn the_password_in_the_url_is_masked_in_the_refusal() {
    let (db, _store) = TestDb::seeded().await;
    // Trust authentication ignores the password; the message must not show it.
    let mut url = url::Url::parse(&db.url).expect("url");
    url.set_password(Some("hunter2")).expect("password");
    let (code, _, stderr) = restock(url.as_str(), &["--product", "77", "--stock", "1"]);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
    assert!(stderr.contains("no product 77 in postgres://"), "{stderr}");
}

#[tokio::test]
async fn a_database_without_leases_is_restocked_by_the_plain_statement() {
    let (db, _store) = TestDb::seeded().await;
    let mut conn = db.conn().await;
    // As on a database the reference system created: no `stock_leases` table.
    sqlx::query("DROP TABLE stock_leases")
        .execute(&mut conn)
        .await
        .expect("drop leases");
    let (code, stdout, stderr) = restock(&db.url, &["--product", "5", "--stock", "12", "--json"]);
    assert_eq!(code, Some(0), "{stderr}");
    let body: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(body["previousStock"], 30);
    assert_eq!(body["stock"], 12);
    let stock: i32 = sqlx::query_scalar("SELECT stock FROM products WHERE id = 5")
        .fetch_one(&mut conn)
        .await
        .expect("stock");
    assert_eq!(stock, 12);
}
