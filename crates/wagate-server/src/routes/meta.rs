//! Meta's webhooks for official instances (`/meta/webhook`): the subscription handshake, and
//! the signed notifications (statuses, received messages) that the Cloud API engine applies.
//! Meta calls these, not API users: there is no API key, the signature is the authentication.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use serde::Serialize;
use subtle::ConstantTimeEq;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wagate_engines::cloud_api::WebhookError;

use crate::http::error::{ApiError, ErrorEnvelope};
use crate::http::extract::RawBody;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(verify_subscription, receive))
}

/// Meta's subscription handshake: echoes `hub.challenge` when `hub.verify_token` is
/// `WAGATE_META_VERIFY_TOKEN`.
#[utoipa::path(get, path = "/meta/webhook", tag = "Meta",
    params(
        ("hub.mode" = String, Query, description = "`subscribe`"),
        ("hub.verify_token" = String, Query, description = "Must equal WAGATE_META_VERIFY_TOKEN"),
        ("hub.challenge" = String, Query, description = "Echoed back"),
    ),
    responses(
        (status = 200, description = "The challenge, as plain text", body = String, content_type = "text/plain"),
        (status = 403, description = "invalid_verify_token", body = ErrorEnvelope),
    ))]
pub async fn verify_subscription(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    let mut mode = None;
    let mut token = None;
    let mut challenge = None;
    for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "hub.mode" => mode = Some(v.into_owned()),
            "hub.verify_token" => token = Some(v.into_owned()),
            "hub.challenge" => challenge = Some(v.into_owned()),
            _ => {}
        }
    }
    let expected = state.config.meta.verify_token.as_deref();
    let token_ok = match (expected, token.as_deref()) {
        (Some(e), Some(t)) => bool::from(e.as_bytes().ct_eq(t.as_bytes())),
        _ => false,
    };
    match (mode.as_deref(), challenge) {
        (Some("subscribe"), Some(challenge)) if token_ok => Ok((
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            challenge,
        )),
        _ => {
            tracing::warn!("refused a Meta webhook subscription: wrong or missing verify token");
            Err(ApiError::InvalidVerifyToken)
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAck {
    pub success: bool,
}

/// A signed notification from Meta (`X-Hub-Signature-256`). Statuses move messages to
/// `delivered`/`read`/`failed`; received messages are stored. Numbers not connected here are
/// acknowledged and ignored.
#[utoipa::path(post, path = "/meta/webhook", tag = "Meta",
    params(("X-Hub-Signature-256" = String, Header, description = "sha256=<hex HMAC-SHA256 of the raw body, keyed with the app secret>")),
    request_body(content = Object, description = "Meta's webhook payload (object whatsapp_business_account)"),
    responses(
        (status = 200, description = "Applied", body = WebhookAck),
        (status = 400, description = "invalid_request (signed, but not a WhatsApp payload)", body = ErrorEnvelope),
        (status = 401, description = "invalid_signature", body = ErrorEnvelope),
        (status = 503, description = "service_unavailable (media could not be fetched; Meta retries)", body = ErrorEnvelope),
    ))]
pub async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<axum::Json<WebhookAck>, ApiError> {
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    match state.official.handle_webhook(&body, signature).await {
        Ok(outcome) => {
            tracing::debug!(
                routed = outcome.routed,
                ignored = outcome.ignored,
                "Meta webhook applied"
            );
            Ok(axum::Json(WebhookAck { success: true }))
        }
        Err(WebhookError::Signature(e)) => {
            // Recorded twice: a warning in the log and a Prometheus counter by reason.
            state.metrics.meta_webhook_rejected(e.reason());
            tracing::warn!(reason = e.reason(), "refused a Meta webhook: {e}");
            Err(ApiError::InvalidSignature)
        }
        Err(WebhookError::Payload(e)) => Err(ApiError::field("body", e)),
        Err(WebhookError::Retry(e)) => {
            tracing::warn!(error = %e, "a Meta webhook could not be applied; Meta will retry");
            Err(ApiError::ServiceUnavailable)
        }
    }
}
