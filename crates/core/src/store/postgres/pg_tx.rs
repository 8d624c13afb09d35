//! The purchase statements on PostgreSQL: the row-lock strategy's transaction (its steps, and
//! seeding's), the atomic strategy's single statement, and the order insert they share.

use async_trait::async_trait;
use sqlx::Executor;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnection, Postgres};

use super::pg_leases::{FOLD, decrement, lease_aware, leased, pick, writer};
use super::{Route, pg_keys};
use crate::model::Order;
use crate::money::Money;
use crate::store::backend::Transaction;
use crate::store::row::from_row;
use crate::store::sale::{InsertedOrder, ProductForSale};
use crate::store::seed::{SeedOrder, SeedProduct};
use crate::store::{KeyRecord, NewPurchase, Sale, StoreError};

/// The guarded decrement and the order insert from its RETURNING row, in one statement.
const ATOMIC: [&str; 2] = lease_aware!(
    (decrement),
    ", o AS (
         INSERT INTO orders (user_id, product_id, quantity, total_price)
         SELECT $3, p.id, $2, p.price * $2 FROM p
         RETURNING id, total_price, created_at
     )
     SELECT o.id::int8 AS id, p.name, p.stock, (o.total_price * 100)::int8 AS total_cents,
            o.created_at
     FROM o, p"
);

from_row! {
    /// What the atomic statement returns: the order, with the product's name and stock left.
    pub(super) struct AtomicRow {
        id: i64,
        name: String,
        stock: i32,
        total_cents: i64,
        created_at: chrono::NaiveDateTime,
    }
}

/// The atomic strategy: one statement, the guarded decrement and the insert of the order from
/// its RETURNING row. With a key, the statement carries one more CTE inserting the key (see
/// `pg_keys`). When the row is short but processes hold leases of the product (`pg_leases`),
/// they are folded back and the statement tried once more: the buyer is not told "Out of
/// stock" while units are held elsewhere.
pub(super) async fn atomic(
    conn: &mut PgConnection,
    route: Route,
    leases: bool,
    p: NewPurchase<'_>,
    key: Option<KeyRecord<'_>>,
) -> Result<Sale, StoreError> {
    let first = atomic_once(conn, route, leases, p, key).await?;
    let Sale::SoldOut { available } = first else {
        return Ok(first);
    };
    if !leases || available < p.quantity {
        return Ok(first);
    }
    sqlx::query(FOLD)
        .persistent(route.persistent())
        .bind(p.product_id)
        .bind(None::<&str>)
        .bind(None::<f64>)
        .execute(&mut *conn)
        .await?;
    atomic_once(conn, route, leases, p, key).await
}

/// [`STOCK`] of several products at once: `$1` an array of ids.
pub(super) const STOCKS: [&str; 2] = lease_aware!(
    "SELECT id, stock + ",
    (leased "products.id"),
    " FROM products WHERE id = ANY($1)"
);

/// Every unit of a product there is: its row and its leases.
pub(super) const STOCK: [&str; 2] = lease_aware!(
    "SELECT stock + ",
    (leased "products.id"),
    " FROM products WHERE id = $1"
);

async fn atomic_once(
    conn: &mut PgConnection,
    route: Route,
    leases: bool,
    p: NewPurchase<'_>,
    key: Option<KeyRecord<'_>>,
) -> Result<Sale, StoreError> {
    let sql = match key {
        Some(_) => &pg_keys::ATOMIC_KEYED,
        None => &ATOMIC,
    };
    let mut query = sqlx::query_as::<_, AtomicRow>(pick(sql, leases))
        .persistent(route.persistent())
        .bind(p.product_id)
        .bind(p.quantity)
        .bind(p.user_id);
    if let Some(k) = key {
        query = query.bind(k.key).bind(k.request_hash);
    }
    match query.fetch_optional(&mut *conn).await? {
        Some(r) => Ok(Sale::Purchased(Order {
            id: r.id,
            product_id: p.product_id,
            product_name: r.name,
            quantity: p.quantity,
            total_price: Money::from_cents(r.total_cents),
            remaining_stock: r.stock,
            created_at: r.created_at,
        })),
        // Nothing was written; only now is it worth a second query to say why.
        None => Ok(
            match sqlx::query_scalar(pick(&STOCK, leases))
                .persistent(route.persistent())
                .bind(p.product_id)
                .fetch_optional(conn)
                .await?
            {
                Some(available) => Sale::SoldOut { available },
                None => Sale::NotFound,
            },
        ),
    }
}

/// Inserts the order of `p` at `total`: the row-lock strategy's insert (inside its transaction)
/// and the naive one's (on its bare connection).
pub(super) async fn insert_order(
    conn: &mut PgConnection,
    route: Route,
    p: NewPurchase<'_>,
    total: Money,
) -> Result<InsertedOrder, StoreError> {
    Ok(sqlx::query_as(
        "INSERT INTO orders (user_id, product_id, quantity, total_price)
         VALUES ($1, $2, $3, $4::int8::numeric / 100) RETURNING id::int8 AS id, created_at",
    )
    .persistent(route.persistent())
    .bind(p.user_id)
    .bind(p.product_id)
    .bind(p.quantity)
    .bind(total.cents())
    .fetch_one(conn)
    .await?)
}

/// A transaction on one pooled connection, begun with a plain `BEGIN` (behind a pooler, with
/// the session settings: `pg_route`). Dropped while still
/// open (a deadline passed mid-statement, the caller went away), its connection is closed
/// rather than handed back in an unknown state.
pub(super) struct PgTransaction {
    conn: PoolConnection<Postgres>,
    route: Route,
    /// The schema has stock leases (`pg_leases`).
    leases: bool,
    open: bool,
}

impl PgTransaction {
    pub(super) fn new(conn: PoolConnection<Postgres>, route: Route, leases: bool) -> Self {
        Self {
            conn,
            route,
            leases,
            open: true,
        }
    }

    pub(super) fn connection(&mut self) -> &mut PgConnection {
        &mut self.conn
    }

    async fn end(mut self: Box<Self>, statement: &'static str) -> Result<(), StoreError> {
        self.conn.execute(statement).await?;
        self.open = false;
        Ok(())
    }
}

impl Drop for PgTransaction {
    fn drop(&mut self) {
        if self.open {
            self.conn.close_on_drop();
        }
    }
}

#[async_trait]
impl Transaction for PgTransaction {
    async fn lock_product(&mut self, id: i32) -> Result<Option<ProductForSale>, StoreError> {
        const LOCK: [&str; 2] = lease_aware!(
            "SELECT name, stock, (price * 100)::int8 AS price_cents, ",
            (leased "products.id"),
            " FROM products WHERE id = $1 FOR NO KEY UPDATE"
        );
        let locked: Option<(String, i32, i64, i32)> = sqlx::query_as(pick(&LOCK, self.leases))
            .persistent(self.route.persistent())
            .bind(id)
            .fetch_optional(&mut *self.conn)
            .await?;
        let Some((name, mut stock, price_cents, leased)) = locked else {
            return Ok(None);
        };
        // Units other processes hold (`pg_leases`) come back to the row first: this
        // transaction then decides on every unit there is.
        if self.leases
            && leased > 0
            && let Some(folded) = sqlx::query_scalar(FOLD)
                .persistent(self.route.persistent())
                .bind(id)
                .bind(None::<&str>)
                .bind(None::<f64>)
                .fetch_optional(&mut *self.conn)
                .await?
        {
            stock = folded;
        }
        Ok(Some(ProductForSale {
            name,
            stock,
            price_cents,
        }))
    }

    async fn decrement(&mut self, id: i32, quantity: i32) -> Result<Option<i32>, StoreError> {
        Ok(sqlx::query_scalar(concat!(
            "UPDATE products SET stock = stock - $2, updated_at = CURRENT_TIMESTAMP
             WHERE id = $1 AND stock >= $2 AND ",
            writer!(),
            " RETURNING stock"
        ))
        .persistent(self.route.persistent())
        .bind(id)
        .bind(quantity)
        .fetch_optional(&mut *self.conn)
        .await?)
    }

    async fn insert_order(
        &mut self,
        p: NewPurchase<'_>,
        total: Money,
    ) -> Result<InsertedOrder, StoreError> {
        insert_order(&mut self.conn, self.route, p, total).await
    }

    async fn insert_key(
        &mut self,
        key: KeyRecord<'_>,
        order_id: i64,
        remaining: i32,
    ) -> Result<(), StoreError> {
        pg_keys::insert_purchased(&mut self.conn, self.route, key, order_id, remaining).await
    }

    async fn count_products_exclusively(&mut self) -> Result<i64, StoreError> {
        // Serializes concurrent seeders: the second one then sees the first one's products.
        self.conn
            .execute("LOCK TABLE products IN SHARE ROW EXCLUSIVE MODE")
            .await?;
        Ok(sqlx::query_scalar("SELECT count(*) FROM products")
            .persistent(self.route.persistent())
            .fetch_one(&mut *self.conn)
            .await?)
    }

    async fn insert_seed_product(&mut self, p: &SeedProduct) -> Result<i32, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO products (name, description, image_url, stock, price)
             VALUES ($1, $2, $3, $4, $5::int8::numeric / 100) RETURNING id",
        )
        .persistent(self.route.persistent())
        .bind(p.name)
        .bind(p.description)
        .bind(p.image_url)
        .bind(p.stock)
        .bind(p.price.cents())
        .fetch_one(&mut *self.conn)
        .await?)
    }

    async fn insert_seed_order(
        &mut self,
        o: &SeedOrder,
        product_id: i32,
        total: Money,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO orders (user_id, product_id, quantity, total_price, created_at)
             VALUES ($1, $2, $3, $4::int8::numeric / 100,
                     date_trunc('day', CURRENT_TIMESTAMP::timestamp)
                       - make_interval(days => $5) + make_interval(hours => $6))",
        )
        .persistent(self.route.persistent())
        .bind(o.user)
        .bind(product_id)
        .bind(o.quantity)
        .bind(total.cents())
        .bind(o.days_ago)
        .bind(o.hour)
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.end("COMMIT").await
    }

    async fn rollback(self: Box<Self>) -> Result<(), StoreError> {
        self.end("ROLLBACK").await
    }
}
