//! `POST /v1/instances/{instanceId}/presence` (§17.4): show the instance online or offline, or
//! typing, recording or stopped in one chat.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wagate_core::ChatId;
use wagate_core::message::Recipient;
use wagate_core::presence::PresenceChange;
use wagate_core::scope::Scope;

use crate::http::auth::Auth;
use crate::http::error::{ApiError, ErrorEnvelope};
use crate::http::extract::ApiJson;
use crate::routes::instances::owned_instance;
use crate::routes::live_session::{connected, refused};
use crate::routes::views::Data;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(set_presence))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PresenceRequest {
    /// `available` or `unavailable` (the instance's own); `composing`, `recording` or `paused`
    /// (in the chat of `chatId` or `to`).
    #[schema(
        pattern = "^(available|unavailable|composing|recording|paused)$",
        example = "composing"
    )]
    pub state: String,
    /// The chat to show a chat state in (`chat_…`).
    pub chat_id: Option<String>,
    /// Or the number or group to show it to.
    #[schema(schema_with = crate::openapi::recipient)]
    pub to: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PresenceView {
    pub instance_id: String,
    pub state: String,
}

/// Set the instance's presence, or a chat state in one chat.
#[utoipa::path(post, path = "/v1/instances/{instanceId}/presence", tag = "Connection",
    params(("instanceId" = String, Path, description = "inst_…")),
    request_body = PresenceRequest,
    responses(
        (status = 200, description = "Shown", body = Data<PresenceView>),
        (status = 400, description = "invalid_request (an unknown state, a chat state without a chat or the reverse), invalid_phone_number", body = ErrorEnvelope),
        (status = 404, description = "instance_not_found, chat_not_found", body = ErrorEnvelope),
        (status = 409, description = "instance_not_connected, not_supported_by_connection (Meta's Cloud API has no presence)", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn set_presence(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
    ApiJson(req): ApiJson<PresenceRequest>,
) -> Result<axum::Json<Data<PresenceView>>, ApiError> {
    auth.require(Scope::MessagesWrite)?;
    let inst = owned_instance(&state, &auth, &raw).await?;
    let chat = match (&req.chat_id, &req.to) {
        (Some(c), _) => {
            let chat = match ChatId::parse(c) {
                Ok(id) => state.store.find_chat(&inst.id, &id).await?,
                Err(_) => None,
            };
            Some(Recipient::from_trusted(
                chat.ok_or(ApiError::ChatNotFound)?.peer,
            ))
        }
        (None, Some(to)) => Some(
            Recipient::parse(to).map_err(|e| ApiError::InvalidPhoneNumber(format!("to: {e}")))?,
        ),
        (None, None) => None,
    };
    let change =
        PresenceChange::parse(&req.state, chat).map_err(|e| ApiError::field("state", e))?;
    let doing = "show presence";
    let session = connected(&state, &inst, doing).await?;
    session
        .presence(&change)
        .await
        .map_err(refused(&inst, doing))?;
    Ok(axum::Json(Data::new(PresenceView {
        instance_id: inst.id.to_string(),
        state: req.state,
    })))
}
