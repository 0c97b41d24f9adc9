//! The request's tracing span and its one "finished" log line.
//!
//! The id is given before the span is made (`assign_request_id`, the outermost layer), so the
//! span, the envelope's `requestId` and `X-Request-Id` all carry the same `req_…` id, and every
//! log line emitted while the request is handled can be traced back to what the client saw.

use std::time::Duration;

use axum::extract::{MatchedPath, Request};
use axum::http;
use tracing::Span;
use wagate_core::RequestId;

/// Gives the request its id (read by the span and by `request_context`).
pub async fn assign_request_id(mut req: Request) -> Request {
    // A request carried from another node keeps the id the client was given there.
    if req.extensions().get::<RequestId>().is_none() {
        req.extensions_mut().insert(RequestId::generate());
    }
    req
}

/// The span of one request: its id, method and route template (`MatchedPath`, so that ids in
/// the URI neither end up in every log line nor split one route into many).
pub fn request_span<B>(req: &http::Request<B>) -> Span {
    let id = req
        .extensions()
        .get::<RequestId>()
        .map_or("-", RequestId::as_str);
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    tracing::info_span!("request", requestId = %id, method = %req.method(), route = %route)
}

/// One line per finished request; at error level for a 5xx, whose cause the handler has already
/// logged inside the same span.
pub fn log_response<B>(res: &http::Response<B>, latency: Duration, _span: &Span) {
    let status = res.status().as_u16();
    let latency_ms = latency.as_secs_f64() * 1000.0;
    if res.status().is_server_error() {
        tracing::error!(status, latency_ms, "request finished");
    } else {
        tracing::info!(status, latency_ms, "request finished");
    }
}
