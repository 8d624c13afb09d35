//! A stock event stream read straight off its TCP socket, for a load tool that holds thousands
//! of them (`burst --watchers`): one task and one read per event, where the general client's
//! stream costs two tasks and a channel hand-off per event. On the benchmark's machine the
//! watchers share the cores with the server they measure, so what they spend is taken from
//! the server's fan-out. HTTP/1.1 over plain TCP only (the client's base URLs are `http://`);
//! the body chunked or read until the server closes.

use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::ClientError;

/// The most a response's head may take.
const MAX_HEAD: usize = 16 * 1024;
/// What one read asks for.
const READ_SIZE: usize = 8 * 1024;

/// An open stream's socket and what has arrived of its body.
#[derive(Debug)]
pub(super) struct LeanStream {
    socket: TcpStream,
    input: BytesMut,
    body: Body,
}

/// How the body is framed, and where its decoding stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    /// Until the server closes.
    Close,
    /// Chunked: waiting for a size line.
    ChunkSize,
    /// Chunked: this many bytes of data still to come.
    ChunkData(usize),
    /// Chunked: the CRLF after a chunk's data.
    ChunkEnd,
    /// The last chunk came.
    Done,
}

fn failed(what: &str, e: impl std::fmt::Display) -> ClientError {
    ClientError::Transport(format!("{what}: {e}"))
}

/// Opens `GET {path}` on `authority` (`host:port`), within `timeout`. `Ok(None)` when the
/// answer is not a 200 `text/event-stream` (the server offers no stream).
pub(super) async fn open(
    authority: &str,
    path: &str,
    timeout: Duration,
) -> Result<Option<LeanStream>, ClientError> {
    tokio::time::timeout(timeout, open_now(authority, path))
        .await
        .map_err(|_| ClientError::Transport("timed out".into()))?
}

async fn open_now(authority: &str, path: &str) -> Result<Option<LeanStream>, ClientError> {
    let mut socket = TcpStream::connect(authority)
        .await
        .map_err(|e| failed(&format!("cannot connect to {authority}"), e))?;
    socket.set_nodelay(true).map_err(|e| failed("socket", e))?;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: text/event-stream\r\n\r\n");
    socket
        .write_all(request.as_bytes())
        .await
        .map_err(|e| failed("sending the request", e))?;
    let mut input = BytesMut::with_capacity(READ_SIZE);
    let head_end = loop {
        if let Some(end) = find(&input, b"\r\n\r\n") {
            break end;
        }
        if input.len() > MAX_HEAD {
            return Err(ClientError::Body(format!(
                "a response head longer than {MAX_HEAD} bytes"
            )));
        }
        let n = socket
            .read_buf(&mut input)
            .await
            .map_err(|e| failed("reading the answer", e))?;
        if n == 0 {
            return Err(ClientError::Transport(
                "the server closed the connection before answering".into(),
            ));
        }
    };
    let head = String::from_utf8_lossy(&input[..head_end]).into_owned();
    input.advance(head_end + 4);
    let Some(body) = streaming_body(&head) else {
        return Ok(None);
    };
    Ok(Some(LeanStream {
        socket,
        input,
        body,
    }))
}

/// The body's framing, when `head` is a 200 `text/event-stream`.
fn streaming_body(head: &str) -> Option<Body> {
    let mut lines = head.split("\r\n");
    let status = lines.next()?;
    if status.split_whitespace().nth(1) != Some("200") {
        return None;
    }
    let mut streaming = false;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim().to_ascii_lowercase();
        if name.eq_ignore_ascii_case("content-type") {
            streaming = value.starts_with("text/event-stream");
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.split(',').any(|v| v.trim() == "chunked");
        }
    }
    streaming.then_some(if chunked {
        Body::ChunkSize
    } else {
        Body::Close
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl LeanStream {
    /// The body's next bytes (at least one), or `None` once it has ended.
    pub(super) async fn next_data(&mut self) -> Result<Option<Bytes>, ClientError> {
        loop {
            let (data, body) = decode(self.body, &mut self.input)?;
            self.body = body;
            if !data.is_empty() {
                return Ok(Some(data));
            }
            if body == Body::Done {
                return Ok(None);
            }
            let n = self
                .socket
                .read_buf(&mut self.input)
                .await
                .map_err(|e| failed("reading the stream", e))?;
            if n == 0 {
                return match body {
                    Body::Close => Ok(None),
                    _ => Err(ClientError::Transport(
                        "the server closed the stream in the middle of a chunk".into(),
                    )),
                };
            }
        }
    }
}

/// Takes from `input` the body data it holds whole under framing `body`: the data, and the
/// framing's state after it.
fn decode(mut body: Body, input: &mut BytesMut) -> Result<(Bytes, Body), ClientError> {
    let mut out = BytesMut::new();
    loop {
        match body {
            Body::Done => break,
            Body::Close => {
                out.extend_from_slice(&input.split());
                break;
            }
            Body::ChunkSize => {
                let Some(end) = find(input, b"\r\n") else {
                    if input.len() > 1024 {
                        return Err(ClientError::Body("a chunk size line too long".into()));
                    }
                    break;
                };
                let line = std::str::from_utf8(&input[..end]).unwrap_or("");
                let hex = line.split(';').next().unwrap_or("").trim();
                let size = usize::from_str_radix(hex, 16)
                    .map_err(|_| ClientError::Body(format!("a bad chunk size '{hex}'")))?;
                input.advance(end + 2);
                body = if size == 0 {
                    Body::Done
                } else {
                    Body::ChunkData(size)
                };
            }
            Body::ChunkData(left) => {
                if input.is_empty() {
                    break;
                }
                let take = left.min(input.len());
                out.extend_from_slice(&input.split_to(take));
                body = if take == left {
                    Body::ChunkEnd
                } else {
                    Body::ChunkData(left - take)
                };
            }
            Body::ChunkEnd => {
                if input.len() < 2 {
                    break;
                }
                if &input[..2] != b"\r\n" {
                    return Err(ClientError::Body("a chunk not ended by CRLF".into()));
                }
                input.advance(2);
                body = Body::ChunkSize;
            }
        }
    }
    Ok((out.freeze(), body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_200_event_stream_is_a_stream() {
        let ok = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked";
        assert_eq!(streaming_body(ok), Some(Body::ChunkSize));
        let close = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8";
        assert_eq!(streaming_body(close), Some(Body::Close));
        assert_eq!(
            streaming_body("HTTP/1.1 404 Not Found\r\ncontent-type: text/event-stream"),
            None
        );
        assert_eq!(
            streaming_body("HTTP/1.1 200 OK\r\ncontent-type: application/json"),
            None
        );
    }

    #[test]
    fn chunks_decode_across_reads_of_any_size() {
        let wire = b"5\r\nhello\r\nb;ext=1\r\n, the world\r\n0\r\n\r\n";
        for step in 1..wire.len() {
            let (mut body, mut input, mut got) = (Body::ChunkSize, BytesMut::new(), Vec::new());
            for piece in wire.chunks(step) {
                input.extend_from_slice(piece);
                let (data, next) = decode(body, &mut input).expect("decodes");
                got.extend_from_slice(&data);
                body = next;
            }
            assert_eq!(got, b"hello, the world", "reads of {step}");
            assert_eq!(body, Body::Done);
        }
    }

    #[test]
    fn bad_framing_is_an_error() {
        let mut input = BytesMut::from(&b"zz\r\n"[..]);
        assert!(decode(Body::ChunkSize, &mut input).is_err());
        let mut input = BytesMut::from(&b"2\r\nabXY"[..]);
        assert!(decode(Body::ChunkSize, &mut input).is_err());
    }
}
