//! What a request must pass before its route: a head within limits (414, 431 with the envelope),
//! a place among the requests in flight, and a deadline for its body.
//!
//! The cap keeps a flood of slow requests (bodies sent a byte at a time, say) from holding every
//! worker and all the memory; the health routes skip it, so that a loaded node is not taken for
//! a dead one. The body deadline counts from the request's start and covers the whole body,
//! unlike a timeout between reads, which a byte every few seconds never trips.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::http::error::ApiError;
use crate::state::AppState;

/// When the request's body must have arrived, and the allowance that deadline was made of (for
/// the 408's message); read by the body extractors.
#[derive(Debug, Clone, Copy)]
pub struct BodyDeadline {
    pub at: Instant,
    pub allowance: Duration,
}

/// The places for requests in flight.
#[derive(Debug, Clone)]
pub struct InFlight(Arc<Semaphore>);

impl InFlight {
    pub fn new(max: usize) -> Self {
        Self(Arc::new(Semaphore::new(max)))
    }
}

const EXEMPT: [&str; 2] = ["/healthz", "/readyz"];

/// The longest request URI (path and query) answered; longer ones get 414 with the envelope.
pub const MAX_URI: usize = 8 * 1024;
/// The most headers, and header bytes, a request may carry (431 with the envelope). hyper is
/// given twice as many headers as its own limit, so that a request over ours still reaches us
/// and gets an envelope; only one beyond hyper's limits gets hyper's bare answer.
pub const MAX_HEADERS: usize = 100;
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Why a request's head is refused before anything else reads it.
fn oversized(req: &Request) -> Option<ApiError> {
    let uri = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if uri > MAX_URI {
        return Some(ApiError::UriTooLong(MAX_URI));
    }
    let headers = req.headers();
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    (headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES)
        .then_some(ApiError::HeadersTooLarge(MAX_HEADERS, MAX_HEADER_BYTES))
}

pub async fn admit(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if let Some(e) = oversized(&req) {
        return e.into_response();
    }
    let limits = state.config.connections;
    req.extensions_mut().insert(BodyDeadline {
        at: Instant::now() + limits.body_timeout,
        allowance: limits.body_timeout,
    });
    if EXEMPT.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    let Ok(_place) = state.in_flight.0.clone().try_acquire_owned() else {
        tracing::warn!(
            max = limits.max_in_flight,
            "request refused: too many in flight"
        );
        let mut res = ApiError::ServiceUnavailable.into_response();
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return res;
    };
    next.run(req).await
}
