//! `GET/POST /v1/account/keys`, `DELETE /v1/account/keys/{keyId}`: an account manages its own
//! API keys (§20, scope `keys:write`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wagate_core::scope::Scope;
use wagate_core::{ApiKeyId, Timestamp};

use crate::accounts::{NewKey, issue_key};
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ErrorEnvelope};
use crate::http::extract::ApiJson;
use crate::routes::key_request::CreateKeyRequest;
use crate::routes::views::{ApiKeyView, Data, DeletedView};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_own_keys, create_own_key))
        .routes(routes!(revoke_own_key))
}

/// The account's API keys, revoked ones included (never their secrets).
#[utoipa::path(get, path = "/v1/account/keys", tag = "Account",
    responses(
        (status = 200, description = "The keys", body = Data<Vec<ApiKeyView>>),
        (status = 401, description = "missing_api_key, invalid_api_key, expired_api_key", body = ErrorEnvelope),
        (status = 403, description = "insufficient_permissions (keys:write)", body = ErrorEnvelope),
    ),
    security(("api_key" = ["keys:write"])))]
pub async fn list_own_keys(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<axum::Json<Data<Vec<ApiKeyView>>>, ApiError> {
    auth.require(Scope::KeysWrite)?;
    let keys = state.store.list_api_keys(&auth.account.id).await?;
    Ok(axum::Json(Data::new(
        keys.iter().map(|k| ApiKeyView::new(k, None)).collect(),
    )))
}

/// Create a key for the account; its secret `key` is in this response only. A key grants no
/// scope its creator lacks.
#[utoipa::path(post, path = "/v1/account/keys", tag = "Account",
    request_body = CreateKeyRequest,
    responses(
        (status = 201, description = "Created", body = Data<ApiKeyView>),
        (status = 400, description = "invalid_request", body = ErrorEnvelope),
        (status = 401, description = "missing_api_key, invalid_api_key, expired_api_key", body = ErrorEnvelope),
        (status = 403, description = "insufficient_permissions: keys:write, or a scope the caller's key lacks", body = ErrorEnvelope),
    ),
    security(("api_key" = ["keys:write"])))]
pub async fn create_own_key(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<CreateKeyRequest>,
) -> Result<(StatusCode, axum::Json<Data<ApiKeyView>>), ApiError> {
    auth.require(Scope::KeysWrite)?;
    let new = NewKey::try_from(req)?;
    if let Some(missing) = auth.key.scopes.first_missing(&new.scopes) {
        return Err(ApiError::InsufficientPermissions(missing));
    }
    let issued = issue_key(state.store.as_ref(), &auth.account.id, new).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(Data::new(ApiKeyView::new(&issued.key, Some(issued.token)))),
    ))
}

/// Revoke one of the account's keys (the calling key too); it is refused from the next request on.
#[utoipa::path(delete, path = "/v1/account/keys/{keyId}", tag = "Account",
    params(("keyId" = String, Path, description = "key_…")),
    responses(
        (status = 200, description = "Revoked", body = Data<DeletedView>),
        (status = 401, description = "missing_api_key, invalid_api_key, expired_api_key", body = ErrorEnvelope),
        (status = 403, description = "insufficient_permissions (keys:write)", body = ErrorEnvelope),
        (status = 404, description = "not_found: no such key in the account", body = ErrorEnvelope),
    ),
    security(("api_key" = ["keys:write"])))]
pub async fn revoke_own_key(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
) -> Result<axum::Json<Data<DeletedView>>, ApiError> {
    auth.require(Scope::KeysWrite)?;
    let key = ApiKeyId::parse(&raw).map_err(|_| ApiError::NotFound)?;
    if !state
        .store
        .revoke_api_key(&auth.account.id, &key, Timestamp::now())
        .await?
    {
        return Err(ApiError::NotFound);
    }
    Ok(axum::Json(Data::new(DeletedView {
        id: key.to_string(),
        deleted: true,
    })))
}
