//! Who is in a group (§17.5): members added, removed, promoted and demoted; the invite link;
//! joining by it, and leaving. Each is done on the network, then stored with its event.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use wagate_core::group::{GroupNotice, InviteCode, ParticipantAction, invite_url};
use wagate_core::scope::Scope;

use crate::http::auth::Auth;
use crate::http::error::{ApiError, ErrorEnvelope};
use crate::http::extract::{ApiJson, ApiQuery};
use crate::routes::groups::{
    GroupParams, GroupView, Numbers, ParticipantResultView, group_id, group_instance, group_refused,
};
use crate::routes::instances::required_instance;
use crate::routes::live_session::connected;
use crate::routes::views::Data;
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantsRequest {
    pub instance_id: String,
    #[schema(schema_with = crate::openapi::participant_action)]
    pub action: String,
    /// 1 to 1,024 numbers, digits only.
    #[schema(min_items = 1, max_items = 1024)]
    pub participants: Vec<String>,
}

/// Add, remove, promote or demote members (→ `group.participants`); admins only. Each number
/// has its own outcome: one that cannot be done does not stop the others.
#[utoipa::path(post, path = "/v1/groups/{groupId}/participants", tag = "Groups",
    params(("groupId" = String, Path, description = "…@g.us")),
    request_body = ParticipantsRequest,
    responses(
        (status = 200, description = "One outcome per number, in the request's order", body = Data<Vec<ParticipantResultView>>),
        (status = 400, description = "invalid_request (an unknown action, no numbers or more than 1,024)", body = ErrorEnvelope),
        (status = 403, description = "not_group_admin", body = ErrorEnvelope),
        (status = 404, description = "instance_not_found, group_not_found", body = ErrorEnvelope),
        (status = 409, description = "instance_not_connected, not_supported_by_connection", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn change_participants(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
    ApiJson(req): ApiJson<ParticipantsRequest>,
) -> Result<axum::Json<Data<Vec<ParticipantResultView>>>, ApiError> {
    auth.require(Scope::InstancesWrite)?;
    let inst = group_instance(&state, &auth, &req.instance_id).await?;
    let id = group_id(&raw)?;
    let action = ParticipantAction::parse(&req.action)
        .ok_or_else(|| ApiError::field("action", "add, remove, promote or demote"))?;
    let numbers = Numbers::parse(&req.participants, 1)?;
    let doing = "change group members";
    let session = connected(&state, &inst, doing).await?;
    let refused = group_refused(&inst, doing);
    let outcomes = session
        .change_participants(&id, action, &numbers.valid)
        .await
        .map_err(&refused)?;
    let done: Vec<_> = numbers
        .valid
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| o.refused.is_none())
        .map(|(p, _)| p.clone())
        .collect();
    if !done.is_empty() {
        let latest = session.group(&id).await.ok();
        let notice = GroupNotice::Participants {
            group: id,
            action,
            participants: done,
            by: inst.phone.clone(),
        };
        state
            .store
            .record_group_notice(&inst, &notice, latest.as_ref())
            .await?;
    }
    Ok(axum::Json(Data::new(numbers.results(outcomes))))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InviteView {
    pub code: String,
    /// `https://chat.whatsapp.com/{code}`
    pub url: String,
}

/// The group's invite link; admins only. Anyone with it can join, so it needs
/// `instances:write`.
#[utoipa::path(get, path = "/v1/groups/{groupId}/invite", tag = "Groups",
    params(("groupId" = String, Path, description = "…@g.us"), GroupParams),
    responses(
        (status = 200, description = "The invite", body = Data<InviteView>),
        (status = 400, description = "invalid_request", body = ErrorEnvelope),
        (status = 403, description = "not_group_admin", body = ErrorEnvelope),
        (status = 404, description = "instance_not_found, group_not_found", body = ErrorEnvelope),
        (status = 409, description = "instance_not_connected, not_supported_by_connection", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn get_invite(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
    ApiQuery(q): ApiQuery<GroupParams>,
) -> Result<axum::Json<Data<InviteView>>, ApiError> {
    invite(
        &state,
        &auth,
        &raw,
        required_instance(&q.instance_id)?,
        false,
    )
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupInstanceRequest {
    pub instance_id: String,
}

/// A new invite link; the old one stops working. Admins only.
#[utoipa::path(post, path = "/v1/groups/{groupId}/invite/revoke", tag = "Groups",
    params(("groupId" = String, Path, description = "…@g.us")),
    request_body = GroupInstanceRequest,
    responses(
        (status = 200, description = "The new invite", body = Data<InviteView>),
        (status = 400, description = "invalid_request", body = ErrorEnvelope),
        (status = 403, description = "not_group_admin", body = ErrorEnvelope),
        (status = 404, description = "instance_not_found, group_not_found", body = ErrorEnvelope),
        (status = 409, description = "instance_not_connected, not_supported_by_connection", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn revoke_invite(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
    ApiJson(req): ApiJson<GroupInstanceRequest>,
) -> Result<axum::Json<Data<InviteView>>, ApiError> {
    invite(&state, &auth, &raw, &req.instance_id, true).await
}

async fn invite(
    state: &AppState,
    auth: &Auth,
    raw: &str,
    instance: &str,
    revoke: bool,
) -> Result<axum::Json<Data<InviteView>>, ApiError> {
    auth.require(Scope::InstancesWrite)?;
    let inst = group_instance(state, auth, instance).await?;
    let id = group_id(raw)?;
    let doing = "share group invites";
    let session = connected(state, &inst, doing).await?;
    let code = session
        .group_invite(&id, revoke)
        .await
        .map_err(group_refused(&inst, doing))?;
    Ok(axum::Json(Data::new(InviteView {
        url: invite_url(&code),
        code,
    })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JoinRequest {
    pub instance_id: String,
    /// The invite code, or the whole `https://chat.whatsapp.com/…` link.
    #[schema(
        pattern = r"^(https://chat\.whatsapp\.com/)?[A-Za-z0-9]{1,64}/?$",
        example = "AbCdEfGhIjKlMnOpQrStUv"
    )]
    pub code: String,
}

/// Join a group by its invite (→ `group.joined`).
#[utoipa::path(post, path = "/v1/groups/join", tag = "Groups",
    request_body = JoinRequest,
    responses(
        (status = 200, description = "Joined; the group", body = Data<GroupView>),
        (status = 400, description = "invalid_request", body = ErrorEnvelope),
        (status = 404, description = "instance_not_found, group_not_found (an unknown or revoked code)", body = ErrorEnvelope),
        (status = 409, description = "instance_not_connected, not_supported_by_connection", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn join_group(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<JoinRequest>,
) -> Result<axum::Json<Data<GroupView>>, ApiError> {
    auth.require(Scope::InstancesWrite)?;
    let inst = group_instance(&state, &auth, &req.instance_id).await?;
    let code = InviteCode::parse(&req.code).map_err(|e| ApiError::field("code", e))?;
    let doing = "join groups";
    let session = connected(&state, &inst, doing).await?;
    let refused = group_refused(&inst, doing);
    let id = session.join_group(code.as_str()).await.map_err(&refused)?;
    let group = session.group(&id).await.map_err(&refused)?;
    state
        .store
        .record_group_notice(&inst, &GroupNotice::Joined(group.clone()), Some(&group))
        .await?;
    Ok(axum::Json(Data::new(GroupView::whole(&group))))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LeftView {
    pub group_id: String,
    pub left: bool,
}

/// Leave a group (→ `group.participants`, the instance removed).
#[utoipa::path(post, path = "/v1/groups/{groupId}/leave", tag = "Groups",
    params(("groupId" = String, Path, description = "…@g.us")),
    request_body = GroupInstanceRequest,
    responses(
        (status = 200, description = "Left", body = Data<LeftView>),
        (status = 400, description = "invalid_request", body = ErrorEnvelope),
        (status = 404, description = "instance_not_found, group_not_found", body = ErrorEnvelope),
        (status = 409, description = "instance_not_connected, not_supported_by_connection", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn leave_group(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
    ApiJson(req): ApiJson<GroupInstanceRequest>,
) -> Result<axum::Json<Data<LeftView>>, ApiError> {
    auth.require(Scope::InstancesWrite)?;
    let inst = group_instance(&state, &auth, &req.instance_id).await?;
    let id = group_id(&raw)?;
    let doing = "leave groups";
    let session = connected(&state, &inst, doing).await?;
    session
        .leave_group(&id)
        .await
        .map_err(group_refused(&inst, doing))?;
    let notice = GroupNotice::Participants {
        group: id.clone(),
        action: ParticipantAction::Remove,
        participants: inst.phone.iter().cloned().collect(),
        by: inst.phone.clone(),
    };
    state
        .store
        .record_group_notice(&inst, &notice, None)
        .await?;
    Ok(axum::Json(Data::new(LeftView {
        group_id: id.to_string(),
        left: true,
    })))
}
