//! The body that creates an API key, shared by the operator's and the account's own key routes.

use serde::Deserialize;
use utoipa::ToSchema;
use wagate_core::Timestamp;
use wagate_core::account::AccountName;
use wagate_core::scope::{Scope, Scopes};

use crate::accounts::NewKey;
use crate::http::error::ApiError;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateKeyRequest {
    #[schema(schema_with = crate::openapi::display_name)]
    pub name: String,
    /// Scopes; empty or missing grants every scope but `keys:write`.
    #[schema(schema_with = crate::openapi::scopes)]
    pub scopes: Option<Vec<String>>,
    /// ISO 8601 time after which the key is refused.
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
}

impl TryFrom<CreateKeyRequest> for NewKey {
    type Error = ApiError;

    fn try_from(req: CreateKeyRequest) -> Result<Self, ApiError> {
        let name = AccountName::parse(&req.name).map_err(|e| ApiError::field("name", e))?;
        let scopes = req
            .scopes
            .unwrap_or_default()
            .iter()
            .map(|s| s.parse::<Scope>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ApiError::field("scopes", e))?;
        let expires_at = req
            .expires_at
            .as_deref()
            .map(|s| {
                Timestamp::parse_rfc3339(s)
                    .ok_or_else(|| ApiError::field("expiresAt", "not an ISO 8601 time"))
            })
            .transpose()?;
        Ok(Self {
            name,
            scopes: Scopes::from_list(scopes),
            expires_at,
        })
    }
}
