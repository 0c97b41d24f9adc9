//! `/sandbox/v1` (§16): play the phone and the contacts of the simulated network. Only served by a
//! server started with `--sandbox`; elsewhere these routes answer 404.

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wagate_core::account::DisplayName;
use wagate_core::change::Change;
use wagate_core::group::{GroupId, GroupSubject, MAX_PARTICIPANTS};
use wagate_core::instance::{Instance, InstanceStatus};
use wagate_core::message::{Content, Direction, Message};
use wagate_core::page::OffsetPage;
use wagate_core::phone::PhoneNumber;
use wagate_core::presence::ContactState;
use wagate_core::sandbox_reach::Whereabouts;
use wagate_core::scope::Scope;
use wagate_core::send::{ContentFields, SendRules, quoted_message_id};
use wagate_core::{MessageId, RequestId, Timestamp};
use wagate_engines::SandboxNetwork;
use wagate_engines::sandbox::{Injected, SandboxError};

use crate::http::auth::Auth;
use crate::http::error::{ApiError, ErrorEnvelope};
use crate::http::extract::ApiJson;
use crate::http::forward::{Carried, carry_post};
use crate::routes::groups::GroupView;
use crate::routes::instances::owned_instance;
use crate::routes::live_session::held_elsewhere;
use crate::routes::messages::{check_media_host, send_body};
use crate::routes::views::{Data, StatusView};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(scan))
        .routes(routes!(inject_message))
        .routes(routes!(contact_creates_group))
        .routes(routes!(vote))
        .routes(routes!(call))
        .routes(routes!(presence))
        .routes(routes!(drop_connection))
        .routes(routes!(unlink))
}

fn network(state: &AppState) -> Result<&SandboxNetwork, ApiError> {
    state.sandbox.as_ref().ok_or(ApiError::NotFound)
}

fn phone(field: &str, s: &str) -> Result<PhoneNumber, ApiError> {
    PhoneNumber::parse(s).map_err(|e| ApiError::InvalidPhoneNumber(format!("{field}: {e}")))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScanRequest {
    /// The QR code exactly as `connect`, `GET …/qrcode` or `instance.qr_updated` gave it.
    pub qr_code: Option<String>,
    pub pairing_code: Option<String>,
    /// The number the phone links as.
    #[schema(schema_with = crate::openapi::phone_number)]
    pub phone: String,
    pub profile_name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScanView {
    pub instance_id: String,
    pub status: StatusView,
    pub phone: String,
}

/// Play the phone that scans a QR code (or types a pairing code).
#[utoipa::path(post, path = "/sandbox/v1/scan", tag = "Sandbox",
    request_body = ScanRequest,
    responses(
        (status = 200, description = "Linked", body = Data<ScanView>),
        (status = 503, description = "service_unavailable: the link could not be recorded", body = ErrorEnvelope),
        (status = 400, description = "invalid_request (unknown or expired code), invalid_phone_number", body = ErrorEnvelope),
        (status = 404, description = "not_found (not a sandbox server)", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn scan(
    State(state): State<AppState>,
    auth: Auth,
    request_id: Option<Extension<RequestId>>,
    carried: Option<Extension<Carried>>,
    ApiJson(req): ApiJson<ScanRequest>,
) -> Result<Response, ApiError> {
    auth.require(Scope::InstancesWrite)?; // it links an instance
    let net = network(&state)?;
    let linked_as = phone("phone", &req.phone)?;
    let unknown = || ApiError::field("qrCode", "unknown or expired code");
    let raw = match (&req.qr_code, &req.pairing_code) {
        (Some(qr), _) => state.supervisor.raw_code_for(qr),
        (None, Some(code)) => Some(code.trim().to_uppercase()),
        (None, None) => return Err(ApiError::field("qrCode", "send qrCode or pairingCode")),
    };
    let showing = raw
        .as_deref()
        .and_then(|r| state.supervisor.instance_showing(r));
    let (Some(raw), Some(target)) = (raw, showing) else {
        // Not shown here: maybe by an instance of the account that another node holds.
        if carried.is_none()
            && let Some(res) = scan_elsewhere(&state, &auth, request_id.as_deref(), &req).await?
        {
            return Ok(res);
        }
        return Err(unknown());
    };
    // Only the account's own instances can be linked by its key.
    owned_instance(&state, &auth, target.as_str())
        .await
        .map_err(|_| unknown())?;
    let id = net
        .scan(&raw, linked_as.clone(), req.profile_name)
        .await
        .map_err(|e| match e {
            SandboxError::NotRecorded(_) => ApiError::ServiceUnavailable,
            _ => unknown(),
        })?;
    Ok(axum::Json(Data::new(ScanView {
        instance_id: id.to_string(),
        status: InstanceStatus::Connected.into(),
        phone: linked_as.to_string(),
    }))
    .into_response())
}

/// Carries the scan to the nodes that hold the account's instances showing a code, in turn,
/// until one of them knows the code: the first answer that is not a 400, if any.
async fn scan_elsewhere(
    state: &AppState,
    auth: &Auth,
    request_id: Option<&RequestId>,
    req: &ScanRequest,
) -> Result<Option<Response>, ApiError> {
    let page = OffsetPage {
        limit: 100,
        offset: 0,
    };
    let (showing, _) = state
        .store
        .list_instances(&auth.account.id, Some(InstanceStatus::QrPending), page)
        .await?;
    let body = serde_json::json!({
        "qrCode": req.qr_code,
        "pairingCode": req.pairing_code,
        "phone": req.phone,
        "profileName": req.profile_name,
    });
    for inst in showing {
        let Some(holder) = state.supervisor.holder_elsewhere(&inst.id).await? else {
            continue;
        };
        let res = carry_post(
            state,
            auth,
            request_id,
            (&holder, &inst.id),
            "/sandbox/v1/scan",
            &body,
        )
        .await;
        if res.status() != StatusCode::BAD_REQUEST {
            return Ok(Some(res));
        }
    }
    Ok(None)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InjectRequest {
    /// The phone of a connected sandbox instance of this account.
    #[schema(schema_with = crate::openapi::phone_number)]
    pub to: String,
    /// The virtual contact writing.
    #[schema(schema_with = crate::openapi::phone_number)]
    pub from: String,
    pub from_name: Option<String>,
    /// The contact writes in this group (`…@g.us`; both it and the instance are members).
    pub group_id: Option<String>,
    #[serde(flatten)]
    pub content: ContentFields,
    pub quoted_message_id: Option<String>,
    /// The contact edits its message `msg_…` (as the instance stored it) to `message`.
    #[schema(pattern = "^msg_[0-9a-hjkmnp-tv-z]{26}$")]
    pub edit_of: Option<String>,
    /// The contact deletes its message `msg_…` for everyone (no content with it).
    #[schema(pattern = "^msg_[0-9a-hjkmnp-tv-z]{26}$")]
    pub delete_of: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InjectView {
    pub instance_id: String,
    /// The network's id of the message (as a phone would know it).
    pub external_id: String,
}

/// A virtual contact writes to a connected sandbox instance (→ `message.received`), any kind of
/// §17.1; a `reaction` names the instance's `msg_` id (→ `message.reaction`); `editOf` with
/// `message`, or `deleteOf` alone, changes one of the contact's messages (→ `message.edited`,
/// `message.deleted`).
#[utoipa::path(post, path = "/sandbox/v1/messages", tag = "Sandbox",
    request_body = InjectRequest,
    responses(
        (status = 200, description = "Delivered and stored", body = Data<InjectView>),
        (status = 503, description = "service_unavailable: not stored (and so not acknowledged); send it again", body = ErrorEnvelope),
        (status = 400, description = "invalid_request, invalid_phone_number, missing_content, invalid_media", body = ErrorEnvelope),
        (status = 404, description = "instance_not_found; message_not_found (a reaction or quote of a message not in this chat); group_not_found (the contact or the instance is not in the group)", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn inject_message(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<axum::Json<Data<InjectView>>, ApiError> {
    auth.require(Scope::MessagesWrite)?; // it writes a message into the account
    let req: InjectRequest = send_body(body)?;
    let net = network(&state)?;
    let to = phone("to", &req.to)?;
    let from = phone("from", &req.from)?;
    let from_name = req
        .from_name
        .as_deref()
        .map(DisplayName::parse)
        .transpose()
        .map_err(|e| ApiError::field("fromName", e))?
        .map(|n| n.as_str().to_owned());
    let group = req
        .group_id
        .as_deref()
        .map(GroupId::parse)
        .transpose()
        .map_err(|_| ApiError::field("groupId", "a group id, …@g.us"))?;
    if req.edit_of.is_some() || req.delete_of.is_some() {
        return inject_change(&state, &auth, net, to, from, req).await;
    }
    let quoted = quoted_message_id(req.quoted_message_id).map_err(ApiError::from)?;
    let mentions = req.content.mentions()?;
    // The content of what a contact writes has the limits of what an instance sends.
    let content = req
        .content
        .parse(&SendRules::for_contact(state.config.url_policy))?;
    let inst = instance_at(&state, &auth, net, &to).await?;
    check_media_host(&state, &content).await?;
    // The contact's phone knows the instance's messages by their network ids.
    let chat = group.as_ref().map_or(from.to_string(), GroupId::to_string);
    let quoted = match quoted {
        Some(q) => Some(match MessageId::parse(&q) {
            Ok(id) => external_id_of(&state, &inst, &id, &chat).await?,
            Err(_) => q,
        }),
        None => None,
    };
    // Answered only once the instance has committed the message; else the caller may retry.
    let sent = match content {
        Content::Reaction(r) => {
            let target = external_id_of(&state, &inst, &r.message_id, &chat).await?;
            net.react(&to, from, group, target, r.emoji).await
        }
        content => {
            let message = Injected {
                from,
                from_name,
                group,
                content,
                mentions,
                quoted_external_id: quoted,
            };
            net.inject(&to, message).await
        }
    };
    let external_id = sent.map_err(unrecorded)?;
    Ok(axum::Json(Data::new(InjectView {
        instance_id: inst.id.to_string(),
        external_id,
    })))
}

/// `editOf` / `deleteOf`: the contact changes what it wrote.
async fn inject_change(
    state: &AppState,
    auth: &Auth,
    net: &SandboxNetwork,
    to: PhoneNumber,
    from: PhoneNumber,
    req: InjectRequest,
) -> Result<axum::Json<Data<InjectView>>, ApiError> {
    let (field, raw, change) = match (req.edit_of, req.delete_of) {
        (Some(_), Some(_)) => {
            return Err(ApiError::field(
                "deleteOf",
                "send editOf or deleteOf, not both",
            ));
        }
        (Some(id), None) => {
            let text_only = ContentFields {
                message: req.content.message.clone(),
                ..ContentFields::default()
            };
            let alone = req.content == text_only;
            let Some(text) = req.content.message.filter(|_| alone) else {
                return Err(ApiError::field(
                    "message",
                    "editOf takes the new text alone",
                ));
            };
            let edit = Change::edit(text).map_err(|e| ApiError::field("message", e))?;
            ("editOf", id, edit)
        }
        (None, Some(id)) if req.content == ContentFields::default() => {
            ("deleteOf", id, Change::Delete)
        }
        (None, _) => return Err(ApiError::field("deleteOf", "deleteOf takes no content")),
    };
    let id = MessageId::parse(&raw).map_err(|_| ApiError::field(field, "not a message id"))?;
    let inst = instance_at(state, auth, net, &to).await?;
    // Only what this contact wrote to the instance (alone or in a group).
    let external_id = state
        .store
        .get_message(&inst.account_id, &id)
        .await?
        .filter(|m| {
            m.instance_id == inst.id
                && m.direction == Direction::Inbound
                && m.sender().as_str() == from.as_str()
        })
        .and_then(|m| m.external_id)
        .ok_or(ApiError::MessageNotFound)?;
    net.change(&to, from, external_id.clone(), change)
        .await
        .map_err(unrecorded)?;
    Ok(axum::Json(Data::new(InjectView {
        instance_id: inst.id.to_string(),
        external_id,
    })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallRequest {
    /// The phone of the connected sandbox instance called.
    #[schema(schema_with = crate::openapi::phone_number)]
    pub to: String,
    /// The virtual contact calling.
    #[schema(schema_with = crate::openapi::phone_number)]
    pub from: String,
    #[serde(default)]
    pub is_video: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallView {
    pub call_id: String,
    /// The instance declined it (its `rejectCalls` setting).
    pub rejected: bool,
}

/// A virtual contact calls a connected sandbox instance (→ `call.received`); with
/// `rejectCalls` the instance declines it and sends `rejectCallMessage` back.
#[utoipa::path(post, path = "/sandbox/v1/calls", tag = "Sandbox",
    request_body = CallRequest,
    responses(
        (status = 200, description = "Rung, and answered as the instance's settings say", body = Data<CallView>),
        (status = 400, description = "invalid_request, invalid_phone_number", body = ErrorEnvelope),
        (status = 404, description = "instance_not_found", body = ErrorEnvelope),
        (status = 503, description = "service_unavailable: not recorded; call again", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn call(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<CallRequest>,
) -> Result<axum::Json<Data<CallView>>, ApiError> {
    auth.require(Scope::MessagesWrite)?; // it writes into the account's events and messages
    let net = network(&state)?;
    let to = phone("to", &req.to)?;
    let from = phone("from", &req.from)?;
    instance_at(&state, &auth, net, &to).await?;
    let (call_id, rejected) = net
        .call(&to, from, req.is_video)
        .await
        .map_err(unrecorded)?;
    Ok(axum::Json(Data::new(CallView { call_id, rejected })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactPresenceRequest {
    /// The phone of the connected sandbox instance the contact shows it to.
    #[schema(schema_with = crate::openapi::phone_number)]
    pub to: String,
    /// The virtual contact.
    #[schema(schema_with = crate::openapi::phone_number)]
    pub from: String,
    /// `available`, `unavailable`, `composing`, `recording` or `paused`.
    #[schema(pattern = "^(available|unavailable|composing|recording|paused)$")]
    pub state: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactPresenceView {
    pub state: String,
}

/// A virtual contact comes online, goes offline, or types in its chat with an instance
/// (→ `presence.updated`, for the subscriptions that ask for it).
#[utoipa::path(post, path = "/sandbox/v1/presence", tag = "Sandbox",
    request_body = ContactPresenceRequest,
    responses(
        (status = 200, description = "Shown", body = Data<ContactPresenceView>),
        (status = 400, description = "invalid_request (an unknown state), invalid_phone_number", body = ErrorEnvelope),
        (status = 404, description = "instance_not_found", body = ErrorEnvelope),
        (status = 503, description = "service_unavailable: not recorded", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn presence(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<ContactPresenceRequest>,
) -> Result<axum::Json<Data<ContactPresenceView>>, ApiError> {
    auth.require(Scope::MessagesWrite)?; // it writes into the account's events
    let net = network(&state)?;
    let to = phone("to", &req.to)?;
    let from = phone("from", &req.from)?;
    let shown = ContactState::parse(&req.state).map_err(|e| ApiError::field("state", e))?;
    instance_at(&state, &auth, net, &to).await?;
    net.presence(&to, from, shown).await.map_err(unrecorded)?;
    Ok(axum::Json(Data::new(ContactPresenceView {
        state: shown.as_str().to_owned(),
    })))
}

/// The connected sandbox instance linked as `to`, when it is the caller's.
async fn instance_at(
    state: &AppState,
    auth: &Auth,
    net: &SandboxNetwork,
    to: &PhoneNumber,
) -> Result<Instance, ApiError> {
    if let Some(target) = net.instance_with_phone(to) {
        return owned_instance(state, auth, target.as_str()).await;
    }
    // Connected on another node (§19): the request is carried there.
    match state
        .store
        .sandbox_whereabouts(to, Timestamp::now())
        .await?
    {
        Whereabouts::Connected { instance, node } if node != *state.supervisor.node() => {
            let inst = owned_instance(state, auth, instance.as_str()).await?;
            Err(ApiError::HeldElsewhere(node, inst.id))
        }
        _ => Err(ApiError::InstanceNotFound),
    }
}

fn unrecorded(e: SandboxError) -> ApiError {
    match e {
        SandboxError::NotRecorded(_) => ApiError::ServiceUnavailable,
        SandboxError::NotInGroup(_) => ApiError::GroupNotFound,
        _ => ApiError::InstanceNotFound,
    }
}

/// The network id of the instance's message `id` in `chat` (the contact's number, or a group's
/// id): what the contact's phone knows it by. Another chat's message, or one not sent yet, is
/// not found.
async fn external_id_of(
    state: &AppState,
    inst: &Instance,
    id: &MessageId,
    chat: &str,
) -> Result<String, ApiError> {
    state
        .store
        .get_message(&inst.account_id, id)
        .await?
        .filter(|m| m.instance_id == inst.id && m.peer.as_str() == chat)
        .and_then(|m| m.external_id)
        .ok_or(ApiError::MessageNotFound)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VoteRequest {
    /// The phone of the connected sandbox instance that sent the poll.
    #[schema(schema_with = crate::openapi::phone_number)]
    pub to: String,
    /// The virtual contact voting (the poll was sent to them).
    #[schema(schema_with = crate::openapi::phone_number)]
    pub from: String,
    /// The poll, `msg_…`.
    pub poll_message_id: String,
    /// Options of the poll, by their text; one unless the poll allows multiple answers, none
    /// to take the vote back.
    #[schema(max_items = 12)]
    pub selected_options: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VoteView {
    pub poll_message_id: String,
    pub selected_options: Vec<String>,
}

/// A virtual contact votes on a poll an instance sent them (→ `poll.vote`).
#[utoipa::path(post, path = "/sandbox/v1/votes", tag = "Sandbox",
    request_body = VoteRequest,
    responses(
        (status = 200, description = "Voted and stored", body = Data<VoteView>),
        (status = 400, description = "invalid_request (an option the poll lacks, or several on a single-answer poll), invalid_phone_number", body = ErrorEnvelope),
        (status = 404, description = "instance_not_found, message_not_found", body = ErrorEnvelope),
        (status = 503, description = "service_unavailable: not stored; vote again", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn vote(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<VoteRequest>,
) -> Result<axum::Json<Data<VoteView>>, ApiError> {
    auth.require(Scope::MessagesWrite)?; // it writes into the account's messages
    let net = network(&state)?;
    let to = phone("to", &req.to)?;
    let from = phone("from", &req.from)?;
    let inst = instance_at(&state, &auth, net, &to).await?;
    let id = MessageId::parse(&req.poll_message_id).map_err(|_| ApiError::MessageNotFound)?;
    let poll = state
        .store
        .get_message(&inst.account_id, &id)
        .await?
        .filter(|m| m.instance_id == inst.id && m.peer.as_str() == from.as_str());
    let Some(Message {
        content: Content::Poll(p),
        external_id: Some(external_id),
        ..
    }) = poll
    else {
        return Err(ApiError::MessageNotFound);
    };
    let mut chosen = Vec::with_capacity(req.selected_options.len());
    for o in req.selected_options {
        if !p.options.contains(&o) {
            return Err(ApiError::field(
                "selectedOptions",
                format!("'{o}' is not an option of the poll"),
            ));
        }
        if !chosen.contains(&o) {
            chosen.push(o);
        }
    }
    if chosen.len() > 1 && !p.multiple_answers {
        return Err(ApiError::field(
            "selectedOptions",
            "the poll takes one answer",
        ));
    }
    net.vote(&to, from, external_id, chosen.clone())
        .await
        .map_err(unrecorded)?;
    Ok(axum::Json(Data::new(VoteView {
        poll_message_id: id.to_string(),
        selected_options: chosen,
    })))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SandboxActionView {
    pub id: String,
    pub done: bool,
}

/// The instance is not on the network here: held by another node (the request is carried
/// there), or not connected.
async fn not_here(state: &AppState, inst: &Instance, e: SandboxError) -> ApiError {
    match held_elsewhere(state, inst).await {
        Ok(Some(elsewhere)) => elsewhere,
        Ok(None) => ApiError::InstanceNotConnected(format!(
            "The instance is not on the sandbox network: {e}."
        )),
        Err(e) => e,
    }
}

/// Cut the instance's connection; it comes back by itself.
#[utoipa::path(post, path = "/sandbox/v1/instances/{instanceId}/drop", tag = "Sandbox",
    params(("instanceId" = String, Path, description = "inst_…")),
    responses(
        (status = 200, description = "Dropped", body = Data<SandboxActionView>),
        (status = 404, description = "instance_not_found", body = ErrorEnvelope),
        (status = 409, description = "instance_not_connected", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn drop_connection(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
) -> Result<axum::Json<Data<SandboxActionView>>, ApiError> {
    auth.require(Scope::InstancesWrite)?; // it changes an instance's connection
    let net = network(&state)?;
    let inst = owned_instance(&state, &auth, &raw).await?;
    if let Err(e) = net.drop_connection(&inst.id).await {
        return Err(not_here(&state, &inst, e).await);
    }
    Ok(axum::Json(Data::new(SandboxActionView {
        id: inst.id.to_string(),
        done: true,
    })))
}

/// The phone removes the linked device (→ logged out).
#[utoipa::path(post, path = "/sandbox/v1/instances/{instanceId}/unlink", tag = "Sandbox",
    params(("instanceId" = String, Path, description = "inst_…")),
    responses(
        (status = 200, description = "Unlinked", body = Data<SandboxActionView>),
        (status = 404, description = "instance_not_found", body = ErrorEnvelope),
        (status = 409, description = "instance_not_connected", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn unlink(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
) -> Result<axum::Json<Data<SandboxActionView>>, ApiError> {
    auth.require(Scope::InstancesWrite)?; // it changes an instance's connection
    let net = network(&state)?;
    let inst = owned_instance(&state, &auth, &raw).await?;
    if let Err(e) = net.unlink(&inst.id).await {
        return Err(not_here(&state, &inst, e).await);
    }
    Ok(axum::Json(Data::new(SandboxActionView {
        id: inst.id.to_string(),
        done: true,
    })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SandboxGroupRequest {
    /// The phone of the connected sandbox instance added to the group.
    #[schema(schema_with = crate::openapi::phone_number)]
    pub to: String,
    /// The virtual contact creating the group (its owner).
    #[schema(schema_with = crate::openapi::phone_number)]
    pub from: String,
    #[schema(schema_with = crate::openapi::group_subject)]
    pub subject: String,
    /// Other members: virtual contacts, or other sandbox instances (at most 1,024).
    #[serde(default)]
    #[schema(schema_with = crate::openapi::phone_numbers)]
    pub participants: Vec<String>,
}

/// A virtual contact creates a group with the instance in it (→ `group.joined`).
#[utoipa::path(post, path = "/sandbox/v1/groups", tag = "Sandbox",
    request_body = SandboxGroupRequest,
    responses(
        (status = 201, description = "Created, and stored by the instance", body = Data<GroupView>),
        (status = 400, description = "invalid_request, invalid_phone_number", body = ErrorEnvelope),
        (status = 404, description = "instance_not_found", body = ErrorEnvelope),
        (status = 503, description = "service_unavailable: not stored", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn contact_creates_group(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<SandboxGroupRequest>,
) -> Result<(StatusCode, axum::Json<Data<GroupView>>), ApiError> {
    auth.require(Scope::MessagesWrite)?; // it writes into the account, as a contact's message does
    let net = network(&state)?;
    let to = phone("to", &req.to)?;
    let from = phone("from", &req.from)?;
    let subject = GroupSubject::parse(&req.subject).map_err(|e| ApiError::field("subject", e))?;
    if req.participants.len() > MAX_PARTICIPANTS {
        return Err(ApiError::field(
            "participants",
            format!("at most {MAX_PARTICIPANTS} numbers"),
        ));
    }
    let others = req
        .participants
        .iter()
        .map(|p| phone("participants", p))
        .collect::<Result<Vec<_>, _>>()?;
    instance_at(&state, &auth, net, &to).await?;
    let group = net
        .contact_creates_group(&to, from, subject.as_str().to_owned(), others)
        .await
        .map_err(unrecorded)?;
    Ok((
        StatusCode::CREATED,
        axum::Json(Data::new(GroupView::whole(&group))),
    ))
}
