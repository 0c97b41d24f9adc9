//! A Server-Sent Events client for `GET /v1/events/stream`, reading frames as they come.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use super::TestServer;

/// One event of the stream.
#[derive(Debug, Clone)]
pub struct Frame {
    pub id: String,
    pub event: String,
    pub data: Value,
}

pub struct SseClient {
    res: reqwest::Response,
    buf: String,
    ended: bool,
}

impl SseClient {
    /// Opens the stream with `query` (`?instanceId=…`) and, when given, `Last-Event-ID`.
    pub async fn open(s: &TestServer, key: &str, query: &str, last: Option<&str>) -> SseClient {
        let mut req = s
            .http
            .get(format!("{}/v1/events/stream{query}", s.base))
            .bearer_auth(key);
        if let Some(id) = last {
            req = req.header("Last-Event-ID", id);
        }
        let res = req.send().await.expect("stream opens");
        assert_eq!(res.status(), StatusCode::OK);
        let ct = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert!(ct.starts_with("text/event-stream"), "{ct}");
        SseClient {
            res,
            buf: String::new(),
            ended: false,
        }
    }

    /// The next event within `within`; None when none came (or the stream ended).
    pub async fn next(&mut self, within: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(frame) = self.take_buffered() {
                return Some(frame);
            }
            if self.ended {
                return None;
            }
            match tokio::time::timeout_at(deadline, self.res.chunk()).await {
                Err(_) => return None,
                Ok(Ok(Some(bytes))) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(Ok(None)) | Ok(Err(_)) => self.ended = true,
            }
        }
    }

    /// Exactly `n` events, each within `each` of the one before.
    pub async fn take(&mut self, n: usize, each: Duration) -> Vec<Frame> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            match self.next(each).await {
                Some(f) => out.push(f),
                None => panic!("only {} of {n} events came: {out:?}", out.len()),
            }
        }
        out
    }

    /// Whether the server ended the stream within `within` (events still in it are skipped).
    pub async fn ends_within(&mut self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while !self.ended {
            match tokio::time::timeout_at(deadline, self.res.chunk()).await {
                Err(_) => return false,
                Ok(Ok(Some(_))) => {}
                Ok(Ok(None)) | Ok(Err(_)) => self.ended = true,
            }
        }
        true
    }

    /// The first complete event in the buffer; comments (keep-alives) are skipped.
    fn take_buffered(&mut self) -> Option<Frame> {
        while let Some(end) = self.buf.find("\n\n") {
            let block: String = self.buf.drain(..end + 2).collect();
            let (mut id, mut event, mut data) = (None, None, String::new());
            for line in block.lines() {
                let (field, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                match field {
                    "id" => id = Some(value.to_owned()),
                    "event" => event = Some(value.to_owned()),
                    "data" => data.push_str(value),
                    _ => {}
                }
            }
            if let (Some(id), Some(event)) = (id, event) {
                let data = serde_json::from_str(&data).expect("data is JSON");
                return Some(Frame { id, event, data });
            }
        }
        None
    }
}
