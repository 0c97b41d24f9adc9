//! Chats and contacts (§5.3, §5.4, §15.8): kept from the traffic of each instance.

use crate::message::{Content, Direction};
use crate::{ChatId, MessageId, Timestamp};

#[derive(Debug, Clone, PartialEq)]
pub struct LastMessage {
    pub id: MessageId,
    pub content: Content,
    pub at: Timestamp,
    pub direction: Direction,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Chat {
    pub id: ChatId,
    /// A phone number, or a group address.
    pub peer: String,
    pub contact_name: Option<String>,
    /// The contact's picture, as last fetched.
    pub profile_pic_url: Option<String>,
    pub is_group: bool,
    pub unread_count: u64,
    pub last_message: Option<LastMessage>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub phone: String,
    pub name: Option<String>,
    pub profile_pic_url: Option<String>,
    pub about: Option<String>,
    pub is_business: bool,
    pub is_blocked: bool,
    /// When the profile (about, picture, business) was last fetched from the network; `None`
    /// when it never was, or the contact changed it since.
    pub profile_fetched_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatSort {
    LastMessageAt,
    UnreadCount,
    ContactName,
}

/// At most this many characters in a `search` parameter.
pub const MAX_SEARCH: usize = 100;

/// A `search` parameter: `None` when left out or empty, else at most [`MAX_SEARCH`] characters.
/// Its `%` and `_` are plain characters (the store escapes them).
pub fn search_term(given: Option<String>) -> Result<Option<String>, String> {
    match given {
        Some(s) if s.chars().count() > MAX_SEARCH => {
            Err(format!("at most {MAX_SEARCH} characters"))
        }
        Some(s) if s.is_empty() => Ok(None),
        other => Ok(other),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatQuery {
    pub search: Option<String>,
    pub unread_only: bool,
    pub sort: ChatSort,
    pub descending: bool,
    pub limit: u32,
    pub offset: u64,
}

/// Which slice of a history to read: newest first, before or after a message id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryQuery {
    /// Only this peer's chat (resolved from `chatId` or `phone`).
    pub peer: Option<String>,
    pub before: Option<MessageId>,
    pub after: Option<MessageId>,
    pub limit: u32,
}
