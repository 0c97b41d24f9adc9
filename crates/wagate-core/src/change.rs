//! Edits and deletes of messages already sent (§17.2, §17.3): what may change, and how the
//! stored message follows.
//!
//! Ours go through the instance's send queue behind the sends accepted before them (a change is
//! a [`QueuedChange`] until the network took it); a contact's arrive as an engine event. Either
//! way the stored message changes only once the change happened on the network.

use std::time::Duration;

use thiserror::Error;

use crate::content::Content;
use crate::message::{Direction, Message, MessageError, MessageStatus};
use crate::send::MAX_TEXT;
use crate::{AccountId, ChangeId, InstanceId, MessageId, Timestamp};

/// WhatsApp lets a message be edited for this long after it was sent.
pub const EDIT_WINDOW: Duration = Duration::from_secs(15 * 60);

/// What happens to a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Its text (or a media's caption) becomes this.
    Edit(String),
    /// Deleted for everyone: its content is gone, the item stays.
    Delete,
}

impl Change {
    /// The new text of `PATCH /v1/messages/{id}`: 1 to 65,536 characters.
    pub fn edit(text: String) -> Result<Self, EditTextError> {
        if text.is_empty() {
            return Err(EditTextError::Empty);
        }
        if text.chars().count() > MAX_TEXT {
            return Err(EditTextError::TooLong);
        }
        Ok(Change::Edit(text))
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Change::Edit(_) => "edit",
            Change::Delete => "delete",
        }
    }

    /// Whether the instance may make this change to its message `m` now; the reason when not.
    pub fn allowed_on(&self, m: &Message, now: Timestamp) -> Result<(), ChangeRefused> {
        let refused = |why: &str| match self {
            Change::Edit(_) => ChangeRefused::NotEditable(why.into()),
            Change::Delete => ChangeRefused::NotDeletable(why.into()),
        };
        if m.direction == Direction::Inbound {
            return Err(refused("Only messages the instance sent can be changed."));
        }
        if m.status == MessageStatus::Failed {
            return Err(refused("The message never reached WhatsApp."));
        }
        if matches!(m.content, Content::Deleted) {
            return Err(refused("The message was deleted."));
        }
        if let Change::Edit(_) = self {
            if !matches!(m.content, Content::Text(_)) {
                return Err(refused("Only text messages can be edited."));
            }
            let sent = m.sent_at.unwrap_or(m.created_at);
            if now.millis() - sent.millis() > EDIT_WINDOW.as_millis() as i64 {
                return Err(refused(
                    "WhatsApp allows edits for 15 minutes after sending.",
                ));
            }
        }
        Ok(())
    }

    /// `m`'s content after this change; `None` when it cannot take it (an edit of a location).
    pub fn applied_to(&self, content: &Content) -> Option<Content> {
        match (self, content) {
            (Change::Delete, _) => Some(Content::Deleted),
            (Change::Edit(_), Content::Deleted) => None,
            (Change::Edit(t), Content::Text(_)) => Some(Content::Text(t.clone())),
            (Change::Edit(t), Content::Media(m)) => {
                let mut m = m.clone();
                m.caption = Some(t.clone());
                Some(Content::Media(m))
            }
            (Change::Edit(_), _) => None,
        }
    }

    /// The message as it will read once the network took the change (what the API answers).
    pub fn preview(&self, m: &Message) -> Message {
        let mut m = m.clone();
        if let Some(c) = self.applied_to(&m.content) {
            m.content = c;
        }
        if let Change::Edit(_) = self {
            m.edited_at = Some(Timestamp::now());
        }
        m
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EditTextError {
    #[error("must not be empty")]
    Empty,
    #[error("at most 65536 characters")]
    TooLong,
}

/// Why a message cannot be changed (409 `message_not_editable` / `message_not_deletable`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChangeRefused {
    #[error("{0}")]
    NotEditable(String),
    #[error("{0}")]
    NotDeletable(String),
}

/// An edit or delete the API accepted, waiting in the send queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedChange {
    pub id: ChangeId,
    pub account_id: AccountId,
    pub instance_id: InstanceId,
    /// The message changed.
    pub message_id: MessageId,
    pub change: Change,
    pub created_at: Timestamp,
}

impl QueuedChange {
    pub fn new(m: &Message, change: Change) -> Self {
        Self {
            id: ChangeId::generate(),
            account_id: m.account_id.clone(),
            instance_id: m.instance_id.clone(),
            message_id: m.id.clone(),
            change,
            created_at: Timestamp::now(),
        }
    }
}

/// How a queued change ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeOutcome {
    /// The network took it: the stored message follows, and its event is recorded.
    Done {
        at: Timestamp,
    },
    Failed(MessageError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Media, MediaType, Recipient};
    use crate::{ChatId, MessageId};

    fn sent(content: Content, minutes_ago: i64) -> Message {
        let at = Timestamp::from_millis(Timestamp::now().millis() - minutes_ago * 60_000);
        Message {
            id: MessageId::generate(),
            account_id: AccountId::generate(),
            instance_id: InstanceId::generate(),
            chat_id: ChatId::generate(),
            direction: Direction::Outbound,
            peer: Recipient::parse("5511999990001").unwrap(),
            peer_name: None,
            author: None,
            content,
            quoted_message_id: None,
            quoted_external_id: None,
            metadata: None,
            external_id: Some("ext".into()),
            status: MessageStatus::Sent,
            error: None,
            created_at: at,
            sent_at: Some(at),
            delivered_at: None,
            read_at: None,
            edited_at: None,
            mentions: Vec::new(),
            reactions: Vec::new(),
            votes: Vec::new(),
        }
    }

    #[test]
    fn edits_are_for_recent_sent_texts() {
        let now = Timestamp::now();
        let edit = Change::edit("new".into()).unwrap();
        assert!(
            edit.allowed_on(&sent(Content::Text("a".into()), 14), now)
                .is_ok()
        );
        assert!(matches!(
            edit.allowed_on(&sent(Content::Text("a".into()), 16), now),
            Err(ChangeRefused::NotEditable(_))
        ));
        let mut inbound = sent(Content::Text("a".into()), 1);
        inbound.direction = Direction::Inbound;
        assert!(edit.allowed_on(&inbound, now).is_err());
        let mut failed = sent(Content::Text("a".into()), 1);
        failed.status = MessageStatus::Failed;
        assert!(edit.allowed_on(&failed, now).is_err());
        let poll = Content::Poll(crate::content::Poll {
            question: "q".into(),
            options: vec!["a".into(), "b".into()],
            multiple_answers: false,
        });
        assert!(edit.allowed_on(&sent(poll, 1), now).is_err());
    }

    #[test]
    fn deletes_are_for_any_sent_message_of_any_age_once() {
        let now = Timestamp::now();
        assert!(
            Change::Delete
                .allowed_on(&sent(Content::Text("a".into()), 600), now)
                .is_ok()
        );
        assert!(matches!(
            Change::Delete.allowed_on(&sent(Content::Deleted, 1), now),
            Err(ChangeRefused::NotDeletable(_))
        ));
        let mut inbound = sent(Content::Text("a".into()), 1);
        inbound.direction = Direction::Inbound;
        assert!(matches!(
            Change::Delete.allowed_on(&inbound, now),
            Err(ChangeRefused::NotDeletable(_))
        ));
    }

    #[test]
    fn an_edit_replaces_a_text_or_a_caption_and_nothing_else() {
        let edit = Change::edit("new".into()).unwrap();
        assert_eq!(
            edit.applied_to(&Content::Text("old".into())),
            Some(Content::Text("new".into()))
        );
        let image = Content::Media(Media {
            media_type: MediaType::Image,
            url: "https://x/y.png".into(),
            caption: None,
            filename: None,
            mime_type: None,
            size: None,
        });
        match edit.applied_to(&image) {
            Some(Content::Media(m)) => assert_eq!(m.caption.as_deref(), Some("new")),
            other => panic!("{other:?}"),
        }
        assert_eq!(edit.applied_to(&Content::Deleted), None);
        assert_eq!(Change::Delete.applied_to(&image), Some(Content::Deleted));
        assert_eq!(Change::edit(String::new()), Err(EditTextError::Empty));
    }
}
