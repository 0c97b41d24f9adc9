//! Presence and chat state (§17.4): whether the instance shows itself online, and what it shows
//! in one chat (typing, recording a voice note, stopped).

use crate::message::Recipient;

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
    /// `state` with the chat it is shown in, if any.
    pub fn parse(state: &str, chat: Option<Recipient>) -> Result<Self, PresenceError> {
        let own = match state {
            "available" => Some(Presence::Available),
            "unavailable" => Some(Presence::Unavailable),
            _ => None,
        };
        let in_chat = match state {
            "composing" => Some(ChatState::Composing),
            "recording" => Some(ChatState::Recording),
            "paused" => Some(ChatState::Paused),
            _ => None,
        };
        match (own, in_chat, chat) {
            (Some(p), _, None) => Ok(PresenceChange::Own(p)),
            (Some(_), _, Some(_)) => Err(PresenceError::NotInChat),
            (None, Some(state), Some(to)) => Ok(PresenceChange::Chat { to, state }),
            (None, Some(_), None) => Err(PresenceError::NeedsChat),
            (None, None, _) => Err(PresenceError::UnknownState),
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
