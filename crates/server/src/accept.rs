//! Our own accept loop over hyper's HTTP/1 connections, in place of `axum::serve`: it accepts
//! eagerly and hands each connection to a task of its own at once (so a fresh client is never
//! queued behind slow ones), gives it a slot under the connection limit or refuses it with a
//! JSON 503, and logs accept errors at most once a second. When descriptors run out (`EMFILE`)
//! it evicts an idle connection and backs off instead of spinning.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::connections::{Admission, Connections, SlotGuard};
use super::event_socket::{EventSockets, Taken};
use super::front::{Front, HYPER_BUF, HYPER_MAX_HEADERS};
use super::heard_io::HeardIo;

/// What a connection refused at the limit reads (it may not have sent its request yet; it
/// gets the answer and the close either way).
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
retry-after: 1\r\nconnection: close\r\ncontent-length: 78\r\n\r\n\
{\"success\":false,\"message\":\"Too many open connections; try again in a moment\"}";
/// Refusals written at once; past that a refused connection is closed without a word.
const REFUSING_AT_ONCE: usize = 64;
/// How many times the loop lets evicted connections close before refusing a new one.
const YIELDS_FOR_CLOSING: usize = 16;
/// How long a refused connection is given to have its request read and the answer written.
const REFUSAL_TIME: Duration = Duration::from_millis(100);
/// Accept errors and refusals are logged at most this often.
const LOG_EVERY: Duration = Duration::from_secs(1);

/// The accept loop's settings.
pub struct Acceptor {
    pub front: Front,
    /// Event streams opened by a connection's first request, served without hyper.
    pub event_sockets: EventSockets,
    pub connections: Arc<Connections>,
    pub header_timeout: Duration,
    /// How long a connection told to close gets to finish the request in flight.
    pub drain_limit: Duration,
}

/// At most one line per [`LOG_EVERY`], saying how many were folded into it.
struct Throttled {
    what: &'static str,
    last: Option<Instant>,
    folded: u64,
}

impl Throttled {
    fn new(what: &'static str) -> Self {
        Self {
            what,
            last: None,
            folded: 0,
        }
    }

    fn note(&mut self, detail: &dyn std::fmt::Display) {
        let now = Instant::now();
        if self.last.is_some_and(|t| now.duration_since(t) < LOG_EVERY) {
            self.folded += 1;
            return;
        }
        tracing::warn!(%detail, more_since_last_line = self.folded, "{}", self.what);
        self.last = Some(now);
        self.folded = 0;
    }
}

fn out_of_descriptors(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(code) if code == rustix::io::Errno::MFILE.raw_os_error()
            || code == rustix::io::Errno::NFILE.raw_os_error()
            || code == rustix::io::Errno::NOBUFS.raw_os_error()
            || code == rustix::io::Errno::NOMEM.raw_os_error()
    )
}

impl Acceptor {
    /// Accepts until `stop`, then returns; the connections' tasks are in `tasks`.
    pub async fn run(self, listener: TcpListener, stop: CancellationToken, tasks: &TaskTracker) {
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(self.header_timeout)
            .max_buf_size(HYPER_BUF)
            .max_headers(HYPER_MAX_HEADERS)
            .keep_alive(true);
        let shared = Arc::new(Shared {
            front: self.front.clone(),
            event_sockets: self.event_sockets,
            http,
            drain_limit: self.drain_limit,
        });
        let refusing = Arc::new(Semaphore::new(REFUSING_AT_ONCE));
        let mut accept_errors = Throttled::new("accept failed");
        let mut refusals = Throttled::new("connection refused: at the connection limit");
        let mut backoff = Duration::from_millis(5);
        loop {
            let accepted = tokio::select! {
                biased;
                () = stop.cancelled() => return,
                r = listener.accept() => r,
            };
            let (tcp, peer) = match accepted {
                Ok(pair) => pair,
                Err(e) if out_of_descriptors(&e) => {
                    accept_errors.note(&format_args!(
                        "{e} (limit {} connections)",
                        self.connections.max()
                    ));
                    self.connections.evict_oldest();
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(200));
                    continue;
                }
                Err(e) => {
                    // One connection's trouble (reset before we took it): go on.
                    accept_errors.note(&e);
                    continue;
                }
            };
            backoff = Duration::from_millis(5);
            // Small responses: do not let Nagle hold them back.
            let _ = tcp.set_nodelay(true);
            let mut admission = self.connections.admit();
            for _ in 0..YIELDS_FOR_CLOSING {
                if !matches!(admission, Admission::Closing) {
                    break;
                }
                // A burst of accepts evicted faster than the evicted connections' tasks ran:
                // let them close, then ask again.
                tokio::task::yield_now().await;
                admission = self.connections.admit();
            }
            match admission {
                Admission::Admitted { slot, .. } => {
                    tasks.spawn(serve(tcp, peer, slot, shared.clone()));
                }
                Admission::Refused | Admission::Closing => {
                    refusals.note(&format_args!("{} open", self.connections.open()));
                    if let Ok(permit) = refusing.clone().try_acquire_owned() {
                        tokio::spawn(async move {
                            refuse(tcp).await;
                            drop(permit);
                        });
                    }
                }
            }
        }
    }
}

/// What every connection task needs.
struct Shared {
    front: Front,
    event_sockets: EventSockets,
    http: http1::Builder,
    drain_limit: Duration,
}

async fn serve(tcp: TcpStream, peer: SocketAddr, guard: SlotGuard, shared: Arc<Shared>) {
    let slot = guard.slot().clone();
    let (tcp, header_left) = match shared.event_sockets.take(tcp, &slot).await {
        Taken::Done => return,
        Taken::Declined { tcp, header_left } => (tcp, header_left),
    };
    // The wait for the first bytes counts against the head's time, as it would in hyper.
    let mut http = shared.http.clone();
    http.header_read_timeout(header_left);
    let front = shared.front.clone();
    let drain_limit = shared.drain_limit;
    let for_requests = slot.clone();
    let service = hyper::service::service_fn(move |req| {
        let front = front.clone();
        let slot = for_requests.clone();
        async move { front.call(peer, slot, req).await }
    });
    let io = HeardIo::new(tcp, guard.slot().clone());
    let conn = http.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        }
        () = slot.closed() => {
            // Between requests (evicted, or idle at shutdown): closed at once; a graceful
            // shutdown would wait for a trickling head to finish. With a request in flight
            // (shutdown, or one that began as it was evicted): that request first.
            if slot.is_busy() {
                conn.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(drain_limit, conn).await;
            }
        }
    }
    drop(guard);
}

/// Reads what the client sent (so that closing does not reset the connection under our
/// answer), writes the 503 and closes, all within [`REFUSAL_TIME`].
async fn refuse(mut tcp: TcpStream) {
    let _ = tokio::time::timeout(REFUSAL_TIME, async {
        let mut buf = [0u8; 4096];
        if tokio::time::timeout(Duration::from_millis(20), tcp.readable())
            .await
            .is_ok()
        {
            let _ = tcp.try_read(&mut buf);
        }
        let _ = tcp.write_all(REFUSAL).await;
        let _ = tcp.shutdown().await;
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_is_one_whole_json_answer() {
        let text = std::str::from_utf8(REFUSAL).expect("ascii");
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|n| n.parse().ok())
            .expect("content-length");
        assert_eq!(body.len(), len);
        let v: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(v["success"], false);
    }
}
