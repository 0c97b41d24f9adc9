//! `/admin/v1`: the operator's account and key management (§15.3), guarded by the admin token.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wagate_core::account::{Account, AccountName};
use wagate_core::page::OffsetPage;
use wagate_core::plan::{Plan, RateLimits};
use wagate_core::{AccountId, ApiKeyId, Timestamp};

use crate::accounts::{NewKey, create_account, issue_key};
use crate::http::error::{ApiError, ErrorEnvelope};
use crate::http::extract::{ApiJson, ApiQuery, present};
use crate::routes::key_request::CreateKeyRequest;
use crate::routes::views::{AccountView, ApiKeyView, Data, DeletedView, Page};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(admin_create_account, admin_list_accounts))
        .routes(routes!(
            admin_get_account,
            admin_update_account,
            admin_delete_account
        ))
        .routes(routes!(admin_create_key, admin_list_keys))
        .routes(routes!(admin_revoke_key))
        .merge(crate::routes::nodes::router())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitsInput {
    #[serde(default, deserialize_with = "crate::http::extract::whole_number")]
    pub messages: Option<u32>,
    #[serde(default, deserialize_with = "crate::http::extract::whole_number")]
    pub instances: Option<u32>,
    #[serde(default, deserialize_with = "crate::http::extract::whole_number")]
    pub webhooks: Option<u32>,
    #[serde(default, deserialize_with = "crate::http::extract::whole_number")]
    pub general: Option<u32>,
}

impl From<RateLimitsInput> for RateLimits {
    fn from(i: RateLimitsInput) -> Self {
        RateLimits {
            messages: i.messages,
            instances: i.instances,
            webhooks: i.webhooks,
            general: i.general,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateAccountRequest {
    #[schema(schema_with = crate::openapi::display_name)]
    pub name: String,
    /// `free` (default), `starter`, `pro` or `enterprise`.
    #[schema(schema_with = crate::openapi::plan)]
    pub plan: Option<String>,
    /// Per-account limits replacing the plan's (enterprise "custom").
    pub rate_limits: Option<RateLimitsInput>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateAccountRequest {
    #[schema(schema_with = crate::openapi::display_name)]
    pub name: Option<String>,
    #[schema(schema_with = crate::openapi::plan)]
    pub plan: Option<String>,
    /// New limits, or null to return to the plan's.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<RateLimitsInput>)]
    pub rate_limits: Option<Option<RateLimitsInput>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdminListQuery {
    /// 1–100, default 50.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    #[param(minimum = 0, maximum = 9223372036854775807_u64)]
    pub offset: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedAccountView {
    pub account: AccountView,
    /// The account's first key, with its secret `key` shown this once.
    pub api_key: ApiKeyView,
}

fn parse_plan(s: &str) -> Result<Plan, ApiError> {
    s.parse().map_err(|e| ApiError::field("plan", e))
}

fn parse_account_name(s: &str) -> Result<AccountName, ApiError> {
    AccountName::parse(s).map_err(|e| ApiError::field("name", e))
}

async fn load_account(state: &AppState, raw: &str) -> Result<Account, ApiError> {
    let id = AccountId::parse(raw).map_err(|_| ApiError::NotFound)?;
    state
        .store
        .get_account(&id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// Create an account and its first API key.
#[utoipa::path(post, path = "/admin/v1/accounts", tag = "Admin",
    request_body = CreateAccountRequest,
    responses(
        (status = 201, description = "Created", body = Data<CreatedAccountView>),
        (status = 400, description = "invalid_request", body = ErrorEnvelope),
        (status = 401, description = "missing_api_key, invalid_api_key", body = ErrorEnvelope),
    ),
    security(("admin_token" = [])))]
pub async fn admin_create_account(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<CreateAccountRequest>,
) -> Result<(StatusCode, axum::Json<Data<CreatedAccountView>>), ApiError> {
    let name = parse_account_name(&req.name)?;
    let plan = req
        .plan
        .as_deref()
        .map(parse_plan)
        .transpose()?
        .unwrap_or(Plan::Free);
    let (mut account, key) = create_account(state.store.as_ref(), name, plan).await?;
    if let Some(limits) = req.rate_limits {
        account.rate_limits = Some(limits.into());
        state.store.update_account(&account).await?;
    }
    Ok((
        StatusCode::CREATED,
        axum::Json(Data::new(CreatedAccountView {
            account: AccountView::new(&account),
            api_key: ApiKeyView::new(&key.key, Some(key.token)),
        })),
    ))
}

/// List accounts.
#[utoipa::path(get, path = "/admin/v1/accounts", tag = "Admin",
    params(AdminListQuery),
    responses((status = 200, description = "A page of accounts", body = Page<AccountView>)),
    security(("admin_token" = [])))]
pub async fn admin_list_accounts(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<AdminListQuery>,
) -> Result<axum::Json<Page<AccountView>>, ApiError> {
    let page =
        OffsetPage::parse(q.limit, q.offset, 50, 100).map_err(|e| ApiError::field(e.field(), e))?;
    let (list, total) = state.store.list_accounts(page).await?;
    let views = list.iter().map(AccountView::new).collect();
    Ok(axum::Json(Page::new(views, page.pagination(total))))
}

/// Get an account.
#[utoipa::path(get, path = "/admin/v1/accounts/{accountId}", tag = "Admin",
    params(("accountId" = String, Path, description = "acct_…")),
    responses(
        (status = 200, description = "The account", body = Data<AccountView>),
        (status = 404, description = "not_found", body = ErrorEnvelope),
    ),
    security(("admin_token" = [])))]
pub async fn admin_get_account(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<axum::Json<Data<AccountView>>, ApiError> {
    let account = load_account(&state, &raw).await?;
    Ok(axum::Json(Data::new(AccountView::new(&account))))
}

/// Change an account's name, plan or limits.
#[utoipa::path(patch, path = "/admin/v1/accounts/{accountId}", tag = "Admin",
    params(("accountId" = String, Path, description = "acct_…")),
    request_body = UpdateAccountRequest,
    responses(
        (status = 200, description = "The updated account", body = Data<AccountView>),
        (status = 400, description = "invalid_request", body = ErrorEnvelope),
        (status = 404, description = "not_found", body = ErrorEnvelope),
    ),
    security(("admin_token" = [])))]
pub async fn admin_update_account(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    ApiJson(req): ApiJson<UpdateAccountRequest>,
) -> Result<axum::Json<Data<AccountView>>, ApiError> {
    let mut account = load_account(&state, &raw).await?;
    if let Some(n) = &req.name {
        account.name = parse_account_name(n)?;
    }
    if let Some(p) = &req.plan {
        account.plan = parse_plan(p)?;
    }
    if let Some(limits) = req.rate_limits {
        account.rate_limits = limits.map(Into::into);
    }
    if !state.store.update_account(&account).await? {
        return Err(ApiError::NotFound);
    }
    Ok(axum::Json(Data::new(AccountView::new(&account))))
}

/// Delete an account with all its keys and instances.
#[utoipa::path(delete, path = "/admin/v1/accounts/{accountId}", tag = "Admin",
    params(("accountId" = String, Path, description = "acct_…")),
    responses(
        (status = 200, description = "Deleted", body = Data<DeletedView>),
        (status = 404, description = "not_found", body = ErrorEnvelope),
    ),
    security(("admin_token" = [])))]
pub async fn admin_delete_account(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<axum::Json<Data<DeletedView>>, ApiError> {
    let id = AccountId::parse(&raw).map_err(|_| ApiError::NotFound)?;
    // Each instance is logged out first, as `DELETE /v1/instances/{id}` does: its linked device
    // is released, and nothing of the account keeps running after it is gone.
    let mut offset = 0;
    loop {
        let page = OffsetPage { limit: 100, offset };
        let (instances, _) = state.store.list_instances(&id, None, page).await?;
        for inst in &instances {
            if let Err(e) = state.supervisor.logout(inst).await {
                tracing::warn!(instance = %inst.id, error = %e, "logout before delete failed");
            }
        }
        if instances.len() < 100 {
            break;
        }
        offset += 100;
    }
    if !state.store.delete_account(&id).await? {
        return Err(ApiError::NotFound);
    }
    Ok(axum::Json(Data::new(DeletedView {
        id: id.to_string(),
        deleted: true,
    })))
}

/// Create an API key; its secret `key` is in this response only.
#[utoipa::path(post, path = "/admin/v1/accounts/{accountId}/keys", tag = "Admin",
    params(("accountId" = String, Path, description = "acct_…")),
    request_body = CreateKeyRequest,
    responses(
        (status = 201, description = "Created", body = Data<ApiKeyView>),
        (status = 400, description = "invalid_request", body = ErrorEnvelope),
        (status = 404, description = "not_found", body = ErrorEnvelope),
    ),
    security(("admin_token" = [])))]
pub async fn admin_create_key(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    ApiJson(req): ApiJson<CreateKeyRequest>,
) -> Result<(StatusCode, axum::Json<Data<ApiKeyView>>), ApiError> {
    let account = load_account(&state, &raw).await?;
    let new = NewKey::try_from(req)?;
    let issued = issue_key(state.store.as_ref(), &account.id, new).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(Data::new(ApiKeyView::new(&issued.key, Some(issued.token)))),
    ))
}

/// List an account's keys (never their secrets).
#[utoipa::path(get, path = "/admin/v1/accounts/{accountId}/keys", tag = "Admin",
    params(("accountId" = String, Path, description = "acct_…")),
    responses(
        (status = 200, description = "The keys", body = Data<Vec<ApiKeyView>>),
        (status = 404, description = "not_found", body = ErrorEnvelope),
    ),
    security(("admin_token" = [])))]
pub async fn admin_list_keys(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<axum::Json<Data<Vec<ApiKeyView>>>, ApiError> {
    let account = load_account(&state, &raw).await?;
    let keys = state.store.list_api_keys(&account.id).await?;
    Ok(axum::Json(Data::new(
        keys.iter().map(|k| ApiKeyView::new(k, None)).collect(),
    )))
}

/// Revoke a key; it is refused from the next request on.
#[utoipa::path(delete, path = "/admin/v1/accounts/{accountId}/keys/{keyId}", tag = "Admin",
    params(("accountId" = String, Path, description = "acct_…"), ("keyId" = String, Path, description = "key_…")),
    responses(
        (status = 200, description = "Revoked", body = Data<DeletedView>),
        (status = 404, description = "not_found", body = ErrorEnvelope),
    ),
    security(("admin_token" = [])))]
pub async fn admin_revoke_key(
    State(state): State<AppState>,
    Path((raw_account, raw_key)): Path<(String, String)>,
) -> Result<axum::Json<Data<DeletedView>>, ApiError> {
    let account = AccountId::parse(&raw_account).map_err(|_| ApiError::NotFound)?;
    let key = ApiKeyId::parse(&raw_key).map_err(|_| ApiError::NotFound)?;
    if !state
        .store
        .revoke_api_key(&account, &key, Timestamp::now())
        .await?
    {
        return Err(ApiError::NotFound);
    }
    Ok(axum::Json(Data::new(DeletedView {
        id: key.to_string(),
        deleted: true,
    })))
}
