//! Presence and chat state (§17.4): whether the instance shows itself online, and what it shows
//! in one chat (typing, recording a voice note, stopped); and the same of a contact, as the
//! network reports it.

use crate::Timestamp;
use crate::message::Recipient;
use crate::phone::PhoneNumber;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Available,
    Unavailable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatState {
    Composing,
    Recording,
    Paused,
}

impl Presence {
    pub fn as_str(self) -> &'static str {
        match self {
            Presence::Available => "available",
            Presence::Unavailable => "unavailable",
        }
    }
}

impl ChatState {
    pub fn as_str(self) -> &'static str {
        match self {
            ChatState::Composing => "composing",
            ChatState::Recording => "recording",
            ChatState::Paused => "paused",
        }
    }
}

/// What a contact shows: online or not, or a chat state in its chat with the instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactState {
    Online(Presence),
    InChat(ChatState),
}

impl ContactState {
    /// `state` of `presence.updated`, and of `POST /sandbox/v1/presence`.
    pub fn as_str(self) -> &'static str {
        match self {
            ContactState::Online(p) => p.as_str(),
            ContactState::InChat(c) => c.as_str(),
        }
    }

    pub fn parse(s: &str) -> Result<Self, PresenceError> {
        PresenceChange::states()
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or(PresenceError::UnknownState)
    }
}

/// A contact's presence, as the network reported it (`presence.updated`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactPresence {
    pub from: PhoneNumber,
    pub state: ContactState,
    /// When it was last online, if the network says (with `unavailable`).
    pub last_seen: Option<Timestamp>,
}

/// What `POST /v1/instances/{id}/presence` asks for: one of the two, never both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresenceChange {
    Own(Presence),
    Chat { to: Recipient, state: ChatState },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PresenceError {
    #[error("state must be one of available, unavailable, composing, recording, paused")]
    UnknownState,
    #[error("composing, recording and paused are shown in a chat: send chatId or to")]
    NeedsChat,
    #[error("available and unavailable are the instance's own: send no chatId or to")]
    NotInChat,
}

impl PresenceChange {
    /// Every state, own and in a chat.
    fn states() -> [ContactState; 5] {
        [
            ContactState::Online(Presence::Available),
            ContactState::Online(Presence::Unavailable),
            ContactState::InChat(ChatState::Composing),
            ContactState::InChat(ChatState::Recording),
            ContactState::InChat(ChatState::Paused),
        ]
    }

    /// `state` with the chat it is shown in, if any.
    pub fn parse(state: &str, chat: Option<Recipient>) -> Result<Self, PresenceError> {
        match (ContactState::parse(state)?, chat) {
            (ContactState::Online(p), None) => Ok(PresenceChange::Own(p)),
            (ContactState::Online(_), Some(_)) => Err(PresenceError::NotInChat),
            (ContactState::InChat(state), Some(to)) => Ok(PresenceChange::Chat { to, state }),
            (ContactState::InChat(_), None) => Err(PresenceError::NeedsChat),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_states_stand_alone_and_chat_states_need_a_chat() {
        let to = || Some(Recipient::parse("5511988887777").unwrap());
        assert_eq!(
            PresenceChange::parse("available", None),
            Ok(PresenceChange::Own(Presence::Available))
        );
        assert!(matches!(
            PresenceChange::parse("recording", to()),
            Ok(PresenceChange::Chat {
                state: ChatState::Recording,
                ..
            })
        ));
        assert_eq!(
            PresenceChange::parse("typing", None),
            Err(PresenceError::UnknownState)
        );
        assert_eq!(
            PresenceChange::parse("paused", None),
            Err(PresenceError::NeedsChat)
        );
        assert_eq!(
            PresenceChange::parse("unavailable", to()),
            Err(PresenceError::NotInChat)
        );
    }
}
