//! Webhook subscriptions (§5.5, §9.7, §15.6): a URL that gets some events of one instance.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::api_key::random_hex;
use crate::net::TargetUrl;
use crate::webhook_event::WebhookEvent;
use crate::{AccountId, InstanceId, Timestamp, WebhookId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubscriptionStatus {
    Active,
    /// Receives nothing until made active again.
    Paused,
}

impl SubscriptionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Paused => "paused",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "paused" => Some(Self::Paused),
            _ => None,
        }
    }
}

/// The signing secret of a subscription or an instance (`whs_…`). A client may choose its own;
/// it is never empty and never shown after creation or rotation.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the secret must be 8 to 256 visible characters")]
pub struct SecretError;

impl WebhookSecret {
    pub fn generate() -> Self {
        Self(format!("whs_{}", random_hex(24)))
    }

    pub fn parse(s: &str) -> Result<Self, SecretError> {
        let ok = (8..=256).contains(&s.len()) && s.chars().all(|c| c.is_ascii_graphic());
        ok.then(|| Self(s.to_owned())).ok_or(SecretError)
    }

    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(***)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: WebhookId,
    pub account_id: AccountId,
    pub instance_id: InstanceId,
    pub name: Option<String>,
    pub url: TargetUrl,
    pub events: Vec<WebhookEvent>,
    pub secret: WebhookSecret,
    pub status: SubscriptionStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A `PUT` (§15.6): `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct SubscriptionPatch {
    pub name: Option<Option<String>>,
    pub url: Option<TargetUrl>,
    pub events: Option<Vec<WebhookEvent>>,
    pub status: Option<SubscriptionStatus>,
}

impl Subscription {
    pub fn apply(&mut self, patch: SubscriptionPatch, at: Timestamp) {
        if let Some(n) = patch.name {
            self.name = n;
        }
        if let Some(u) = patch.url {
            self.url = u;
        }
        if let Some(e) = patch.events {
            self.events = e;
        }
        if let Some(s) = patch.status {
            self.status = s;
        }
        self.updated_at = at;
    }
}
