//! The two paths of an event stream (`crates/server/src/event_socket.rs`): opened by a
//! connection's first request, the stream is written on the socket by the server itself;
//! opened after another request on a kept-alive connection, hyper writes it. Read here over
//! raw TCP, byte for byte: the same status, headers and events, the same CORS, chunked
//! framing either way, and a stream forgotten when its client leaves.

use std::time::{Duration, Instant};

use flashsale_core::strategy::Strategy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::buyers::PRODUCT;
use crate::support::http::{TestServer, buy_at, config, raw};
use crate::support::{TestDb, unlimited};

/// Generous: "it arrives", never a timing.
const ARRIVES: Duration = Duration::from_secs(10);
const ORIGIN: &str = "https://shop.example";

/// One connection read by hand: the head of an answer, then its chunked body.
struct Wire {
    tcp: TcpStream,
    buf: Vec<u8>,
}

impl Wire {
    async fn connect(s: &TestServer) -> Wire {
        Wire {
            tcp: TcpStream::connect(s.addr).await.expect("connect"),
            buf: Vec::new(),
        }
    }

    async fn send(&mut self, text: &str) {
        self.tcp.write_all(text.as_bytes()).await.expect("send");
    }

    async fn fill(&mut self) {
        let mut more = [0u8; 4096];
        let n = tokio::time::timeout(ARRIVES, self.tcp.read(&mut more))
            .await
            .expect("bytes within the bound")
            .expect("read");
        assert!(
            n > 0,
            "the server closed the connection; had {:?}",
            self.text()
        );
        self.buf.extend_from_slice(&more[..n]);
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf).into_owned()
    }

    /// The status line and the headers (names lowercased), in order.
    async fn head(&mut self) -> (String, Vec<(String, String)>) {
        let end = loop {
            if let Some(at) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at;
            }
            self.fill().await;
        };
        let head: Vec<u8> = self.buf.drain(..end + 4).collect();
        let head = String::from_utf8(head).expect("ascii head");
        let mut lines = head.trim_end().split("\r\n");
        let status = lines.next().expect("status line").to_string();
        let headers = lines
            .map(|l| {
                let (k, v) = l.split_once(':').expect("a header line");
                (k.to_ascii_lowercase(), v.trim().to_string())
            })
            .collect();
        (status, headers)
    }

    /// The body of an answer with `headers`, sized by its `Content-Length`.
    async fn sized_body(&mut self, headers: &[(String, String)]) -> String {
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .expect("a sized answer");
        while self.buf.len() < len {
            self.fill().await;
        }
        let body: Vec<u8> = self.buf.drain(..len).collect();
        String::from_utf8_lossy(&body).into_owned()
    }

    /// The next chunk of a chunked body.
    async fn chunk(&mut self) -> String {
        loop {
            if let Some(at) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let size = std::str::from_utf8(&self.buf[..at]).expect("size line");
                let size = usize::from_str_radix(size, 16).expect("hex chunk size");
                assert!(size > 0, "the body ended");
                if self.buf.len() >= at + 2 + size + 2 {
                    let chunk: Vec<u8> = self.buf.drain(..at + 2 + size + 2).collect();
                    assert_eq!(&chunk[at + 2 + size..], b"\r\n", "chunk ends its line");
                    return String::from_utf8(chunk[at + 2..at + 2 + size].to_vec())
                        .expect("utf-8 events");
                }
            }
            self.fill().await;
        }
    }

    /// Chunks until one carries a data line with `stock`.
    async fn until_stock(&mut self, stock: i64) -> String {
        let wanted = format!("\"stock\":{stock}}}");
        loop {
            let chunk = self.chunk().await;
            if chunk.contains(&wanted) {
                return chunk;
            }
        }
    }
}

fn stream_request(extra: &str) -> String {
    format!(
        "GET /api/stock/events?ids={PRODUCT} HTTP/1.1\r\nHost: t\r\nOrigin: {ORIGIN}\r\n\
         Last-Event-ID: not-ours\r\n{extra}\r\n"
    )
}

/// The headers an answer's client can rely on: every name, and the values but the ones that
/// say when.
fn comparable(headers: &[(String, String)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| {
            let v = if k == "date" || k == "x-response-time" {
                String::new()
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect();
    out.sort();
    out
}

async fn stock_now(s: &TestServer) -> i64 {
    let r = raw()
        .get(format!("{}/api/stock/{PRODUCT}", s.url))
        .send()
        .await
        .expect("stock");
    let v: serde_json::Value =
        serde_json::from_slice(&r.bytes().await.expect("body")).expect("json");
    v["stock"].as_i64().expect("stock figure")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_reads_the_same_written_by_us_or_by_hyper_and_ends_with_its_client() {
    let (_db, store) = TestDb::seeded().await;
    let mut c = config();
    c.strategy = Strategy::Batched;
    c.http.read_staleness = Duration::from_millis(100);
    c.http.cors_origins = vec![ORIGIN.to_string()];
    let s = TestServer::start(unlimited(&store), c).await;
    let stock = stock_now(&s).await;

    // Ours: the stream is the connection's first request.
    let mut first = Wire::connect(&s).await;
    first.send(&stream_request("")).await;
    let (status, ours) = first.head().await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    let prelude = first.chunk().await;

    // Hyper's: the same request after a health check on a kept-alive connection.
    let mut after = Wire::connect(&s).await;
    after
        .send("GET /api/health HTTP/1.1\r\nHost: t\r\n\r\n")
        .await;
    let (status, health) = after.head().await;
    assert_eq!(status, "HTTP/1.1 200 OK", "{health:?}");
    after.sized_body(&health).await;
    after.send(&stream_request("")).await;
    let (status, hypers) = after.head().await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    let hyper_prelude = after.chunk().await;

    assert_eq!(comparable(&ours), comparable(&hypers), "same headers");
    for (name, value) in [
        ("content-type", "text/event-stream"),
        ("transfer-encoding", "chunked"),
        ("access-control-allow-origin", ORIGIN),
    ] {
        assert!(
            ours.iter().any(|(k, v)| k == name && v == value),
            "{name}: {value} in {ours:?}"
        );
    }
    assert!(ours.iter().any(|(k, _)| k == "date"), "{ours:?}");
    let opening = format!("\"stock\":{stock}}}");
    for p in [&prelude, &hyper_prelude] {
        assert!(p.starts_with("retry: 2000\n\n"), "{p:?}");
        assert!(p.contains(&opening), "the current figure: {p:?}");
    }
    assert_eq!(s.state.events().streams(), 2);
    assert_eq!(
        s.state.events().streams_on_sockets(),
        1,
        "the first-request stream is ours, the other hyper's"
    );

    // A purchase reaches both.
    assert_eq!(buy_at(&s.url, "wire", 1).await, stock - 1);
    let ours_event = first.until_stock(stock - 1).await;
    let hypers_event = after.until_stock(stock - 1).await;
    assert_eq!(ours_event, hypers_event, "one event, written once");
    assert!(ours_event.starts_with("id: "), "{ours_event:?}");

    // A client that keeps sending on its stream is cut off (nothing it sends is answered).
    let mut chatty = Wire::connect(&s).await;
    chatty.send(&stream_request("")).await;
    chatty.head().await;
    chatty.chunk().await;
    assert_eq!(s.state.events().streams_on_sockets(), 2);
    let noise = "x".repeat(1024);
    let mut cut_off = false;
    for _ in 0..64 {
        if chatty.tcp.write_all(noise.as_bytes()).await.is_err() {
            cut_off = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut rest = Vec::new();
    let read = tokio::time::timeout(ARRIVES, chatty.tcp.read_to_end(&mut rest)).await;
    assert!(
        cut_off || read.is_ok(),
        "a client sending 64 KiB on its stream was still connected after {ARRIVES:?}"
    );

    // A client that leaves is forgotten, on either path.
    drop(chatty);
    drop(first);
    drop(after);
    let deadline = Instant::now() + ARRIVES;
    while s.state.events().streams() > 0 {
        assert!(Instant::now() < deadline, "streams outlived their clients");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_request_that_is_not_a_plain_stream_is_answered_as_before() {
    let (_db, store) = TestDb::seeded().await;
    let s = TestServer::start(unlimited(&store), config()).await;
    for (request, status, says) in [
        // A product that does not exist: hyper answers the 404 from the same handler.
        (
            "GET /api/stock/987654/events HTTP/1.1\r\nHost: t\r\n\r\n",
            "HTTP/1.1 404 Not Found",
            "987654",
        ),
        // No Host: the front's JSON 400.
        (
            "GET /api/stock/1/events HTTP/1.1\r\n\r\n",
            "HTTP/1.1 400 Bad Request",
            "Host",
        ),
        (
            "GET /api/stock/events?ids=1,x HTTP/1.1\r\nHost: t\r\n\r\n",
            "HTTP/1.1 400 Bad Request",
            "positive integers",
        ),
    ] {
        let mut wire = Wire::connect(&s).await;
        wire.send(request).await;
        let (got, headers) = wire.head().await;
        assert_eq!(got, status, "{request:?}");
        assert!(
            headers
                .iter()
                .any(|(k, v)| k == "content-type" && v == "application/json"),
            "{request:?}: {headers:?}"
        );
        let body = wire.sized_body(&headers).await;
        assert!(body.contains(says), "{request:?}: {body}");
    }
    assert_eq!(s.state.events().streams(), 0, "no stream was opened");
    // A head sent in two pieces goes to hyper, which serves the stream.
    let mut wire = Wire::connect(&s).await;
    wire.send("GET /api/stock/1/events HTTP/1.1\r\n").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    wire.send("Host: t\r\n\r\n").await;
    let (got, headers) = wire.head().await;
    assert_eq!(got, "HTTP/1.1 200 OK");
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "content-type" && v == "text/event-stream"),
        "{headers:?}"
    );
    assert!(wire.chunk().await.starts_with("retry: "));
    assert_eq!(s.state.events().streams_on_sockets(), 0, "hyper's");
}
