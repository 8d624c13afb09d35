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
use super::body_framing::{Body, decode, find};

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
}
