//! Connecting instances (§6.4–§6.7, §15.4): connect, QR code, status, disconnect, restart.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wagate_core::instance::{ConnectionMethod, Instance, InstanceStatus};
use wagate_core::phone::PhoneNumber;
use wagate_core::scope::Scope;
use wagate_core::{Timestamp, UtcDay};

use wagate_engines::cloud_api::VerifyError;
use wagate_engines::cloud_api::credentials::Credentials;

use crate::http::auth::Auth;
use crate::http::error::{ApiError, ErrorEnvelope};
use crate::http::extract::{ApiJson, OptionalJson};
use crate::routes::instances::owned_instance;
use crate::routes::views::{Data, LastErrorView, StatusView};
use crate::runtime::lifecycle::{Lifecycle, LifecycleError, Refusal, current_status};
use crate::runtime::supervisor::RuntimeError;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(connect))
        .routes(routes!(get_qrcode))
        .routes(routes!(get_status))
        .routes(routes!(disconnect))
        .routes(routes!(restart))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectRequest {
    /// `qrcode` or `official`.
    #[schema(example = "qrcode")]
    pub method: String,
    /// With `qrcode`: link by pairing code on this phone number instead of scanning.
    pub phone: Option<String>,
    pub business_id: Option<String>,
    pub phone_number_id: Option<String>,
    pub access_token: Option<String>,
    pub app_secret: Option<String>,
}

/// The flat body of `connect` (§3's documented exception).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectResponse {
    pub success: bool,
    pub status: StatusView,
    /// `data:image/png;base64,…` while `qr_pending`.
    pub qr_code: Option<String>,
    pub qr_code_expires_at: Option<String>,
    /// 8 characters to type on the phone, when `phone` was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pairing_code: Option<String>,
    /// The connected number (method `official`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Meta's verified business name (method `official`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QrCodeView {
    pub qr_code: String,
    pub expires_at: Option<String>,
    pub status: StatusView,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatsView {
    /// Messages sent today (UTC).
    pub messages_sent: u64,
    /// Messages received today (UTC).
    pub messages_received: u64,
    /// Chats with a message today.
    pub active_chats: u64,
    pub unread_messages: u64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionHealthView {
    /// Seconds since the current connection was established (0 when not connected).
    pub uptime: u64,
    /// Milliseconds the network took to accept the last message (null before the first).
    pub latency: Option<u64>,
    /// Delivered or read, out of all outbound messages that left the queue (null before the first).
    pub message_delivery_rate: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceStatusView {
    pub id: String,
    pub name: String,
    pub status: StatusView,
    pub phone: Option<String>,
    pub profile_name: Option<String>,
    pub profile_pic_url: Option<String>,
    pub qr_code: Option<String>,
    pub qr_code_expires_at: Option<String>,
    pub last_seen_at: Option<String>,
    pub connected_at: Option<String>,
    pub connection_method: Option<String>,
    pub last_error: Option<LastErrorView>,
    pub stats: StatsView,
    pub health: ConnectionHealthView,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct DisconnectRequest {
    /// Kept for the logs.
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageReply {
    pub success: bool,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RestartView {
    pub id: String,
    pub status: StatusView,
}

fn runtime_error(e: RuntimeError) -> ApiError {
    match e {
        RuntimeError::NoEngine => ApiError::InstanceNotConnected(
            "This server has no engine for QR connections yet; start it with --sandbox to use the sandbox network."
                .into(),
        ),
        RuntimeError::Store(e) => e.into(),
        RuntimeError::HeldElsewhere(node) => {
            // Commands across nodes (§19) are not built yet: the caller retries, or asks the
            // node that holds the instance.
            tracing::info!(%node, "the instance is held by another node");
            ApiError::ServiceUnavailable
        }
        RuntimeError::Engine(e) => {
            tracing::error!(error = %e, "engine refused to connect");
            ApiError::ServiceUnavailable
        }
    }
}

fn lifecycle_error(e: LifecycleError) -> ApiError {
    match e {
        LifecycleError::Refused(Refusal::AlreadyConnected) => ApiError::AlreadyConnected,
        LifecycleError::Refused(Refusal::NotLinking(m)) => ApiError::InstanceNotConnected(m),
        LifecycleError::Refused(Refusal::NoEngine) => runtime_error(RuntimeError::NoEngine),
        LifecycleError::Refused(Refusal::Unavailable) => ApiError::ServiceUnavailable,
        LifecycleError::HeldElsewhere(node) => runtime_error(RuntimeError::HeldElsewhere(node)),
        LifecycleError::Store(e) => e.into(),
    }
}

/// Connect an instance: QR code (or pairing code with `phone`), or Meta's official API.
#[utoipa::path(post, path = "/v1/instances/{instanceId}/connect", tag = "Connection",
    params(("instanceId" = String, Path, description = "inst_…")),
    request_body = ConnectRequest,
    responses(
        (status = 200, description = "Linking started", body = ConnectResponse),
        (status = 400, description = "invalid_request, invalid_phone_number, invalid_official_credentials", body = ErrorEnvelope),
        (status = 404, description = "instance_not_found", body = ErrorEnvelope),
        (status = 409, description = "already_connected", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn connect(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
    ApiJson(req): ApiJson<ConnectRequest>,
) -> Result<axum::Json<ConnectResponse>, ApiError> {
    auth.require(Scope::InstancesWrite)?;
    let inst = owned_instance(&state, &auth, &raw).await?;
    let pairing_phone = match req.method.as_str() {
        "qrcode" => req
            .phone
            .as_deref()
            .map(|p| {
                PhoneNumber::parse(p)
                    .map(|p| p.as_str().to_owned())
                    .map_err(|e| ApiError::InvalidPhoneNumber(format!("phone: {e}")))
            })
            .transpose()?,
        "official" => return connect_official(&state, &inst, req).await.map(axum::Json),
        _ => return Err(ApiError::field("method", "must be 'qrcode' or 'official'")),
    };
    let live = state
        .remote
        .run(
            &state.supervisor,
            &inst,
            Lifecycle::Connect { pairing_phone },
        )
        .await
        .map_err(lifecycle_error)?;
    Ok(axum::Json(ConnectResponse {
        success: true,
        status: live.status.unwrap_or(InstanceStatus::Connecting).into(),
        qr_code: live.qr_data_uri,
        qr_code_expires_at: live.code_expires_at.map(|t| t.to_rfc3339()),
        pairing_code: live.pairing_code,
        phone: None,
        profile_name: None,
    }))
}

/// `method: official`: the credentials are checked with Meta, sealed, and connected.
async fn connect_official(
    state: &AppState,
    inst: &Instance,
    req: ConnectRequest,
) -> Result<ConnectResponse, ApiError> {
    let credentials = Credentials::parse(
        req.business_id.as_deref(),
        req.phone_number_id.as_deref(),
        req.access_token.as_deref(),
        req.app_secret.as_deref(),
    )
    .map_err(|e| ApiError::field(e.field(), &e))?;
    let runtime = state.supervisor.get(&inst.id);
    if current_status(inst, runtime.as_ref()) == InstanceStatus::Connected {
        return Err(ApiError::AlreadyConnected);
    }
    // Meta's webhooks name the number, so one number can serve only one instance.
    if state
        .official
        .instance_of(&credentials.phone_number_id)
        .is_some_and(|other| other != inst.id)
    {
        return Err(ApiError::InvalidOfficialCredentials(
            "This phoneNumberId is already connected to another instance.".into(),
        ));
    }
    let profile = state
        .official
        .verify(&credentials)
        .await
        .map_err(|e| match e {
            VerifyError::Rejected(m) => ApiError::InvalidOfficialCredentials(m),
            VerifyError::Unavailable(m) => {
                tracing::warn!(instance = %inst.id, error = %m, "Meta's Graph API could not check credentials");
                ApiError::ServiceUnavailable
            }
        })?;
    let sealed = state.official.seal(&inst.id, credentials, &profile);
    let runtime = state
        .supervisor
        .connect_official(inst, sealed)
        .await
        .map_err(runtime_error)?;
    let status = runtime.live().status.unwrap_or(InstanceStatus::Connecting);
    Ok(ConnectResponse {
        success: true,
        status: status.into(),
        qr_code: None,
        qr_code_expires_at: None,
        pairing_code: None,
        phone: Some(profile.phone.to_string()),
        profile_name: profile.verified_name,
    })
}

/// The current QR code, as a `data:image/png;base64,…` URI; starts linking when idle (which
/// needs `instances:write`).
#[utoipa::path(get, path = "/v1/instances/{instanceId}/qrcode", tag = "Connection",
    params(("instanceId" = String, Path, description = "inst_…")),
    responses(
        (status = 200, description = "The QR code", body = Data<QrCodeView>),
        (status = 403, description = "insufficient_permissions: the instance is idle and the key may not start linking (`instances:write`)", body = ErrorEnvelope),
        (status = 404, description = "instance_not_found", body = ErrorEnvelope),
        (status = 409, description = "already_connected, official_api_instance", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn get_qrcode(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
) -> Result<axum::Json<Data<QrCodeView>>, ApiError> {
    auth.require(Scope::InstancesRead)?;
    let inst = owned_instance(&state, &auth, &raw).await?;
    if inst.connection_method == Some(ConnectionMethod::Official) && inst.has_session {
        return Err(ApiError::OfficialApiInstance);
    }
    if current_status(&inst, state.supervisor.get(&inst.id).as_ref())
        == InstanceStatus::Disconnected
    {
        // Starting a link is a write: a read-only key may watch one, never start one.
        auth.require(Scope::InstancesWrite)?;
    }
    let live = state
        .remote
        .run(&state.supervisor, &inst, Lifecycle::ShowQr)
        .await
        .map_err(lifecycle_error)?;
    if live.status == Some(InstanceStatus::Connected) {
        return Err(ApiError::AlreadyConnected);
    }
    let qr_code = live.qr_data_uri.ok_or_else(|| {
        ApiError::InstanceNotConnected(
            "No QR code is being shown; the instance is reconnecting.".into(),
        )
    })?;
    Ok(axum::Json(Data::new(QrCodeView {
        qr_code,
        expires_at: live.code_expires_at.map(|t| t.to_rfc3339()),
        status: live.status.unwrap_or(InstanceStatus::QrPending).into(),
    })))
}

/// Detailed status: connection, QR code, today's statistics and health.
#[utoipa::path(get, path = "/v1/instances/{instanceId}/status", tag = "Connection",
    params(("instanceId" = String, Path, description = "inst_…")),
    responses(
        (status = 200, description = "Status", body = Data<InstanceStatusView>),
        (status = 404, description = "instance_not_found", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn get_status(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
) -> Result<axum::Json<Data<InstanceStatusView>>, ApiError> {
    auth.require(Scope::InstancesRead)?;
    let inst = owned_instance(&state, &auth, &raw).await?;
    let runtime = state.supervisor.get(&inst.id);
    let live = runtime.as_ref().map(|r| r.live()).unwrap_or_default();
    // Status and last error from one snapshot: the running actor's, else the saved row's.
    let (status, last_error) = match live.status {
        Some(s) => (s, live.last_error.clone()),
        None => (inst.status, inst.last_error.clone()),
    };
    let now = Timestamp::now();
    let stats = state.store.message_stats(&inst.id, UtcDay::of(now)).await?;
    let uptime = match (status, inst.connected_at) {
        (InstanceStatus::Connected, Some(at)) => {
            ((now.millis() - at.millis()).max(0) / 1000) as u64
        }
        _ => 0,
    };
    let pending = status == InstanceStatus::QrPending;
    Ok(axum::Json(Data::new(InstanceStatusView {
        id: inst.id.to_string(),
        name: inst.name.as_str().to_owned(),
        status: status.into(),
        phone: inst.phone.as_ref().map(|p| p.to_string()),
        profile_name: inst.profile_name.clone(),
        profile_pic_url: inst.profile_pic_url.clone(),
        qr_code: live.qr_data_uri.filter(|_| pending),
        qr_code_expires_at: live
            .code_expires_at
            .filter(|_| pending)
            .map(|t| t.to_rfc3339()),
        last_seen_at: inst.last_seen_at.map(|t| t.to_rfc3339()),
        connected_at: inst.connected_at.map(|t| t.to_rfc3339()),
        connection_method: inst.connection_method.map(|m| m.as_str().to_owned()),
        last_error: last_error.as_ref().map(LastErrorView::new),
        stats: StatsView {
            messages_sent: stats.sent_since,
            messages_received: stats.received_since,
            active_chats: stats.active_chats,
            unread_messages: stats.unread_messages,
        },
        health: ConnectionHealthView {
            uptime,
            latency: live.latency_ms,
            message_delivery_rate: (stats.attempted > 0)
                .then(|| stats.delivered as f64 / stats.attempted as f64),
        },
    })))
}

/// Log the session out; reconnecting needs a new QR scan.
#[utoipa::path(post, path = "/v1/instances/{instanceId}/disconnect", tag = "Connection",
    params(("instanceId" = String, Path, description = "inst_…")),
    request_body(content = DisconnectRequest, description = "Optional"),
    responses(
        (status = 200, description = "Disconnected", body = MessageReply),
        (status = 404, description = "instance_not_found", body = ErrorEnvelope),
        (status = 409, description = "instance_not_connected", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn disconnect(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
    OptionalJson(req): OptionalJson<DisconnectRequest>,
) -> Result<axum::Json<MessageReply>, ApiError> {
    auth.require(Scope::InstancesWrite)?;
    let inst = owned_instance(&state, &auth, &raw).await?;
    let has_session = inst.has_session;
    let runtime = state.supervisor.get(&inst.id);
    if !has_session && runtime.is_none() {
        return Err(ApiError::InstanceNotConnected(
            "The instance is already disconnected.".into(),
        ));
    }
    tracing::info!(instance = %inst.id, reason = req.reason.as_deref().unwrap_or(""), "disconnect requested");
    state
        .remote
        .run(&state.supervisor, &inst, Lifecycle::Logout)
        .await
        .map_err(lifecycle_error)?;
    Ok(axum::Json(MessageReply {
        success: true,
        message: "Instance disconnected successfully".into(),
    }))
}

/// Close and reopen the connection from the saved session (no new QR).
#[utoipa::path(post, path = "/v1/instances/{instanceId}/restart", tag = "Connection",
    params(("instanceId" = String, Path, description = "inst_…")),
    responses(
        (status = 200, description = "Reconnecting", body = Data<RestartView>),
        (status = 404, description = "instance_not_found", body = ErrorEnvelope),
        (status = 409, description = "no_saved_session", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn restart(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
) -> Result<axum::Json<Data<RestartView>>, ApiError> {
    auth.require(Scope::InstancesWrite)?;
    let inst = owned_instance(&state, &auth, &raw).await?;
    if !inst.has_session {
        return Err(ApiError::NoSavedSession);
    }
    let live = state
        .remote
        .run(&state.supervisor, &inst, Lifecycle::Restart)
        .await
        .map_err(lifecycle_error)?;
    let status = live.status.unwrap_or(InstanceStatus::Connecting);
    Ok(axum::Json(Data::new(RestartView {
        id: inst.id.to_string(),
        status: status.into(),
    })))
}
