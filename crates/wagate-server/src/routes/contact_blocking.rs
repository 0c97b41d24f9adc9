//! `POST /v1/contacts/{phone}/block` and `/unblock` (§17.4): done on the network first, then
//! recorded on the contact (`isBlocked`).

use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::ToSchema;
use wagate_core::phone::PhoneNumber;
use wagate_core::scope::Scope;

use crate::http::auth::Auth;
use crate::http::error::{ApiError, ErrorEnvelope};
use crate::http::extract::ApiJson;
use crate::routes::contacts::ContactView;
use crate::routes::instances::owned_instance;
use crate::routes::live_session::{connected, refused};
use crate::routes::views::Data;
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlockRequest {
    #[schema(example = "inst_01jd3k9w6q8x2m4v7c5b0n1t2r")]
    pub instance_id: String,
}

/// Block a contact: it can no longer write to or call the instance.
#[utoipa::path(post, path = "/v1/contacts/{phone}/block", tag = "Contacts",
    params(("phone" = String, Path, description = "The contact's number, digits only")),
    request_body = BlockRequest,
    responses(
        (status = 200, description = "Blocked", body = Data<ContactView>),
        (status = 400, description = "invalid_request, invalid_phone_number", body = ErrorEnvelope),
        (status = 404, description = "instance_not_found", body = ErrorEnvelope),
        (status = 409, description = "instance_not_connected, not_supported_by_connection", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn block_contact(
    State(state): State<AppState>,
    auth: Auth,
    Path(phone): Path<String>,
    ApiJson(req): ApiJson<BlockRequest>,
) -> Result<axum::Json<Data<ContactView>>, ApiError> {
    set_blocked(&state, &auth, &phone, &req, true).await
}

/// Unblock a contact.
#[utoipa::path(post, path = "/v1/contacts/{phone}/unblock", tag = "Contacts",
    params(("phone" = String, Path, description = "The contact's number, digits only")),
    request_body = BlockRequest,
    responses(
        (status = 200, description = "Unblocked", body = Data<ContactView>),
        (status = 400, description = "invalid_request, invalid_phone_number", body = ErrorEnvelope),
        (status = 404, description = "instance_not_found", body = ErrorEnvelope),
        (status = 409, description = "instance_not_connected, not_supported_by_connection", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn unblock_contact(
    State(state): State<AppState>,
    auth: Auth,
    Path(phone): Path<String>,
    ApiJson(req): ApiJson<BlockRequest>,
) -> Result<axum::Json<Data<ContactView>>, ApiError> {
    set_blocked(&state, &auth, &phone, &req, false).await
}

async fn set_blocked(
    state: &AppState,
    auth: &Auth,
    raw: &str,
    req: &BlockRequest,
    blocked: bool,
) -> Result<axum::Json<Data<ContactView>>, ApiError> {
    auth.require(Scope::InstancesWrite)?;
    let inst = owned_instance(state, auth, &req.instance_id).await?;
    let phone =
        PhoneNumber::parse(raw).map_err(|e| ApiError::InvalidPhoneNumber(format!("{raw}: {e}")))?;
    let doing = "block contacts";
    let session = connected(state, &inst, doing).await?;
    session
        .block(&phone, blocked)
        .await
        .map_err(refused(&inst, doing))?;
    let contact = state.store.set_blocked(&inst.id, &phone, blocked).await?;
    Ok(axum::Json(Data::new(ContactView::from(contact))))
}
