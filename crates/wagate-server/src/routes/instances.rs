//! `/v1/instances`: create, list, get, update, delete (§6, §15.4).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wagate_core::account::DisplayName;
use wagate_core::instance::{
    Instance, InstancePatch, InstanceStatus, NewInstance, RejectCallMessage, Settings,
};
use wagate_core::net::TargetUrl;
use wagate_core::page::OffsetPage;
use wagate_core::scope::Scope;
use wagate_core::store::InsertInstanceError;
use wagate_core::webhook_event::WebhookEvent;
use wagate_core::{InstanceId, Timestamp};

use crate::http::auth::Auth;
use crate::http::error::{ApiError, ErrorEnvelope};
use crate::http::extract::{ApiJson, ApiQuery, present};
use crate::routes::views::{Data, DeletedView, InstanceView, Page};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_instance, list_instances))
        .routes(routes!(get_instance, update_instance, delete_instance))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SettingsInput {
    /// Mark incoming messages as read automatically (default false).
    pub auto_read: Option<bool>,
    /// Show "typing…" before each message (default true).
    pub auto_typing: Option<bool>,
    /// Reject incoming calls (default false); each call is still reported (`call.received`).
    pub reject_calls: Option<bool>,
    /// A text (1–4,096 characters) sent to the caller after a rejected call; `null` sends none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 4096)]
    pub reject_call_message: Option<Option<String>>,
}

impl SettingsInput {
    fn reject_call_message(&self) -> Result<Option<Option<RejectCallMessage>>, ApiError> {
        self.reject_call_message
            .as_ref()
            .map(|m| {
                m.as_deref()
                    .map(RejectCallMessage::parse)
                    .transpose()
                    .map_err(|e| ApiError::field("settings.rejectCallMessage", e))
            })
            .transpose()
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateInstanceRequest {
    /// A descriptive name, e.g. "Sales WhatsApp".
    #[schema(schema_with = crate::openapi::display_name)]
    pub name: String,
    /// URL that receives this instance's webhook events.
    #[schema(schema_with = crate::openapi::target_url)]
    pub webhook_url: Option<String>,
    /// Events to deliver to `webhookUrl` (default: all events).
    #[schema(schema_with = crate::openapi::webhook_events)]
    pub webhook_events: Option<Vec<serde_json::Value>>,
    pub settings: Option<SettingsInput>,
    /// Alias of `settings.autoRead` as a top-level key (§15.2).
    #[serde(rename = "settings.autoRead")]
    pub settings_auto_read: Option<bool>,
    /// Alias of `settings.autoTyping` as a top-level key (§15.2).
    #[serde(rename = "settings.autoTyping")]
    pub settings_auto_typing: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateInstanceRequest {
    #[schema(schema_with = crate::openapi::display_name)]
    pub name: Option<String>,
    /// A new URL, or null to remove it.
    #[serde(default, deserialize_with = "present")]
    /// `null` removes it.
    #[schema(schema_with = crate::openapi::target_url)]
    pub webhook_url: Option<Option<String>>,
    #[schema(schema_with = crate::openapi::webhook_events)]
    pub webhook_events: Option<Vec<serde_json::Value>>,
    pub settings: Option<SettingsInput>,
    #[serde(rename = "settings.autoRead")]
    pub settings_auto_read: Option<bool>,
    #[serde(rename = "settings.autoTyping")]
    pub settings_auto_typing: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListInstancesQuery {
    /// `connected`, `disconnected`, `connecting`, `qr_pending` or `all` (default).
    #[param(schema_with = crate::openapi::instance_status_filter)]
    pub status: Option<String>,
    /// 1–100, default 50.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// Items to skip, default 0.
    #[param(minimum = 0, maximum = 9223372036854775807_u64)]
    pub offset: Option<u64>,
}

fn parse_name(s: &str) -> Result<DisplayName, ApiError> {
    DisplayName::parse(s).map_err(|e| ApiError::field("name", e))
}

pub(crate) async fn parse_webhook_url(state: &AppState, s: &str) -> Result<TargetUrl, ApiError> {
    state
        .net
        .parse_target(s)
        .await
        .map_err(|e| ApiError::InvalidWebhookUrl(format!("The webhook URL is not valid: {e}.")))
}

pub(crate) fn parse_events(list: &[serde_json::Value]) -> Result<Vec<WebhookEvent>, ApiError> {
    let names = list
        .iter()
        .map(|v| {
            v.as_str()
                .ok_or_else(|| format!("{v} is not an event name"))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(ApiError::InvalidWebhookEvents)?;
    if names.is_empty() {
        return Err(ApiError::InvalidWebhookEvents(
            "The event list must name at least one event.".into(),
        ));
    }
    WebhookEvent::parse_list(&names).map_err(|e| {
        ApiError::InvalidWebhookEvents(format!(
            "{e}; valid events are {}.",
            WebhookEvent::ALL.map(|e| e.as_str()).join(", ")
        ))
    })
}

/// The top-level dotted aliases win over the nested object when both are sent.
fn merged(
    nested: Option<SettingsInput>,
    read: Option<bool>,
    typing: Option<bool>,
) -> SettingsInput {
    let nested = nested.unwrap_or_default();
    SettingsInput {
        auto_read: read.or(nested.auto_read),
        auto_typing: typing.or(nested.auto_typing),
        ..nested
    }
}

pub(crate) fn instance_id(raw: &str) -> Result<InstanceId, ApiError> {
    InstanceId::parse(raw).map_err(|_| ApiError::InstanceNotFound)
}

/// The `instanceId` a query must name.
pub(crate) fn required_instance(raw: &Option<String>) -> Result<&str, ApiError> {
    raw.as_deref()
        .ok_or_else(|| ApiError::field("instanceId", "is required"))
}

/// The caller's instance `raw`, or 404 (another account's instance is reported the same way).
pub(crate) async fn owned_instance(
    state: &AppState,
    auth: &Auth,
    raw: &str,
) -> Result<Instance, ApiError> {
    let id = instance_id(raw)?;
    state
        .store
        .get_instance(&auth.account.id, &id)
        .await?
        .ok_or(ApiError::InstanceNotFound)
}

/// Create an instance.
///
/// It starts `disconnected`; connect it next. The response carries `webhookSecret` this once.
#[utoipa::path(post, path = "/v1/instances", tag = "Instances",
    request_body = CreateInstanceRequest,
    responses(
        (status = 201, description = "Created", body = Data<InstanceView>),
        (status = 400, description = "invalid_request, invalid_webhook_url, invalid_webhook_events", body = ErrorEnvelope),
        (status = 403, description = "instance_limit_reached, insufficient_permissions", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn create_instance(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<CreateInstanceRequest>,
) -> Result<(StatusCode, axum::Json<Data<InstanceView>>), ApiError> {
    auth.require(Scope::InstancesWrite)?;
    let name = parse_name(&req.name)?;
    let webhook_url = match req.webhook_url.as_deref() {
        Some(u) => Some(parse_webhook_url(&state, u).await?),
        None => None,
    };
    let webhook_events = match &req.webhook_events {
        Some(list) => parse_events(list)?,
        None => WebhookEvent::DEFAULT.to_vec(),
    };
    let s = merged(
        req.settings,
        req.settings_auto_read,
        req.settings_auto_typing,
    );
    let defaults = Settings::default();
    let new = NewInstance {
        name,
        webhook_url,
        webhook_events,
        settings: Settings {
            auto_read: s.auto_read.unwrap_or(defaults.auto_read),
            auto_typing: s.auto_typing.unwrap_or(defaults.auto_typing),
            reject_calls: s.reject_calls.unwrap_or(defaults.reject_calls),
            reject_call_message: s.reject_call_message()?.flatten(),
        },
    };
    let instance = new.into_instance(auth.account.id.clone(), Timestamp::now());
    state
        .store
        .insert_instance(&instance, auth.account.plan.instance_limit())
        .await
        .map_err(|e| match e {
            InsertInstanceError::LimitReached { limit } => ApiError::InstanceLimitReached(limit),
            InsertInstanceError::Store(e) => e.into(),
        })?;
    Ok((
        StatusCode::CREATED,
        axum::Json(Data::new(InstanceView::with_secret(&instance))),
    ))
}

/// List instances.
#[utoipa::path(get, path = "/v1/instances", tag = "Instances",
    params(ListInstancesQuery),
    responses(
        (status = 200, description = "A page of instances", body = Page<InstanceView>),
        (status = 400, description = "invalid_request", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn list_instances(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<ListInstancesQuery>,
) -> Result<axum::Json<Page<InstanceView>>, ApiError> {
    auth.require(Scope::InstancesRead)?;
    let status = match q.status.as_deref() {
        None | Some("all") => None,
        Some(s) => Some(
            s.parse::<InstanceStatus>()
                .map_err(|e| ApiError::field("status", e))?,
        ),
    };
    let page =
        OffsetPage::parse(q.limit, q.offset, 50, 100).map_err(|e| ApiError::field(e.field(), e))?;
    let (list, total) = state
        .store
        .list_instances(&auth.account.id, status, page)
        .await?;
    let views = list.iter().map(InstanceView::new).collect();
    Ok(axum::Json(Page::new(views, page.pagination(total))))
}

/// Get one instance.
#[utoipa::path(get, path = "/v1/instances/{instanceId}", tag = "Instances",
    params(("instanceId" = String, Path, description = "inst_…")),
    responses(
        (status = 200, description = "The instance", body = Data<InstanceView>),
        (status = 404, description = "instance_not_found", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn get_instance(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
) -> Result<axum::Json<Data<InstanceView>>, ApiError> {
    auth.require(Scope::InstancesRead)?;
    let inst = owned_instance(&state, &auth, &raw).await?;
    Ok(axum::Json(Data::new(InstanceView::new(&inst))))
}

/// Update an instance's name, webhook and settings.
#[utoipa::path(patch, path = "/v1/instances/{instanceId}", tag = "Instances",
    params(("instanceId" = String, Path, description = "inst_…")),
    request_body = UpdateInstanceRequest,
    responses(
        (status = 200, description = "The updated instance", body = Data<InstanceView>),
        (status = 400, description = "invalid_request, invalid_webhook_url, invalid_webhook_events", body = ErrorEnvelope),
        (status = 404, description = "instance_not_found", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn update_instance(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
    ApiJson(req): ApiJson<UpdateInstanceRequest>,
) -> Result<axum::Json<Data<InstanceView>>, ApiError> {
    auth.require(Scope::InstancesWrite)?;
    let id = instance_id(&raw)?;
    // A missing instance is reported before anything about the body's values.
    if state
        .store
        .get_instance(&auth.account.id, &id)
        .await?
        .is_none()
    {
        return Err(ApiError::InstanceNotFound);
    }
    let webhook_url = match req.webhook_url {
        None => None,
        Some(None) => Some(None),
        Some(Some(u)) => Some(Some(parse_webhook_url(&state, &u).await?)),
    };
    let s = merged(
        req.settings,
        req.settings_auto_read,
        req.settings_auto_typing,
    );
    let patch = InstancePatch {
        name: req.name.as_deref().map(parse_name).transpose()?,
        webhook_url,
        webhook_events: req
            .webhook_events
            .as_deref()
            .map(parse_events)
            .transpose()?,
        auto_read: s.auto_read,
        auto_typing: s.auto_typing,
        reject_calls: s.reject_calls,
        reject_call_message: s.reject_call_message()?,
    };
    let inst = state
        .store
        .update_instance(&auth.account.id, &id, &patch)
        .await?
        .ok_or(ApiError::InstanceNotFound)?;
    Ok(axum::Json(Data::new(InstanceView::new(&inst))))
}

/// Delete an instance with its messages, chats, contacts, webhooks and session.
#[utoipa::path(delete, path = "/v1/instances/{instanceId}", tag = "Instances",
    params(("instanceId" = String, Path, description = "inst_…")),
    responses(
        (status = 200, description = "Deleted", body = Data<DeletedView>),
        (status = 404, description = "instance_not_found", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn delete_instance(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
) -> Result<axum::Json<Data<DeletedView>>, ApiError> {
    auth.require(Scope::InstancesWrite)?;
    let inst = owned_instance(&state, &auth, &raw).await?;
    // Log the session out first, so the linked device is released on the network too.
    if let Err(e) = state.supervisor.logout(&inst).await {
        tracing::warn!(instance = %inst.id, error = %e, "logout before delete failed");
    }
    let id = inst.id;
    if !state.store.delete_instance(&auth.account.id, &id).await? {
        return Err(ApiError::InstanceNotFound);
    }
    Ok(axum::Json(Data::new(DeletedView {
        id: id.to_string(),
        deleted: true,
    })))
}
