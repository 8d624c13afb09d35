//! A connection's stream that tells its slot when the peer has sent something, so that a
//! silent socket can be told from one whose request is on its way; and that bounds the kernel
//! send buffer of a connection once it carries an event stream ([`EVENT_STREAM_SNDBUF`]).

use std::io;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::connections::Slot;

/// The send buffer asked for an event stream's socket (Linux doubles it). Autotuning would
/// let a client that stopped reading sit on megabytes of kernel memory, and events would
/// queue there for minutes before hyper stopped asking the stream for frames.
pub const EVENT_STREAM_SNDBUF: usize = 16 * 1024;

pub struct HeardIo<T> {
    inner: T,
    slot: Arc<Slot>,
    bounded: bool,
}

impl<T> HeardIo<T> {
    pub fn new(inner: T, slot: Arc<Slot>) -> Self {
        Self {
            inner,
            slot,
            bounded: false,
        }
    }
}

impl<T: AsFd> HeardIo<T> {
    /// Before the first write of an event stream's answer.
    fn bound_if_streaming(&mut self) {
        if !self.bounded && self.slot.is_event_stream() {
            self.bounded = true;
            if let Err(e) =
                rustix::net::sockopt::set_socket_send_buffer_size(&self.inner, EVENT_STREAM_SNDBUF)
            {
                tracing::debug!(error = %e, "could not bound an event stream's send buffer");
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for HeardIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.slot.heard();
        }
        polled
    }
}

impl<T: AsyncWrite + AsFd + Unpin> AsyncWrite for HeardIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.bound_if_streaming();
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.bound_if_streaming();
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
