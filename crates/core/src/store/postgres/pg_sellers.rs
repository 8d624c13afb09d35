//! Seller claims: the rows of `product_sellers` that say which process sells a product for the
//! others (`store::forward`). Claimed like a lease: the first process to ask gets the product,
//! renews it while it lives, and anyone may take it once it has not been renewed for
//! [`CLAIM_EXPIRY`]. A claim holds no stock, so losing or taking one moves no unit.

use std::time::Duration;

use sqlx::postgres::PgPool;

use crate::store::StoreError;

/// A claim not renewed for this long belongs to a process that died or stalled: anyone may
/// take it. Renewed every [`crate::store::forward::KEEPER_TICK`].
pub const CLAIM_EXPIRY: Duration = Duration::from_secs(3);

/// Takes product `$1` for holder `$2` (address `$3`, secret `$4`) unless another holder renewed
/// it within `$5` seconds; returns the claim that stands, ours or theirs. A claim committed by
/// another process while this statement ran is not seen (the snapshot predates it): no row.
const CLAIM: &str = "WITH taken AS (
         INSERT INTO product_sellers AS s (product_id, holder, address, secret, renewed_at)
         VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP)
         ON CONFLICT (product_id) DO UPDATE
             SET holder = EXCLUDED.holder, address = EXCLUDED.address,
                 secret = EXCLUDED.secret, renewed_at = CURRENT_TIMESTAMP
             WHERE s.holder = EXCLUDED.holder
                OR s.renewed_at < CURRENT_TIMESTAMP - make_interval(secs => $5)
         RETURNING holder, address, secret)
     SELECT holder, address, secret FROM taken
     UNION ALL
     SELECT holder, address, secret FROM product_sellers
      WHERE product_id = $1 AND NOT EXISTS (SELECT 1 FROM taken)";

/// Who sells a product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Claim {
    /// This process: sell here, and take what the others forward.
    Ours,
    /// Another live process, reached at `address` with `secret`.
    Theirs { address: String, secret: String },
    /// Nobody yet: no such product, or a claim racing ours; ask again later.
    Unsettled,
}

/// One store's claims, for its forwarding (`store::forward`).
#[derive(Debug, Clone)]
pub(crate) struct SellerClaims {
    pool: PgPool,
    holder: String,
    deadline: Duration,
}

impl SellerClaims {
    pub(super) fn new(pool: PgPool, holder: String, deadline: Duration) -> Self {
        Self {
            pool,
            holder,
            deadline,
        }
    }

    async fn bounded<T>(
        &self,
        query: impl std::future::Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.deadline, query).await {
            Ok(done) => Ok(done?),
            Err(_) => Err(StoreError::Timeout(self.deadline)),
        }
    }

    /// Claims `product_id` for this process unless a live one holds it.
    pub(crate) async fn claim(
        &self,
        product_id: i32,
        address: &str,
        secret: &str,
    ) -> Result<Claim, StoreError> {
        let row: Option<(String, String, String)> = match self
            .bounded(
                sqlx::query_as(CLAIM)
                    .persistent(false)
                    .bind(product_id)
                    .bind(&self.holder)
                    .bind(address)
                    .bind(secret)
                    .bind(CLAIM_EXPIRY.as_secs_f64())
                    .fetch_optional(&self.pool),
            )
            .await
        {
            // No such product (the claim's foreign key): nobody sells it.
            Err(StoreError::Other(why)) if why.contains("23503") => return Ok(Claim::Unsettled),
            other => other?,
        };
        Ok(match row {
            Some((holder, _, _)) if holder == self.holder => Claim::Ours,
            Some((_, address, secret)) => Claim::Theirs { address, secret },
            None => Claim::Unsettled,
        })
    }

    /// Renews every claim of this process; the products it still holds (one missing from the
    /// answer was taken by another process after this one stalled past the expiry).
    pub(crate) async fn renew(&self) -> Result<Vec<i32>, StoreError> {
        self.bounded(
            sqlx::query_scalar(
                "UPDATE product_sellers SET renewed_at = CURRENT_TIMESTAMP
                  WHERE holder = $1 RETURNING product_id",
            )
            .persistent(false)
            .bind(&self.holder)
            .fetch_all(&self.pool),
        )
        .await
    }

    /// The claims standing on `ids`: each one's secret, and whether it was renewed within the
    /// expiry.
    pub(crate) async fn standing(
        &self,
        ids: &[i32],
    ) -> Result<Vec<(i32, String, bool)>, StoreError> {
        self.bounded(
            sqlx::query_as(
                "SELECT product_id, secret,
                        renewed_at >= CURRENT_TIMESTAMP - make_interval(secs => $2)
                   FROM product_sellers WHERE product_id = ANY($1)",
            )
            .persistent(false)
            .bind(ids)
            .bind(CLAIM_EXPIRY.as_secs_f64())
            .fetch_all(&self.pool),
        )
        .await
    }

    /// Gives up every claim of this process (its store is closing): the others claim afresh.
    pub(crate) async fn release_all(&self) -> Result<(), StoreError> {
        self.bounded(
            sqlx::query("DELETE FROM product_sellers WHERE holder = $1")
                .persistent(false)
                .bind(&self.holder)
                .execute(&self.pool),
        )
        .await
        .map(|_| ())
    }
}
