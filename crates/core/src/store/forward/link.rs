//! A forwarder's connection to a product's seller. Purchases queue on it and leave together
//! (whatever queued while the last write was on the wire goes in the next), answers come back
//! in any order, matched by number. When the connection breaks, what was written and not
//! answered has an unknown outcome (the seller may have committed it), exactly like a database
//! connection lost at commit; what was still queued was never sent and is sold here instead.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Notify, mpsc, oneshot};

use super::wire;
use crate::store::sale::BatchItem;
use crate::store::{Sale, StoreError};

/// How long a connection to a seller may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// What became of a purchase handed to a link.
#[derive(Debug)]
pub(crate) enum Forwarded {
    /// The seller's answer, or why none will come.
    Answered(Result<Sale, StoreError>),
    /// Not sold there (never sent, or refused by a seller that is leaving): sell it here.
    NotSent(BatchItem),
}

/// What the link's task says of one purchase.
enum Reply {
    Answered(Result<Sale, StoreError>),
    NotSold,
}

struct Outgoing {
    product_id: i32,
    item: BatchItem,
    reply: oneshot::Sender<Reply>,
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outgoing")
            .field("product_id", &self.product_id)
            .finish()
    }
}

/// One open connection to a seller.
#[derive(Debug)]
pub(crate) struct Link {
    queue: mpsc::UnboundedSender<Outgoing>,
    state: Arc<State>,
    address: String,
    /// The secret it showed: a seller that restarted on the same address has a new one.
    secret: String,
}

/// What the link's callers and its task share.
#[derive(Debug, Default)]
struct State {
    /// Set once nothing more may be sent: new purchases are sold here.
    dead: AtomicBool,
    /// Ends the task (an answer overdue: the seller is stalled).
    kill: Notify,
    /// The seller said it is leaving: the writer says bye and stops.
    leaving: Notify,
}

impl Link {
    /// Connects to the seller at `address` and shows it `secret`.
    pub(crate) async fn open(address: &str, secret: &str) -> std::io::Result<Arc<Link>> {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address))
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out")
            })??;
        stream.set_nodelay(true)?;
        let (queue, rx) = mpsc::unbounded_channel();
        let link = Arc::new(Link {
            queue,
            state: Arc::default(),
            address: address.to_string(),
            secret: secret.to_string(),
        });
        let mut hello = wire::Writer::default();
        hello.hello(secret);
        tokio::spawn(run(
            stream,
            hello.buf,
            rx,
            Arc::clone(&link.state),
            link.address.clone(),
        ));
        Ok(link)
    }

    pub(crate) fn secret(&self) -> &str {
        &self.secret
    }

    pub(crate) fn is_dead(&self) -> bool {
        self.state.dead.load(Ordering::Acquire)
    }

    /// Ends the link: what is unanswered has an unknown outcome, what is queued is sold here.
    pub(crate) fn close(&self) {
        self.state.dead.store(true, Ordering::Release);
        self.state.kill.notify_one();
    }

    /// Hands a purchase to the seller and waits up to `deadline` for its answer. No answer in
    /// time closes the link (the seller is stalled): the outcome is unknown.
    pub(crate) async fn forward(
        &self,
        product_id: i32,
        item: BatchItem,
        deadline: Duration,
    ) -> Forwarded {
        if self.is_dead() {
            return Forwarded::NotSent(item);
        }
        let (reply, answer) = oneshot::channel();
        let sent = self.queue.send(Outgoing {
            product_id,
            item: item.clone(),
            reply,
        });
        if sent.is_err() {
            return Forwarded::NotSent(item);
        }
        match tokio::time::timeout(deadline, answer).await {
            Ok(Ok(Reply::Answered(result))) => Forwarded::Answered(result),
            // Refused by a leaving seller, or still queued when the link went down (the
            // task answers everything it wrote, so a dropped reply was never sent).
            Ok(Ok(Reply::NotSold) | Err(_)) => Forwarded::NotSent(item),
            Err(_) => {
                self.close();
                Forwarded::Answered(Err(StoreError::Timeout(deadline)))
            }
        }
    }
}

/// The error of a purchase whose seller went away after it was sent.
fn unknown(address: &str) -> StoreError {
    StoreError::Unavailable(format!(
        "the process selling this product ({address}) went away before answering; \
         whether the purchase went through is unknown"
    ))
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Reply>>>>;

/// The link's task: a writer sends what queues, this reads what is answered, until the seller
/// closes the connection (after its last answer, when it leaves) or either side fails.
async fn run(
    stream: TcpStream,
    hello: Vec<u8>,
    rx: mpsc::UnboundedReceiver<Outgoing>,
    state: Arc<State>,
    address: String,
) {
    let pending: Pending = Arc::default();
    let (mut read, write) = stream.into_split();
    let writer = tokio::spawn(write_queued(
        write,
        hello,
        rx,
        Arc::clone(&pending),
        Arc::clone(&state),
    ));
    let reader = async {
        let mut buf = Vec::with_capacity(8 * 1024);
        let mut at = 0;
        loop {
            match read.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            loop {
                let frame = match wire::next_frame(&buf, &mut at) {
                    Ok(Some(f)) => f,
                    Ok(None) => break,
                    Err(_) => return,
                };
                let (seq, reply) = match wire::reply(&frame) {
                    Ok(wire::Reply::Answer { seq, result }) => (seq, Reply::Answered(result)),
                    Ok(wire::Reply::NotSold { seq }) => (seq, Reply::NotSold),
                    Ok(wire::Reply::Leaving) => {
                        state.dead.store(true, Ordering::Release);
                        state.leaving.notify_one();
                        continue;
                    }
                    Err(_) => return,
                };
                let waiter = pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&seq);
                if let Some(waiter) = waiter {
                    let _ = waiter.send(reply);
                }
            }
            wire::compact(&mut buf, &mut at);
        }
    };
    tokio::select! {
        () = reader => {}
        () = state.kill.notified() => {}
    }
    state.dead.store(true, Ordering::Release);
    // Whatever is still queued is dropped with the writer: its callers sell it here.
    writer.abort();
    let unanswered: Vec<_> = pending
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .drain()
        .collect();
    if !unanswered.is_empty() {
        tracing::warn!(
            seller = %address,
            purchases = unanswered.len(),
            "lost the connection to a product's seller with purchases unanswered: \
             their outcome is unknown (the audit counts any that committed)"
        );
    }
    for (_, waiter) in unanswered {
        let _ = waiter.send(Reply::Answered(Err(unknown(&address))));
    }
}

/// Writes the hello, then whatever has queued in one write each time, until the seller leaves
/// (then a bye) or the connection fails (then the reader ends the link).
async fn write_queued(
    mut write: tokio::net::tcp::OwnedWriteHalf,
    hello: Vec<u8>,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    pending: Pending,
    state: Arc<State>,
) {
    if write.write_all(&hello).await.is_err() {
        state.kill.notify_one();
        return;
    }
    let mut seq: u64 = 0;
    let mut out = wire::Writer::default();
    let mut batch = Vec::with_capacity(64);
    loop {
        tokio::select! {
            n = rx.recv_many(&mut batch, wire::MOST_PER_WRITE) => {
                if n == 0 {
                    return;
                }
            }
            () = state.leaving.notified() => {
                out.buf.clear();
                out.bye();
                let _ = write.write_all(&out.buf).await;
                return;
            }
        }
        out.buf.clear();
        {
            let mut waiting = pending.lock().unwrap_or_else(|e| e.into_inner());
            for job in batch.drain(..) {
                seq += 1;
                out.purchase(seq, job.product_id, &job.item);
                waiting.insert(seq, job.reply);
            }
        }
        if write.write_all(&out.buf).await.is_err() {
            state.kill.notify_one();
            return;
        }
    }
}
