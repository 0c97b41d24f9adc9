//! `GET /v1/media/{mediaId}`: received media, for the account that received it (the `url` of
//! `media` in `message.received` and in the history).

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wagate_core::MediaId;
use wagate_core::scope::Scope;

use wagate_core::media::MediaFormat;

use crate::http::auth::Auth;
use crate::http::error::{ApiError, ErrorEnvelope};
use crate::media::MediaMeta;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_media))
}

/// Download received media (its bytes, with its content type).
#[utoipa::path(get, path = "/v1/media/{mediaId}", tag = "Messages",
    params(("mediaId" = String, Path, description = "med_…")),
    responses(
        (status = 200, description = "The file, as an attachment; its type is one of §15.5's media formats, else `application/octet-stream`", body = Vec<u8>, content_type = "application/octet-stream"),
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
    Ok((served_headers(&id, &meta), bytes))
}

/// The sender chose the stored type, so it is trusted only when it is one of §15.5's media
/// formats (never `text/html` and the like, which a browser would render on our origin); the
/// rest is served as bytes. Either way the browser must not sniff, and saves rather than shows.
fn served_headers(id: &MediaId, meta: &MediaMeta) -> [(header::HeaderName, String); 3] {
    let mime = meta
        .mime_type
        .as_deref()
        .and_then(MediaFormat::from_mime)
        .map_or("application/octet-stream", MediaFormat::mime);
    // A file name of the sender's, reduced to characters that need no quoting.
    let name: String = meta
        .filename
        .as_deref()
        .unwrap_or(id.as_str())
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .take(100)
        .collect();
    let name = if name.is_empty() {
        id.to_string()
    } else {
        name
    };
    [
        (header::CONTENT_TYPE, mime.to_owned()),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        (
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ),
    ]
}
