//! `orders` partitioned by month (`db init --partitioned`), as the catalog sees it: monthly range
//! partitions and a default, made again by `db reset`; an order no month covers lands in the
//! default and moves into its month when `db partitions` creates it; an ordinary table with
//! orders is refused untouched, or rebuilt with every order kept (`--copy-orders`).

use chrono::{Datelike, Months, Utc};
use flashsale_core::purchase::{IdempotencyKey, Outcome, PurchaseRequest};
use flashsale_core::store::partitions::{Conversion, PartitionPlan};
use flashsale_core::strategy::Strategy;

use crate::support::bin::run;
use crate::support::pgbouncer::PgBouncer;
use crate::support::{TestDb, flashsale, unlimited};

/// `orders_pYYYY_MM` of the month `months` after this one.
fn month_name(months: u32) -> String {
    let m = Utc::now()
        .date_naive()
        .with_day(1)
        .and_then(|d| d.checked_add_months(Months::new(months)))
        .expect("month");
    format!("orders_p{:04}_{:02}", m.year(), m.month())
}

/// `relkind` of `orders`: `p` partitioned, `r` an ordinary table.
async fn relkind(db: &TestDb) -> String {
    sqlx::query_scalar("SELECT relkind::text FROM pg_class WHERE oid = 'orders'::regclass")
        .fetch_one(&mut db.conn().await)
        .await
        .expect("relkind")
}

/// Every order's every column, in id order, as one digest: equal digests, the same orders.
async fn orders_digest(db: &TestDb) -> (i64, String) {
    sqlx::query_as(
        "SELECT count(*), md5(COALESCE(string_agg(concat_ws('|', id, user_id, product_id,
                 quantity, total_price, status, created_at), ',' ORDER BY id), ''))
         FROM orders",
    )
    .fetch_one(&mut db.conn().await)
    .await
    .expect("digest")
}

/// The partition that holds order `id`.
async fn partition_of(db: &TestDb, id: i64) -> String {
    sqlx::query_scalar("SELECT tableoid::regclass::text FROM orders WHERE id = $1")
        .bind(id as i32)
        .fetch_one(&mut db.conn().await)
        .await
        .expect("order's partition")
}

#[tokio::test]
async fn db_init_partitioned_makes_monthly_partitions_and_a_default_and_reset_keeps_them() {
    let db = TestDb::empty().await;
    let home = tempfile::tempdir().expect("home");
    let init = || {
        run(flashsale(home.path()).args(["db", "init", "--partitioned", "--database-url", &db.url]))
    };
    let (out, stdout, stderr) = init();
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("14 created now"), "{stdout}");

    let mut conn = db.conn().await;
    let (strategy, key, default): (String, String, String) = sqlx::query_as(
        "SELECT partstrat::text, pg_get_partkeydef(partrelid), partdefid::regclass::text
         FROM pg_partitioned_table WHERE partrelid = 'orders'::regclass",
    )
    .fetch_one(&mut conn)
    .await
    .expect("orders is a partitioned table");
    assert_eq!(
        (strategy.as_str(), key.as_str(), default.as_str()),
        ("r", "RANGE (created_at)", "orders_default")
    );
    let parts: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.relname::text, pg_get_expr(c.relpartbound, c.oid)
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'orders'::regclass ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .expect("partitions");
    let names: Vec<&str> = parts.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        parts.len(),
        15,
        "last month, this one, 12 ahead, default: {names:?}"
    );
    for wanted in [month_name(0), month_name(1), month_name(12)] {
        assert!(names.contains(&wanted.as_str()), "{wanted} in {names:?}");
    }
    let this_month = Utc::now().date_naive().with_day(1).expect("first");
    let bound = &parts
        .iter()
        .find(|(n, _)| *n == month_name(0))
        .expect("this month")
        .1;
    assert!(
        bound.starts_with(&format!(
            "FOR VALUES FROM ('{} 00:00:00') TO (",
            this_month.format("%Y-%m-%d")
        )),
        "{bound}"
    );
    let (pk,): (String,) = sqlx::query_as(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'orders_pkey'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("primary key");
    assert_eq!(pk, "PRIMARY KEY (id, created_at)");

    // Again: nothing to create, nothing broken.
    let (out, stdout, stderr) = init();
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("0 created now"), "{stdout}");

    let (out, stdout, stderr) =
        run(flashsale(home.path()).args(["db", "reset", "--yes", "--database-url", &db.url]));
    assert!(out.status.success(), "{stdout}{stderr}");
    assert_eq!(relkind(&db).await, "p", "db reset keeps orders partitioned");
    let in_default: i64 = sqlx::query_scalar("SELECT count(*) FROM orders_default")
        .fetch_one(&mut conn)
        .await
        .expect("default");
    let all: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&mut conn)
        .await
        .expect("orders");
    assert_eq!(
        (all, in_default),
        (10, 0),
        "the sample orders sit in their months"
    );
}

#[tokio::test]
async fn an_order_no_month_covers_lands_in_the_default_partition_and_moves_into_its_month() {
    let (db, store) = TestDb::partitioned().await;
    let before = store.stats().await.expect("stats");
    // Three years ahead: past the twelve months created.
    let far = Utc::now().date_naive().with_day(1).expect("first") + Months::new(36);
    let id: i32 = sqlx::query_scalar(
        "INSERT INTO orders (user_id, product_id, quantity, total_price, created_at)
         VALUES ('future', 1, 2, 2599.98, $1) RETURNING id",
    )
    .bind(far.and_hms_opt(12, 0, 0).expect("noon"))
    .fetch_one(&mut db.conn().await)
    .await
    .expect("an order dated outside every month is accepted");
    assert_eq!(partition_of(&db, id.into()).await, "orders_default");
    let with_it = store.stats().await.expect("stats");
    assert_eq!(with_it.total_units_sold, before.total_units_sold + 2);

    let report = store
        .partition_orders(PartitionPlan {
            conversion: Conversion::Never,
            months_ahead: 36,
        })
        .await
        .expect("add months")
        .expect("PostgreSQL");
    assert_eq!(report.created.len(), 24, "{report:?}");
    assert_eq!(report.moved_from_default, 1, "{report:?}");
    assert_eq!(report.in_default, 0, "{report:?}");
    assert_eq!(
        partition_of(&db, id.into()).await,
        format!("orders_p{:04}_{:02}", far.year(), far.month())
    );
    assert_eq!(
        store.stats().await.expect("stats"),
        with_it,
        "nothing lost or doubled"
    );
}

#[tokio::test]
async fn db_init_partitioned_refuses_an_ordinary_table_with_orders_and_writes_nothing() {
    // A database of the reference system's own making: no migrations table of ours yet.
    let db = TestDb::empty().await;
    sqlx::raw_sql(
        "CREATE TABLE products (id SERIAL PRIMARY KEY, name VARCHAR(255) NOT NULL,
             description TEXT, image_url VARCHAR(500), stock INTEGER NOT NULL DEFAULT 0,
             price DECIMAL(10, 2) NOT NULL, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
             updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
         CREATE TABLE orders (id SERIAL PRIMARY KEY, user_id VARCHAR(255) NOT NULL,
             product_id INTEGER NOT NULL REFERENCES products(id), quantity INTEGER NOT NULL,
             total_price DECIMAL(10, 2) NOT NULL, status VARCHAR(50) DEFAULT 'completed',
             created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
         INSERT INTO products (name, stock, price) VALUES ('Gadget', 3, 19.95);
         INSERT INTO orders (user_id, product_id, quantity, total_price)
             VALUES ('ref_user', 1, 2, 39.90)",
    )
    .execute(&mut db.conn().await)
    .await
    .expect("reference schema");
    let before = orders_digest(&db).await;
    let home = tempfile::tempdir().expect("home");
    let (out, stdout, stderr) = run(flashsale(home.path()).args([
        "db",
        "init",
        "--partitioned",
        "--database-url",
        &db.url,
    ]));
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains(&db.name)
            && stderr.contains("ordinary table")
            && stderr.contains("--copy-orders"),
        "names the database, what is wrong and the way out: {stderr}"
    );
    assert_eq!(relkind(&db).await, "r");
    assert_eq!(orders_digest(&db).await, before);
    let migrated: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text")
            .fetch_one(&mut db.conn().await)
            .await
            .expect("regclass");
    assert_eq!(migrated, None, "refused before migrating");

    // SQLite has no partitions: refused as a usage error, and no file is created.
    let file = home.path().join("sale.db");
    let url = format!("sqlite://{}", file.display());
    let (out, _, stderr) =
        run(flashsale(home.path()).args(["db", "partitions", "--database-url", &url]));
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("need PostgreSQL"), "{stderr}");
    assert!(!file.exists());
}

#[tokio::test]
async fn copy_orders_rebuilds_an_ordinary_table_partitioned_keeping_every_order_and_key() {
    let (db, store) = TestDb::seeded().await;
    let purchaser = unlimited(&store);
    let key = IdempotencyKey::parse("before-the-copy").expect("key");
    let req = PurchaseRequest {
        product_id: 2,
        user_id: "keeper",
        client_ip: [127, 0, 0, 1].into(),
        quantity: 1,
        strategy: Strategy::Atomic,
    };
    let first = purchaser
        .purchase_idempotent(req, &key)
        .await
        .expect("keyed");
    let Outcome::Purchased(order) = &first.receipt.outcome else {
        panic!("{first:?}");
    };
    // Dated before any month the copy creates: kept, in the default partition.
    sqlx::query(
        "INSERT INTO orders (user_id, product_id, quantity, total_price, created_at)
         VALUES ('ancient', 1, 1, 1299.99, '2001-02-03 04:05:06')",
    )
    .execute(&mut db.conn().await)
    .await
    .expect("old order");
    let before = orders_digest(&db).await;
    let stats = store.stats().await.expect("stats");
    let last = store.max_order_id().await.expect("max id");

    let home = tempfile::tempdir().expect("home");
    let (out, stdout, stderr) = run(flashsale(home.path()).args([
        "db",
        "init",
        "--partitioned",
        "--copy-orders",
        "--database-url",
        &db.url,
    ]));
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("{} orders copied", before.0)),
        "{stdout}"
    );
    assert_eq!(relkind(&db).await, "p");
    assert_eq!(
        orders_digest(&db).await,
        before,
        "every order, every column"
    );
    assert_eq!(store.stats().await.expect("stats"), stats);
    let ancient: i32 = sqlx::query_scalar("SELECT id FROM orders WHERE user_id = 'ancient'")
        .fetch_one(&mut db.conn().await)
        .await
        .expect("ancient");
    assert_eq!(partition_of(&db, ancient.into()).await, "orders_default");
    let key_references: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_constraint
         WHERE conrelid = 'idempotency_keys'::regclass AND contype = 'f'",
    )
    .fetch_one(&mut db.conn().await)
    .await
    .expect("constraints");
    assert_eq!(
        key_references, 0,
        "no foreign key can point into a partitioned table by id"
    );

    // The key still replays its order; the sequence carries on past the copied ids.
    let again = purchaser
        .purchase_idempotent(req, &key)
        .await
        .expect("keyed");
    assert!(again.replayed, "{again:?}");
    assert_eq!(again.receipt.outcome.order().map(|o| o.id), Some(order.id));
    let next = purchaser
        .purchase(PurchaseRequest {
            user_id: "after",
            ..req
        })
        .await;
    let id = next.outcome.order().expect("purchased").id;
    assert!(id > last, "{id} after {last}");
    assert_ne!(partition_of(&db, id).await, "orders_default");
}

#[tokio::test]
async fn db_init_partitioned_and_db_partitions_work_through_a_transaction_pooler() {
    let bouncer = PgBouncer::start();
    let db = TestDb::empty().await;
    let url = bouncer.url(&db.name);
    let home = tempfile::tempdir().expect("home");
    let cli = |args: &[&str]| run(flashsale(home.path()).args(args).env("DATABASE_URL", &url));
    for (args, expect) in [
        (&["db", "init", "--partitioned"][..], "14 created now"),
        (&["db", "seed"][..], "5 products"),
        (
            &["db", "partitions", "--months-ahead", "14"][..],
            "2 created now",
        ),
        (
            &["db", "partitions", "--months-ahead", "14"][..],
            "0 created now",
        ),
        (&["buy", "--product", "4", "--user", "pooled"][..], ""),
    ] {
        let (out, stdout, stderr) = cli(args);
        assert!(
            out.status.success(),
            "{args:?}: {stderr} (pgbouncer: {})",
            bouncer.log()
        );
        assert!(stdout.contains(expect), "{args:?}: {stdout}");
    }
    assert_eq!(relkind(&db).await, "p");
}
