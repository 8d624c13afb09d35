//! A database created by the reference system's own scripts (its schema, its partial index, no
//! constraints of ours, no migrations table) works with `stock`, `stats` and purchases.

use flashsale_core::config::PoolSettings;
use flashsale_core::purchase::{Outcome, PurchaseRequest};
use flashsale_core::store::Store;
use flashsale_core::strategy::Strategy;

use crate::support::{TestDb, unlimited};

/// The reference schema as its documentation gives it, and a few rows in it.
const REFERENCE_SCHEMA: &str = "
CREATE TABLE products (
    id SERIAL PRIMARY KEY, name VARCHAR(255) NOT NULL, description TEXT, image_url VARCHAR(500),
    stock INTEGER NOT NULL DEFAULT 0, price DECIMAL(10, 2) NOT NULL,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE orders (
    id SERIAL PRIMARY KEY, user_id VARCHAR(255) NOT NULL,
    product_id INTEGER NOT NULL REFERENCES products(id), quantity INTEGER NOT NULL,
    total_price DECIMAL(10, 2) NOT NULL, status VARCHAR(50) DEFAULT 'completed',
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
CREATE INDEX idx_orders_product_id ON orders(product_id);
CREATE INDEX idx_orders_created_at ON orders(created_at);
CREATE INDEX idx_products_stock ON products(stock) WHERE stock > 0;
INSERT INTO products (name, stock, price) VALUES ('Gadget', 3, 19.95), ('Widget', 0, 5.00);
INSERT INTO orders (user_id, product_id, quantity, total_price) VALUES ('ref_user', 1, 2, 39.90);
";

#[tokio::test]
async fn a_reference_created_database_works_without_our_migrations() {
    let db = TestDb::empty().await;
    sqlx::raw_sql(REFERENCE_SCHEMA)
        .execute(&mut db.conn().await)
        .await
        .expect("reference schema");
    let store = Store::open(&db.target(), &PoolSettings::default())
        .await
        .expect("open");

    let products = store.products().await.expect("products");
    assert_eq!(products.len(), 2);
    assert_eq!(products[0].price.cents(), 1995);

    let stats = store.stats().await.expect("stats");
    assert_eq!(stats.total_revenue.cents(), 3990);
    assert_eq!(stats.total_units_sold, 2);
    assert_eq!(stats.top_products[0].name, "Gadget");

    let p = unlimited(&store);
    for strategy in [Strategy::RowLock, Strategy::Atomic] {
        let r = p
            .purchase(PurchaseRequest {
                product_id: 1,
                user_id: "ours",
                client_ip: [127, 0, 0, 1].into(),
                quantity: 1,
                strategy,
            })
            .await;
        assert!(
            matches!(r.outcome, Outcome::Purchased(_)),
            "{strategy}: {r:?}"
        );
    }
    // db init on such a database adds our constraints without failing on its data.
    store.migrate().await.expect("migrate a reference database");
    assert_eq!(store.stock(1).await.expect("stock"), Some(1));
}
