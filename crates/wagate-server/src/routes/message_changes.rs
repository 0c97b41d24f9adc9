//! `PATCH` and `DELETE /v1/messages/{messageId}` (§17.2): an edit or a delete for everyone of a
//! message the instance sent. Both are queued with the instance's sends (FIFO) and answer the
//! message as it will read; the stored item follows, with `message.edited` / `message.deleted`,
//! once WhatsApp took the change.

use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::ToSchema;
use wagate_core::Timestamp;
use wagate_core::change::{Change, ChangeRefused, QueuedChange};
use wagate_core::scope::Scope;

use crate::http::auth::Auth;
use crate::http::error::{ApiError, ErrorEnvelope};
use crate::http::extract::ApiJson;
use crate::routes::messages::{MessageView, account_message, require_session};
use crate::routes::views::Data;
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EditMessageRequest {
    /// The new text (1 to 65,536 characters).
    #[schema(min_length = 1, max_length = 65536)]
    pub message: String,
}

/// Edits the text of a text message the instance sent, within 15 minutes of sending it.
#[utoipa::path(patch, path = "/v1/messages/{messageId}", tag = "Messages",
    params(("messageId" = String, Path, description = "msg_…")),
    request_body = EditMessageRequest,
    responses(
        (status = 200, description = "Queued: the message as it will read", body = Data<MessageView>),
        (status = 400, description = "invalid_request", body = ErrorEnvelope),
        (status = 404, description = "message_not_found", body = ErrorEnvelope),
        (status = 409, description = "message_not_editable, not_supported_by_connection, instance_not_connected", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn edit_message(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
    ApiJson(req): ApiJson<EditMessageRequest>,
) -> Result<axum::Json<Data<MessageView>>, ApiError> {
    auth.require(Scope::MessagesWrite)?;
    let change = Change::edit(req.message).map_err(|e| ApiError::field("message", e))?;
    queue(&state, &auth, &raw, change).await
}

/// Deletes a message the instance sent for everyone; the history item stays, with
/// `deleted: true` and no content.
#[utoipa::path(delete, path = "/v1/messages/{messageId}", tag = "Messages",
    params(("messageId" = String, Path, description = "msg_…")),
    responses(
        (status = 200, description = "Queued: the message as it will read", body = Data<MessageView>),
        (status = 404, description = "message_not_found", body = ErrorEnvelope),
        (status = 409, description = "message_not_deletable, not_supported_by_connection, instance_not_connected", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn delete_message(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
) -> Result<axum::Json<Data<MessageView>>, ApiError> {
    auth.require(Scope::MessagesWrite)?;
    queue(&state, &auth, &raw, Change::Delete).await
}

/// Checks `change` against the message and its instance, and queues it.
async fn queue(
    state: &AppState,
    auth: &Auth,
    raw: &str,
    change: Change,
) -> Result<axum::Json<Data<MessageView>>, ApiError> {
    let m = account_message(state, auth, raw).await?;
    let inst = state
        .store
        .find_instance(&m.instance_id)
        .await?
        .ok_or(ApiError::MessageNotFound)?;
    change
        .allowed_on(&m, Timestamp::now())
        .map_err(|r| match r {
            ChangeRefused::NotEditable(why) => ApiError::MessageNotEditable(why),
            ChangeRefused::NotDeletable(why) => ApiError::MessageNotDeletable(why),
        })?;
    if let Some(method) = inst.connection_method
        && !method.changes_messages()
    {
        return Err(ApiError::NotSupportedByConnection(format!(
            "Instances connected with method '{}' cannot edit or delete messages.",
            method.as_str()
        )));
    }
    require_session(&inst)?;
    let will_read = change.preview(&m);
    state
        .store
        .queue_change(&QueuedChange::new(&m, change))
        .await?;
    state.supervisor.wake(&inst.id);
    Ok(axum::Json(Data::new(MessageView::new(&will_read))))
}
