//! Event streams written on their socket by us, not through hyper.
//!
//! Why: a stream lasts as long as its watcher's page, and under hyper each one keeps the
//! connection's read and write buffers (8 KiB each at least, hyper's floor) and hyper's
//! dispatch between the stream and the socket for every frame. Ten thousand watchers spent
//! most of the server's memory and much of its CPU per change there. Here a stream is the
//! socket, the subscription ([`Events`]) and one task: each frame, encoded once by the hub
//! as a chunk, is one `write` on the socket.
//!
//! Only the plain case is taken, on a connection's first request: its whole head in the first
//! bytes the client sent, `GET` of an event stream route over HTTP/1.1 with a `Host`, no body,
//! products that exist, a server not draining. Anything else (another request first, a head
//! in pieces, an error to answer, an odd header) is left unread for hyper, which answers it as
//! it always has; so the answers and errors of the two paths are the same code.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use flashsale_api::STOCK;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_stream::StreamExt;

use super::body;
use super::connections::Slot;
use super::cors::Cors;
use super::event_stream::{Events, Framing, parse_ids, stream_headers};
use super::front;
use super::heard_io::EVENT_STREAM_SNDBUF;
use super::state::AppState;

/// The most of a connection's first bytes looked at; a longer head goes to hyper.
pub const PEEK: usize = 2048;
/// Most header lines of a head taken here; more go to hyper.
const HEADERS: usize = 32;
/// Bytes a client may send on its stream after the head before it is cut off.
pub const TOLERATED: usize = 4096;

/// What a connection's first bytes asked for, when it is an event stream taken here.
#[derive(Debug, PartialEq, Eq)]
pub struct Sniffed {
    /// Bytes of the head, to be read off the socket once the stream opens.
    head_len: usize,
    ids: Vec<i32>,
    last_event_id: Option<String>,
    origin: Option<HeaderValue>,
}

/// The request in `buf` if it is an event stream in the plain case (see the module).
pub fn sniff(buf: &[u8]) -> Option<Sniffed> {
    if !buf.starts_with(b"GET /api/") {
        return None;
    }
    let mut headers = [httparse::EMPTY_HEADER; HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        _ => return None,
    };
    if req.method != Some("GET") || req.version != Some(1) {
        return None;
    }
    let ids = route_ids(req.path?)?;
    let mut host = false;
    let mut last_event_id = None;
    let mut origin = None;
    for h in req.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("host") {
            host = true;
        } else if name.eq_ignore_ascii_case("content-length") {
            if h.value != b"0" {
                return None;
            }
        } else if ["transfer-encoding", "expect", "upgrade"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n))
        {
            return None;
        } else if name.eq_ignore_ascii_case("last-event-id") {
            // The first one, as `HeaderMap::get` takes it on hyper's path.
            if last_event_id.is_none() {
                let v = HeaderValue::from_bytes(h.value).ok()?;
                last_event_id = Some(v.to_str().ok()?.to_string());
            }
        } else if name.eq_ignore_ascii_case("origin") && origin.is_none() {
            origin = Some(HeaderValue::from_bytes(h.value).ok()?);
        }
    }
    host.then_some(Sniffed {
        head_len,
        ids,
        last_event_id,
        origin,
    })
}

/// The products of an event stream's target, if it is one and a valid one.
fn route_ids(target: &str) -> Option<Vec<i32>> {
    let (path, query) = target
        .split_once('?')
        .map_or((target, None), |(p, q)| (p, Some(q)));
    let rest = path.strip_prefix(STOCK)?.strip_prefix('/')?;
    if rest == "events" {
        return parse_ids(query.unwrap_or("")).ok();
    }
    let id = rest.strip_suffix("/events")?;
    // Digits only: anything percent-encoded is decoded by axum's path, on hyper's side.
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(vec![body::path_id(id).ok()?])
}

/// What [`EventSockets::take`] did with a connection.
pub enum Taken {
    /// Served an event stream to its end, or closed (nothing sent in the header time, the
    /// peer gone, the server closing the connection).
    Done,
    /// Not ours: hyper serves it, with the header time left.
    Declined {
        tcp: TcpStream,
        header_left: Duration,
    },
}

/// The event streams taken off hyper; see the module.
pub struct EventSockets {
    pub state: AppState,
    pub cors: Arc<Cors>,
    pub header_timeout: Duration,
    pub request_timeout: Duration,
}

impl EventSockets {
    /// Waits for the connection's first bytes and serves them if they open an event stream.
    pub async fn take(&self, mut tcp: TcpStream, slot: &Arc<Slot>) -> Taken {
        let began = Instant::now();
        let deadline = tokio::time::sleep(self.header_timeout);
        tokio::pin!(deadline);
        let readable = tokio::select! {
            biased;
            () = slot.closed() => return Taken::Done,
            () = &mut deadline => return Taken::Done,
            r = tcp.readable() => r,
        };
        if readable.is_err() {
            return Taken::Done;
        }
        // Only now: a silent socket holds no buffer (nor, until it speaks, hyper's).
        let mut buf = vec![0u8; PEEK];
        let peeked = tokio::select! {
            biased;
            () = slot.closed() => return Taken::Done,
            () = &mut deadline => return Taken::Done,
            r = tcp.peek(&mut buf) => r,
        };
        let n = match peeked {
            Ok(0) | Err(_) => return Taken::Done,
            Ok(n) => n,
        };
        slot.heard();
        let header_left = self.header_timeout.saturating_sub(began.elapsed());
        let sniffed = match sniff(&buf[..n]) {
            Some(s) if !self.state.is_draining() => s,
            _ => return Taken::Declined { tcp, header_left },
        };
        let start = Instant::now();
        let opened = {
            let _busy = slot.busy();
            let open = Events::open(
                &self.state,
                Some(slot.clone()),
                sniffed.last_event_id.as_deref(),
                &sniffed.ids,
                Framing::Chunked,
            );
            tokio::time::timeout(self.request_timeout, open).await
        };
        // An error to answer, or no answer in time: hyper reads the request afresh and
        // answers it as on any other connection.
        let Ok(Ok(events)) = opened else {
            return Taken::Declined { tcp, header_left };
        };
        if tcp.read_exact(&mut buf[..sniffed.head_len]).await.is_err() {
            return Taken::Done;
        }
        drop(buf);
        let head = self.head(sniffed.origin.as_ref(), start);
        pump(tcp, events, head, slot).await;
        Taken::Done
    }

    /// The answer's head: the headers hyper's path sends, the same code setting them.
    fn head(&self, origin: Option<&HeaderValue>, start: Instant) -> Vec<u8> {
        let mut res = Response::new(Body::empty());
        stream_headers(res.headers_mut());
        self.cors.decorate(origin, &mut res);
        let mut res = front::timed(res, start);
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        if let Ok(v) = HeaderValue::from_str(&date) {
            res.headers_mut().insert(header::DATE, v);
        }
        res.headers_mut().insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
        for (name, value) in res.headers() {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }
}

/// Writes the head, then every frame, until the client leaves (or keeps sending: see
/// [`hung_up`]), stops reading (the hub's sweep closes the slot of a stream that has not
/// taken a frame for its stall limit) or the connection is closed.
async fn pump(tcp: TcpStream, mut events: Events, head: Vec<u8>, slot: &Slot) {
    // See `EVENT_STREAM_SNDBUF`: a reader that stops is found out after kilobytes.
    if let Err(e) = rustix::net::sockopt::set_socket_send_buffer_size(&tcp, EVENT_STREAM_SNDBUF) {
        tracing::debug!(error = %e, "could not bound an event stream's send buffer");
    }
    if !send(&tcp, &head, slot).await {
        return;
    }
    // Made once: a wait made afresh for every frame would register itself again each time.
    let closed = slot.closed();
    let hang_up = hung_up(&tcp);
    tokio::pin!(closed, hang_up);
    loop {
        let frame = tokio::select! {
            biased;
            () = &mut closed => return,
            () = &mut hang_up => return,
            next = events.next() => match next {
                Some(Ok(frame)) => frame,
                Some(Err(never)) => match never {},
                None => return,
            },
        };
        if !send(&tcp, &frame, slot).await {
            return;
        }
    }
}

/// Writes all of `bytes`; false if the connection failed or was closed meanwhile.
async fn send(tcp: &TcpStream, mut bytes: &[u8], slot: &Slot) -> bool {
    while !bytes.is_empty() {
        match tcp.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let writable = tokio::select! {
                    biased;
                    () = slot.closed() => return false,
                    r = tcp.writable() => r,
                };
                if writable.is_err() {
                    return false;
                }
            }
            Err(_) => return false,
        }
    }
    true
}

/// Completes when the client has closed its side (or the socket failed), or has sent more
/// than [`TOLERATED`]: a client has nothing to send on a stream (a request pipelined behind
/// an endless answer would never be answered), so a few stray bytes are read and dropped and
/// a client that keeps sending is cut off rather than read forever.
async fn hung_up(tcp: &TcpStream) {
    let mut sink = [0u8; 64];
    let mut heard = 0;
    loop {
        if tcp.readable().await.is_err() {
            return;
        }
        match tcp.try_read(&mut sink) {
            Ok(0) => return,
            Ok(n) => {
                heard += n;
                if heard > TOLERATED {
                    return;
                }
            }
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => return,
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(lines: &[&str]) -> Vec<u8> {
        let mut s = lines.join("\r\n");
        s.push_str("\r\n\r\n");
        s.into_bytes()
    }

    #[test]
    fn the_plain_event_stream_requests_are_taken() {
        let one = head(&["GET /api/stock/7/events HTTP/1.1", "Host: x"]);
        let got = sniff(&one).expect("one product");
        assert_eq!(got.ids, [7]);
        assert_eq!(got.head_len, one.len());
        let many = head(&[
            "GET /api/stock/events?ids=3,1 HTTP/1.1",
            "host: x",
            "Last-Event-ID: abc-4",
            "last-event-id: ignored",
            "Origin: https://shop.example",
        ]);
        let mut with_more = many.clone();
        with_more.extend_from_slice(b"GET /next");
        let got = sniff(&with_more).expect("many products");
        assert_eq!(got.ids, [3, 1]);
        assert_eq!(got.head_len, many.len(), "only the head is ours");
        assert_eq!(got.last_event_id.as_deref(), Some("abc-4"));
        assert_eq!(
            got.origin,
            Some(HeaderValue::from_static("https://shop.example"))
        );
    }

    #[test]
    fn everything_else_is_left_to_hyper() {
        for lines in [
            &["GET /api/stock/7 HTTP/1.1", "Host: x"][..],
            &["GET /api/stock/7/events HTTP/1.0", "Host: x"],
            &["GET /api/stock/7/events HTTP/1.1"],
            &["HEAD /api/stock/7/events HTTP/1.1", "Host: x"],
            &["POST /api/stock/7/events HTTP/1.1", "Host: x"],
            &["GET /api/stock/0/events HTTP/1.1", "Host: x"],
            &["GET /api/stock/%37/events HTTP/1.1", "Host: x"],
            &["GET /api/stock/7/events/ HTTP/1.1", "Host: x"],
            &["GET /api/stock/events HTTP/1.1", "Host: x"],
            &["GET /api/stock/events?ids=1,x HTTP/1.1", "Host: x"],
            &[
                "GET /api/stock/7/events HTTP/1.1",
                "Host: x",
                "Content-Length: 3",
            ],
            &[
                "GET /api/stock/7/events HTTP/1.1",
                "Host: x",
                "Transfer-Encoding: chunked",
            ],
            &[
                "GET /api/stock/7/events HTTP/1.1",
                "Host: x",
                "Last-Event-ID: caf\u{e9}",
            ],
        ] {
            assert_eq!(sniff(&head(lines)), None, "{lines:?}");
        }
        let unfinished = b"GET /api/stock/7/events HTTP/1.1\r\nHost: x\r\n";
        assert_eq!(sniff(unfinished), None, "a head in pieces");
        let mut crowded = vec!["GET /api/stock/7/events HTTP/1.1".to_string()];
        crowded.extend((0..HEADERS).map(|i| format!("X-{i}: y")));
        crowded.push("Host: x".into());
        let crowded: Vec<&str> = crowded.iter().map(String::as_str).collect();
        assert_eq!(sniff(&head(&crowded)), None, "more headers than we look at");
    }
}
