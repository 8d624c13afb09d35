//! The one purchase path every caller goes through: validate, rate-limit, then apply with the
//! chosen strategy, retrying only what the database itself rolled back.

mod idempotency;
mod outcome;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

pub use idempotency::{IdempotencyKey, KEY_FIELD, KeyReused, KeyedReceipt, request_hash};
pub use outcome::{Invalid, Outcome, OutcomeKind, Receipt, ReceiptJson};

use crate::config::UnavailablePolicy;
use crate::ratelimit::{LimitNote, RateLimiter, Verdict};
use crate::store::{KeyRecord, NewPurchase, Sale, Store, StoreError};
use crate::strategy::{RaceHook, Strategy};

/// Longest user id, in characters (the schema's `VARCHAR(255)`).
pub const MAX_USER_ID_CHARS: usize = 255;
/// How many times a deadlocked or serialization-failed transaction is tried again.
const CONFLICT_RETRIES: u32 = 3;

/// One purchase as a caller asks for it; numbers arrive unchecked and are validated here.
#[derive(Debug, Clone, Copy)]
pub struct PurchaseRequest<'a> {
    pub product_id: i64,
    pub user_id: &'a str,
    pub client_ip: IpAddr,
    pub quantity: i64,
    pub strategy: Strategy,
}

struct Inner {
    store: Store,
    limiter: RateLimiter,
    max_quantity: u32,
    race: Option<RaceHook>,
}

/// The purchase service. Cheap to clone; every clone shares the store and the limiter.
#[derive(Clone)]
pub struct Purchaser {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Purchaser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Purchaser")
            .field("store", &self.inner.store.kind())
            .field("limiter", &self.inner.limiter)
            .field("max_quantity", &self.inner.max_quantity)
            .finish()
    }
}

impl Purchaser {
    pub fn new(store: Store, limiter: RateLimiter, max_quantity: u32) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                limiter,
                max_quantity,
                race: None,
            }),
        }
    }

    /// The same service with a hook widening the `naive` strategy's race (tests, demos).
    pub fn with_race_hook(
        store: Store,
        limiter: RateLimiter,
        max_quantity: u32,
        race: RaceHook,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                limiter,
                max_quantity,
                race: Some(race),
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn limiter(&self) -> &RateLimiter {
        &self.inner.limiter
    }

    pub fn max_quantity(&self) -> u32 {
        self.inner.max_quantity
    }

    /// Runs one purchase to its outcome. Never panics, never waits unboundedly: the pool's
    /// acquire timeout, the statement timeout and the Redis timeout bound every step.
    #[tracing::instrument(level = "debug", skip_all, fields(product = req.product_id, strategy = %req.strategy))]
    pub async fn purchase(&self, req: PurchaseRequest<'_>) -> Receipt {
        // Many answers never wait on anything (sold out from memory, refused by the in-process
        // limiter, invalid): a storm of them would otherwise keep the runtime's threads from
        // the tasks that do wait (a confirming read, the pool's pings), for seconds. One unit
        // of tokio's cooperative budget per purchase makes such a loop yield now and then.
        tokio::task::consume_budget().await;
        let valid = match validate(&req, self.inner.max_quantity) {
            Ok(v) => v,
            Err(reason) => {
                return Receipt {
                    outcome: Outcome::Invalid(reason),
                    limit: None,
                    retries: 0,
                };
            }
        };
        let limit = match self.check_limit(req.user_id, req.client_ip).await {
            Ok(note) => note,
            Err((outcome, note)) => {
                return Receipt {
                    outcome,
                    limit: note,
                    retries: 0,
                };
            }
        };
        let (applied, retries) = self.apply(valid, req.strategy, None).await;
        let outcome = match applied {
            Applied::Done(outcome) => outcome,
            // Without a key nothing unique is inserted, so this cannot happen; answer safely.
            Applied::KeyTaken => Outcome::Failed("unexpected duplicate key".into()),
        };
        Receipt {
            outcome,
            limit: Some(limit),
            retries,
        }
    }

    /// What the limiter says: go ahead (and how it was decided), or the outcome that ends the
    /// purchase here (with a note when the policy, not a count, decided it).
    async fn check_limit(
        &self,
        user: &str,
        ip: IpAddr,
    ) -> Result<LimitNote, (Outcome, Option<LimitNote>)> {
        let limiter = &self.inner.limiter;
        if limiter.is_off() {
            return Ok(LimitNote::Off);
        }
        match limiter.check(user, ip).await {
            Ok(Verdict::Allowed {
                user_remaining,
                ip_remaining,
            }) => Ok(LimitNote::Checked {
                user_remaining,
                ip_remaining,
            }),
            Ok(Verdict::Limited {
                scope,
                limit,
                retry_after,
            }) => Err((
                Outcome::RateLimited {
                    scope,
                    limit,
                    retry_after,
                },
                None,
            )),
            Err(e) => match limiter.on_unavailable() {
                UnavailablePolicy::FailOpen => {
                    // The breaker logs the outage once; a line per purchase would flood.
                    tracing::debug!(error = %e, "rate limiter unavailable; failing open");
                    Ok(LimitNote::FailedOpen {
                        reason: e.to_string(),
                    })
                }
                UnavailablePolicy::FailClosed => {
                    tracing::debug!(error = %e, "rate limiter unavailable; failing closed");
                    Err((
                        Outcome::Busy(format!("rate limiter unavailable ({e}); fail-closed")),
                        Some(LimitNote::FailedClosed {
                            reason: e.to_string(),
                        }),
                    ))
                }
            },
        }
    }

    async fn apply(
        &self,
        p: NewPurchase<'_>,
        strategy: Strategy,
        key: Option<KeyRecord<'_>>,
    ) -> (Applied, u32) {
        let mut retries = 0;
        loop {
            let result = self
                .inner
                .store
                .purchase_keyed(p, strategy, self.inner.race.as_ref(), key)
                .await;
            let outcome = match result {
                Ok(Sale::Purchased(order)) => Outcome::Purchased(order),
                Ok(Sale::SoldOut { available }) => Outcome::SoldOut { available },
                Ok(Sale::NotFound) => Outcome::NotFound,
                Err(StoreError::Conflict(why)) if retries < CONFLICT_RETRIES => {
                    retries += 1;
                    tracing::debug!(%why, retries, "retrying rolled-back purchase");
                    tokio::time::sleep(backoff(retries)).await;
                    continue;
                }
                Err(StoreError::Duplicate) if key.is_some() => return (Applied::KeyTaken, retries),
                Err(StoreError::Busy(why)) => Outcome::Busy(why),
                Err(e) if e.is_busy() => Outcome::Busy(e.to_string()),
                Err(StoreError::Invalid(why)) => Outcome::Invalid(Invalid::Other {
                    field: "quantity",
                    message: why,
                }),
                Err(e) => {
                    tracing::warn!(error = %e, "purchase failed");
                    Outcome::Failed(e.to_string())
                }
            };
            return (Applied::Done(outcome), retries);
        }
    }
}

/// What one application of a purchase came to.
enum Applied {
    Done(Outcome),
    /// The idempotency key was taken by a request that committed first; nothing was written.
    KeyTaken,
}

/// A short, jittered pause before retrying a conflict, so the retried transactions do not
/// collide again in lockstep.
fn backoff(attempt: u32) -> Duration {
    let base = 2u64 << attempt.min(6);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    Duration::from_millis(base + u64::from(nanos) % base)
}

/// Checks a request's fields; runs before anything else so malformed requests cost nothing.
pub fn validate<'a>(
    req: &PurchaseRequest<'a>,
    max_quantity: u32,
) -> Result<NewPurchase<'a>, Invalid> {
    let product_id = i32::try_from(req.product_id)
        .ok()
        .filter(|id| *id > 0)
        .ok_or(Invalid::ProductId {
            got: req.product_id,
        })?;
    if req.quantity < 1 || req.quantity > i64::from(max_quantity) {
        return Err(Invalid::Quantity {
            got: req.quantity,
            max: max_quantity,
        });
    }
    let quantity = i32::try_from(req.quantity).map_err(|_| Invalid::Quantity {
        got: req.quantity,
        max: max_quantity,
    })?;
    validate_user_id(req.user_id)?;
    Ok(NewPurchase {
        product_id,
        user_id: req.user_id,
        quantity,
    })
}

/// A user id is 1 to 255 characters, not all blank, with no control characters (which the
/// database would refuse with an error, or store invisibly).
pub fn validate_user_id(user_id: &str) -> Result<(), Invalid> {
    if user_id.trim().is_empty() {
        return Err(Invalid::UserIdEmpty);
    }
    let chars = user_id.chars().count();
    if chars > MAX_USER_ID_CHARS {
        return Err(Invalid::UserIdTooLong {
            got: chars,
            max: MAX_USER_ID_CHARS,
        });
    }
    if user_id.chars().any(char::is_control) {
        return Err(Invalid::UserIdControl);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(product_id: i64, user_id: &str, quantity: i64) -> PurchaseRequest<'_> {
        PurchaseRequest {
            product_id,
            user_id,
            client_ip: IpAddr::from([127, 0, 0, 1]),
            quantity,
            strategy: Strategy::Atomic,
        }
    }

    #[test]
    fn quantities_outside_one_to_max_are_invalid() {
        for q in [0, -5, 11, i64::MAX, i64::MIN] {
            let err = validate(&req(1, "u", q), 10).expect_err("invalid quantity");
            assert_eq!(err.field(), "quantity", "q={q}");
        }
        assert!(validate(&req(1, "u", 10), 10).is_ok());
        assert!(validate(&req(1, "u", 1), 10).is_ok());
    }

    #[test]
    fn user_ids_must_be_one_to_255_characters() {
        assert_eq!(
            validate(&req(1, "", 1), 10).err(),
            Some(Invalid::UserIdEmpty)
        );
        assert_eq!(
            validate(&req(1, "   ", 1), 10).err(),
            Some(Invalid::UserIdEmpty)
        );
        let long = "x".repeat(256);
        assert_eq!(
            validate(&req(1, &long, 1), 10).err(),
            Some(Invalid::UserIdTooLong { got: 256, max: 255 })
        );
        let max = "é".repeat(255);
        assert!(
            validate(&req(1, &max, 1), 10).is_ok(),
            "255 characters in 510 bytes is fine"
        );
        assert_eq!(
            validate(&req(1, "a\0b", 1), 10).err(),
            Some(Invalid::UserIdControl)
        );
    }

    #[test]
    fn product_ids_must_be_positive_and_fit() {
        for id in [0, -1, i64::from(i32::MAX) + 1] {
            assert_eq!(
                validate(&req(id, "u", 1), 10).err(),
                Some(Invalid::ProductId { got: id })
            );
        }
    }

    #[test]
    fn messages_name_the_field() {
        let e = validate(&req(1, "u", 0), 10).expect_err("zero");
        assert!(e.to_string().starts_with("quantity"), "{e}");
        let e = validate(&req(-3, "u", 1), 10).expect_err("negative id");
        assert!(e.to_string().starts_with("productId"), "{e}");
    }

    #[test]
    fn backoff_grows_and_stays_bounded() {
        assert!(backoff(1) >= Duration::from_millis(4));
        assert!(backoff(10) < Duration::from_millis(300));
    }
}
