//! Purchases with an idempotency key: a retry with the same key and request gets the original
//! outcome and never a second order. The key's row commits in the order's own transaction (see
//! [`Store::purchase_keyed`](crate::store::Store::purchase_keyed)); a concurrent duplicate hits
//! the unique key, rolls back whole, and is answered from the stored row.

use sha2::{Digest, Sha256};

use super::{Invalid, Outcome, PurchaseRequest, Purchaser, Receipt, validate};
use crate::ratelimit::LimitNote;
use crate::store::{KeyRecord, KeyWrite, KeyedSale, NewPurchase, Sale, StoreError};
use crate::strategy::Strategy;

/// Longest key accepted (the column's `VARCHAR(255)`).
pub const MAX_KEY_CHARS: usize = 255;

/// The request field name an invalid key is reported under.
pub const KEY_FIELD: &str = "Idempotency-Key";

/// A client-chosen key, 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let bad = |message: &str| Invalid::Other {
            field: KEY_FIELD,
            message: format!("{KEY_FIELD} {message}"),
        };
        if raw.is_empty() {
            return Err(bad("must not be empty"));
        }
        if raw.len() > MAX_KEY_CHARS {
            return Err(bad(&format!("must be at most {MAX_KEY_CHARS} characters")));
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad("must be visible ASCII characters without spaces"));
        }
        Ok(Self(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key as stored: scoped to its user, so that a key another user happens to choose
    /// (or copies) is theirs alone, never a 422 against the first. The user's part is a hash
    /// prefix; a key too long to fit beside it is stored as its own hash.
    pub fn scoped_to(&self, user_id: &str) -> IdempotencyKey {
        let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let user = hex(&Sha256::digest(user_id.as_bytes())[..8]);
        let room = MAX_KEY_CHARS - user.len() - 1;
        let key = if self.0.len() <= room {
            self.0.clone()
        } else {
            hex(&Sha256::digest(self.0.as_bytes()))
        };
        IdempotencyKey(format!("{user}:{key}"))
    }
}

/// The outcome of a keyed purchase, and whether it was replayed from an earlier request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedReceipt {
    pub receipt: Receipt,
    /// True when this is the stored outcome of an earlier request with the same key.
    pub replayed: bool,
}

/// The key was first used with a different request (product, quantity or user).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Idempotency-Key was already used with a different request")]
pub struct KeyReused;

/// Hex SHA-256 of what makes two requests the same purchase. The strategy and client IP are
/// left out: a retry through another proxy is still the same purchase.
pub fn request_hash(p: &NewPurchase<'_>) -> String {
    let mut h = Sha256::new();
    h.update(format!("{}\n{}\n{}", p.product_id, p.quantity, p.user_id).as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn fresh(outcome: Outcome, limit: Option<LimitNote>, retries: u32) -> KeyedReceipt {
    KeyedReceipt {
        receipt: Receipt {
            outcome,
            limit,
            retries,
        },
        replayed: false,
    }
}

fn replay(found: KeyedSale, hash: &str) -> Result<KeyedReceipt, KeyReused> {
    if found.request_hash != hash {
        return Err(KeyReused);
    }
    let outcome = match found.sale {
        Sale::Purchased(order) => Outcome::Purchased(order),
        Sale::SoldOut { available } => Outcome::SoldOut { available },
        Sale::NotFound => Outcome::NotFound,
    };
    Ok(KeyedReceipt {
        receipt: Receipt {
            outcome,
            limit: None,
            retries: 0,
        },
        replayed: true,
    })
}

/// A store error met outside the purchase itself, as an outcome.
fn store_outcome(e: StoreError) -> Outcome {
    match e {
        StoreError::Busy(why) => Outcome::Busy(why),
        e if e.is_busy() => Outcome::Busy(e.to_string()),
        other => Outcome::Failed(other.to_string()),
    }
}

impl Purchaser {
    /// [`Purchaser::purchase`] under an idempotency key. Order of work: validate; rate-limit;
    /// purchase with the key committed in the order's transaction. The key is looked up only
    /// when it turns out to be taken (the purchase then rolled back whole) or the limiter
    /// refused: a fresh key, the common case, costs no lookup before its purchase. A replay
    /// costs no rate-limit budget: the count its check took is given back. Sold-out and
    /// not-found outcomes are recorded afterwards, unless the key already holds a record (which
    /// is replayed); rate-limited, busy and failed ones are not, so a retry really retries.
    #[tracing::instrument(level = "debug", skip_all, fields(product = req.product_id, strategy = %req.strategy))]
    pub async fn purchase_idempotent(
        &self,
        req: PurchaseRequest<'_>,
        key: &IdempotencyKey,
    ) -> Result<KeyedReceipt, KeyReused> {
        let valid = match validate(&req, self.inner.max_quantity) {
            Ok(v) => v,
            Err(reason) => return Ok(fresh(Outcome::Invalid(reason), None, 0)),
        };
        let hash = request_hash(&valid);
        let key = &key.scoped_to(valid.user_id);
        let store = &self.inner.store;
        // The naive strategy writes its order with no transaction for the key to join: only a
        // lookup first keeps a retry from buying twice.
        if req.strategy == Strategy::Naive {
            match store.idempotency_lookup(key.as_str()).await {
                Ok(Some(found)) => return replay(found, &hash),
                Ok(None) => {}
                Err(e) => return Ok(fresh(store_outcome(e), None, 0)),
            }
        }
        let limit = match self.check_limit(req.user_id, req.client_ip).await {
            Ok(note) => note,
            // The refused request may be the retry of one admitted earlier: that one's answer.
            Err((outcome, note)) => {
                return match store.idempotency_lookup(key.as_str()).await {
                    Ok(Some(found)) => replay(found, &hash),
                    Ok(None) | Err(_) => Ok(fresh(outcome, note, 0)),
                };
            }
        };
        let record = KeyRecord {
            key: key.as_str(),
            request_hash: &hash,
        };
        let (applied, retries) = self.apply(valid, req.strategy, Some(record)).await;
        let taken = Taken {
            key,
            hash: &hash,
            req: &req,
            limit: &limit,
            retries,
        };
        let outcome = match applied {
            super::Applied::Done(outcome) => outcome,
            // Another request with this key committed first; ours rolled back whole.
            super::Applied::KeyTaken => return self.answer_taken(taken).await,
        };
        let sale = match &outcome {
            Outcome::SoldOut { available } => Some(Sale::SoldOut {
                available: *available,
            }),
            Outcome::NotFound => Some(Sale::NotFound),
            _ => None,
        };
        if let Some(sale) = sale {
            match store.record_key(record, &sale).await {
                Ok(KeyWrite::Recorded) => {}
                Ok(KeyWrite::Taken) => return self.answer_taken(taken).await,
                Err(e) => tracing::warn!(error = %e, "idempotency outcome not recorded"),
            }
        }
        Ok(fresh(outcome, Some(limit), retries))
    }

    /// The answer to a request whose key holds an earlier record: that record (or the refusal
    /// of a key used with another request), with the rate-limit count this one took given back.
    async fn answer_taken(&self, t: Taken<'_>) -> Result<KeyedReceipt, KeyReused> {
        match self.inner.store.idempotency_lookup(t.key.as_str()).await {
            Ok(Some(found)) => {
                if matches!(t.limit, LimitNote::Checked { .. }) {
                    self.inner
                        .limiter
                        .give_back(t.req.user_id, t.req.client_ip)
                        .await;
                }
                replay(found, t.hash)
            }
            Ok(None) => Ok(fresh(
                Outcome::Busy("a request with the same Idempotency-Key is in flight".into()),
                Some(t.limit.clone()),
                t.retries,
            )),
            Err(e) => Ok(fresh(store_outcome(e), Some(t.limit.clone()), t.retries)),
        }
    }
}

/// A keyed request that found its key taken, and what it had done by then.
#[derive(Clone, Copy)]
struct Taken<'a> {
    key: &'a IdempotencyKey,
    hash: &'a str,
    req: &'a PurchaseRequest<'a>,
    limit: &'a LimitNote,
    retries: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_one_to_255_visible_ascii_characters() {
        assert!(IdempotencyKey::parse("order-7f3a").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        for bad in [String::new(), "k".repeat(256), "a b".into(), "é".into()] {
            let err = IdempotencyKey::parse(&bad).expect_err("invalid key");
            assert_eq!(err.field(), KEY_FIELD);
            assert!(err.to_string().starts_with(KEY_FIELD), "{err}");
        }
    }

    #[test]
    fn the_hash_tells_requests_apart() {
        let p = |product_id, quantity, user_id| NewPurchase {
            product_id,
            user_id,
            quantity,
        };
        let a = request_hash(&p(1, 2, "alice"));
        assert_eq!(a.len(), 64);
        assert_eq!(a, request_hash(&p(1, 2, "alice")));
        assert_ne!(a, request_hash(&p(1, 3, "alice")));
        assert_ne!(a, request_hash(&p(2, 2, "alice")));
        assert_ne!(a, request_hash(&p(1, 2, "bob")));
        // The separator keeps "1"+"12" and "11"+"2" apart.
        assert_ne!(request_hash(&p(1, 12, "u")), request_hash(&p(11, 2, "u")));
    }
}
