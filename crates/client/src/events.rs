//! `serve`'s stock event stream (`GET /api/stock/events?ids=`, Server-Sent Events) as a
//! client reads it: the figures each chunk carries. The reference system has no such stream;
//! [`ApiClient::stock_events`] says so with `None`, and the caller polls instead.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde::Deserialize;

use super::lean_events::{self, LeanStream};
use super::{ApiClient, ClientError, transport};
use flashsale_api as api;

/// How long one stream request may last; the caller opens another after it (the client's
/// own timeout, meant for one answer, would cut a stream after seconds).
pub const STREAM_LIFETIME: Duration = Duration::from_secs(3_600);
/// The most a stream may send without a blank line ending its event.
const MAX_PENDING: usize = 64 * 1024;

/// An open stock event stream.
#[derive(Debug)]
pub struct StockStream {
    source: Source,
    /// What has arrived of an event not yet complete.
    buf: Vec<u8>,
}

/// Where a stream's body comes from.
#[derive(Debug)]
enum Source {
    /// The general client's response.
    General(reqwest::Response),
    /// Its own socket ([`ApiClient::stock_events_lean`]).
    Lean(LeanStream),
}

impl ApiClient {
    /// Opens the stock event stream of `ids`; `None` when the server offers none (any answer
    /// but a 200 `text/event-stream`: the reference system's 404 or 400).
    pub async fn stock_events(&self, ids: &[i32]) -> Result<Option<StockStream>, ClientError> {
        let list: Vec<String> = ids.iter().map(i32::to_string).collect();
        let res = self
            .client
            .get(format!(
                "{}{}/events?ids={}",
                self.base,
                api::STOCK,
                list.join(",")
            ))
            .header(ACCEPT, "text/event-stream")
            .timeout(STREAM_LIFETIME)
            .send()
            .await
            .map_err(|e| ClientError::Transport(transport(e)))?;
        let streaming = res
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if res.status() != StatusCode::OK || !streaming {
            return Ok(None);
        }
        Ok(Some(StockStream {
            source: Source::General(res),
            buf: Vec::new(),
        }))
    }

    /// [`ApiClient::stock_events`] on a socket of its own, read by the caller's task alone
    /// (see `lean_events`): for holding thousands of streams, as `burst --watchers` does.
    pub async fn stock_events_lean(&self, ids: &[i32]) -> Result<Option<StockStream>, ClientError> {
        let base =
            url::Url::parse(&self.base).map_err(|_| ClientError::BaseUrl(self.base.clone()))?;
        let (Some(host), Some(port)) = (base.host_str(), base.port_or_known_default()) else {
            return Err(ClientError::BaseUrl(self.base.clone()));
        };
        let list: Vec<String> = ids.iter().map(i32::to_string).collect();
        let path = format!(
            "{}{}/events?ids={}",
            base.path().trim_end_matches('/'),
            api::STOCK,
            list.join(",")
        );
        let opened = lean_events::open(&format!("{host}:{port}"), &path, self.timeout).await?;
        Ok(opened.map(|lean| StockStream {
            source: Source::Lean(lean),
            buf: Vec::new(),
        }))
    }
}

impl StockStream {
    /// The figures `(productId, stock)` of the events completed by the next chunk (none for
    /// a heartbeat); `None` once the stream has ended.
    pub async fn next(&mut self) -> Result<Option<Vec<(i32, i32)>>, ClientError> {
        let chunk = match &mut self.source {
            Source::General(res) => res
                .chunk()
                .await
                .map_err(|e| ClientError::Transport(transport(e)))?,
            Source::Lean(lean) => lean.next_data().await?,
        };
        let Some(chunk) = chunk else {
            return Ok(None);
        };
        // Most chunks are one whole event: parsed where it lies, never copied.
        let figures = if self.buf.is_empty() {
            let (figures, used) = complete_figures(&chunk);
            self.buf.extend_from_slice(&chunk[used..]);
            figures
        } else {
            self.buf.extend_from_slice(&chunk);
            let (figures, used) = complete_figures(&self.buf);
            self.buf.drain(..used);
            figures
        };
        if self.buf.len() > MAX_PENDING {
            return Err(ClientError::Body(format!(
                "an event stream sent {MAX_PENDING} bytes without ending an event"
            )));
        }
        Ok(Some(figures))
    }
}

/// The figures of the complete events at the start of `bytes`, and how many bytes they took.
fn complete_figures(bytes: &[u8]) -> (Vec<(i32, i32)>, usize) {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Figure {
        product_id: i32,
        stock: i32,
    }
    let mut out = Vec::new();
    let mut used = 0;
    while let Some(end) = bytes[used..].windows(2).position(|w| w == b"\n\n") {
        let block = &bytes[used..used + end];
        for line in block.split(|b| *b == b'\n') {
            if let Some(data) = line.strip_prefix(b"data:")
                && let Ok(f) = serde_json::from_slice::<Figure>(data.trim_ascii())
            {
                out.push((f.product_id, f.stock));
            }
        }
        used += end + 2;
    }
    (out, used)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_events_give_figures_and_a_partial_one_waits() {
        let mut buf = b"retry: 2000\n\nid: ab-1\ndata: {\"productId\":1,\"stock\":42}\n\n: ping\n\nid: ab-2\ndata: {\"produ".to_vec();
        let (figures, used) = complete_figures(&buf);
        assert_eq!(figures, [(1, 42)]);
        buf.drain(..used);
        assert_eq!(buf, b"id: ab-2\ndata: {\"produ");
        buf.extend_from_slice(b"ctId\":2,\"stock\":7}\n\n");
        assert_eq!(complete_figures(&buf), (vec![(2, 7)], buf.len()));
        assert_eq!(complete_figures(b"data: {\"productId\":3"), (vec![], 0));
    }
}
