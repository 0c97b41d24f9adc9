//! `PATCH /v1/instances/{instanceId}/profile` (§17.4): the instance's own name, about text and
//! picture, set on the network while it is connected. A new name is the instance's
//! `profileName` once the network took it.

use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wagate_core::account::DisplayName;
use wagate_core::engine::ProfileChange;
use wagate_core::message::{Media, MediaType};
use wagate_core::net::TargetUrl;
use wagate_core::scope::Scope;

use crate::http::auth::Auth;
use crate::http::error::{ApiError, ErrorEnvelope};
use crate::http::extract::ApiJson;
use crate::routes::instances::owned_instance;
use crate::routes::live_session::{connected, refused};
use crate::routes::views::{Data, InstanceView};
use crate::runtime::media_fetch::MediaFetcher;
use crate::state::AppState;

/// WhatsApp's limit for an about text.
const MAX_ABOUT: usize = 139;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(update_profile))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProfileRequest {
    /// The name contacts see.
    #[schema(schema_with = crate::openapi::display_name)]
    pub name: Option<String>,
    /// The about text, 1–139 characters.
    #[schema(min_length = 1, max_length = 139)]
    pub about: Option<String>,
    /// A JPEG or PNG to show as the picture.
    #[schema(format = "uri", max_length = 2048)]
    pub picture_url: Option<String>,
}

/// Change the instance's own profile: any of its name, about text and picture.
#[utoipa::path(patch, path = "/v1/instances/{instanceId}/profile", tag = "Instances",
    params(("instanceId" = String, Path, description = "inst_…")),
    request_body = ProfileRequest,
    responses(
        (status = 200, description = "Changed; the instance", body = Data<InstanceView>),
        (status = 400, description = "invalid_request, invalid_media (the picture could not be fetched, or is no JPEG or PNG)", body = ErrorEnvelope),
        (status = 404, description = "instance_not_found", body = ErrorEnvelope),
        (status = 409, description = "instance_not_connected, not_supported_by_connection", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn update_profile(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
    ApiJson(req): ApiJson<ProfileRequest>,
) -> Result<axum::Json<Data<InstanceView>>, ApiError> {
    auth.require(Scope::InstancesWrite)?;
    let inst = owned_instance(&state, &auth, &raw).await?;
    if req.name.is_none() && req.about.is_none() && req.picture_url.is_none() {
        return Err(ApiError::field("name", "send name, about or pictureUrl"));
    }
    let name = req
        .name
        .as_deref()
        .map(DisplayName::parse)
        .transpose()
        .map_err(|e| ApiError::field("name", e))?;
    if let Some(a) = &req.about {
        let n = a.chars().count();
        if n == 0 || n > MAX_ABOUT || a.chars().any(char::is_control) {
            return Err(ApiError::field(
                "about",
                format!("1 to {MAX_ABOUT} characters, no control characters"),
            ));
        }
    }
    let doing = "change its profile";
    let session = connected(&state, &inst, doing).await?;
    let picture = match &req.picture_url {
        None => None,
        Some(url) => {
            let url = TargetUrl::parse(url, state.config.url_policy)
                .map_err(|e| ApiError::InvalidMedia(format!("pictureUrl is not valid: {e}.")))?;
            let media = Media {
                media_type: MediaType::Image,
                url: url.as_str().to_owned(),
                caption: None,
                filename: None,
                mime_type: None,
                size: None,
            };
            let fetched = MediaFetcher::new(&state.net)
                .fetch(&media)
                .await
                .map_err(|e| ApiError::InvalidMedia(format!("pictureUrl: {e}")))?;
            Some(fetched)
        }
    };
    let change = ProfileChange {
        name: name.map(|n| n.as_str().to_owned()),
        about: req.about,
        picture,
    };
    session
        .set_profile(&change)
        .await
        .map_err(refused(&inst, doing))?;
    let now = state
        .store
        .find_instance(&inst.id)
        .await?
        .ok_or(ApiError::InstanceNotFound)?;
    Ok(axum::Json(Data::new(InstanceView::new(&now))))
}
