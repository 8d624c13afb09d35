//! Stock and product reads answered from memory. In a flash sale the buyers' pages read far
//! more than they buy (the reference widget polls `GET /api/stock/{id}` every 2 s per open
//! page); a database round trip per read would take the pool from the purchases. This view
//! keeps, per product, what the database last said and when, and answers from it while that is
//! younger than the staleness bound (`read_staleness_ms`, 100 ms by default):
//!
//! - a read that finds nothing young enough goes to the database, one per product at a time
//!   (the others wait for it and share its answer), so a thousand readers of one product cost
//!   one query per bound, not a thousand;
//! - every purchase this process answers writes its outcome's stock back (read-your-writes in
//!   one process: a buyer who just bought reads the stock after their purchase, or later);
//! - changes by other processes and restocks by any tool are seen within the bound, because no
//!   figure older than it is ever answered.
//!
//! Each figure carries two moments. Its age counts from `from`, when its read (or purchase)
//! began, never from when its answer arrived, so "younger than the bound" is a promise about
//! the database's state. `covers` is the moment before which every commit of this process is in
//! it: a read's start, a purchase's answer (its own commit is in its figure). A figure replaces
//! another only if it covers more, so a read that began before a purchase committed and
//! answered after it cannot hide that purchase from the buyer's next read.
//! An unknown product is remembered as unknown for the bound too. The map is bounded: when full,
//! expired entries go; if none has, the read goes to the database uncached.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use flashsale_core::model::ProductDetail;
use flashsale_core::store::{Store, StoreError};

/// Products remembered at once; a flood of unknown ids cannot grow the map past this.
const MAX_ENTRIES: usize = 65_536;

/// A figure and its two moments (see the module).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Figure {
    stock: i32,
    from: Instant,
    covers: Instant,
}

/// What the database said of one product.
#[derive(Debug, Clone, Default)]
struct Entry {
    /// Units available.
    stock: Option<Figure>,
    /// The descriptive fields, and when their read began (their `stock` is superseded by
    /// `stock` when that covers more).
    detail: Option<(Arc<ProductDetail>, Instant)>,
    /// When the product was last found not to exist.
    missing: Option<Instant>,
    /// Held by the one read refreshing this product.
    gate: Arc<tokio::sync::Mutex<()>>,
}

/// A figure answered from the view or the database, with when it was true at the latest.
#[derive(Debug, Clone, PartialEq)]
pub struct Fresh<T> {
    pub value: T,
    /// How old the figure is at most, at the moment it was handed out.
    pub age: Duration,
}

/// The per-process view; see the module.
#[derive(Debug)]
pub struct ReadView {
    bound: Duration,
    entries: Mutex<HashMap<i32, Entry>>,
}

impl ReadView {
    /// `bound` zero: every read goes to the database.
    pub fn new(bound: Duration) -> Self {
        Self {
            bound,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn bound(&self) -> Duration {
        self.bound
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<i32, Entry>> {
        // Every change is one call on plain fields: a panic elsewhere leaves the map sound.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn young(&self, at: Instant, now: Instant) -> bool {
        now.saturating_duration_since(at) < self.bound
    }

    /// The stock of `id` from the view, if young enough: `Some(None)` for a product known
    /// not to exist.
    fn cached_stock(&self, id: i32, now: Instant) -> Option<Option<Fresh<i32>>> {
        let entries = self.lock();
        let e = entries.get(&id)?;
        let from_detail = e.detail.as_ref().map(|(d, at)| Figure {
            stock: d.stock,
            from: *at,
            covers: *at,
        });
        let newest = [e.stock, from_detail]
            .into_iter()
            .flatten()
            .max_by_key(|f| f.covers);
        match (newest, e.missing) {
            (Some(f), Some(gone)) if gone > f.covers && self.young(gone, now) => Some(None),
            (Some(f), _) if self.young(f.from, now) => Some(Some(Fresh {
                value: f.stock,
                age: now.saturating_duration_since(f.from),
            })),
            (None, Some(gone)) if self.young(gone, now) => Some(None),
            _ => None,
        }
    }

    fn cached_detail(&self, id: i32, now: Instant) -> Option<Option<Fresh<ProductDetail>>> {
        let entries = self.lock();
        let e = entries.get(&id)?;
        if let Some(gone) = e.missing
            && self.young(gone, now)
            && e.detail.as_ref().is_none_or(|(_, at)| gone > *at)
        {
            return Some(None);
        }
        let (detail, at) = e.detail.as_ref().filter(|(_, at)| self.young(*at, now))?;
        let mut detail = ProductDetail::clone(detail);
        let mut from = *at;
        if let Some(f) = e.stock
            && f.covers > *at
        {
            detail.stock = f.stock;
            from = from.min(f.from);
        }
        // As old as its oldest part.
        Some(Some(Fresh {
            value: detail,
            age: now.saturating_duration_since(from),
        }))
    }

    /// The refresh gate of `id`, making room for its entry; `None` when the map is full of
    /// young entries (the caller reads uncached).
    fn gate(&self, id: i32, now: Instant) -> Option<Arc<tokio::sync::Mutex<()>>> {
        let mut entries = self.lock();
        if !entries.contains_key(&id) && entries.len() >= MAX_ENTRIES {
            entries.retain(|_, e| {
                let times = [
                    e.stock.map(|f| f.from),
                    e.detail.as_ref().map(|(_, at)| *at),
                    e.missing,
                ];
                times.into_iter().flatten().any(|at| self.young(at, now))
            });
            if entries.len() >= MAX_ENTRIES {
                return None;
            }
        }
        Some(entries.entry(id).or_default().gate.clone())
    }

    /// `GET /api/stock/{id}`: units available, or `None` for an unknown product.
    pub async fn stock(&self, store: &Store, id: i32) -> Result<Option<Fresh<i32>>, StoreError> {
        if self.bound.is_zero() {
            return Ok(store.stock(id).await?.map(|value| Fresh {
                value,
                age: Duration::ZERO,
            }));
        }
        if let Some(hit) = self.cached_stock(id, Instant::now()) {
            return Ok(hit);
        }
        let Some(gate) = self.gate(id, Instant::now()) else {
            return Ok(store.stock(id).await?.map(|value| Fresh {
                value,
                age: Duration::ZERO,
            }));
        };
        let _refreshing = gate.lock().await;
        // Another reader may have refreshed it while this one waited.
        if let Some(hit) = self.cached_stock(id, Instant::now()) {
            return Ok(hit);
        }
        let began = Instant::now();
        let read = store.stock(id).await?;
        match read {
            Some(stock) => self.note_stock(id, stock, began, began),
            None => self.note_missing(id, began),
        }
        Ok(read.map(|value| Fresh {
            value,
            age: began.elapsed(),
        }))
    }

    /// `GET /api/products/{id}`: the product, or `None` for an unknown one.
    pub async fn product(
        &self,
        store: &Store,
        id: i32,
    ) -> Result<Option<Fresh<ProductDetail>>, StoreError> {
        let uncached = async || {
            Ok(store.product_detail(id).await?.map(|value| Fresh {
                value,
                age: Duration::ZERO,
            }))
        };
        if self.bound.is_zero() {
            return uncached().await;
        }
        if let Some(hit) = self.cached_detail(id, Instant::now()) {
            return Ok(hit);
        }
        let Some(gate) = self.gate(id, Instant::now()) else {
            return uncached().await;
        };
        let _refreshing = gate.lock().await;
        if let Some(hit) = self.cached_detail(id, Instant::now()) {
            return Ok(hit);
        }
        let began = Instant::now();
        let read = store.product_detail(id).await?;
        match &read {
            Some(detail) => {
                let mut entries = self.lock();
                let e = entries.entry(id).or_default();
                if e.detail.as_ref().is_none_or(|(_, at)| *at <= began) {
                    e.detail = Some((Arc::new(detail.clone()), began));
                }
            }
            None => self.note_missing(id, began),
        }
        Ok(read.map(|value| Fresh {
            value,
            age: began.elapsed(),
        }))
    }

    /// Records that `id` had `stock` units available: a read that began at `from` (then
    /// `covers` is the same moment), or a purchase that began at `from` and was answered at
    /// `covers`. It replaces what is held only if it covers more (see the module).
    pub fn note_stock(&self, id: i32, stock: i32, from: Instant, covers: Instant) {
        if self.bound.is_zero() {
            return;
        }
        let figure = Figure {
            stock,
            from,
            covers,
        };
        let mut entries = self.lock();
        let Some(e) = entries.get_mut(&id) else {
            if entries.len() < MAX_ENTRIES {
                entries.entry(id).or_default().stock = Some(figure);
            }
            return;
        };
        if e.stock.is_none_or(|f| f.covers <= covers) {
            e.stock = Some(figure);
        }
    }

    fn note_missing(&self, id: i32, began: Instant) {
        let mut entries = self.lock();
        if let Some(e) = entries.get_mut(&id) {
            e.missing = Some(began);
        }
    }
}

/// The quoted ETag of a representation: the first 16 hex digits of its SHA-256, the same on
/// every replica of a deployment for the same bytes.
pub fn etag(body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(body);
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// Whether an `If-None-Match` header value names `etag` (weak or strong, or `*`).
pub fn none_match(header: &str, etag: &str) -> bool {
    header.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_figure_older_than_the_bound_is_never_answered_from_memory() {
        let view = ReadView::new(Duration::from_millis(100));
        let then = Instant::now();
        view.note_stock(1, 40, then, then);
        let hit = view.cached_stock(1, then + Duration::from_millis(99));
        assert_eq!(
            hit,
            Some(Some(Fresh {
                value: 40,
                age: Duration::from_millis(99)
            }))
        );
        assert_eq!(
            view.cached_stock(1, then + Duration::from_millis(100)),
            None
        );
    }

    #[test]
    fn a_read_that_began_before_a_purchase_was_answered_cannot_hide_it() {
        let view = ReadView::new(Duration::from_secs(1));
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        // A purchase began at 0 and was answered at 5, leaving 30.
        view.note_stock(1, 30, t0, t0 + ms(5));
        // A read that began at 2 (before that answer) and answered after it.
        view.note_stock(1, 31, t0 + ms(2), t0 + ms(2));
        let hit = view.cached_stock(1, t0 + ms(6)).flatten().expect("hit");
        assert_eq!(hit.value, 30);
        assert_eq!(hit.age, ms(6), "aged from the purchase's start");
        // A read that began after the answer saw the purchase: it replaces the figure.
        view.note_stock(1, 29, t0 + ms(7), t0 + ms(7));
        let hit = view.cached_stock(1, t0 + ms(8)).flatten().expect("hit");
        assert_eq!(hit.value, 29);
    }

    #[test]
    fn an_unknown_product_is_remembered_unknown_for_the_bound() {
        let view = ReadView::new(Duration::from_millis(100));
        let t0 = Instant::now();
        assert!(view.gate(9, t0).is_some());
        view.note_missing(9, t0);
        assert_eq!(
            view.cached_stock(9, t0 + Duration::from_millis(50)),
            Some(None)
        );
        assert_eq!(view.cached_stock(9, t0 + Duration::from_millis(150)), None);
    }

    #[test]
    fn the_map_never_holds_more_than_its_bound() {
        let view = ReadView::new(Duration::from_secs(60));
        let t0 = Instant::now();
        for id in 0..(MAX_ENTRIES as i32 + 10) {
            if view.gate(id, t0).is_some() {
                view.note_stock(id, 1, t0, t0);
            }
        }
        assert_eq!(view.lock().len(), MAX_ENTRIES);
        // Once the entries have expired, room is made again.
        assert!(view.gate(-1, t0 + Duration::from_secs(61)).is_some());
        assert_eq!(view.lock().len(), 1);
    }

    #[test]
    fn etags_match_weak_strong_lists_and_star() {
        let tag = etag(br#"{"success":true,"stock":3}"#);
        assert_eq!(tag.len(), 18);
        assert_ne!(tag, etag(br#"{"success":true,"stock":2}"#));
        assert!(none_match(&tag, &tag));
        assert!(none_match(&format!("\"x\", W/{tag}"), &tag));
        assert!(none_match("*", &tag));
        assert!(!none_match("\"0000000000000000\"", &tag));
    }
}
