//! The row-lock strategy's transaction (its steps, and seeding's) on SQLite.

use async_trait::async_trait;
use sqlx::Executor;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::Sqlite;

use super::{DECREMENT, insert_order, sqlite_keys};
use crate::money::Money;
use crate::store::backend::Transaction;
use crate::store::sale::{InsertedOrder, ProductForSale};
use crate::store::seed::{SeedOrder, SeedProduct};
use crate::store::{KeyRecord, NewPurchase, StoreError};

/// A `BEGIN IMMEDIATE` transaction on the writer connection. Dropped while still open, its
/// connection is closed rather than handed back inside a transaction.
pub(super) struct SqliteTransaction {
    pub(super) conn: PoolConnection<Sqlite>,
    open: bool,
}

impl Drop for SqliteTransaction {
    fn drop(&mut self) {
        if self.open {
            self.conn.close_on_drop();
        }
    }
}

impl SqliteTransaction {
    pub(super) fn new(conn: PoolConnection<Sqlite>) -> Self {
        Self { conn, open: true }
    }

    async fn end(mut self: Box<Self>, statement: &'static str) -> Result<(), StoreError> {
        self.conn.execute(statement).await?;
        self.open = false;
        Ok(())
    }
}

#[async_trait]
impl Transaction for SqliteTransaction {
    /// A plain read: `BEGIN IMMEDIATE` already holds the database's write lock.
    async fn lock_product(&mut self, id: i32) -> Result<Option<ProductForSale>, StoreError> {
        Ok(
            sqlx::query_as("SELECT name, stock, price_cents FROM products WHERE id = ?1")
                .bind(id)
                .fetch_optional(&mut *self.conn)
                .await?,
        )
    }

    async fn decrement(&mut self, id: i32, quantity: i32) -> Result<Option<i32>, StoreError> {
        let row: Option<ProductForSale> = sqlx::query_as(DECREMENT)
            .bind(id)
            .bind(quantity)
            .fetch_optional(&mut *self.conn)
            .await?;
        Ok(row.map(|r| r.stock))
    }

    async fn insert_order(
        &mut self,
        p: NewPurchase<'_>,
        total: Money,
    ) -> Result<InsertedOrder, StoreError> {
        insert_order(&mut self.conn, p, total).await
    }

    async fn insert_key(
        &mut self,
        key: KeyRecord<'_>,
        order_id: i64,
        remaining: i32,
    ) -> Result<(), StoreError> {
        sqlite_keys::insert_purchased(&mut self.conn, key, order_id, remaining).await
    }

    /// A plain count: `BEGIN IMMEDIATE` already keeps every other writer out.
    async fn count_products_exclusively(&mut self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM products")
            .fetch_one(&mut *self.conn)
            .await?)
    }

    async fn insert_seed_product(&mut self, p: &SeedProduct) -> Result<i32, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO products (name, description, image_url, stock, price_cents)
             VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
        )
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
            "INSERT INTO orders (user_id, product_id, quantity, total_price_cents, created_at)
             VALUES (?1, ?2, ?3, ?4,
                     strftime('%Y-%m-%d %H:%M:%f', 'now', 'start of day',
                              printf('-%d days', ?5), printf('+%d hours', ?6)))",
        )
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
