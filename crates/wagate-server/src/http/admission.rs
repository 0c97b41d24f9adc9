//! What a request must pass before its route: a place among the requests in flight, and a
//! deadline for its body.
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

pub async fn admit(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
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
