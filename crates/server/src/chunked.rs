//! HTTP/1.1's chunked transfer coding, for the bodies we write on a socket ourselves.

use bytes::{Bytes, BytesMut};

/// One chunk: the size in hex, the bytes, and the line ends. Never called with nothing: an
/// empty chunk would end the body.
pub fn chunk(frame: &[u8]) -> Bytes {
    debug_assert!(!frame.is_empty(), "an empty chunk ends the body");
    let mut out = BytesMut::with_capacity(frame.len() + 12);
    out.extend_from_slice(format!("{:x}\r\n", frame.len()).as_bytes());
    out.extend_from_slice(frame);
    out.extend_from_slice(b"\r\n");
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_is_its_size_in_hex_then_the_bytes() {
        assert_eq!(&chunk(b"data: 1\n\n")[..], b"9\r\ndata: 1\n\n\r\n");
        let long = vec![b'x'; 300];
        let c = chunk(&long);
        assert!(c.starts_with(b"12c\r\n"), "{:?}", &c[..6]);
        assert!(c.ends_with(b"x\r\n"));
        assert_eq!(c.len(), 5 + 300 + 2);
    }
}
