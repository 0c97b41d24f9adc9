//! Why a message failed or a connection ended, as one closed set of codes: a failed message's
//! `error.code` (§15.5), an instance's `lastError.code` and the `reason` of
//! `instance.disconnected` (§15.4). `docs/ERRORS.md` lists every one; a test renders that table
//! from `FailureCode::iter()` and compares.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use strum::{EnumIter, IntoEnumIterator};

/// What a code is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureOf {
    /// An instance's connection (`lastError.code`).
    Connection,
    /// A message (`error.code` of a `failed` message, or why it is still queued).
    Message,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter)]
pub enum FailureCode {
    ConnectionLost,
    NetworkError,
    LoggedOut,
    StreamReplaced,
    TemporaryBan,
    ClientOutdated,
    QrTimeout,
    LinkInterrupted,
    ResumeFailed,
    Expired,
    InstanceDisconnected,
    InvalidRecipient,
    RecipientNotOnWhatsapp,
    RecipientOffline,
    RecipientUnavailable,
    UnsupportedRecipient,
    UnsupportedContent,
    /// A message to a group the instance is not in (or no longer in).
    NotGroupMember,
    /// A message to an announcement group by a member who is not an admin.
    GroupAdminsOnly,
    InvalidRequest,
    MediaFetchFailed,
    MediaTooLarge,
    UnsupportedMediaFormat,
    /// WhatsApp refused the message with this error code.
    WhatsappNack(u32),
    OfficialApiError,
    OfficialInvalidRequest,
    OfficialNumberNotRegistered,
    OfficialPermissionDenied,
    OfficialTokenInvalid,
    OutsideConversationWindow,
    RateLimited,
    TemplateInvalid,
    TemplateNotFound,
    UnsupportedMessageType,
    AccountRestricted,
}

const NACK_PREFIX: &str = "whatsapp_nack_";

impl FailureCode {
    /// The code as documented: as on the wire, but `whatsapp_nack_<code>` for that family.
    pub fn spelling(self) -> &'static str {
        use FailureCode::*;
        match self {
            ConnectionLost => "connection_lost",
            NetworkError => "network_error",
            LoggedOut => "logged_out",
            StreamReplaced => "stream_replaced",
            TemporaryBan => "temporary_ban",
            ClientOutdated => "client_outdated",
            QrTimeout => "qr_timeout",
            LinkInterrupted => "link_interrupted",
            ResumeFailed => "resume_failed",
            Expired => "expired",
            InstanceDisconnected => "instance_disconnected",
            InvalidRecipient => "invalid_recipient",
            RecipientNotOnWhatsapp => "recipient_not_on_whatsapp",
            RecipientOffline => "recipient_offline",
            RecipientUnavailable => "recipient_unavailable",
            UnsupportedRecipient => "unsupported_recipient",
            UnsupportedContent => "unsupported_content",
            NotGroupMember => "not_group_member",
            GroupAdminsOnly => "group_admins_only",
            InvalidRequest => "invalid_request",
            MediaFetchFailed => "media_fetch_failed",
            MediaTooLarge => "media_too_large",
            UnsupportedMediaFormat => "unsupported_media_format",
            WhatsappNack(_) => "whatsapp_nack_<code>",
            OfficialApiError => "official_api_error",
            OfficialInvalidRequest => "official_invalid_request",
            OfficialNumberNotRegistered => "official_number_not_registered",
            OfficialPermissionDenied => "official_permission_denied",
            OfficialTokenInvalid => "official_token_invalid",
            OutsideConversationWindow => "outside_conversation_window",
            RateLimited => "rate_limited",
            TemplateInvalid => "template_invalid",
            TemplateNotFound => "template_not_found",
            UnsupportedMessageType => "unsupported_message_type",
            AccountRestricted => "account_restricted",
        }
    }

    pub fn of(self) -> FailureOf {
        use FailureCode::*;
        match self {
            ConnectionLost | NetworkError | LoggedOut | StreamReplaced | TemporaryBan
            | ClientOutdated | QrTimeout | LinkInterrupted | ResumeFailed => FailureOf::Connection,
            _ => FailureOf::Message,
        }
    }

    /// What it means, for `docs/ERRORS.md`.
    pub fn meaning(self) -> &'static str {
        use FailureCode::*;
        match self {
            ConnectionLost => {
                "The connection dropped; the engine reconnects by itself. A send interrupted by it stays queued."
            }
            NetworkError => "The network cannot be reached; retried with backoff.",
            LoggedOut => "The device was unlinked (by the phone or the network); link it again.",
            StreamReplaced => "Another client took over the WhatsApp session.",
            TemporaryBan => "WhatsApp banned the number for a while.",
            ClientOutdated => {
                "WhatsApp refused the client's version; pin a current one with `--wa-version`."
            }
            QrTimeout => "No phone scanned a QR code before the last one expired.",
            LinkInterrupted => {
                "The server restarted while the instance was linking; connect again."
            }
            ResumeFailed => {
                "The saved session could not be reopened at start; it is kept for a retry."
            }
            Expired => "Not sent within 24 hours of being accepted.",
            InstanceDisconnected => {
                "The instance was disconnected (`disconnect`) before it was sent."
            }
            InvalidRecipient => "The recipient is not a WhatsApp address.",
            RecipientNotOnWhatsapp => "The number has no WhatsApp account.",
            RecipientOffline => {
                "Sandbox: the receiving instance is offline; the message waits (not a failure)."
            }
            RecipientUnavailable => {
                "Sandbox: the receiving instance did not take the message; it is retried."
            }
            UnsupportedRecipient => {
                "The official API cannot send to this kind of address (a group)."
            }
            UnsupportedContent => {
                "This connection cannot send this content (a template over WhatsApp Web)."
            }
            NotGroupMember => "The instance is not in the group (it left, or was removed).",
            GroupAdminsOnly => "Only the group's admins may send in it (`announce`).",
            InvalidRequest => "WhatsApp refused the message as malformed.",
            MediaFetchFailed => "`mediaUrl` could not be fetched (or Meta could not fetch it).",
            MediaTooLarge => "The media is larger than its type allows (§15.5).",
            UnsupportedMediaFormat => "The media's format is not one its type allows (§15.5).",
            WhatsappNack(_) => "WhatsApp refused the message with that error code.",
            OfficialApiError => "Meta's API failed; transient errors are retried first.",
            OfficialInvalidRequest => "Meta refused the request as invalid.",
            OfficialNumberNotRegistered => "The number is not registered with the Cloud API.",
            OfficialPermissionDenied => {
                "The access token lacks the WhatsApp permissions for this number."
            }
            OfficialTokenInvalid => "The access token expired, was revoked, or is invalid.",
            OutsideConversationWindow => {
                "The customer has not written in 24 hours: only a template may be sent."
            }
            RateLimited => "Meta throttled the sends; retried first.",
            TemplateInvalid => "The template's parameters do not match it.",
            TemplateNotFound => "No approved template has this name and language.",
            UnsupportedMessageType => "Meta does not support this message type.",
            AccountRestricted => "The WhatsApp Business account is restricted.",
        }
    }

    /// Every code, the `WhatsappNack` family once.
    pub fn all() -> impl Iterator<Item = FailureCode> {
        FailureCode::iter()
    }
}

impl fmt::Display for FailureCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureCode::WhatsappNack(n) => write!(f, "{NACK_PREFIX}{n}"),
            other => f.write_str(other.spelling()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a failure code")]
pub struct UnknownFailureCode(pub String);

impl FromStr for FailureCode {
    type Err = UnknownFailureCode;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(n) = s.strip_prefix(NACK_PREFIX) {
            return n
                .parse()
                .map(FailureCode::WhatsappNack)
                .map_err(|_| UnknownFailureCode(s.to_owned()));
        }
        FailureCode::iter()
            .find(|c| c.spelling() == s)
            .ok_or_else(|| UnknownFailureCode(s.to_owned()))
    }
}

impl Serialize for FailureCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for FailureCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_reads_back_as_itself() {
        for c in FailureCode::iter() {
            let c = match c {
                FailureCode::WhatsappNack(_) => FailureCode::WhatsappNack(479),
                c => c,
            };
            assert_eq!(c.to_string().parse::<FailureCode>(), Ok(c), "{c}");
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(serde_json::from_str::<FailureCode>(&json).unwrap(), c);
        }
        assert_eq!(
            FailureCode::WhatsappNack(479).to_string(),
            "whatsapp_nack_479"
        );
        assert!("whatsapp_nack_x".parse::<FailureCode>().is_err());
        assert!("no_such_code".parse::<FailureCode>().is_err());
    }
}
