//! The middleware inside the request's span: renders every error as the envelope of §15.2 with
//! the request's `req_…` id (also errors made outside our handlers: unknown routes, wrong
//! methods, panics), sets `X-Request-Id`, and records the request in the metrics.

use std::time::Instant;

use axum::Json;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use wagate_core::RequestId;

use crate::http::error::{ApiError, ErrorEnvelope};
use crate::state::AppState;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

pub async fn request_context(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    // Given by `assign_request_id`, outside the span, so that the span carries the same id.
    let id = match req.extensions().get::<RequestId>() {
        Some(id) => id.clone(),
        None => {
            let id = RequestId::generate();
            req.extensions_mut().insert(id.clone());
            id
        }
    };
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().clone();

    let mut res = next.run(req).await;
    if res.status().is_client_error() || res.status().is_server_error() {
        res = into_envelope(res, &id);
    }
    if let Ok(v) = HeaderValue::from_str(id.as_str()) {
        res.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    state.metrics.observe_request(
        &route,
        method.as_str(),
        res.status().as_u16(),
        started.elapsed(),
    );
    res
}

/// Replaces an error response's body with the envelope, keeping its headers (rate limits).
fn into_envelope(mut res: Response, id: &RequestId) -> Response {
    let err = match res.extensions_mut().remove::<ApiError>() {
        Some(e) => e,
        None => {
            let is_json = res
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/json"));
            if is_json {
                return res; // already an envelope (e.g. rendered by a nested service)
            }
            ApiError::for_bare_status(res.status())
        }
    };
    let mut headers = std::mem::take(res.headers_mut());
    headers.remove(header::CONTENT_TYPE);
    headers.remove(header::CONTENT_LENGTH);
    match err {
        ApiError::RateLimited { retry_after } => {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        }
        // Passing (a database blip, a draining node, an instance changing nodes): try again.
        ApiError::ServiceUnavailable | ApiError::HeldElsewhere(..)
            if !headers.contains_key(header::RETRY_AFTER) =>
        {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        _ => {}
    }
    let mut out = (err.status(), Json(ErrorEnvelope::new(&err, id.as_str()))).into_response();
    out.headers_mut().extend(headers);
    out
}
