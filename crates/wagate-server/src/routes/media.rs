//! `GET /v1/media/{mediaId}`: received media, for the account that received it (the `url` of
//! `media` in `message.received` and in the history).

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wagate_core::MediaId;
use wagate_core::scope::Scope;

use crate::http::auth::Auth;
use crate::http::error::{ApiError, ErrorEnvelope};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_media))
}

/// Download received media (its bytes, with its content type).
#[utoipa::path(get, path = "/v1/media/{mediaId}", tag = "Messages",
    params(("mediaId" = String, Path, description = "med_…")),
    responses(
        (status = 200, description = "The file", body = Vec<u8>, content_type = "application/octet-stream"),
        (status = 404, description = "not_found", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn get_media(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Scope::MessagesRead)?;
    let id = MediaId::parse(&raw).map_err(|_| ApiError::NotFound)?;
    let dir = state.config.data_dir.join("media");
    let (meta, bytes) = crate::media::read(&dir, &auth.account.id, &id)
        .await
        .map_err(|e| {
            tracing::error!(media = %id, error = %e, "reading media failed");
            ApiError::Internal
        })?
        .ok_or(ApiError::NotFound)?;
    let mime = meta
        .mime_type
        .filter(|m| m.parse::<axum::http::HeaderValue>().is_ok())
        .unwrap_or_else(|| "application/octet-stream".into());
    Ok(([(header::CONTENT_TYPE, mime)], bytes))
}
