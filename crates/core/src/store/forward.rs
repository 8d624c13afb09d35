//! Forwarding: buyers of several processes in one commit. Each process's gatherers batch only
//! its own buyers, so N processes selling one product commit N times as often as one process
//! would, and on PostgreSQL every commit pays the same fixed costs (BENCHMARKS.md, "One hot
//! product, several processes"). With forwarding on (`forward_listen`), the first process to
//! sell a product claims it (`product_sellers`, see `pg_sellers`); the others send that
//! product's batched purchases to it over a local connection (`link`), and its gatherer sells
//! them with its own buyers' (`seller`).
//!
//! What stays as it was: stock. The seller sells from its lease and the row like any process,
//! so a change of seller moves no unit. A forwarder whose seller is gone (connection broken,
//! or no answer within the deadline) sells from its own leases meanwhile, and claims the
//! product itself once the dead claim expires ([`CLAIM_EXPIRY`]). A purchase sent and not
//! answered has an unknown outcome, as one whose database connection broke at commit: the
//! buyer hears an error and the audit counts the order if it committed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

mod link;
mod seller;
mod wire;

use self::link::{Forwarded, Link};
pub use super::postgres::CLAIM_EXPIRY;
use super::postgres::{Claim, SellerClaims};
use super::sale::BatchItem;
use super::{Sale, Store, StoreError};

/// How often a seller renews its claims.
pub const KEEPER_TICK: Duration = Duration::from_millis(500);
/// After a seller could not be reached (or nobody held the product), how long this process
/// sells the product itself before asking again.
const RETRY_AFTER: Duration = Duration::from_millis(250);

/// Who sells a product, as this process knows it.
#[derive(Debug, Clone)]
enum Route {
    /// A claim is being asked for; sell here meanwhile.
    Resolving,
    /// This process holds the claim.
    Ours,
    /// Forward to this seller (the secret its link showed tells it from a later one).
    Theirs(Arc<Link>),
    /// Sell here until then, and ask again after.
    Here { until: Instant },
}

/// One store's forwarding.
#[derive(Debug)]
pub(crate) struct Forwarding {
    claims: SellerClaims,
    /// Where the others reach this process (the listener's bound address).
    address: String,
    secret: Arc<str>,
    routes: Mutex<HashMap<i32, Route>>,
    /// Open links by seller address: the products one process sells share one connection.
    links: Mutex<HashMap<String, Weak<Link>>>,
    /// The keeper, aborted on close.
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Tells the listener and its connections the store is closing.
    closing: watch::Sender<bool>,
    /// Every connection holds a clone of the sender; the receiver hears when all are done.
    done: Mutex<Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>>,
    /// How long a forwarded purchase may wait for its answer.
    deadline: Duration,
}

impl Forwarding {
    /// Binds the listener at `listen` and starts renewing claims; the listener is served by
    /// [`Forwarding::serve_with`] once the store around this forwarding exists.
    pub(crate) async fn start(
        listen: SocketAddr,
        claims: SellerClaims,
        deadline: Duration,
    ) -> Result<(Arc<Forwarding>, TcpListener), StoreError> {
        let listener = TcpListener::bind(listen).await.map_err(|e| {
            StoreError::Other(format!(
                "cannot take forwarded purchases on {listen} (forward_listen): {e}"
            ))
        })?;
        let bound = listener
            .local_addr()
            .map_err(|e| StoreError::Other(format!("forward_listen {listen}: {e}")))?;
        let forwarding = Arc::new(Forwarding {
            claims,
            address: bound.to_string(),
            secret: secret().into(),
            routes: Mutex::new(HashMap::new()),
            links: Mutex::new(HashMap::new()),
            tasks: Mutex::new(Vec::new()),
            closing: watch::Sender::new(false),
            done: Mutex::new(Some(mpsc::channel(1))),
            deadline,
        });
        let keeper = tokio::spawn(keep(Arc::downgrade(&forwarding)));
        forwarding.tasks().push(keeper);
        Ok((forwarding, listener))
    }

    fn routes(&self) -> std::sync::MutexGuard<'_, HashMap<i32, Route>> {
        // A poisoned lock only means a holder panicked between plain map writes.
        self.routes.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn tasks(&self) -> std::sync::MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The address other processes forward to.
    pub(crate) fn address(&self) -> &str {
        &self.address
    }

    /// Starts serving forwarded purchases with `store` (which holds this forwarding), until
    /// [`Forwarding::close`] says it is closing.
    pub(crate) fn serve_with(&self, store: Store, listener: TcpListener) {
        let Some(done) = self.done_lock().as_ref().map(|(tx, _)| tx.clone()) else {
            return;
        };
        let seat = seller::Seat {
            store,
            secret: Arc::clone(&self.secret),
            closing: self.closing.subscribe(),
            done,
        };
        tokio::spawn(seller::serve(listener, seat));
    }

    fn done_lock(
        &self,
    ) -> std::sync::MutexGuard<'_, Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>> {
        self.done.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The seller to forward `product_id` to, if another process sells it. A product this
    /// process has not sold yet has no route: it is claimed after its first sale here proves
    /// it exists ([`Forwarding::sold_here`]).
    fn link(self: &Arc<Self>, product_id: i32) -> Option<Arc<Link>> {
        let mut routes = self.routes();
        match routes.get(&product_id)? {
            Route::Theirs(link) if !link.is_dead() => Some(Arc::clone(link)),
            Route::Theirs(_) => {
                routes.insert(
                    product_id,
                    Route::Here {
                        until: Instant::now() + RETRY_AFTER,
                    },
                );
                None
            }
            Route::Here { until } if *until <= Instant::now() => {
                routes.insert(product_id, Route::Resolving);
                drop(routes);
                self.resolve(product_id);
                None
            }
            Route::Resolving | Route::Ours | Route::Here { .. } => None,
        }
    }

    /// Whether `product_id`'s purchases go to another process now.
    pub(crate) fn forwards(&self, product_id: i32) -> bool {
        matches!(self.routes().get(&product_id), Some(Route::Theirs(link)) if !link.is_dead())
    }

    /// After a sale of `product_id` here: claims it, or learns who sells it, unless known.
    fn sold_here(self: &Arc<Self>, product_id: i32) {
        {
            let mut routes = self.routes();
            if routes.contains_key(&product_id) {
                return;
            }
            routes.insert(product_id, Route::Resolving);
        }
        self.resolve(product_id);
    }

    fn resolve(self: &Arc<Self>, product_id: i32) {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            if *this.closing.borrow() {
                return;
            }
            let route = match this
                .claims
                .claim(product_id, &this.address, &this.secret)
                .await
            {
                Ok(Claim::Ours) => Route::Ours,
                Ok(Claim::Theirs { address, secret }) => {
                    match this.link_to(&address, &secret).await {
                        Ok(link) => Route::Theirs(link),
                        Err(e) => {
                            tracing::debug!(product_id, seller = %address, "seller unreachable: {e}");
                            this.retry_later()
                        }
                    }
                }
                Ok(Claim::Unsettled) => this.retry_later(),
                Err(e) => {
                    tracing::debug!(product_id, "claiming a product to sell failed: {e}");
                    this.retry_later()
                }
            };
            this.routes().insert(product_id, route);
        });
    }

    /// The open link to the seller at `address`, or a new one.
    async fn link_to(&self, address: &str, secret: &str) -> std::io::Result<Arc<Link>> {
        let open = self
            .links
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(address)
            .and_then(Weak::upgrade)
            .filter(|link| !link.is_dead() && link.secret() == secret);
        if let Some(link) = open {
            return Ok(link);
        }
        let link = Link::open(address, secret).await?;
        let mut links = self.links.lock().unwrap_or_else(|e| e.into_inner());
        links.retain(|_, l| l.strong_count() > 0);
        links.insert(address.to_string(), Arc::downgrade(&link));
        Ok(link)
    }

    fn retry_later(&self) -> Route {
        Route::Here {
            until: Instant::now() + RETRY_AFTER,
        }
    }

    /// Gives up this process's claims, then tells its forwarders it is leaving and waits
    /// (at most a purchase's deadline) until what they sent before is answered: purchases
    /// they send after it are refused unsold, and they sell those themselves.
    pub(crate) async fn close(&self) {
        for task in self.tasks().drain(..) {
            task.abort();
        }
        if let Err(e) = self.claims.release_all().await {
            tracing::debug!("releasing the products this process sold failed: {e}");
        }
        self.closing.send_replace(true);
        let done = self.done_lock().take();
        if let Some((tx, mut rx)) = done {
            drop(tx);
            let drained = tokio::time::timeout(self.deadline, rx.recv()).await;
            if drained.is_err() {
                tracing::warn!(
                    "closing with forwarded purchases still unanswered after {} ms",
                    self.deadline.as_millis()
                );
            }
        }
        self.routes().clear();
    }
}

impl Drop for Forwarding {
    fn drop(&mut self) {
        for task in self.tasks().drain(..) {
            task.abort();
        }
    }
}

/// A random secret, shown by forwarders before their first purchase.
fn secret() -> String {
    use std::hash::{BuildHasher, Hasher};
    let part = || {
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    };
    format!("{:016x}{:016x}", part(), part())
}

/// Every [`KEEPER_TICK`]: renews this process's claims (a product whose claim another process
/// took, after this one stalled past the expiry, is asked about again), and checks the claims
/// of the sellers it forwards to: one no longer renewed (a stalled or lost seller whose
/// connection has not broken) or changed hands drops its link, so purchases do not wait for
/// their deadline on a seller that will not answer.
async fn keep(forwarding: Weak<Forwarding>) {
    loop {
        let Some(this) = forwarding.upgrade() else {
            return;
        };
        let (ours, theirs) = {
            let routes = this.routes();
            let ours: Vec<i32> = routes
                .iter()
                .filter(|(_, r)| matches!(r, Route::Ours))
                .map(|(id, _)| *id)
                .collect();
            let theirs: Vec<(i32, Arc<Link>)> = routes
                .iter()
                .filter_map(|(id, r)| match r {
                    Route::Theirs(link) if !link.is_dead() => Some((*id, Arc::clone(link))),
                    _ => None,
                })
                .collect();
            (ours, theirs)
        };
        if !ours.is_empty() {
            match this.claims.renew().await {
                Ok(held) => {
                    let mut routes = this.routes();
                    for id in ours.into_iter().filter(|id| !held.contains(id)) {
                        routes.insert(
                            id,
                            Route::Here {
                                until: Instant::now(),
                            },
                        );
                    }
                }
                Err(e) => tracing::debug!("renewing the products this process sells: {e}"),
            }
        }
        if !theirs.is_empty() {
            let ids: Vec<i32> = theirs.iter().map(|(id, _)| *id).collect();
            match this.claims.standing(&ids).await {
                Ok(standing) => this.recheck(&theirs, &standing),
                Err(e) => tracing::debug!("checking the sellers this process forwards to: {e}"),
            }
        }
        drop(this);
        tokio::time::sleep(KEEPER_TICK).await;
    }
}

impl Forwarding {
    /// What the claims of the sellers this process forwards to say now. A claim renewed
    /// within the expiry stands. One not renewed, still under the secret forwarded with, is a
    /// seller stalled or lost with its connection open: its link closes (what it holds has an
    /// unknown outcome, as after a broken connection) instead of every purchase waiting out
    /// its deadline. One gone or under another secret changed hands (a leaving seller gave it
    /// up and answers what it has; or another took it): that product is asked about again,
    /// and the link, which other products may share, is left to end by itself.
    fn recheck(&self, theirs: &[(i32, Arc<Link>)], standing: &[(i32, String, bool)]) {
        let mut routes = self.routes();
        for (id, forwarded_to) in theirs {
            let claim = standing.iter().find(|(p, _, _)| p == id);
            let (stalled, moved) = match claim {
                Some((_, s, fresh)) if s == forwarded_to.secret() => (!fresh, false),
                _ => (false, true),
            };
            if let Some(Route::Theirs(link)) = routes.get(id)
                && (stalled || moved)
            {
                if stalled {
                    link.close();
                }
                let until = Instant::now();
                routes.insert(*id, Route::Here { until });
            }
        }
    }
}

impl Store {
    /// Where other processes forward purchases to this one, when it takes them.
    pub fn forwarding_address(&self) -> Option<&str> {
        self.forwarding.as_deref().map(Forwarding::address)
    }

    /// Whether this store sends `product_id`'s batched purchases to another process now.
    pub fn forwards(&self, product_id: i32) -> bool {
        self.forwarding
            .as_ref()
            .is_some_and(|f| f.forwards(product_id))
    }
}

/// The batched strategy's last step with forwarding on: to the product's seller when another
/// process sells it, else to this store's own gatherer.
pub(super) async fn sell(
    store: &Store,
    forwarding: &Arc<Forwarding>,
    product_id: i32,
    item: BatchItem,
) -> Result<Sale, StoreError> {
    let item = match forwarding.link(product_id) {
        Some(link) => match link.forward(product_id, item, forwarding.deadline).await {
            Forwarded::Answered(result) => {
                if let Ok(Sale::SoldOut { available: 0 }) = &result {
                    store.batcher.remember_sold_out(product_id);
                }
                return result;
            }
            Forwarded::NotSent(item) => item,
        },
        None => item,
    };
    let result = store.batcher.submit(&store.backend, product_id, item).await;
    if matches!(result, Ok(Sale::Purchased(_) | Sale::SoldOut { .. })) {
        forwarding.sold_here(product_id);
    }
    result
}
