//! `serve`'s stock event stream (`GET /api/stock/events?ids=`, Server-Sent Events) as a
//! client reads it: the figures each chunk carries. The reference system has no such stream;
//! [`ApiClient::stock_events`] says so with `None`, and the caller polls instead.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde::Deserialize;

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
    res: reqwest::Response,
    buf: String,
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
            res,
            buf: String::new(),
        }))
    }
}

impl StockStream {
    /// The figures `(productId, stock)` of the events completed by the next chunk (none for
    /// a heartbeat); `None` once the stream has ended.
    pub async fn next(&mut self) -> Result<Option<Vec<(i32, i32)>>, ClientError> {
        let chunk = self
            .res
            .chunk()
            .await
            .map_err(|e| ClientError::Transport(transport(e)))?;
        let Some(chunk) = chunk else {
            return Ok(None);
        };
        self.buf.push_str(&String::from_utf8_lossy(&chunk));
        let figures = take_figures(&mut self.buf);
        if self.buf.len() > MAX_PENDING {
            return Err(ClientError::Body(format!(
                "an event stream sent {MAX_PENDING} bytes without ending an event"
            )));
        }
        Ok(Some(figures))
    }
}

/// Removes the complete events from `buf` and returns their figures.
fn take_figures(buf: &mut String) -> Vec<(i32, i32)> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Figure {
        product_id: i32,
        stock: i32,
    }
    let mut out = Vec::new();
    while let Some(end) = buf.find("\n\n") {
        let block: String = buf.drain(..end + 2).collect();
        for line in block.lines() {
            if let Some(data) = line.strip_prefix("data:")
                && let Ok(f) = serde_json::from_str::<Figure>(data.trim())
            {
                out.push((f.product_id, f.stock));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_events_give_figures_and_a_partial_one_waits() {
        let mut buf = String::from(
            "retry: 2000\n\nid: ab-1\ndata: {\"productId\":1,\"stock\":42}\n\n: ping\n\nid: ab-2\ndata: {\"produ",
        );
        assert_eq!(take_figures(&mut buf), [(1, 42)]);
        buf.push_str("ctId\":2,\"stock\":7}\n\n");
        assert_eq!(take_figures(&mut buf), [(2, 7)]);
        assert!(buf.is_empty());
    }
}
