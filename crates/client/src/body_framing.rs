//! HTTP/1.1 response bodies as they arrive: chunked (decoded across reads of any size) or read
//! until the server closes; shared by the event streams and the purchases read off their own
//! sockets (`lean_events`, `lean_http`).

use bytes::{Buf, Bytes, BytesMut};

use super::ClientError;

/// How the body is framed, and where its decoding stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Body {
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

/// Takes from `input` the body data it holds whole under framing `body`: the data, and the
/// framing's state after it.
pub(super) fn decode(mut body: Body, input: &mut BytesMut) -> Result<(Bytes, Body), ClientError> {
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

pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

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
