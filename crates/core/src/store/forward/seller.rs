//! The seller's side: other processes' purchases of the products this one sells, taken on a
//! TCP listener and sold by this store's gatherers with its own buyers' (one commit for all).
//! A connection must first show the secret this store published with its claims; anything
//! else, or a frame that does not parse, closes it.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use super::wire::{self, Reply, Request};
use crate::store::Store;
use crate::store::batch;
use crate::store::sale::BatchItem;

/// How long a new connection has to show the secret.
const HELLO_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a leaving seller waits for a forwarder's bye (the purchases it sent meanwhile are
/// refused unsold, so it sells them itself).
const BYE_TIMEOUT: Duration = Duration::from_secs(1);

/// What a connection needs of its seller: the store to sell with, the secret to check, the
/// signal that the store is closing, and a token whose drop says the connection is done.
#[derive(Clone)]
pub(super) struct Seat {
    pub store: Store,
    pub secret: Arc<str>,
    pub closing: watch::Receiver<bool>,
    pub done: mpsc::Sender<()>,
}

/// Accepts forwarders until the store closes.
pub(super) async fn serve(listener: TcpListener, seat: Seat) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(connection(stream, seat.clone()));
                }
                Err(e) => {
                    // Out of descriptors, most likely: pause rather than spin.
                    tracing::warn!("accepting a forwarding process failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            () = closed(seat.closing.clone()) => return,
        }
    }
}

impl Store {
    /// Sells a forwarded purchase, its answer sent to `replies` as purchase `seq`: straight
    /// from the gatherer in the common case, through a task of its own when the product's
    /// sold-out memory has to be consulted (it may read the database).
    fn take_forwarded(
        &self,
        product_id: i32,
        item: BatchItem,
        seq: u64,
        replies: &mpsc::UnboundedSender<Reply>,
    ) {
        let replies = replies.clone();
        if item.quantity >= 1 && !self.batcher.remembers_sold_out(product_id) {
            let reply = batch::Reply::Call(Box::new(move |result| {
                let _ = replies.send(Reply::Answer { seq, result });
            }));
            self.batcher.enqueue(&self.backend, product_id, item, reply);
            return;
        }
        let store = self.clone();
        tokio::spawn(async move {
            let result = store.sell_forwarded(product_id, item).await;
            let _ = replies.send(Reply::Answer { seq, result });
        });
    }
}

/// Resolves once the store is closing.
async fn closed(mut closing: watch::Receiver<bool>) {
    let _ = closing.wait_for(|closing| *closing).await;
}

async fn connection(stream: TcpStream, seat: Seat) {
    let (mut read, mut write) = stream.into_split();
    let mut buf = Vec::with_capacity(8 * 1024);
    let mut at = 0;
    let hello = tokio::time::timeout(HELLO_TIMEOUT, async {
        loop {
            if let Some(frame) = wire::next_frame(&buf, &mut at).ok()? {
                return Some(frame);
            }
            if read.read_buf(&mut buf).await.ok()? == 0 {
                return None;
            }
        }
    })
    .await;
    match hello.ok().flatten().map(|f| wire::request(&f)) {
        Some(Ok(Request::Hello { secret: shown })) if *shown == *seat.secret => {}
        _ => {
            tracing::debug!("refused a forwarding connection without the seller's secret");
            return;
        }
    }
    let (replies, mut queued) = mpsc::unbounded_channel::<Reply>();
    let writer = tokio::spawn(async move {
        let mut out = wire::Writer::default();
        let mut batch = Vec::with_capacity(64);
        while queued.recv_many(&mut batch, wire::MOST_PER_WRITE).await > 0 {
            out.buf.clear();
            for reply in batch.drain(..) {
                out.reply(&reply);
            }
            if write.write_all(&out.buf).await.is_err() {
                return;
            }
        }
    });
    let mut leaving: Option<tokio::time::Instant> = None;
    'read: loop {
        loop {
            let request = match wire::next_frame(&buf, &mut at) {
                Ok(Some(frame)) => wire::request(&frame),
                Ok(None) => break,
                Err(e) => Err(e),
            };
            match request {
                Ok(Request::Purchase { seq, .. }) if leaving.is_some() => {
                    let _ = replies.send(Reply::NotSold { seq });
                }
                Ok(Request::Purchase {
                    seq,
                    product_id,
                    item,
                }) => seat.store.take_forwarded(product_id, item, seq, &replies),
                Ok(Request::Bye | Request::Hello { .. }) | Err(_) => break 'read,
            }
        }
        wire::compact(&mut buf, &mut at);
        let until = leaving;
        let read_more = async {
            match until {
                Some(until) => tokio::time::timeout_at(until, read.read_buf(&mut buf))
                    .await
                    .unwrap_or(Ok(0)),
                None => read.read_buf(&mut buf).await,
            }
        };
        tokio::select! {
            got = read_more => match got {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            },
            () = closed(seat.closing.clone()), if leaving.is_none() => {
                leaving = Some(tokio::time::Instant::now() + BYE_TIMEOUT);
                let _ = replies.send(Reply::Leaving);
            }
        }
    }
    // The purchases still being sold are answered when done: the writer ends after the last.
    drop(replies);
    let _ = writer.await;
    drop(seat.done);
}
