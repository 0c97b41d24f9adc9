//! Inbound webhook URLs (§9.10, §15.7): `/v1/webhooks/inbound` manages them with an API key;
//! `POST /webhook/{token}` sends a message with only the secret URL.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wagate_core::account::DisplayName;
use wagate_core::inbound_webhook::{InboundWebhook, generate_token, hash_token};
use wagate_core::message::MessageStatus;
use wagate_core::plan::RateGroup;
use wagate_core::scope::Scope;
use wagate_core::send::{ContentFields, NewOutbound, SendFields};
use wagate_core::store::InsertMessageError;
use wagate_core::{InboundWebhookId, Timestamp};

use crate::http::auth::Auth;
use crate::http::error::{ApiError, ErrorEnvelope};
use crate::http::extract::{ApiJson, RawBody, declares_json, parse_json};
use crate::http::rate_limit::{Caller, Outcome, too_many_requests};
use crate::routes::instances::owned_instance;
use crate::routes::messages::{check_send, require_session, send_body, send_rules};
use crate::routes::views::{Data, DeletedView};
use crate::state::AppState;

/// The management routes, under the API key.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_inbound, list_inbound))
        .routes(routes!(delete_inbound))
}

/// The send-by-URL route: no API key, the token is the credential.
pub fn public_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(send_by_url))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateInboundRequest {
    #[schema(schema_with = crate::openapi::display_name)]
    pub name: String,
    pub instance_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InboundView {
    pub id: String,
    pub name: String,
    pub instance_id: String,
    /// The secret URL; only in the answer of create.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub created_at: String,
}

impl InboundView {
    fn new(w: &InboundWebhook, url: Option<String>) -> Self {
        Self {
            id: w.id.to_string(),
            name: w.name.clone(),
            instance_id: w.instance_id.to_string(),
            url,
            created_at: w.created_at.to_rfc3339(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendByUrlRequest {
    /// Country code + number, digits only (8–15), or a group id `…@g.us`.
    #[schema(schema_with = crate::openapi::recipient)]
    pub to: String,
    #[serde(flatten)]
    pub content: ContentFields,
}

/// The flat answer of §9.10.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendByUrlResponse {
    pub success: bool,
    pub message_id: String,
    pub status: String,
}

/// Create an inbound webhook URL for an instance.
///
/// The `url` is shown this once: only its hash is stored.
#[utoipa::path(post, path = "/v1/webhooks/inbound", tag = "Inbound webhooks",
    request_body = CreateInboundRequest,
    responses(
        (status = 201, description = "Created", body = Data<InboundView>),
        (status = 400, description = "invalid_request", body = ErrorEnvelope),
        (status = 403, description = "insufficient_permissions: needs `webhooks:write` and `messages:write`", body = ErrorEnvelope),
        (status = 404, description = "instance_not_found", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn create_inbound(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<CreateInboundRequest>,
) -> Result<(StatusCode, axum::Json<Data<InboundView>>), ApiError> {
    auth.require(Scope::WebhooksWrite)?;
    // The URL sends messages: a key that may not send may not make one either.
    auth.require(Scope::MessagesWrite)?;
    let name = DisplayName::parse(&req.name).map_err(|e| ApiError::field("name", e))?;
    let inst = owned_instance(&state, &auth, &req.instance_id).await?;
    let token = generate_token();
    let hook = InboundWebhook {
        id: InboundWebhookId::generate(),
        account_id: auth.account.id.clone(),
        instance_id: inst.id,
        name: name.as_str().to_owned(),
        token_hash: hash_token(&token),
        created_at: Timestamp::now(),
    };
    state.store.insert_inbound_webhook(&hook).await?;
    let url = format!("{}/webhook/{token}", state.config.base_url());
    Ok((
        StatusCode::CREATED,
        axum::Json(Data::new(InboundView::new(&hook, Some(url)))),
    ))
}

/// List the account's inbound webhook URLs (without their tokens).
#[utoipa::path(get, path = "/v1/webhooks/inbound", tag = "Inbound webhooks",
    responses((status = 200, description = "All of them, newest first", body = Data<Vec<InboundView>>)),
    security(("api_key" = [])))]
pub async fn list_inbound(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<axum::Json<Data<Vec<InboundView>>>, ApiError> {
    auth.require(Scope::WebhooksRead)?;
    let hooks = state.store.list_inbound_webhooks(&auth.account.id).await?;
    let views = hooks.iter().map(|h| InboundView::new(h, None)).collect();
    Ok(axum::Json(Data::new(views)))
}

/// Revoke an inbound webhook URL; it answers 404 from now on.
#[utoipa::path(delete, path = "/v1/webhooks/inbound/{inboundId}", tag = "Inbound webhooks",
    params(("inboundId" = String, Path, description = "ib_…")),
    responses(
        (status = 200, description = "Revoked", body = Data<DeletedView>),
        (status = 404, description = "not_found", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn delete_inbound(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<axum::Json<Data<DeletedView>>, ApiError> {
    auth.require(Scope::WebhooksWrite)?;
    let id = InboundWebhookId::parse(&id).map_err(|_| ApiError::NotFound)?;
    if !state
        .store
        .delete_inbound_webhook(&auth.account.id, &id)
        .await?
    {
        return Err(ApiError::NotFound);
    }
    Ok(axum::Json(Data::new(DeletedView {
        id: id.to_string(),
        deleted: true,
    })))
}

/// Send a message through an inbound webhook URL (no `Authorization` header: the URL is the
/// secret). Counts against the account's `messages` rate limit.
#[utoipa::path(post, path = "/webhook/{token}", tag = "Inbound webhooks",
    params(("token" = String, Path, description = "The token of the URL (`wh_…`)")),
    request_body = SendByUrlRequest,
    responses(
        (status = 200, description = "Queued", body = SendByUrlResponse),
        (status = 400, description = "invalid_request, invalid_phone_number, missing_content, invalid_media", body = ErrorEnvelope),
        (status = 404, description = "not_found: unknown or revoked URL; message_not_found (a reaction to a message of another chat)", body = ErrorEnvelope),
        (status = 409, description = "instance_not_connected, not_supported_by_connection", body = ErrorEnvelope),
        (status = 415, description = "unsupported_content_type: the body is not `application/json`", body = ErrorEnvelope),
        (status = 429, description = "rate_limit_exceeded", body = ErrorEnvelope),
    ))]
pub async fn send_by_url(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    // The token is checked before the body is read, so a wrong URL learns nothing else.
    let hook = state
        .store
        .find_inbound_webhook(&hash_token(&token))
        .await?
        .ok_or(ApiError::NotFound)?;
    let account = state
        .store
        .get_account(&hook.account_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let window = match state.limiter.check(
        &Caller::InboundUrls(hook.account_id.clone()),
        account.effective_rate_limits(),
        Some(RateGroup::Messages),
    ) {
        Outcome::Limited {
            retry_after,
            window,
        } => return Ok(too_many_requests(retry_after, window)),
        Outcome::Allowed(window) => window,
    };
    if !declares_json(&headers) {
        return Err(ApiError::UnsupportedContentType);
    }
    let req: SendByUrlRequest = send_body(parse_json(&body)?)?;
    let inst = state
        .store
        .get_instance(&hook.account_id, &hook.instance_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let fields = SendFields {
        to: req.to,
        content: req.content,
        ..SendFields::default()
    };
    let send = NewOutbound::parse(fields, &send_rules(&state, &inst))?;
    check_send(&state, &inst, &send).await?;
    require_session(&inst)?;
    let message = send.of(&inst, Timestamp::now());
    let message = match state.sends.submit(message, None).await {
        Ok(m) => m,
        Err(InsertMessageError::Store(e)) => return Err(e.into()),
        // Only a send with an idempotency key can meet its earlier self.
        Err(InsertMessageError::IdempotencyKeyUsed(_)) => return Err(ApiError::Internal),
    };
    state.supervisor.wake(&inst.id);
    let mut res = axum::Json(SendByUrlResponse {
        success: true,
        message_id: message.id.to_string(),
        status: MessageStatus::Queued.as_str().into(),
    })
    .into_response();
    if let Some(w) = window {
        w.write_headers(res.headers_mut());
    }
    Ok(res)
}
