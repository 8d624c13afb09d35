//! `GET /api/stock/{id}/events` and `GET /api/stock/events?ids=1,2,3`: Server-Sent Events of
//! stock changes, fed by `stock_events`.
//!
//! A stream starts with a `retry:` hint, then the current figure of every product asked for
//! at once, then one event per published change (at most one per product per interval: the
//! hub coalesces). Each event is `id: <boot>-<seq>` and `data: {"productId":1,"stock":42}`.
//! A stream silent for the heartbeat gets a `: ping` comment.
//!
//! Resuming (`Last-Event-ID` of this process): the ids of one stream rise, and the changes
//! ready at one moment are sent in the order of their numbers, so a client that has read up
//! to `seq` has, for every product, a figure at least as new as its latest change numbered
//! `seq` or less. A resumed stream therefore sends a product's current figure only if its
//! change is numbered above `seq`. Changes are published in number order under one lock, so
//! when one is seen here every lower one is too (checked by polling every channel again).
//!
//! Memory: a stream holds one `watch` receiver per product (at most [`MAX_IDS`]) and never
//! queues figures; a client that reads slowly skips to the latest figure. One that stops
//! reading fills its socket's buffers, then hyper stops asking the stream for frames; after
//! twice the heartbeat without a frame the poller closes its connection.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Extension;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use tokio::time::{Instant, Sleep};
use tokio_stream::wrappers::WatchStream;
use tokio_stream::{Stream, StreamMap};

use super::body;
use super::chunked;
use super::connections::Slot;
use super::reply::ApiError;
use super::state::AppState;
use super::stock_events::{StockEvents, StreamGuard, Tick};

/// Most products one stream may watch.
pub const MAX_IDS: usize = 100;
/// The reconnection delay a stream advises (`retry:`), in milliseconds.
pub const RETRY_MS: u64 = 2_000;

/// `GET /api/stock/{id}/events`.
pub async fn one(
    State(state): State<AppState>,
    slot: Option<Extension<Arc<Slot>>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = match path {
        Ok(Path(raw)) => body::path_id(&raw)?,
        Err(_) => return Err(ApiError::bad_request("id", "id must be a positive integer")),
    };
    open(&state, slot.map(|Extension(s)| s), &headers, &[id]).await
}

/// `GET /api/stock/events?ids=1,2,3`.
pub async fn many(
    State(state): State<AppState>,
    slot: Option<Extension<Arc<Slot>>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let ids = parse_ids(query.as_deref().unwrap_or(""))?;
    open(&state, slot.map(|Extension(s)| s), &headers, &ids).await
}

/// The `ids` of a query string: positive integers, comma-separated, at most [`MAX_IDS`]
/// distinct, in the order first named.
pub fn parse_ids(query: &str) -> Result<Vec<i32>, ApiError> {
    let mut raw = None;
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == "ids" {
            if raw.is_some() {
                return Err(ApiError::bad_request(
                    "ids",
                    "send one ids parameter: ids=1,2,3",
                ));
            }
            raw = Some(v);
        }
    }
    let raw = raw.unwrap_or("");
    // Browsers and clients may encode the commas.
    let raw = raw.replace("%2C", ",").replace("%2c", ",");
    let mut ids = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let id = part
            .parse::<i64>()
            .ok()
            .and_then(|n| i32::try_from(n).ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                let shown: String = part.chars().take(40).collect();
                ApiError::bad_request(
                    "ids",
                    format!("ids must be positive integers separated by commas (got '{shown}')"),
                )
            })?;
        if !ids.contains(&id) {
            ids.push(id);
        }
        if ids.len() > MAX_IDS {
            return Err(ApiError::bad_request(
                "ids",
                format!("at most {MAX_IDS} product ids per stream"),
            ));
        }
    }
    if ids.is_empty() {
        return Err(ApiError::bad_request(
            "ids",
            "name at least one product: ids=1,2,3",
        ));
    }
    Ok(ids)
}

async fn open(
    state: &AppState,
    slot: Option<Arc<Slot>>,
    headers: &HeaderMap,
    ids: &[i32],
) -> Result<Response, ApiError> {
    let last_event_id = headers.get("last-event-id").and_then(|v| v.to_str().ok());
    let events = Events::open(state, slot, last_event_id, ids, Framing::Plain).await?;
    let mut res = Response::new(Body::from_stream(events));
    stream_headers(res.headers_mut());
    Ok(res)
}

/// The headers of an event stream's answer (besides hyper's own), on either path.
pub fn stream_headers(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // A proxy that buffers answers (nginx) would hold the events back.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
}

/// How a stream's frames are written: as the body hyper encodes, or already chunk-encoded
/// for a socket we write ourselves (`event_socket`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Plain,
    Chunked,
}

/// One open stream; see the module.
pub struct Events {
    changes: StreamMap<i32, WatchStream<Tick>>,
    resume: Option<u64>,
    /// Armed for the heartbeat after the last frame, lazily: a frame only notes its time, and
    /// the timer, when it fires early, is set again from there (no timer work per event, of
    /// which a publication makes one per stream).
    heartbeat: Pin<Box<Sleep>>,
    last_frame: Instant,
    prelude: bool,
    guard: StreamGuard,
    hub: Arc<StockEvents>,
    framing: Framing,
}

impl Events {
    /// Subscribes to `ids` and registers the stream on `slot`; errors are the answers to
    /// give (a product that does not exist, the database's failure).
    pub async fn open(
        state: &AppState,
        slot: Option<Arc<Slot>>,
        last_event_id: Option<&str>,
        ids: &[i32],
        framing: Framing,
    ) -> Result<Self, ApiError> {
        let hub = state.events();
        let channels = match hub.subscribe(state.purchaser().store(), ids).await {
            Ok(Ok(channels)) => channels,
            Ok(Err(missing)) => {
                let named: Vec<String> = missing.iter().map(i32::to_string).collect();
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!("Product not found: {}", named.join(", ")),
                ));
            }
            Err(e) => return Err(ApiError::from_store(&e)),
        };
        let resume = last_event_id.and_then(|v| hub.resume_point(v));
        let mut changes = StreamMap::with_capacity(channels.len());
        for (id, rx) in channels {
            changes.insert(id, WatchStream::new(rx));
        }
        Ok(Self {
            changes,
            resume,
            heartbeat: Box::pin(tokio::time::sleep(hub.heartbeat())),
            last_frame: Instant::now(),
            prelude: true,
            guard: hub.open_stream(slot, framing == Framing::Chunked),
            hub: hub.clone(),
            framing,
        })
    }

    /// Every change ready now, in number order.
    fn ready(&mut self, cx: &mut Context<'_>) -> Vec<(i32, Tick)> {
        let mut out: Vec<(i32, Tick)> = Vec::new();
        // Until nothing is ready: that last poll asked every channel (and left a waker with
        // each), after every change already taken was seen.
        while let Poll::Ready(Some((id, tick))) = Pin::new(&mut self.changes).poll_next(cx) {
            if self.resume.is_none_or(|r| tick.seq > r) {
                out.retain(|(seen, _)| *seen != id);
                out.push((id, tick));
            }
        }
        out.sort_unstable_by_key(|(_, tick)| tick.seq);
        out
    }

    fn frame(&mut self, bytes: Bytes) -> Poll<Option<Result<Bytes, Infallible>>> {
        self.framed();
        let bytes = match self.framing {
            Framing::Plain => bytes,
            Framing::Chunked => chunked::chunk(&bytes),
        };
        Poll::Ready(Some(Ok(bytes)))
    }

    fn framed(&mut self) {
        self.guard.framed();
        self.last_frame = Instant::now();
    }

    /// Whether the stream has been silent for the heartbeat; re-arms the timer otherwise.
    fn heartbeat_due(&mut self, cx: &mut Context<'_>) -> bool {
        while self.heartbeat.as_mut().poll(cx).is_ready() {
            let due = self.last_frame + self.hub.heartbeat();
            if Instant::now() >= due {
                return true;
            }
            self.heartbeat.as_mut().reset(due);
        }
        false
    }
}

impl Stream for Events {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let prelude = std::mem::take(&mut this.prelude);
        let mut ticks = this.ready(cx);
        // The common case, one product's change: its frame as the hub wrote it, shared.
        if !prelude && ticks.len() == 1 {
            let (_, tick) = ticks.remove(0);
            if this.framing == Framing::Chunked {
                // Encoded once by the hub too.
                this.framed();
                return Poll::Ready(Some(Ok(tick.chunk)));
            }
            return this.frame(tick.frame);
        }
        if prelude || !ticks.is_empty() {
            let mut text = BytesMut::new();
            if prelude {
                text.extend_from_slice(format!("retry: {RETRY_MS}\n\n").as_bytes());
            }
            for (_, tick) in ticks {
                text.extend_from_slice(&tick.frame);
            }
            return this.frame(text.freeze());
        }
        if this.heartbeat_due(cx) {
            return this.frame(Bytes::from_static(b": ping\n\n"));
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_positive_distinct_and_capped() {
        assert_eq!(parse_ids("ids=1,2,3").expect("ok"), [1, 2, 3]);
        assert_eq!(parse_ids("x=1&ids=3%2C3,2").expect("ok"), [3, 2]);
        for bad in [
            "",
            "ids=",
            "ids=1,x",
            "ids=0",
            "ids=-1",
            "ids=1&ids=2",
            "ids=99999999999",
        ] {
            let e = parse_ids(bad).expect_err(bad);
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad}");
            assert_eq!(e.field, Some("ids"));
        }
        let many: Vec<String> = (1..=MAX_IDS + 1).map(|n| n.to_string()).collect();
        let e = parse_ids(&format!("ids={}", many.join(","))).expect_err("too many");
        assert!(e.message.contains("at most 100"), "{}", e.message);
        let exactly: Vec<String> = (1..=MAX_IDS).map(|n| n.to_string()).collect();
        assert_eq!(
            parse_ids(&format!("ids={}", exactly.join(",")))
                .expect("ok")
                .len(),
            MAX_IDS
        );
    }
}
