//! `GET /v1/account`: the caller's account, plan, limits and usage (§15.3).

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::auth::Auth;
use crate::http::error::{ApiError, ErrorEnvelope};
use crate::routes::views::{AccountView, Data};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_account))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsageView {
    /// Instances the account has now.
    pub instances: u64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountOverview {
    #[serde(flatten)]
    pub account: AccountView,
    pub usage: UsageView,
    /// Scopes of the key used for this request.
    pub key_scopes: Vec<String>,
}

/// The caller's account.
#[utoipa::path(get, path = "/v1/account", tag = "Account",
    responses(
        (status = 200, description = "Account, plan, limits and usage", body = Data<AccountOverview>),
        (status = 401, description = "missing_api_key, invalid_api_key, expired_api_key", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn get_account(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<axum::Json<Data<AccountOverview>>, ApiError> {
    let instances = state.store.count_instances(&auth.account.id).await?;
    Ok(axum::Json(Data::new(AccountOverview {
        account: AccountView::new(&auth.account),
        usage: UsageView { instances },
        key_scopes: auth
            .key
            .scopes
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect(),
    })))
}
