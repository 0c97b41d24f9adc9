//! Wire shapes of the responses: the documented field names, in camelCase, with `success`.
//! Domain types stay free of API concerns; these structs are what the OpenAPI document shows.

use serde::Serialize;
use utoipa::ToSchema;
use wagate_core::account::Account;
use wagate_core::api_key::ApiKey;
use wagate_core::instance::{Instance, InstanceStatus, LastError};
use wagate_core::page::OffsetPagination;
use wagate_core::plan::RateLimits;

/// `{ "success": true, "data": … }`
#[derive(Debug, Serialize, ToSchema)]
pub struct Data<T> {
    pub success: bool,
    pub data: T,
}

impl<T> Data<T> {
    pub fn new(data: T) -> Self {
        Self {
            success: true,
            data,
        }
    }
}

/// `{ "success": true, "data": [...], "pagination": {...} }`
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub success: bool,
    pub data: Vec<T>,
    pub pagination: PaginationView,
}

impl<T> Page<T> {
    pub fn new(data: Vec<T>, pagination: OffsetPagination) -> Self {
        Self {
            success: true,
            data,
            pagination: PaginationView {
                total: pagination.total,
                limit: pagination.limit,
                offset: pagination.offset,
                has_more: pagination.has_more,
            },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaginationView {
    pub total: u64,
    pub limit: u32,
    pub offset: u64,
    pub has_more: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusView {
    Disconnected,
    Connecting,
    QrPending,
    Connected,
}

impl From<InstanceStatus> for StatusView {
    fn from(s: InstanceStatus) -> Self {
        match s {
            InstanceStatus::Disconnected => StatusView::Disconnected,
            InstanceStatus::Connecting => StatusView::Connecting,
            InstanceStatus::QrPending => StatusView::QrPending,
            InstanceStatus::Connected => StatusView::Connected,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SettingsView {
    pub auto_read: bool,
    pub auto_typing: bool,
    pub reject_calls: bool,
    pub reject_call_message: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LastErrorView {
    /// e.g. `logged_out`, `connection_lost`, `client_outdated`, `network_error` (all in docs/ERRORS.md).
    pub code: String,
    pub message: String,
    pub at: String,
}

impl LastErrorView {
    pub fn new(e: &LastError) -> Self {
        Self {
            code: e.code.to_string(),
            message: e.message.clone(),
            at: e.at.to_rfc3339(),
        }
    }
}

/// The instance object (§5.1, §15.4).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceView {
    #[schema(example = "inst_01jd3k9w6q8x2m4v7c5b0n1t2r")]
    pub id: String,
    pub name: String,
    pub status: StatusView,
    pub phone: Option<String>,
    pub profile_name: Option<String>,
    pub profile_pic_url: Option<String>,
    pub webhook_url: Option<String>,
    pub webhook_events: Vec<String>,
    pub settings: SettingsView,
    /// `qrcode`, `official`, or null before the first connect.
    pub connection_method: Option<String>,
    pub last_error: Option<LastErrorView>,
    pub created_at: String,
    pub last_seen_at: Option<String>,
    /// Signs deliveries to `webhookUrl`; returned by create only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
}

impl InstanceView {
    pub fn new(i: &Instance) -> Self {
        Self {
            id: i.id.to_string(),
            name: i.name.as_str().to_owned(),
            status: i.status.into(),
            phone: i.phone.as_ref().map(|p| p.to_string()),
            profile_name: i.profile_name.clone(),
            profile_pic_url: i.profile_pic_url.clone(),
            webhook_url: i.webhook_url.as_ref().map(|u| u.as_str().to_owned()),
            webhook_events: i
                .webhook_events
                .iter()
                .map(|e| e.as_str().to_owned())
                .collect(),
            settings: SettingsView {
                auto_read: i.settings.auto_read,
                auto_typing: i.settings.auto_typing,
                reject_calls: i.settings.reject_calls,
                reject_call_message: i
                    .settings
                    .reject_call_message
                    .as_ref()
                    .map(|m| m.as_str().to_owned()),
            },
            connection_method: i.connection_method.map(|m| m.as_str().to_owned()),
            last_error: i.last_error.as_ref().map(LastErrorView::new),
            created_at: i.created_at.to_rfc3339(),
            last_seen_at: i.last_seen_at.map(|t| t.to_rfc3339()),
            webhook_secret: None,
        }
    }

    pub fn with_secret(i: &Instance) -> Self {
        Self {
            webhook_secret: Some(i.webhook_secret.clone()),
            ..Self::new(i)
        }
    }
}

/// Requests per minute; null means unlimited.
#[derive(Debug, Serialize, ToSchema)]
pub struct RateLimitsView {
    pub messages: Option<u32>,
    pub instances: Option<u32>,
    pub webhooks: Option<u32>,
    pub general: Option<u32>,
}

impl From<RateLimits> for RateLimitsView {
    fn from(l: RateLimits) -> Self {
        Self {
            messages: l.messages,
            instances: l.instances,
            webhooks: l.webhooks,
            general: l.general,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountView {
    #[schema(example = "acct_01jd3k9w6q8x2m4v7c5b0n1t2r")]
    pub id: String,
    pub name: String,
    /// `free`, `starter`, `pro` or `enterprise`.
    pub plan: String,
    /// Maximum instances; null means unlimited.
    pub instance_limit: Option<u32>,
    pub rate_limits: RateLimitsView,
    pub created_at: String,
}

impl AccountView {
    pub fn new(a: &Account) -> Self {
        Self {
            id: a.id.to_string(),
            name: a.name.as_str().to_owned(),
            plan: a.plan.as_str().to_owned(),
            instance_limit: a.plan.instance_limit(),
            rate_limits: a.effective_rate_limits().into(),
            created_at: a.created_at.to_rfc3339(),
        }
    }
}

/// An API key's record; `key` (the secret token) appears only in the response that creates it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyView {
    #[schema(example = "key_01jd3k9w6q8x2m4v7c5b0n1t2r")]
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl ApiKeyView {
    pub fn new(k: &ApiKey, token: Option<String>) -> Self {
        Self {
            id: k.id.to_string(),
            account_id: k.account_id.to_string(),
            name: k.name.as_str().to_owned(),
            scopes: k.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            created_at: k.created_at.to_rfc3339(),
            expires_at: k.expires_at.map(|t| t.to_rfc3339()),
            revoked_at: k.revoked_at.map(|t| t.to_rfc3339()),
            key: token,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedView {
    pub id: String,
    pub deleted: bool,
}
