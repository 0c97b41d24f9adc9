//! Messages (§5.2, §7, §15.5): what is sent and received, and where each one stands.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::content::{ReactionBy, Vote};
use crate::phone::{PhoneError, PhoneNumber};
use crate::{AccountId, ChatId, InstanceId, MessageId, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    Queued,
    Sent,
    Delivered,
    Read,
    Failed,
}

impl MessageStatus {
    pub const ALL: [MessageStatus; 5] = [
        MessageStatus::Queued,
        MessageStatus::Sent,
        MessageStatus::Delivered,
        MessageStatus::Read,
        MessageStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Queued => "queued",
            MessageStatus::Sent => "sent",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Read => "read",
            MessageStatus::Failed => "failed",
        }
    }

    /// The forward order `queued → sent → delivered → read`; a receipt never moves a message back
    /// (a late "delivered" after "read" is ignored), and `failed` is final.
    pub fn rank(self) -> u8 {
        match self {
            MessageStatus::Queued => 0,
            MessageStatus::Sent => 1,
            MessageStatus::Delivered => 2,
            MessageStatus::Read => 3,
            MessageStatus::Failed => 4,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown message status '{0}'")]
pub struct MessageStatusError(pub String);

impl FromStr for MessageStatus {
    type Err = MessageStatusError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MessageStatus::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| MessageStatusError(s.to_owned()))
    }
}

impl fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Inbound,
    Outbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaType {
    Image,
    Video,
    Audio,
    /// A push-to-talk voice note (OGG/Opus).
    Voice,
    Document,
    /// WebP, at most 500 KB.
    Sticker,
}

impl MediaType {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Image => "image",
            MediaType::Video => "video",
            MediaType::Audio => "audio",
            MediaType::Voice => "voice",
            MediaType::Document => "document",
            MediaType::Sticker => "sticker",
        }
    }

    pub const ALL: [MediaType; 6] = [
        MediaType::Image,
        MediaType::Video,
        MediaType::Audio,
        MediaType::Voice,
        MediaType::Document,
        MediaType::Sticker,
    ];

    /// A stored `type` (any of them).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// A request's `mediaType`: a voice note is `audio` with `voiceNote: true`.
    pub fn parse_requested(s: &str) -> Option<Self> {
        Self::parse(s).filter(|m| *m != MediaType::Voice)
    }

    /// §15.5's size limits.
    pub fn max_bytes(self) -> u64 {
        const MB: u64 = 1024 * 1024;
        match self {
            MediaType::Image => 5 * MB,
            MediaType::Video | MediaType::Audio | MediaType::Voice => 16 * MB,
            MediaType::Document => 100 * MB,
            MediaType::Sticker => 500 * 1024,
        }
    }

    /// The chat-preview text of §5.3 (`"[Image]"`).
    pub fn preview(self) -> &'static str {
        match self {
            MediaType::Image => "[Image]",
            MediaType::Video => "[Video]",
            MediaType::Audio => "[Audio]",
            MediaType::Voice => "[Voice]",
            MediaType::Document => "[Document]",
            MediaType::Sticker => "[Sticker]",
        }
    }
}

/// A reference to media: where it is, and what the sender said about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Media {
    pub media_type: MediaType,
    pub url: String,
    pub caption: Option<String>,
    pub filename: Option<String>,
    pub mime_type: Option<String>,
    pub size: Option<u64>,
}

/// A pre-approved message template (Meta's Cloud API), the only kind of message that may start
/// a conversation outside the 24-hour window. `components` is passed to Meta as given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    pub name: String,
    pub language: String,
    pub components: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TemplateError {
    #[error("name must be 1 to 512 lower-case letters, digits or underscores")]
    Name,
    #[error("language must be a language code such as en_US")]
    Language,
    #[error("components must be a list of objects")]
    Components,
}

impl Template {
    /// Meta's template names are lower-case letters, digits and `_`; language codes are like
    /// `en` or `pt_BR`.
    pub fn parse(
        name: String,
        language: String,
        components: Option<serde_json::Value>,
    ) -> Result<Self, TemplateError> {
        let name_ok = (1..=512).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !name_ok {
            return Err(TemplateError::Name);
        }
        let lang_ok = (2..=15).contains(&language.len())
            && language
                .bytes()
                .all(|b| b.is_ascii_alphabetic() || b == b'_' || b == b'-');
        if !lang_ok {
            return Err(TemplateError::Language);
        }
        let components = match components {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(serde_json::Value::Array(items)) if items.iter().all(|c| c.is_object()) => items,
            Some(_) => return Err(TemplateError::Components),
        };
        Ok(Self {
            name,
            language,
            components,
        })
    }
}

pub use crate::content::Content;

/// Who a message goes to (or came from): a phone number, a group (`…@g.us`), or a WhatsApp user
/// known only by its LID (`…@lid`, WhatsApp's privacy id, when the network gave no number).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Recipient {
    Phone(PhoneNumber),
    Group(String),
    Lid(String),
}

impl Recipient {
    pub fn parse(s: &str) -> Result<Self, PhoneError> {
        if let Some(local) = s.strip_suffix("@g.us") {
            let ok = !local.is_empty()
                && local.len() <= 40
                && local.bytes().all(|b| b.is_ascii_digit() || b == b'-');
            return if ok {
                Ok(Recipient::Group(s.to_owned()))
            } else {
                Err(PhoneError)
            };
        }
        if let Some(local) = s.strip_suffix("@lid") {
            let ok =
                !local.is_empty() && local.len() <= 20 && local.bytes().all(|b| b.is_ascii_digit());
            return if ok {
                Ok(Recipient::Lid(s.to_owned()))
            } else {
                Err(PhoneError)
            };
        }
        PhoneNumber::parse(s).map(Recipient::Phone)
    }

    pub fn as_str(&self) -> &str {
        match self {
            Recipient::Phone(p) => p.as_str(),
            Recipient::Group(g) | Recipient::Lid(g) => g,
        }
    }

    /// The LID, for a user known only by it (`fromLid`).
    pub fn lid(&self) -> Option<&str> {
        match self {
            Recipient::Lid(l) => Some(l),
            _ => None,
        }
    }

    pub fn is_group(&self) -> bool {
        matches!(self, Recipient::Group(_))
    }

    pub fn from_trusted(s: String) -> Self {
        if s.ends_with("@g.us") {
            Recipient::Group(s)
        } else if s.ends_with("@lid") {
            Recipient::Lid(s)
        } else {
            Recipient::Phone(PhoneNumber::from_trusted(s))
        }
    }
}

/// Why a message failed (`error` of §15.5): e.g. `recipient_not_on_whatsapp`, `media_fetch_failed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageError {
    pub code: crate::failure::FailureCode,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: MessageId,
    pub account_id: AccountId,
    pub instance_id: InstanceId,
    pub chat_id: ChatId,
    pub direction: Direction,
    /// The other party: `to` of an outbound message, `from` of an inbound one.
    pub peer: Recipient,
    /// The name of who wrote an inbound message (the member's, in a group).
    pub peer_name: Option<String>,
    /// The member who wrote an inbound group message (its `peer` is the group).
    pub author: Option<Recipient>,
    pub content: Content,
    /// The numbers a text mentions.
    pub mentions: Vec<PhoneNumber>,
    /// The message replied to: wagate's `msg_` id when wagate has it (or, for a send, the id
    /// the request gave).
    pub quoted_message_id: Option<String>,
    /// The network's id of the message replied to, as a received message gave it.
    pub quoted_external_id: Option<String>,
    pub metadata: Option<serde_json::Value>,
    /// The id the network knows it by (for receipts and deduplication of redeliveries).
    pub external_id: Option<String>,
    pub status: MessageStatus,
    pub error: Option<MessageError>,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
    pub delivered_at: Option<Timestamp>,
    pub read_at: Option<Timestamp>,
    /// When its text was last edited (§17.2).
    pub edited_at: Option<Timestamp>,
    /// Reactions to it, one per person (read with the message; written by the reactions).
    pub reactions: Vec<ReactionBy>,
    /// A poll's votes, one per voter, the latest of each.
    pub votes: Vec<Vote>,
}

impl Message {
    /// Who wrote an inbound message: the member in a group, else the peer.
    pub fn sender(&self) -> &Recipient {
        self.author.as_ref().unwrap_or(&self.peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_are_phones_or_groups() {
        assert!(matches!(
            Recipient::parse("5511999999999"),
            Ok(Recipient::Phone(_))
        ));
        assert!(
            Recipient::parse("120363025246125486@g.us")
                .unwrap()
                .is_group()
        );
        assert!(Recipient::parse("@g.us").is_err());
        assert!(Recipient::parse("+5511999999999").is_err());
    }

    #[test]
    fn status_order_moves_forward_only() {
        assert!(MessageStatus::Read.rank() > MessageStatus::Delivered.rank());
        assert!(MessageStatus::Delivered.rank() > MessageStatus::Sent.rank());
        assert_eq!(
            "delivered".parse::<MessageStatus>(),
            Ok(MessageStatus::Delivered)
        );
    }

    #[test]
    fn templates_parse_their_name_language_and_components() {
        let t = Template::parse(
            "order_update".into(),
            "pt_BR".into(),
            Some(serde_json::json!([{"type": "body"}])),
        )
        .unwrap();
        assert_eq!(t.components.len(), 1);
        assert_eq!(
            Template::parse("Bad Name".into(), "en".into(), None),
            Err(TemplateError::Name)
        );
        assert_eq!(
            Template::parse("ok".into(), "e".into(), None),
            Err(TemplateError::Language)
        );
        assert_eq!(
            Template::parse("ok".into(), "en".into(), Some(serde_json::json!([1]))),
            Err(TemplateError::Components)
        );
    }

    #[test]
    fn media_limits_follow_the_spec() {
        assert_eq!(MediaType::Image.max_bytes(), 5 * 1024 * 1024);
        assert_eq!(MediaType::Document.max_bytes(), 100 * 1024 * 1024);
        assert_eq!(
            Content::Media(Media {
                media_type: MediaType::Image,
                url: "https://x/y.jpg".into(),
                caption: None,
                filename: None,
                mime_type: None,
                size: None,
            })
            .preview(),
            "[Image]"
        );
    }
}
