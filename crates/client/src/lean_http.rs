//! Requests on kept-alive HTTP/1.1 connections of our own, for the purchases of a storm
//! (`burst --target`, `bench http`): the caller's task writes the request and reads the answer
//! on the socket itself, where reqwest hands each request to the connection's task and back
//! and spent about 40 µs of CPU a purchase on the benchmark's machine, which shares its two
//! cores with the server it measures: here the load tool's CPU is half that (BENCHMARKS.md).
//!
//! Plain TCP only (the client's base URLs are `http://`). Bodies sized by `Content-Length`,
//! chunked, or read until the server closes. A connection goes back to the pool only when its
//! answer was read whole and neither side asked to close; one idle longer than
//! [`IDLE_REUSE`] is dropped rather than reused, under the time a server keeps an idle
//! connection (5 s for `serve` and Node), since a purchase sent on a connection the server is
//! closing fails and is never retried: a purchase is not idempotent.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::body_framing::{Body, decode, find};
use flashsale_core::failure::ConnectFailure;

/// The most a response's head may take.
const MAX_HEAD: usize = 16 * 1024;
/// The most of a body kept.
const MAX_BODY: usize = 1024 * 1024;
/// Header lines parsed; an answer with more is refused.
const MAX_HEADERS: usize = 64;
/// An idle connection older than this is closed rather than reused.
pub const IDLE_REUSE: Duration = Duration::from_secs(2);

/// A whole answer.
#[derive(Debug)]
pub(super) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// The idle connections to one server.
#[derive(Debug)]
pub(super) struct LeanPool {
    host: String,
    /// `host:port`: what is connected to and sent as `Host`.
    authority: String,
    max_idle: usize,
    idle: Mutex<Vec<(Conn, Instant)>>,
}

#[derive(Debug)]
struct Conn {
    socket: TcpStream,
    input: BytesMut,
}

impl LeanPool {
    pub fn new(host: &str, port: u16, max_idle: usize) -> Self {
        Self {
            host: host.to_string(),
            authority: format!("{host}:{port}"),
            max_idle: max_idle.max(1),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// The value of the `Host` header.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// Sends `request` (a whole head and body) and reads its answer; the error says what
    /// failed, in the words of the other transport failures.
    pub async fn exchange(&self, request: &[u8]) -> Result<Answer, String> {
        let mut conn = match self.take() {
            Some(conn) => conn,
            None => self.connect().await?,
        };
        let (answer, reusable) = conn.exchange(request).await?;
        if reusable {
            self.put(conn);
        }
        Ok(answer)
    }

    fn take(&self) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        // Most recently used first: the ones the server is least likely to be closing.
        while let Some((conn, since)) = idle.pop() {
            if now.duration_since(since) < IDLE_REUSE {
                return Some(conn);
            }
        }
        None
    }

    fn put(&self, conn: Conn) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.max_idle {
            idle.push((conn, Instant::now()));
        }
    }

    async fn connect(&self) -> Result<Conn, String> {
        let socket = TcpStream::connect(&self.authority).await.map_err(|e| {
            ConnectFailure::from_io(&e, &self.host, &self.authority).map_or_else(
                || format!("cannot connect to {}: {e}", self.authority),
                |class| class.to_string(),
            )
        })?;
        socket
            .set_nodelay(true)
            .map_err(|e| format!("socket: {e}"))?;
        Ok(Conn {
            socket,
            input: BytesMut::with_capacity(4096),
        })
    }
}

impl Conn {
    /// The answer to `request`, and whether the connection can carry another.
    async fn exchange(&mut self, request: &[u8]) -> Result<(Answer, bool), String> {
        self.socket
            .write_all(request)
            .await
            .map_err(|e| format!("sending the request: {e}"))?;
        loop {
            let (head_len, head) = self.head().await?;
            self.input.advance(head_len);
            // An interim answer (100 Continue, 103 Early Hints): the real one follows.
            if head.status.is_informational() {
                continue;
            }
            let framing = framing(&head)?;
            let (body, whole) = self.body(framing).await?;
            let reusable = whole && head.keep_alive && self.input.is_empty();
            let answer = Answer {
                status: head.status,
                headers: head.headers,
                body,
            };
            return Ok((answer, reusable));
        }
    }

    /// Reads until a whole head is in; its length and what it says.
    async fn head(&mut self) -> Result<(usize, Head), String> {
        loop {
            if let Some(parsed) = parse_head(&self.input)? {
                return Ok(parsed);
            }
            if self.input.len() > MAX_HEAD {
                return Err(format!("a response head longer than {MAX_HEAD} bytes"));
            }
            if self.read().await? == 0 {
                return Err("the server closed the connection before answering".into());
            }
        }
    }

    async fn read(&mut self) -> Result<usize, String> {
        self.input.reserve(4096);
        self.socket
            .read_buf(&mut self.input)
            .await
            .map_err(|e| format!("reading the answer: {e}"))
    }

    /// The body, and whether it ended where its framing says (so the next answer starts
    /// right after it).
    async fn body(&mut self, framing: Framing) -> Result<(Bytes, bool), String> {
        match framing {
            Framing::Empty => Ok((Bytes::new(), true)),
            Framing::Sized(len) => {
                while self.input.len() < len {
                    if self.read().await? == 0 {
                        return Err(
                            "the server closed the connection in the middle of a body".into()
                        );
                    }
                }
                Ok((self.input.split_to(len).freeze(), true))
            }
            Framing::Chunked => {
                let mut out = BytesMut::new();
                let mut state = Body::ChunkSize;
                loop {
                    let (data, next) = decode(state, &mut self.input).map_err(|e| e.to_string())?;
                    out.extend_from_slice(&data);
                    state = next;
                    if out.len() > MAX_BODY {
                        return Err(format!("a response body longer than {MAX_BODY} bytes"));
                    }
                    if state == Body::Done && self.trailers_read() {
                        return Ok((out.freeze(), true));
                    }
                    if self.read().await? == 0 {
                        return Err(
                            "the server closed the connection in the middle of a body".into()
                        );
                    }
                }
            }
            Framing::UntilClose => {
                while self.read().await? > 0 {
                    if self.input.len() > MAX_BODY {
                        return Err(format!("a response body longer than {MAX_BODY} bytes"));
                    }
                }
                Ok((self.input.split().freeze(), false))
            }
        }
    }

    /// After the last chunk: takes the trailer section if it is all in (its empty line).
    fn trailers_read(&mut self) -> bool {
        if self.input.starts_with(b"\r\n") {
            self.input.advance(2);
            return true;
        }
        match find(&self.input, b"\r\n\r\n") {
            Some(end) => {
                self.input.advance(end + 4);
                true
            }
            None => false,
        }
    }
}

/// What a response's head says.
#[derive(Debug)]
struct Head {
    status: StatusCode,
    headers: HeaderMap,
    keep_alive: bool,
    chunked: bool,
    length: Option<usize>,
}

/// How a body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Empty,
    Sized(usize),
    Chunked,
    UntilClose,
}

fn framing(head: &Head) -> Result<Framing, String> {
    let s = head.status;
    Ok(
        if s == StatusCode::NO_CONTENT || s == StatusCode::NOT_MODIFIED {
            Framing::Empty
        } else if head.chunked {
            Framing::Chunked
        } else if let Some(len) = head.length {
            if len > MAX_BODY {
                return Err(format!("a response body of {len} bytes, over {MAX_BODY}"));
            }
            Framing::Sized(len)
        } else {
            Framing::UntilClose
        },
    )
}

/// The head at the start of `input`, if it is all there.
fn parse_head(input: &[u8]) -> Result<Option<(usize, Head)>, String> {
    let mut lines = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut res = httparse::Response::new(&mut lines);
    let len = match res.parse(input) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("a malformed response head: {e}")),
    };
    let status = res
        .code
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or("a response without a valid status")?;
    let mut headers = HeaderMap::with_capacity(res.headers.len());
    let mut keep_alive = res.version == Some(1);
    let (mut chunked, mut length) = (false, None);
    for h in res.headers.iter() {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(h.name.as_bytes()),
            HeaderValue::from_bytes(h.value),
        ) else {
            continue;
        };
        let text = value.to_str().unwrap_or("").to_ascii_lowercase();
        if name == reqwest::header::CONNECTION {
            if text.split(',').any(|t| t.trim() == "close") {
                keep_alive = false;
            } else if text.split(',').any(|t| t.trim() == "keep-alive") {
                keep_alive = true;
            }
        } else if name == reqwest::header::TRANSFER_ENCODING {
            chunked = text.split(',').any(|t| t.trim() == "chunked");
        } else if name == reqwest::header::CONTENT_LENGTH {
            let n = text
                .trim()
                .parse::<usize>()
                .map_err(|_| format!("a bad Content-Length '{text}'"))?;
            if length.is_some_and(|l| l != n) {
                return Err("two different Content-Length headers".into());
            }
            length = Some(n);
        }
        headers.append(name, value);
    }
    Ok(Some((
        len,
        Head {
            status,
            headers,
            keep_alive,
            chunked,
            length,
        },
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A server on a real socket answering each request it reads with the next of `answers`.
    async fn serving(answers: Vec<&'static [u8]>) -> (LeanPool, tokio::task::JoinHandle<usize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = tokio::spawn(async move {
            let mut accepted = 0;
            let mut left = answers.len();
            let mut answers = answers.into_iter();
            'conns: while let Ok((mut tcp, _)) = listener.accept().await {
                accepted += 1;
                let mut buf = Vec::new();
                loop {
                    let mut more = [0u8; 1024];
                    let Ok(n) = tcp.read(&mut more).await else {
                        continue 'conns;
                    };
                    if n == 0 {
                        continue 'conns;
                    }
                    buf.extend_from_slice(&more[..n]);
                    // One request = one head ending in a blank line (no bodies here).
                    while let Some(end) = find(&buf, b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        let Some(answer) = answers.next() else {
                            break 'conns;
                        };
                        let _ = tcp.write_all(answer).await;
                        left -= 1;
                        // After the last answer the server closes and stops.
                        if left == 0 {
                            break 'conns;
                        }
                        if answer.windows(17).any(|w| w == b"connection: close") {
                            continue 'conns;
                        }
                    }
                }
            }
            accepted
        });
        (LeanPool::new("127.0.0.1", port, 4), server)
    }

    const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";

    #[tokio::test]
    async fn sized_chunked_and_interim_answers_are_read_whole_on_one_connection() {
        let (pool, server) = serving(vec![
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nx-trailer: 1\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
            b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 1\r\ncontent-length: 2\r\n\r\n{}",
        ])
        .await;
        let a = pool.exchange(GET).await.expect("first");
        assert_eq!((a.status.as_u16(), &a.body[..]), (200, &b"hello"[..]));
        let b = pool.exchange(GET).await.expect("second");
        assert_eq!((b.status.as_u16(), &b.body[..]), (201, &b"abcde"[..]));
        let c = pool.exchange(GET).await.expect("third");
        assert_eq!((c.status.as_u16(), c.body.len()), (204, 0));
        let d = pool.exchange(GET).await.expect("fourth");
        assert_eq!(d.status.as_u16(), 429);
        assert_eq!(d.headers["retry-after"], "1");
        drop(pool);
        assert_eq!(
            server.await.expect("server"),
            1,
            "all four on one connection"
        );
    }

    #[tokio::test]
    async fn a_connection_asked_to_close_or_read_to_its_end_is_not_reused() {
        let (pool, server) = serving(vec![
            b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 1\r\n\r\na",
            b"HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\nb",
            b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nc",
        ])
        .await;
        for want in [b"a", b"b", b"c"] {
            let got = pool.exchange(GET).await.expect("answer");
            assert_eq!(&got.body[..], want);
        }
        drop(pool);
        assert_eq!(
            server.await.expect("server"),
            3,
            "closed, then HTTP/1.0 (closes by default), then a fresh one"
        );
    }

    #[tokio::test]
    async fn broken_answers_are_errors_that_say_what() {
        let (pool, _server) =
            serving(vec![b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nshort"]).await;
        let e = pool.exchange(GET).await.expect_err("cut short");
        assert!(e.contains("middle of a body"), "{e}");
        let (pool, _server) = serving(vec![b"NOT HTTP AT ALL\r\n\r\n"]).await;
        let e = pool.exchange(GET).await.expect_err("garbage");
        assert!(e.contains("malformed"), "{e}");
        let (pool, _server) = serving(vec![]).await;
        let e = pool.exchange(GET).await.expect_err("no answer");
        assert!(e.contains("closed the connection before answering"), "{e}");
        let refused = LeanPool::new("127.0.0.1", 1, 1);
        let e = refused.exchange(GET).await.expect_err("refused");
        assert!(e.contains("refused"), "{e}");
    }
}
