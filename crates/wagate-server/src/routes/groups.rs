//! `/v1/groups` (§17.5): the groups an instance is in, created and changed on the network first,
//! then stored as the network answered (each change with its `group.*` event).
//!
//! Reads ask the network when the instance is connected (and store what it said), else answer
//! what was stored. Meta's Cloud API has no groups for most accounts: every route answers 409
//! `not_supported_by_connection` for an `official` instance.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wagate_core::group::{
    Group, GroupError, GroupId, GroupNotice, GroupSubject, GroupUpdate, MAX_PARTICIPANTS, NewGroup,
    ParticipantOutcome, ParticipantRefusal, parse_description,
};
use wagate_core::instance::{ConnectionMethod, Instance};
use wagate_core::page::OffsetPage;
use wagate_core::phone::PhoneNumber;
use wagate_core::scope::Scope;

use crate::http::auth::Auth;
use crate::http::error::{ApiError, ErrorEnvelope};
use crate::http::extract::{ApiJson, ApiQuery};
use crate::routes::instances::{owned_instance, required_instance};
use crate::routes::live_session::{connected, refused};
use crate::routes::views::{Data, Page};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_groups, create_group))
        .routes(routes!(get_group, update_group))
        .routes(routes!(
            crate::routes::group_membership::change_participants
        ))
        .routes(routes!(crate::routes::group_membership::get_invite))
        .routes(routes!(crate::routes::group_membership::revoke_invite))
        .routes(routes!(crate::routes::group_membership::join_group))
        .routes(routes!(crate::routes::group_membership::leave_group))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantView {
    pub phone: String,
    /// `member`, `admin` or `superadmin` (the owner).
    pub role: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupView {
    /// WhatsApp's id, `…@g.us`: also the `to` of a message to the group.
    #[schema(example = "120363025246125486@g.us")]
    pub group_id: String,
    pub subject: String,
    pub description: Option<String>,
    pub owner: Option<String>,
    pub participants_count: usize,
    /// Only admins may send.
    pub announce: bool,
    /// Only admins may change the subject and description.
    pub locked: bool,
    pub created_at: String,
    /// The members (not in lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub participants: Option<Vec<ParticipantView>>,
}

impl GroupView {
    pub fn summary(g: &Group) -> Self {
        Self {
            group_id: g.id.to_string(),
            subject: g.subject.clone(),
            description: g.description.clone(),
            owner: g.owner.as_ref().map(|o| o.to_string()),
            participants_count: g.participants.len(),
            announce: g.announce,
            locked: g.locked,
            created_at: g.created_at.to_rfc3339(),
            participants: None,
        }
    }

    pub fn whole(g: &Group) -> Self {
        Self {
            participants: Some(
                g.participants
                    .iter()
                    .map(|p| ParticipantView {
                        phone: p.phone.to_string(),
                        role: p.role.as_str().to_owned(),
                    })
                    .collect(),
            ),
            ..Self::summary(g)
        }
    }
}

/// One number's outcome.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantResultView {
    /// As the request wrote it.
    pub phone: String,
    pub ok: bool,
    /// Why not: `invalid_phone`, `not_on_whatsapp`, `already_participant`, `not_participant`,
    /// `needs_invite` (the number takes invites only) or `refused`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl From<ParticipantOutcome> for ParticipantResultView {
    fn from(o: ParticipantOutcome) -> Self {
        Self {
            phone: o.phone,
            ok: o.refused.is_none(),
            error: o.refused.map(|r| r.as_str().to_owned()),
        }
    }
}

/// The caller's instance `raw`, when its connection can have groups.
pub(crate) async fn group_instance(
    state: &AppState,
    auth: &Auth,
    raw: &str,
) -> Result<Instance, ApiError> {
    let inst = owned_instance(state, auth, raw).await?;
    if inst.connection_method == Some(ConnectionMethod::Official) {
        return Err(ApiError::NotSupportedByConnection(
            "Instances connected with method 'official' have no groups: Meta's Groups API is \
             open to a few business accounts only."
                .into(),
        ));
    }
    Ok(inst)
}

/// What the API answers when the network refused a group operation.
pub(crate) fn group_refused<'a>(
    inst: &'a Instance,
    doing: &'a str,
) -> impl Fn(GroupError) -> ApiError + 'a {
    move |e| match e {
        GroupError::NotFound => ApiError::GroupNotFound,
        GroupError::NotAdmin => ApiError::NotGroupAdmin,
        GroupError::Engine(e) => refused(inst, doing)(e),
    }
}

/// A group id from the path: one that is not a group's id names no group.
pub(crate) fn group_id(raw: &str) -> Result<GroupId, ApiError> {
    GroupId::parse(raw).map_err(|_| ApiError::GroupNotFound)
}

/// The numbers of a request, parsed one by one: the valid ones to ask the network about, and
/// each number's place (its own refusal when it is not a number).
pub(crate) struct Numbers {
    pub valid: Vec<PhoneNumber>,
    slots: Vec<Result<(), ParticipantOutcome>>,
}

impl Numbers {
    pub fn parse(raw: &[String], at_least: usize) -> Result<Self, ApiError> {
        if raw.len() < at_least || raw.len() > MAX_PARTICIPANTS {
            return Err(ApiError::field(
                "participants",
                format!("{at_least} to {MAX_PARTICIPANTS} numbers"),
            ));
        }
        let mut valid = Vec::with_capacity(raw.len());
        let slots = raw
            .iter()
            .map(|r| match PhoneNumber::parse(r) {
                Ok(p) => {
                    valid.push(p);
                    Ok(())
                }
                Err(_) => Err(ParticipantOutcome::refused(
                    r.clone(),
                    ParticipantRefusal::InvalidPhone,
                )),
            })
            .collect();
        Ok(Self { valid, slots })
    }

    /// One result per number of the request, in its order: the network's `outcomes` (of the
    /// valid numbers, in order) in the valid numbers' places.
    pub fn results(self, outcomes: Vec<ParticipantOutcome>) -> Vec<ParticipantResultView> {
        let mut outcomes = outcomes.into_iter();
        self.slots
            .into_iter()
            .filter_map(|slot| match slot {
                Ok(()) => outcomes.next(),
                Err(refused) => Some(refused),
            })
            .map(ParticipantResultView::from)
            .collect()
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct GroupListParams {
    #[param(required = true)]
    pub instance_id: Option<String>,
    /// 1–500, default 100.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    #[param(minimum = 0, maximum = 9223372036854775807_u64)]
    pub offset: Option<u64>,
}

/// The groups the instance's number is in.
#[utoipa::path(get, path = "/v1/groups", tag = "Groups",
    params(GroupListParams),
    responses(
        (status = 200, description = "A page of groups (without their members)", body = Page<GroupView>),
        (status = 400, description = "invalid_request", body = ErrorEnvelope),
        (status = 404, description = "instance_not_found", body = ErrorEnvelope),
        (status = 409, description = "not_supported_by_connection", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn list_groups(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<GroupListParams>,
) -> Result<axum::Json<Page<GroupView>>, ApiError> {
    auth.require(Scope::InstancesRead)?;
    let inst = group_instance(&state, &auth, required_instance(&q.instance_id)?).await?;
    let page = OffsetPage::parse(q.limit, q.offset, 100, 500)
        .map_err(|e| ApiError::field(e.field(), e))?;
    let doing = "list its groups";
    if let Ok(session) = connected(&state, &inst, doing).await {
        let groups = session
            .groups()
            .await
            .map_err(group_refused(&inst, doing))?;
        state.store.save_groups(&inst.id, &groups, true).await?;
    }
    let (list, total) = state.store.list_groups(&inst.id, page).await?;
    let views = list.iter().map(GroupView::summary).collect();
    Ok(axum::Json(Page::new(views, page.pagination(total))))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateGroupRequest {
    pub instance_id: String,
    #[schema(schema_with = crate::openapi::group_subject)]
    pub subject: String,
    /// The numbers to add, digits only; at most 1,024.
    #[schema(max_items = 1024)]
    pub participants: Vec<String>,
    #[schema(max_length = 2048)]
    pub description: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedGroupView {
    #[serde(flatten)]
    pub group: GroupView,
    /// One per number asked for: whether it was added.
    pub results: Vec<ParticipantResultView>,
}

/// Create a group, with the instance as its owner (→ `group.joined`).
#[utoipa::path(post, path = "/v1/groups", tag = "Groups",
    request_body = CreateGroupRequest,
    responses(
        (status = 201, description = "Created; the group with its members, and each number's outcome", body = Data<CreatedGroupView>),
        (status = 400, description = "invalid_request (subject, description, or more than 1,024 numbers)", body = ErrorEnvelope),
        (status = 404, description = "instance_not_found", body = ErrorEnvelope),
        (status = 409, description = "instance_not_connected, not_supported_by_connection", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn create_group(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<CreateGroupRequest>,
) -> Result<(StatusCode, axum::Json<Data<CreatedGroupView>>), ApiError> {
    auth.require(Scope::InstancesWrite)?;
    let inst = group_instance(&state, &auth, &req.instance_id).await?;
    let subject = GroupSubject::parse(&req.subject).map_err(|e| ApiError::field("subject", e))?;
    let description = match &req.description {
        Some(d) => parse_description(d).map_err(|e| ApiError::field("description", e))?,
        None => None,
    };
    let numbers = Numbers::parse(&req.participants, 0)?;
    let doing = "create groups";
    let session = connected(&state, &inst, doing).await?;
    let new = NewGroup {
        subject,
        description,
        participants: numbers.valid.clone(),
    };
    let (group, outcomes) = session
        .create_group(&new)
        .await
        .map_err(group_refused(&inst, doing))?;
    state
        .store
        .record_group_notice(&inst, &GroupNotice::Joined(group.clone()), Some(&group))
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(Data::new(CreatedGroupView {
            group: GroupView::whole(&group),
            results: numbers.results(outcomes),
        })),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct GroupParams {
    #[param(required = true)]
    pub instance_id: Option<String>,
}

/// One group, with its members.
#[utoipa::path(get, path = "/v1/groups/{groupId}", tag = "Groups",
    params(("groupId" = String, Path, description = "…@g.us"), GroupParams),
    responses(
        (status = 200, description = "The group", body = Data<GroupView>),
        (status = 400, description = "invalid_request", body = ErrorEnvelope),
        (status = 404, description = "instance_not_found, group_not_found (unknown, or the number is not in it)", body = ErrorEnvelope),
        (status = 409, description = "not_supported_by_connection", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn get_group(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
    ApiQuery(q): ApiQuery<GroupParams>,
) -> Result<axum::Json<Data<GroupView>>, ApiError> {
    auth.require(Scope::InstancesRead)?;
    let inst = group_instance(&state, &auth, required_instance(&q.instance_id)?).await?;
    let id = group_id(&raw)?;
    let doing = "read its groups";
    let group = match connected(&state, &inst, doing).await {
        Ok(session) => {
            let g = session
                .group(&id)
                .await
                .map_err(group_refused(&inst, doing))?;
            state
                .store
                .save_groups(&inst.id, std::slice::from_ref(&g), false)
                .await?;
            g
        }
        Err(_) => state
            .store
            .get_group(&inst.id, &id)
            .await?
            .ok_or(ApiError::GroupNotFound)?,
    };
    Ok(axum::Json(Data::new(GroupView::whole(&group))))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateGroupRequest {
    pub instance_id: String,
    #[schema(schema_with = crate::openapi::group_subject)]
    pub subject: Option<String>,
    /// Empty removes it.
    #[schema(max_length = 2048)]
    pub description: Option<String>,
    /// Only admins may send.
    pub announce: Option<bool>,
    /// Only admins may change the subject and description.
    pub locked: Option<bool>,
}

/// Change a group's subject, description or settings (→ `group.updated`). The settings need
/// an admin; so do the texts of a locked group.
#[utoipa::path(patch, path = "/v1/groups/{groupId}", tag = "Groups",
    params(("groupId" = String, Path, description = "…@g.us")),
    request_body = UpdateGroupRequest,
    responses(
        (status = 200, description = "Changed; the group", body = Data<GroupView>),
        (status = 400, description = "invalid_request", body = ErrorEnvelope),
        (status = 403, description = "not_group_admin", body = ErrorEnvelope),
        (status = 404, description = "instance_not_found, group_not_found", body = ErrorEnvelope),
        (status = 409, description = "instance_not_connected, not_supported_by_connection", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn update_group(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
    ApiJson(req): ApiJson<UpdateGroupRequest>,
) -> Result<axum::Json<Data<GroupView>>, ApiError> {
    auth.require(Scope::InstancesWrite)?;
    let inst = group_instance(&state, &auth, &req.instance_id).await?;
    let id = group_id(&raw)?;
    let changes = GroupUpdate {
        subject: req
            .subject
            .as_deref()
            .map(GroupSubject::parse)
            .transpose()
            .map_err(|e| ApiError::field("subject", e))?,
        description: req
            .description
            .as_deref()
            .map(parse_description)
            .transpose()
            .map_err(|e| ApiError::field("description", e))?,
        announce: req.announce,
        locked: req.locked,
    };
    if changes.is_empty() {
        return Err(ApiError::field(
            "subject",
            "send subject, description, announce or locked",
        ));
    }
    let doing = "change groups";
    let session = connected(&state, &inst, doing).await?;
    let refused = group_refused(&inst, doing);
    session
        .update_group(&id, &changes)
        .await
        .map_err(&refused)?;
    let group = session.group(&id).await.map_err(&refused)?;
    let notice = GroupNotice::Updated {
        group: id,
        changes,
        by: inst.phone.clone(),
    };
    state
        .store
        .record_group_notice(&inst, &notice, Some(&group))
        .await?;
    Ok(axum::Json(Data::new(GroupView::whole(&group))))
}
