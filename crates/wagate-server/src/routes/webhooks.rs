//! `/v1/webhooks`: subscriptions (§9.6, §9.7, §15.6), their delivery logs (§9.8), retrying a
//! delivery, rotating the secret, and the test delivery (§9.9).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wagate_core::account::DisplayName;
use wagate_core::delivery::DeliveryLog;
use wagate_core::event::Event;
use wagate_core::page::OffsetPage;
use wagate_core::scope::Scope;
use wagate_core::webhook::{Subscription, SubscriptionPatch, SubscriptionStatus, WebhookSecret};
use wagate_core::webhook_event::WebhookEvent;
use wagate_core::{DeliveryLogId, Timestamp, WebhookId};

use crate::delivery::{Attempt, post_signed};
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ErrorEnvelope};
use crate::http::extract::{ApiJson, ApiQuery, OptionalJson};
use crate::routes::instances::{owned_instance, parse_events, parse_webhook_url};
use crate::routes::views::{Data, DeletedView, Page};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_webhook, list_webhooks))
        .routes(routes!(get_webhook, update_webhook, delete_webhook))
        .routes(routes!(rotate_secret))
        .routes(routes!(webhook_logs))
        .routes(routes!(retry_delivery))
        .routes(routes!(test_webhook))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateWebhookRequest {
    #[schema(schema_with = crate::openapi::target_url)]
    pub url: String,
    pub instance_id: String,
    /// Event names of §9.2.
    #[schema(schema_with = crate::openapi::webhook_events)]
    pub events: Vec<serde_json::Value>,
    #[schema(schema_with = crate::openapi::display_name)]
    pub name: Option<String>,
    /// Signing secret; generated (`whs_…`) when omitted.
    pub secret: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateWebhookRequest {
    #[schema(schema_with = crate::openapi::display_name)]
    pub name: Option<String>,
    #[schema(schema_with = crate::openapi::target_url)]
    pub url: Option<String>,
    #[schema(schema_with = crate::openapi::webhook_events)]
    pub events: Option<Vec<serde_json::Value>>,
    /// `active` or `paused`.
    pub status: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookView {
    pub id: String,
    pub name: Option<String>,
    pub url: String,
    pub instance_id: String,
    pub events: Vec<String>,
    /// Only in the answers of create and rotate-secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// `active` or `paused`.
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
}

impl WebhookView {
    fn new(s: &Subscription) -> Self {
        Self {
            id: s.id.to_string(),
            name: s.name.clone(),
            url: s.url.as_str().to_owned(),
            instance_id: s.instance_id.to_string(),
            events: s.events.iter().map(|e| e.as_str().to_owned()).collect(),
            secret: None,
            status: s.status.as_str().to_owned(),
            created_at: s.created_at.to_rfc3339(),
            updated_at: s.updated_at.to_rfc3339(),
        }
    }

    fn with_secret(s: &Subscription) -> Self {
        Self {
            secret: Some(s.secret.expose().to_owned()),
            ..Self::new(s)
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListWebhooksQuery {
    /// Only this instance's subscriptions.
    pub instance_id: Option<String>,
    /// 1–100, default 50.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    #[param(minimum = 0, maximum = 9223372036854775807_u64)]
    pub offset: Option<u64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogsQuery {
    /// 1–100, default 50.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `success` or `failed`.
    #[param(schema_with = crate::openapi::log_status)]
    pub status: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogView {
    pub id: String,
    pub event: String,
    /// `success` or `failed`.
    pub status: String,
    /// The receiver's HTTP status; absent when it gave none (timeout, refused connection).
    pub status_code: Option<u16>,
    /// Milliseconds.
    pub response_time: u64,
    pub timestamp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Attempts before this one.
    pub retry_count: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_retry_at: Option<String>,
    /// The event's `evt_` id (the `webhook-id` header).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
}

impl LogView {
    fn new(l: &DeliveryLog) -> Self {
        Self {
            id: l.id.to_string(),
            event: l.event.as_str().to_owned(),
            status: if l.success { "success" } else { "failed" }.to_owned(),
            status_code: l.status_code,
            response_time: l.response_ms,
            timestamp: l.at.to_rfc3339(),
            error: l.error.clone(),
            retry_count: l.retry_count,
            next_retry_at: l.next_retry_at.map(Timestamp::to_rfc3339),
            event_id: l.event_id.as_ref().map(ToString::to_string),
        }
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct TestWebhookRequest {
    /// The event to simulate; default `message.received`.
    pub event: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TestResultView {
    /// `success` or `failed`.
    pub status: String,
    pub status_code: Option<u16>,
    pub response_time: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Exactly what was delivered.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetryView {
    pub log_id: String,
    /// `pending`: the delivery is attempted again now.
    pub status: String,
}

fn webhook_id(raw: &str) -> Result<WebhookId, ApiError> {
    WebhookId::parse(raw).map_err(|_| ApiError::WebhookNotFound)
}

async fn owned(state: &AppState, auth: &Auth, raw: &str) -> Result<Subscription, ApiError> {
    let id = webhook_id(raw)?;
    state
        .store
        .get_subscription(&auth.account.id, &id)
        .await?
        .ok_or(ApiError::WebhookNotFound)
}

fn parse_status(s: &str) -> Result<SubscriptionStatus, ApiError> {
    SubscriptionStatus::parse(s)
        .ok_or_else(|| ApiError::field("status", "must be active or paused"))
}

/// A subscription's name is optional: blank is none, else a display name's rules.
fn parse_name(name: Option<String>) -> Result<Option<String>, ApiError> {
    match name {
        Some(n) if n.trim().is_empty() => Ok(None),
        Some(n) => DisplayName::parse(&n)
            .map(|d| Some(d.as_str().to_owned()))
            .map_err(|e| ApiError::field("name", e)),
        None => Ok(None),
    }
}

/// Create a webhook subscription.
///
/// The response carries the signing `secret` this once.
#[utoipa::path(post, path = "/v1/webhooks", tag = "Webhooks",
    request_body = CreateWebhookRequest,
    responses(
        (status = 201, description = "Created", body = Data<WebhookView>),
        (status = 400, description = "invalid_request, invalid_webhook_url, invalid_webhook_events", body = ErrorEnvelope),
        (status = 404, description = "instance_not_found", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn create_webhook(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<CreateWebhookRequest>,
) -> Result<(StatusCode, axum::Json<Data<WebhookView>>), ApiError> {
    auth.require(Scope::WebhooksWrite)?;
    let inst = owned_instance(&state, &auth, &req.instance_id).await?;
    let url = parse_webhook_url(&state, &req.url).await?;
    let events = parse_events(&req.events)?;
    let secret = match req.secret.as_deref() {
        Some(s) => WebhookSecret::parse(s).map_err(|e| ApiError::field("secret", e))?,
        None => WebhookSecret::generate(),
    };
    let now = Timestamp::now();
    let sub = Subscription {
        id: WebhookId::generate(),
        account_id: auth.account.id.clone(),
        instance_id: inst.id,
        name: parse_name(req.name)?,
        url,
        events,
        secret,
        status: SubscriptionStatus::Active,
        created_at: now,
        updated_at: now,
    };
    state.store.insert_subscription(&sub).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(Data::new(WebhookView::with_secret(&sub))),
    ))
}

/// List webhook subscriptions.
#[utoipa::path(get, path = "/v1/webhooks", tag = "Webhooks",
    params(ListWebhooksQuery),
    responses(
        (status = 200, description = "A page of subscriptions", body = Page<WebhookView>),
        (status = 400, description = "invalid_request", body = ErrorEnvelope),
        (status = 404, description = "instance_not_found", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn list_webhooks(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<ListWebhooksQuery>,
) -> Result<axum::Json<Page<WebhookView>>, ApiError> {
    auth.require(Scope::WebhooksRead)?;
    let page =
        OffsetPage::parse(q.limit, q.offset, 50, 100).map_err(|e| ApiError::field(e.field(), e))?;
    let instance = match q.instance_id.as_deref() {
        Some(raw) => Some(owned_instance(&state, &auth, raw).await?.id),
        None => None,
    };
    let (list, total) = state
        .store
        .list_subscriptions(&auth.account.id, instance.as_ref(), page)
        .await?;
    let views = list.iter().map(WebhookView::new).collect();
    Ok(axum::Json(Page::new(views, page.pagination(total))))
}

/// Get one webhook subscription (without its secret).
#[utoipa::path(get, path = "/v1/webhooks/{webhookId}", tag = "Webhooks",
    params(("webhookId" = String, Path, description = "wh_…")),
    responses(
        (status = 200, description = "The subscription", body = Data<WebhookView>),
        (status = 404, description = "webhook_not_found", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn get_webhook(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<axum::Json<Data<WebhookView>>, ApiError> {
    auth.require(Scope::WebhooksRead)?;
    let sub = owned(&state, &auth, &id).await?;
    Ok(axum::Json(Data::new(WebhookView::new(&sub))))
}

/// Update a webhook subscription: `name`, `url`, `events`, `status` (`active` | `paused`).
///
/// A paused subscription receives nothing; what was already pending for it waits until it is
/// active again.
#[utoipa::path(put, path = "/v1/webhooks/{webhookId}", tag = "Webhooks",
    params(("webhookId" = String, Path, description = "wh_…")),
    request_body = UpdateWebhookRequest,
    responses(
        (status = 200, description = "The updated subscription", body = Data<WebhookView>),
        (status = 400, description = "invalid_request, invalid_webhook_url, invalid_webhook_events", body = ErrorEnvelope),
        (status = 404, description = "webhook_not_found", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn update_webhook(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateWebhookRequest>,
) -> Result<axum::Json<Data<WebhookView>>, ApiError> {
    auth.require(Scope::WebhooksWrite)?;
    let mut sub = owned(&state, &auth, &id).await?;
    let patch = SubscriptionPatch {
        name: match req.name {
            Some(n) => Some(parse_name(Some(n))?),
            None => None,
        },
        url: match req.url.as_deref() {
            Some(u) => Some(parse_webhook_url(&state, u).await?),
            None => None,
        },
        events: req.events.as_deref().map(parse_events).transpose()?,
        status: req.status.as_deref().map(parse_status).transpose()?,
    };
    sub.apply(patch, Timestamp::now());
    if !state.store.update_subscription(&sub).await? {
        return Err(ApiError::WebhookNotFound);
    }
    Ok(axum::Json(Data::new(WebhookView::new(&sub))))
}

/// Delete a webhook subscription; its pending deliveries stop at once.
#[utoipa::path(delete, path = "/v1/webhooks/{webhookId}", tag = "Webhooks",
    params(("webhookId" = String, Path, description = "wh_…")),
    responses(
        (status = 200, description = "Deleted", body = Data<DeletedView>),
        (status = 404, description = "webhook_not_found", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn delete_webhook(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<axum::Json<Data<DeletedView>>, ApiError> {
    auth.require(Scope::WebhooksWrite)?;
    let id = webhook_id(&id)?;
    if !state
        .store
        .delete_subscription(&auth.account.id, &id)
        .await?
    {
        return Err(ApiError::WebhookNotFound);
    }
    Ok(axum::Json(Data::new(DeletedView {
        id: id.to_string(),
        deleted: true,
    })))
}

/// Replace the signing secret; the next delivery is signed with the new one.
#[utoipa::path(post, path = "/v1/webhooks/{webhookId}/rotate-secret", tag = "Webhooks",
    params(("webhookId" = String, Path, description = "wh_…")),
    responses(
        (status = 200, description = "The subscription with its new secret", body = Data<WebhookView>),
        (status = 404, description = "webhook_not_found", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<axum::Json<Data<WebhookView>>, ApiError> {
    auth.require(Scope::WebhooksWrite)?;
    let mut sub = owned(&state, &auth, &id).await?;
    sub.secret = WebhookSecret::generate();
    sub.updated_at = Timestamp::now();
    if !state.store.update_subscription(&sub).await? {
        return Err(ApiError::WebhookNotFound);
    }
    Ok(axum::Json(Data::new(WebhookView::with_secret(&sub))))
}

/// Delivery logs: one entry per attempt, newest first.
#[utoipa::path(get, path = "/v1/webhooks/{webhookId}/logs", tag = "Webhooks",
    params(("webhookId" = String, Path, description = "wh_…"), LogsQuery),
    responses(
        (status = 200, description = "Attempts, newest first", body = Data<Vec<LogView>>),
        (status = 400, description = "invalid_request", body = ErrorEnvelope),
        (status = 404, description = "webhook_not_found", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn webhook_logs(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<LogsQuery>,
) -> Result<axum::Json<Data<Vec<LogView>>>, ApiError> {
    auth.require(Scope::WebhooksRead)?;
    let limit = match q.limit {
        None => 50,
        Some(l @ 1..=100) => l,
        Some(_) => return Err(ApiError::field("limit", "must be between 1 and 100")),
    };
    let success = match q.status.as_deref() {
        None => None,
        Some("success") => Some(true),
        Some("failed") => Some(false),
        Some(_) => return Err(ApiError::field("status", "must be success or failed")),
    };
    let sub = owned(&state, &auth, &id).await?;
    let logs = state.store.list_logs(&sub.id, success, limit).await?;
    Ok(axum::Json(Data::new(
        logs.iter().map(LogView::new).collect(),
    )))
}

/// Send a logged delivery again, now (also after it failed for good).
#[utoipa::path(post, path = "/v1/webhooks/{webhookId}/logs/{logId}/retry", tag = "Webhooks",
    params(("webhookId" = String, Path, description = "wh_…"), ("logId" = String, Path, description = "log_…")),
    responses(
        (status = 200, description = "The delivery is due again", body = Data<RetryView>),
        (status = 404, description = "webhook_not_found, not_found (no such log entry)", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn retry_delivery(
    State(state): State<AppState>,
    auth: Auth,
    Path((id, log_id)): Path<(String, String)>,
) -> Result<axum::Json<Data<RetryView>>, ApiError> {
    auth.require(Scope::WebhooksWrite)?;
    let sub = owned(&state, &auth, &id).await?;
    let log = DeliveryLogId::parse(&log_id).map_err(|_| ApiError::NotFound)?;
    if !state
        .store
        .retry_log(&sub.id, &log, Timestamp::now())
        .await?
    {
        return Err(ApiError::NotFound);
    }
    state.deliveries.wake();
    Ok(axum::Json(Data::new(RetryView {
        log_id: log.to_string(),
        status: "pending".into(),
    })))
}

/// Deliver a test event now, signed like any other, and report what the receiver answered.
#[utoipa::path(post, path = "/v1/webhooks/{webhookId}/test", tag = "Webhooks",
    params(("webhookId" = String, Path, description = "wh_…")),
    request_body(content = TestWebhookRequest, description = "Optional"),
    responses(
        (status = 200, description = "The outcome", body = Data<TestResultView>),
        (status = 400, description = "invalid_request", body = ErrorEnvelope),
        (status = 404, description = "webhook_not_found", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn test_webhook(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    OptionalJson(req): OptionalJson<TestWebhookRequest>,
) -> Result<axum::Json<Data<TestResultView>>, ApiError> {
    auth.require(Scope::WebhooksWrite)?;
    let sub = owned(&state, &auth, &id).await?;
    let kind = match req.event.as_deref() {
        None => WebhookEvent::MessageReceived,
        Some(e) => e.parse().map_err(|e| ApiError::field("event", e))?,
    };
    let event = Event::test(&auth.account.id, &sub.instance_id, kind);
    // A test is outside the instance's numbered events.
    let body = event.body(0);
    let client = state.net.client(crate::delivery::attempt::TIMEOUT);
    let result = post_signed(
        &client,
        state.net.policy,
        Attempt {
            url: Some(&sub.url),
            secret: &sub.secret,
            event: kind,
            event_id: event.id.as_str(),
            body: &body,
            sequence: None,
        },
    )
    .await;
    let log = DeliveryLog {
        id: result.log_id.clone(),
        webhook_id: Some(sub.id.clone()),
        event_id: Some(event.id.clone()),
        event: kind,
        success: result.succeeded(),
        status_code: result.status_code,
        response_ms: result.response_ms,
        error: result.error.clone(),
        retry_count: 0,
        next_retry_at: None,
        at: result.at,
    };
    state.store.insert_log(&sub.instance_id, &log).await?;
    Ok(axum::Json(Data::new(TestResultView {
        status: if result.succeeded() {
            "success"
        } else {
            "failed"
        }
        .into(),
        status_code: result.status_code,
        response_time: result.response_ms,
        error: result.error,
        payload: serde_json::from_str(&body).unwrap_or_default(),
    })))
}
