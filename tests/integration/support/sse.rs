//! A Server-Sent Events reader over reqwest, for the stock event streams: blocks split on a
//! blank line, each an event (`id`, `data`, `retry`) or a comment.

use std::time::Duration;

/// One block of a stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// `id:` and `data:` (parsed JSON), `retry:` if any.
    Event {
        id: Option<String>,
        data: Option<serde_json::Value>,
        retry: Option<u64>,
    },
    /// Only comment lines (`: ping`).
    Comment(String),
}

impl Block {
    /// `(productId, stock)` of a data event.
    pub fn stock(&self) -> Option<(i64, i64)> {
        match self {
            Block::Event { data: Some(d), .. } => {
                Some((d["productId"].as_i64()?, d["stock"].as_i64()?))
            }
            _ => None,
        }
    }

    pub fn id(&self) -> Option<&str> {
        match self {
            Block::Event { id, .. } => id.as_deref(),
            Block::Comment(_) => None,
        }
    }
}

pub struct Sse {
    res: reqwest::Response,
    buf: String,
}

impl Sse {
    /// Opens `url` (a full URL), with `Last-Event-ID` if given; panics unless it is a 200
    /// `text/event-stream`.
    pub async fn open(url: &str, last_event_id: Option<&str>) -> Sse {
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        let mut rb = client.get(url);
        if let Some(id) = last_event_id {
            rb = rb.header("last-event-id", id);
        }
        let res = rb.send().await.expect("open the stream");
        assert_eq!(res.status(), reqwest::StatusCode::OK, "{url}");
        assert_eq!(res.headers()["content-type"], "text/event-stream", "{url}");
        Sse {
            res,
            buf: String::new(),
        }
    }

    /// The next block, or `None` if none came within `within` (or the stream ended).
    pub async fn next(&mut self, within: Duration) -> Option<Block> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                return Some(parse(&block));
            }
            let chunk = tokio::time::timeout_at(deadline, self.res.chunk())
                .await
                .ok()?
                .expect("stream read")?;
            self.buf
                .push_str(std::str::from_utf8(&chunk).expect("utf-8 stream"));
        }
    }

    /// The next data event, skipping comments and the `retry:` block.
    pub async fn next_stock(&mut self, within: Duration) -> Option<Block> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let block = self.next(left).await?;
            if block.stock().is_some() {
                return Some(block);
            }
        }
    }
}

fn parse(block: &str) -> Block {
    let (mut id, mut data, mut retry, mut comments) = (None, None, None, Vec::new());
    for line in block.lines().filter(|l| !l.is_empty()) {
        if let Some(c) = line.strip_prefix(':') {
            comments.push(c.trim().to_string());
        } else if let Some(v) = line.strip_prefix("id: ") {
            id = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("data: ") {
            data = Some(serde_json::from_str(v).expect("data is JSON"));
        } else if let Some(v) = line.strip_prefix("retry: ") {
            retry = Some(v.parse().expect("retry is a number"));
        } else {
            panic!("unexpected line in an event stream: {line:?}");
        }
    }
    if id.is_none() && data.is_none() && retry.is_none() {
        return Block::Comment(comments.join("\n"));
    }
    Block::Event { id, data, retry }
}
