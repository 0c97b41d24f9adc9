//! The webhook event names of §9.2 and §17.6.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WebhookEvent {
    MessageReceived,
    MessageSent,
    MessageDelivered,
    MessageRead,
    MessageFailed,
    InstanceConnected,
    InstanceDisconnected,
    InstanceQrUpdated,
    /// §17.3: a reaction received, added or taken back.
    MessageReaction,
    /// §17.3: a vote on one of the instance's polls.
    PollVote,
    /// §17.3: a message's text changed, by its sender (a contact, or the instance itself).
    MessageEdited,
    /// §17.3: a message deleted for everyone.
    MessageDeleted,
    /// §17.4: a call rang the instance (and was rejected, with `rejectCalls`).
    CallReceived,
    /// §17.4: a contact's presence or chat state; never in the default set.
    PresenceUpdated,
    /// §17.5: the instance is in a new group (created, added, or joined by invite).
    GroupJoined,
    /// §17.5: a group's subject, description or settings changed.
    GroupUpdated,
    /// §17.5: members added, removed, promoted or demoted.
    GroupParticipants,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown webhook event '{0}'")]
pub struct WebhookEventError(pub String);

impl WebhookEvent {
    /// What an instance without `webhookEvents` is sent: §9.2's events.
    pub const DEFAULT: [WebhookEvent; 8] = [
        WebhookEvent::MessageReceived,
        WebhookEvent::MessageSent,
        WebhookEvent::MessageDelivered,
        WebhookEvent::MessageRead,
        WebhookEvent::MessageFailed,
        WebhookEvent::InstanceConnected,
        WebhookEvent::InstanceDisconnected,
        WebhookEvent::InstanceQrUpdated,
    ];

    /// Every event name a subscription may ask for.
    pub const ALL: [WebhookEvent; 17] = [
        WebhookEvent::MessageReceived,
        WebhookEvent::MessageSent,
        WebhookEvent::MessageDelivered,
        WebhookEvent::MessageRead,
        WebhookEvent::MessageFailed,
        WebhookEvent::InstanceConnected,
        WebhookEvent::InstanceDisconnected,
        WebhookEvent::InstanceQrUpdated,
        WebhookEvent::MessageReaction,
        WebhookEvent::PollVote,
        WebhookEvent::MessageEdited,
        WebhookEvent::MessageDeleted,
        WebhookEvent::CallReceived,
        WebhookEvent::PresenceUpdated,
        WebhookEvent::GroupJoined,
        WebhookEvent::GroupUpdated,
        WebhookEvent::GroupParticipants,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::MessageReceived => "message.received",
            WebhookEvent::MessageSent => "message.sent",
            WebhookEvent::MessageDelivered => "message.delivered",
            WebhookEvent::MessageRead => "message.read",
            WebhookEvent::MessageFailed => "message.failed",
            WebhookEvent::InstanceConnected => "instance.connected",
            WebhookEvent::InstanceDisconnected => "instance.disconnected",
            WebhookEvent::InstanceQrUpdated => "instance.qr_updated",
            WebhookEvent::MessageReaction => "message.reaction",
            WebhookEvent::PollVote => "poll.vote",
            WebhookEvent::MessageEdited => "message.edited",
            WebhookEvent::MessageDeleted => "message.deleted",
            WebhookEvent::CallReceived => "call.received",
            WebhookEvent::PresenceUpdated => "presence.updated",
            WebhookEvent::GroupJoined => "group.joined",
            WebhookEvent::GroupUpdated => "group.updated",
            WebhookEvent::GroupParticipants => "group.participants",
        }
    }

    /// Parses a list, keeping its order and dropping repeats.
    pub fn parse_list<S: AsRef<str>>(list: &[S]) -> Result<Vec<Self>, WebhookEventError> {
        let mut out: Vec<Self> = Vec::with_capacity(list.len());
        for s in list {
            let e: Self = s.as_ref().parse()?;
            if !out.contains(&e) {
                out.push(e);
            }
        }
        Ok(out)
    }
}

impl FromStr for WebhookEvent {
    type Err = WebhookEventError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        WebhookEvent::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| WebhookEventError(s.to_owned()))
    }
}

impl fmt::Display for WebhookEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for WebhookEvent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for WebhookEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_documented_names_and_rejects_others() {
        let l = WebhookEvent::parse_list(&["message.sent", "instance.qr_updated", "message.sent"])
            .unwrap();
        assert_eq!(
            l,
            vec![WebhookEvent::MessageSent, WebhookEvent::InstanceQrUpdated]
        );
        assert!(WebhookEvent::parse_list(&["message.removed"]).is_err());
        assert_eq!(
            WebhookEvent::parse_list(&["poll.vote", "message.reaction"]).unwrap(),
            vec![WebhookEvent::PollVote, WebhookEvent::MessageReaction]
        );
        assert!(!WebhookEvent::DEFAULT.contains(&WebhookEvent::PollVote));
        // Every name parses back to its event.
        for e in WebhookEvent::ALL {
            assert_eq!(e.as_str().parse::<WebhookEvent>(), Ok(e));
        }
    }
}
