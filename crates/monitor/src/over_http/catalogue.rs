//! The products of a deployment over HTTP. The reference API has no product list, so products
//! are found by probing `GET /api/products/{id}` for ids 1, 2, 3, ... until
//! [`Probe::max_misses`] ids in a row are missing, and never beyond [`Probe::max_id`]: a
//! catalogue with a gap of five ids or more, or ids above 200, is only partly seen. Between
//! discoveries (every [`REDISCOVER`]) the known products' stock comes from one stock event
//! stream when the server offers it (`stock_stream`), else from `/api/stock/{id}` each.

use std::future::Future;
use std::time::{Duration, Instant};

use futures::StreamExt;

use super::replies::describe;
use super::stock_stream::Pushed;
use crate::driver::{Sampler, Step, StepContext};
use crate::{Source, Update};
use flashsale_client::{ApiClient, ClientError};
use flashsale_core::model::{Product, ProductDetail};

/// How often the product ids are probed again (new products, names, prices).
pub const REDISCOVER: Duration = Duration::from_secs(30);
/// Stock requests in flight at once during one poll of every product.
const STOCK_FAN_OUT: usize = 8;

/// The bounds of product discovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// Stop after this many missing ids in a row.
    pub max_misses: u32,
    /// Never probe beyond this id.
    pub max_id: i32,
}

impl Default for Probe {
    fn default() -> Self {
        Self {
            max_misses: 5,
            max_id: 200,
        }
    }
}

/// Finds products by asking for ids 1, 2, 3, ... (`probe(id)` answers `None` for a missing id)
/// until `limits.max_misses` in a row are missing or `limits.max_id` is reached. The first error
/// ends the discovery: a server that fails on one id says nothing about the next.
pub async fn discover<F, Fut>(mut probe: F, limits: Probe) -> Result<Vec<Product>, ClientError>
where
    F: FnMut(i32) -> Fut,
    Fut: Future<Output = Result<Option<ProductDetail>, ClientError>>,
{
    let mut found = Vec::new();
    let mut misses = 0;
    let mut id = 1;
    while id <= limits.max_id && misses < limits.max_misses {
        match probe(id).await? {
            Some(p) => {
                misses = 0;
                found.push(Product {
                    id: p.id,
                    name: p.name,
                    price: p.price,
                    stock: p.stock,
                });
            }
            None => misses += 1,
        }
        id += 1;
    }
    Ok(found)
}

/// The products found by the last discovery, their stock as of the last poll.
#[derive(Debug)]
struct Known {
    products: Vec<Product>,
    found_at: Instant,
}

/// The stock source over HTTP: a discovery when none is recent, else every known product's
/// stock.
#[derive(Debug)]
pub struct HttpStockSampler {
    client: ApiClient,
    probe: Probe,
    known: Option<Known>,
    pushed: Pushed,
}

impl HttpStockSampler {
    pub fn new(client: ApiClient, probe: Probe) -> Self {
        Self {
            client,
            probe,
            known: None,
            pushed: Pushed::default(),
        }
    }

    /// Whether the last step's figures came from a stock event stream (else from polls).
    pub fn is_streaming(&self) -> bool {
        self.pushed.is_streaming()
    }

    async fn poll(&mut self) -> Result<Vec<Product>, ClientError> {
        let k = match &mut self.known {
            Some(k) if k.found_at.elapsed() < REDISCOVER => k,
            _ => {
                let client = &self.client;
                let products = discover(|id| client.product(id), self.probe).await?;
                self.pushed.reset();
                let k = self.known.insert(Known {
                    products,
                    found_at: Instant::now(),
                });
                return Ok(k.products.clone());
            }
        };
        if self.pushed.update(&self.client, &mut k.products).await {
            return Ok(k.products.clone());
        }
        // Owned futures: borrowing ones trip the compiler's `Send` inference inside a spawned
        // task.
        let ids: Vec<i32> = k.products.iter().map(|p| p.id).collect();
        let answers: Vec<Result<Option<i32>, ClientError>> =
            futures::stream::iter(ids.into_iter().map(|id| {
                let client = self.client.clone();
                async move { client.stock(id).await }
            }))
            .buffered(STOCK_FAN_OUT)
            .collect()
            .await;
        let mut gone = false;
        let mut products = Vec::with_capacity(k.products.len());
        for (p, answer) in k.products.iter().zip(answers) {
            match answer? {
                Some(stock) => products.push(Product { stock, ..p.clone() }),
                None => gone = true,
            }
        }
        if gone {
            // A product went away: look again at the next poll.
            self.known = None;
        } else {
            k.products = products.clone();
        }
        Ok(products)
    }
}

impl Sampler for HttpStockSampler {
    type Data = Vec<Product>;

    fn source(&self) -> Source {
        Source::Stock
    }

    async fn step(&mut self, _cx: StepContext) -> Step<Vec<Product>> {
        match self.poll().await {
            Ok(products) => Step::Data(products),
            Err(e) => Step::Failed {
                error: describe(&e),
                partial: None,
            },
        }
    }

    fn update(data: Vec<Product>) -> Update {
        Update::Stock(data)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::BTreeSet;

    use super::*;
    use flashsale_core::money::Money;

    fn detail(id: i32) -> ProductDetail {
        ProductDetail {
            id,
            name: format!("P{id}"),
            description: None,
            image_url: None,
            stock: id * 10,
            price: Money::from_cents(100),
        }
    }

    /// Discovers over a catalogue holding `ids`; returns the ids found and the ids probed.
    fn run(ids: &[i32], limits: Probe) -> (Vec<i32>, Vec<i32>) {
        let present: BTreeSet<i32> = ids.iter().copied().collect();
        let probed = RefCell::new(Vec::new());
        let found = futures::executor::block_on(discover(
            |id| {
                probed.borrow_mut().push(id);
                let answer = present.contains(&id).then(|| detail(id));
                async move { Ok(answer) }
            },
            limits,
        ))
        .expect("no errors");
        (found.iter().map(|p| p.id).collect(), probed.into_inner())
    }

    #[test]
    fn discovery_stops_after_five_missing_ids_in_a_row() {
        let (found, probed) = run(&[1, 2, 3, 4, 5], Probe::default());
        assert_eq!(found, [1, 2, 3, 4, 5]);
        assert_eq!(
            probed,
            (1..=10).collect::<Vec<_>>(),
            "5 hits, then 5 misses"
        );
    }

    #[test]
    fn discovery_bridges_gaps_shorter_than_the_miss_limit_only() {
        // 3..=6 missing (4 in a row): bridged. 8..=12 missing (5 in a row): the end.
        let (found, probed) = run(&[1, 2, 7, 13], Probe::default());
        assert_eq!(found, [1, 2, 7]);
        assert_eq!(probed.last(), Some(&12));
        let (found, _) = run(&[], Probe::default());
        assert!(found.is_empty());
    }

    #[test]
    fn discovery_is_bounded_by_the_highest_id() {
        let everything: Vec<i32> = (1..=1000).collect();
        let (found, probed) = run(&everything, Probe::default());
        assert_eq!(found.len(), 200);
        assert_eq!(probed.len(), 200, "never beyond id 200");
        let (found, probed) = run(
            &everything,
            Probe {
                max_misses: 5,
                max_id: 3,
            },
        );
        assert_eq!((found.len(), probed.len()), (3, 3));
    }

    #[test]
    fn discovery_stops_at_the_first_error() {
        let probed = RefCell::new(0);
        let result = futures::executor::block_on(discover(
            |id| {
                *probed.borrow_mut() += 1;
                async move {
                    if id == 3 {
                        Err(ClientError::Transport("timed out".into()))
                    } else {
                        Ok(Some(detail(id)))
                    }
                }
            },
            Probe::default(),
        ));
        assert_eq!(result, Err(ClientError::Transport("timed out".into())));
        assert_eq!(*probed.borrow(), 3);
    }
}
