//! Instances (§5.1, §15.4): one WhatsApp connection of an account.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::account::DisplayName;
use crate::api_key::random_hex;
use crate::failure::FailureCode;
use crate::net::TargetUrl;
use crate::phone::PhoneNumber;
use crate::webhook_event::WebhookEvent;
use crate::{AccountId, InstanceId, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceStatus {
    Disconnected,
    Connecting,
    QrPending,
    Connected,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("status must be one of connected, disconnected, connecting, qr_pending")]
pub struct StatusError;

impl InstanceStatus {
    pub const ALL: [InstanceStatus; 4] = [
        InstanceStatus::Disconnected,
        InstanceStatus::Connecting,
        InstanceStatus::QrPending,
        InstanceStatus::Connected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InstanceStatus::Disconnected => "disconnected",
            InstanceStatus::Connecting => "connecting",
            InstanceStatus::QrPending => "qr_pending",
            InstanceStatus::Connected => "connected",
        }
    }
}

impl FromStr for InstanceStatus {
    type Err = StatusError;
    fn from_str(s: &str) -> Result<Self, StatusError> {
        InstanceStatus::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or(StatusError)
    }
}

impl fmt::Display for InstanceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectionMethod {
    Qrcode,
    Official,
}

impl ConnectionMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionMethod::Qrcode => "qrcode",
            ConnectionMethod::Official => "official",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "qrcode" => Some(Self::Qrcode),
            "official" => Some(Self::Official),
            _ => None,
        }
    }
    /// Whether the network of this connection has this kind of message (§17.1): Meta's Cloud
    /// API has no polls; WhatsApp Web (and the sandbox, which plays it) has every kind.
    pub fn sends(self, content: &crate::content::Content) -> bool {
        use crate::content::Content;
        match self {
            ConnectionMethod::Qrcode => !matches!(content, Content::Template(_)),
            ConnectionMethod::Official => !matches!(content, Content::Poll(_)),
        }
    }

    /// Whether sent messages can be edited and deleted for everyone (§17.2): Meta's Cloud API
    /// has neither.
    pub fn changes_messages(self) -> bool {
        self == ConnectionMethod::Qrcode
    }
}

/// Why the connection last failed (§15.4), e.g. `logged_out`, `connection_lost`, `network_error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastError {
    pub code: FailureCode,
    pub message: String,
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    pub auto_read: bool,
    pub auto_typing: bool,
    /// Reject incoming calls (§17.4).
    pub reject_calls: bool,
    /// Sent to the caller after a rejected call.
    pub reject_call_message: Option<RejectCallMessage>,
}

impl Default for Settings {
    /// The documented defaults: `autoRead` false, `autoTyping` true, calls ring.
    fn default() -> Self {
        Self {
            auto_read: false,
            auto_typing: true,
            reject_calls: false,
            reject_call_message: None,
        }
    }
}

/// `rejectCallMessage`: a text of 1 to 4,096 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RejectCallMessage(String);

impl RejectCallMessage {
    pub const MAX: usize = 4096;

    pub fn parse(s: &str) -> Result<Self, &'static str> {
        if s.trim().is_empty() {
            return Err("must not be empty");
        }
        if s.chars().count() > Self::MAX {
            return Err("at most 4096 characters");
        }
        if s.contains('\0') {
            return Err("must not contain NUL");
        }
        Ok(Self(s.to_owned()))
    }

    /// For values read back from our own database.
    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The secret that signs deliveries to an instance's own `webhookUrl` (`whs_…`).
pub fn generate_webhook_secret() -> String {
    format!("whs_{}", random_hex(24))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub id: InstanceId,
    pub account_id: AccountId,
    pub name: DisplayName,
    pub status: InstanceStatus,
    pub phone: Option<PhoneNumber>,
    pub profile_name: Option<String>,
    pub profile_pic_url: Option<String>,
    pub webhook_url: Option<TargetUrl>,
    pub webhook_events: Vec<WebhookEvent>,
    pub webhook_secret: String,
    pub settings: Settings,
    pub connection_method: Option<ConnectionMethod>,
    pub last_error: Option<LastError>,
    pub created_at: Timestamp,
    pub last_seen_at: Option<Timestamp>,
    pub connected_at: Option<Timestamp>,
    /// A linked session is saved (the engine can resume without a new QR). Read-only here: the
    /// runtime writes the session itself through `InstanceStore::set_session`.
    pub has_session: bool,
}

/// What a client may set when creating an instance, already parsed.
#[derive(Debug, Clone)]
pub struct NewInstance {
    pub name: DisplayName,
    pub webhook_url: Option<TargetUrl>,
    pub webhook_events: Vec<WebhookEvent>,
    pub settings: Settings,
}

impl NewInstance {
    /// A new instance always starts `disconnected`, with no phone and a fresh signing secret.
    pub fn into_instance(self, account_id: AccountId, now: Timestamp) -> Instance {
        Instance {
            id: InstanceId::generate(),
            account_id,
            name: self.name,
            status: InstanceStatus::Disconnected,
            phone: None,
            profile_name: None,
            profile_pic_url: None,
            webhook_url: self.webhook_url,
            webhook_events: self.webhook_events,
            webhook_secret: generate_webhook_secret(),
            settings: self.settings,
            connection_method: None,
            last_error: None,
            created_at: now,
            last_seen_at: None,
            connected_at: None,
            has_session: false,
        }
    }
}

/// A partial update (`PATCH`): `None` leaves a field as it is. `webhook_url: Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct InstancePatch {
    pub name: Option<DisplayName>,
    pub webhook_url: Option<Option<TargetUrl>>,
    pub webhook_events: Option<Vec<WebhookEvent>>,
    pub auto_read: Option<bool>,
    pub auto_typing: Option<bool>,
    pub reject_calls: Option<bool>,
    /// `Some(None)` clears it.
    pub reject_call_message: Option<Option<RejectCallMessage>>,
}
