//! The stock source's push path: when the server offers stock event streams (`serve` does,
//! the reference system does not), the known products' figures come from one stream instead
//! of one `GET /api/stock/{id}` per product per period. Each step takes what the stream has
//! delivered since the last one (waiting briefly for the first figures of a new stream); the
//! poll is the fallback whenever the stream is not there: not offered (asked again at each
//! rediscovery), not yet open, ended, failed, or silent past [`SILENCE`].

use std::time::{Duration, Instant};

use flashsale_client::{ApiClient, StockStream};
use flashsale_core::model::Product;

/// Most products one stream watches (`serve` accepts 100); more are polled.
pub const MAX_STREAM_IDS: usize = 100;
/// How long opening a stream may take before this step polls instead.
const OPEN_WAIT: Duration = Duration::from_secs(2);
/// How long a step waits for the first chunk: a new stream's figures come at once.
const FIRST_WAIT: Duration = Duration::from_millis(200);
/// How long a step waits for each further chunk already on its way.
const SETTLE: Duration = Duration::from_millis(5);
/// No event and no heartbeat (every 15 s by default) for this long: the stream is dead.
pub const SILENCE: Duration = Duration::from_secs(45);

/// Whether the server offers streams, and the one open.
#[derive(Debug, Default)]
pub struct Pushed {
    /// `Some(false)`: the server answered without a stream; asked again after [`Pushed::reset`].
    offered: Option<bool>,
    open: Option<Open>,
}

#[derive(Debug)]
struct Open {
    stream: StockStream,
    ids: Vec<i32>,
    heard: Instant,
    fresh: bool,
}

impl Pushed {
    /// After a rediscovery: ask whether streams are offered again (a server upgraded, or one
    /// that answered 503 while its database was down).
    pub fn reset(&mut self) {
        self.offered = None;
    }

    /// Whether the figures come from a stream now.
    pub fn is_streaming(&self) -> bool {
        self.open.is_some()
    }

    /// Brings `products` up to date from the stream, opening it if need be; false when this
    /// step must poll instead.
    pub async fn update(&mut self, client: &ApiClient, products: &mut [Product]) -> bool {
        let ids: Vec<i32> = products.iter().map(|p| p.id).collect();
        if ids.is_empty() || ids.len() > MAX_STREAM_IDS || self.offered == Some(false) {
            self.open = None;
            return false;
        }
        if self.open.as_ref().is_some_and(|o| o.ids != ids) {
            self.open = None;
        }
        if self.open.is_none() {
            match tokio::time::timeout(OPEN_WAIT, client.stock_events(&ids)).await {
                Ok(Ok(Some(stream))) => {
                    self.offered = Some(true);
                    self.open = Some(Open {
                        stream,
                        ids,
                        heard: Instant::now(),
                        fresh: true,
                    });
                }
                Ok(Ok(None)) => {
                    self.offered = Some(false);
                    return false;
                }
                // The poll says what is wrong; a stream is tried again next step.
                Ok(Err(_)) | Err(_) => return false,
            }
        }
        let Some(open) = self.open.as_mut() else {
            return false;
        };
        let mut wait = if std::mem::take(&mut open.fresh) {
            FIRST_WAIT
        } else {
            SETTLE
        };
        loop {
            match tokio::time::timeout(wait, open.stream.next()).await {
                Err(_) => break,
                Ok(Ok(Some(figures))) => {
                    open.heard = Instant::now();
                    for (id, stock) in figures {
                        if let Some(p) = products.iter_mut().find(|p| p.id == id) {
                            p.stock = stock;
                        }
                    }
                    wait = SETTLE;
                }
                Ok(Ok(None)) | Ok(Err(_)) => {
                    self.open = None;
                    return false;
                }
            }
        }
        if open.heard.elapsed() > SILENCE {
            self.open = None;
            return false;
        }
        true
    }
}
