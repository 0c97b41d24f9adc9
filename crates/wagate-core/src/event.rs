//! Webhook events (§9.2, §15.6): what happened, as the JSON body every receiver gets.
//!
//! An event is built from the row that changed, inside the transaction that changes it (the
//! store's outbox), so an event exists exactly when its change does. Its body is fixed at that
//! moment: every retry sends the same bytes, with the same `evt_` id.

use serde_json::{Value, json};

use crate::content::{Reaction, Vote};
use crate::group::{
    Group, GroupId, GroupNotice, GroupUpdate, Participant, ParticipantAction, Role,
};
use crate::instance::{InstanceStatus, LastError};
use crate::message::{Content, Direction, Message};
use crate::phone::PhoneNumber;
use crate::presence::{ContactPresence, ContactState, Presence};
use crate::webhook_event::WebhookEvent;
use crate::{AccountId, EventId, InstanceId, Timestamp};

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: EventId,
    pub account_id: AccountId,
    pub instance_id: InstanceId,
    pub kind: WebhookEvent,
    pub at: Timestamp,
    pub data: Value,
}

impl Event {
    fn new(
        account_id: &AccountId,
        instance_id: &InstanceId,
        kind: WebhookEvent,
        data: Value,
    ) -> Self {
        Self {
            id: EventId::generate(),
            account_id: account_id.clone(),
            instance_id: instance_id.clone(),
            kind,
            at: Timestamp::now(),
            data,
        }
    }

    /// The envelope `{id, event, timestamp, sequence, data}`, serialised once when the event is
    /// written: the bytes that are signed and sent on every attempt. `sequence` is the event's
    /// number among its instance's events (1, 2, 3…); a test event is outside them (0).
    pub fn body(&self, sequence: u64) -> String {
        json!({
            "id": self.id.as_str(),
            "event": self.kind.as_str(),
            "timestamp": self.at.to_rfc3339(),
            "sequence": sequence,
            "data": self.data,
        })
        .to_string()
    }

    /// `message.received`. `instance_phone` is the `to` (the instance's own number).
    pub fn message_received(m: &Message, instance_phone: Option<&str>) -> Self {
        let mut data = json!({
            "messageId": m.id.as_str(),
            "instanceId": m.instance_id.as_str(),
            "chatId": m.chat_id.as_str(),
            "from": m.sender().as_str(),
            "fromName": m.peer_name,
            "to": instance_phone,
            "type": m.content.type_str(),
            "content": m.content.text(),
            "quotedMessageId": m.quoted_message_id,
            "isGroup": m.peer.is_group(),
            "timestamp": m.created_at.to_rfc3339(),
        });
        if let Some((field, object)) = m.content.named_object() {
            data[field] = object;
        }
        if m.peer.is_group() {
            data["groupId"] = json!(m.peer.as_str());
        }
        if let Some(lid) = m.sender().lid() {
            data["fromLid"] = json!(lid);
        }
        if !m.mentions.is_empty() {
            data["mentions"] = json!(m.mentions.iter().map(|p| p.as_str()).collect::<Vec<_>>());
        }
        Self::new(
            &m.account_id,
            &m.instance_id,
            WebhookEvent::MessageReceived,
            data,
        )
    }

    /// `message.reaction` (§17.3): `m` is the reaction received; `messageId` is the message it
    /// is about, and `emoji` is empty when the reaction was taken back.
    pub fn message_reaction(m: &Message, reaction: &Reaction) -> Self {
        Self::new(
            &m.account_id,
            &m.instance_id,
            WebhookEvent::MessageReaction,
            json!({
                "messageId": reaction.message_id.as_str(),
                "instanceId": m.instance_id.as_str(),
                "chatId": m.chat_id.as_str(),
                "from": m.sender().as_str(),
                "emoji": reaction.emoji,
                "timestamp": m.created_at.to_rfc3339(),
            }),
        )
    }

    /// `poll.vote` (§17.3): `vote` of `poll`, whose options it names.
    pub fn poll_vote(poll: &Message, vote: &Vote) -> Self {
        Self::new(
            &poll.account_id,
            &poll.instance_id,
            WebhookEvent::PollVote,
            json!({
                "messageId": poll.id.as_str(),
                "instanceId": poll.instance_id.as_str(),
                "chatId": poll.chat_id.as_str(),
                "from": vote.voter,
                "selectedOptions": vote.options,
                "timestamp": vote.at.to_rfc3339(),
            }),
        )
    }

    /// `message.edited` (§17.3): `m` as it reads after the edit; `from` wrote it (the contact,
    /// or the instance's own number for its own edits).
    pub fn message_edited(m: &Message, from: Option<&str>, at: Timestamp) -> Self {
        let mut data = json!({
            "messageId": m.id.as_str(),
            "instanceId": m.instance_id.as_str(),
            "chatId": m.chat_id.as_str(),
            "from": from,
            "type": m.content.type_str(),
            "content": m.content.text(),
            "timestamp": at.to_rfc3339(),
        });
        if let Some((field, object)) = m.content.named_object() {
            data[field] = object;
        }
        Self::new(
            &m.account_id,
            &m.instance_id,
            WebhookEvent::MessageEdited,
            data,
        )
    }

    /// `message.deleted` (§17.3): `m` was deleted for everyone by `from`.
    pub fn message_deleted(m: &Message, from: Option<&str>, at: Timestamp) -> Self {
        Self::new(
            &m.account_id,
            &m.instance_id,
            WebhookEvent::MessageDeleted,
            json!({
                "messageId": m.id.as_str(),
                "instanceId": m.instance_id.as_str(),
                "chatId": m.chat_id.as_str(),
                "from": from,
                "timestamp": at.to_rfc3339(),
            }),
        )
    }

    /// `call.received` (§17.4): a call from `from`, and whether the instance rejected it.
    pub fn call_received(
        account_id: &AccountId,
        instance_id: &InstanceId,
        from: &str,
        is_video: bool,
        rejected: bool,
        at: Timestamp,
    ) -> Self {
        Self::new(
            account_id,
            instance_id,
            WebhookEvent::CallReceived,
            json!({
                "instanceId": instance_id.as_str(),
                "from": from,
                "isVideo": is_video,
                "rejected": rejected,
                "timestamp": at.to_rfc3339(),
            }),
        )
    }

    /// `presence.updated` (§17.4): what a contact shows.
    pub fn presence_updated(
        account_id: &AccountId,
        instance_id: &InstanceId,
        p: &ContactPresence,
    ) -> Self {
        let mut data = json!({
            "instanceId": instance_id.as_str(),
            "from": p.from.as_str(),
            "state": p.state.as_str(),
        });
        if let Some(at) = p.last_seen {
            data["lastSeen"] = json!(at.to_rfc3339());
        }
        Self::new(account_id, instance_id, WebhookEvent::PresenceUpdated, data)
    }

    /// `group.joined`, `group.updated` or `group.participants` (§17.5): what the network
    /// reported about a group the instance is (or was) in.
    pub fn group_notice(
        account_id: &AccountId,
        instance_id: &InstanceId,
        notice: &GroupNotice,
    ) -> Self {
        let phone = |p: &Option<PhoneNumber>| p.as_ref().map(|p| p.as_str().to_owned());
        let (kind, mut data) = match notice {
            GroupNotice::Joined(g) => (WebhookEvent::GroupJoined, group_json(g)),
            GroupNotice::Updated { group, changes, by } => {
                let mut c = json!({});
                if let Some(s) = &changes.subject {
                    c["subject"] = json!(s.as_str());
                }
                if let Some(d) = &changes.description {
                    c["description"] = json!(d);
                }
                if let Some(a) = changes.announce {
                    c["announce"] = json!(a);
                }
                if let Some(l) = changes.locked {
                    c["locked"] = json!(l);
                }
                (
                    WebhookEvent::GroupUpdated,
                    json!({"groupId": group.as_str(), "changes": c, "by": phone(by)}),
                )
            }
            GroupNotice::Participants {
                group,
                action,
                participants,
                by,
            } => (
                WebhookEvent::GroupParticipants,
                json!({
                    "groupId": group.as_str(),
                    "action": action.as_str(),
                    "participants": participants.iter().map(PhoneNumber::as_str).collect::<Vec<_>>(),
                    "by": phone(by),
                }),
            ),
        };
        data["instanceId"] = json!(instance_id.as_str());
        data["timestamp"] = json!(Timestamp::now().to_rfc3339());
        Self::new(account_id, instance_id, kind, data)
    }

    /// The event for an outbound message's current status: `message.sent`, `.delivered`,
    /// `.read` or `.failed`; None for an inbound message or one still queued.
    pub fn message_status(m: &Message) -> Option<Self> {
        use crate::message::MessageStatus as S;
        if m.direction != Direction::Outbound {
            return None;
        }
        let (kind, at) = match m.status {
            S::Queued => return None,
            S::Sent => (WebhookEvent::MessageSent, m.sent_at),
            S::Delivered => (WebhookEvent::MessageDelivered, m.delivered_at),
            S::Read => (WebhookEvent::MessageRead, m.read_at),
            S::Failed => (WebhookEvent::MessageFailed, None),
        };
        let at = at.unwrap_or_else(Timestamp::now);
        let mut data = json!({
            "messageId": m.id.as_str(),
            "instanceId": m.instance_id.as_str(),
            "to": m.peer.as_str(),
            "status": m.status.as_str(),
            "metadata": m.metadata,
            "timestamp": at.to_rfc3339(),
        });
        match kind {
            WebhookEvent::MessageSent => {
                data["chatId"] = json!(m.chat_id.as_str());
                data["type"] = json!(m.content.type_str());
                data["content"] = json!(m.content.text());
            }
            WebhookEvent::MessageFailed => {
                data["error"] = json!(m.error);
            }
            _ => {}
        }
        Some(Self::new(&m.account_id, &m.instance_id, kind, data))
    }

    pub fn instance_connected(
        account_id: &AccountId,
        instance_id: &InstanceId,
        phone: Option<&str>,
        profile_name: Option<&str>,
    ) -> Self {
        let at = Timestamp::now();
        Self::new(
            account_id,
            instance_id,
            WebhookEvent::InstanceConnected,
            json!({
                "instanceId": instance_id.as_str(),
                "phone": phone,
                "profileName": profile_name,
                "timestamp": at.to_rfc3339(),
            }),
        )
    }

    /// The connection ended, for `last_error`'s reason when there is one. Without one the end
    /// was asked for: `restarting` when the instance is reopening its saved session (a server
    /// restart, `POST …/restart`), else `disconnected` (a user's disconnect).
    pub fn instance_disconnected(
        account_id: &AccountId,
        instance_id: &InstanceId,
        now: InstanceStatus,
        last_error: Option<&LastError>,
    ) -> Self {
        let reason = match (last_error, now) {
            (Some(e), _) => e.code.to_string(),
            (None, InstanceStatus::Connecting) => "restarting".to_owned(),
            (None, _) => "disconnected".to_owned(),
        };
        Self::new(
            account_id,
            instance_id,
            WebhookEvent::InstanceDisconnected,
            json!({
                "instanceId": instance_id.as_str(),
                "reason": reason,
                "timestamp": Timestamp::now().to_rfc3339(),
            }),
        )
    }

    pub fn qr_updated(
        account_id: &AccountId,
        instance_id: &InstanceId,
        qr_code: &str,
        expires_at: Timestamp,
    ) -> Self {
        Self::new(
            account_id,
            instance_id,
            WebhookEvent::InstanceQrUpdated,
            json!({
                "instanceId": instance_id.as_str(),
                "qrCode": qr_code,
                "expiresAt": expires_at.to_rfc3339(),
            }),
        )
    }

    /// The payload of the test endpoint (§9.9): a made-up event marked `test: true`.
    /// A test event of `kind` (`POST /v1/webhooks/{id}/test`): built by the same constructor
    /// as the real one, from a sample message or connection, so it has the real event's shape;
    /// `data.test` is `true`.
    pub fn test(account_id: &AccountId, instance_id: &InstanceId, kind: WebhookEvent) -> Self {
        use crate::message::{MessageError, MessageStatus, Recipient};
        use crate::{ChatId, MessageId};
        const PHONE: &str = "5511999999999";
        let now = Timestamp::now();
        let sample = |direction, status| Message {
            id: MessageId::from_trusted("msg_test".to_owned()),
            account_id: account_id.clone(),
            instance_id: instance_id.clone(),
            chat_id: ChatId::from_trusted("chat_test".to_owned()),
            direction,
            peer: Recipient::from_trusted(PHONE.to_owned()),
            peer_name: Some("EnviaAI".into()),
            author: None,
            content: Content::Text("Mensagem de teste do EnviaAI".into()),
            quoted_message_id: None,
            quoted_external_id: None,
            metadata: None,
            external_id: None,
            status,
            error: (status == MessageStatus::Failed).then(|| MessageError {
                code: crate::failure::FailureCode::RecipientNotOnWhatsapp,
                message: "A test of the message.failed event.".into(),
            }),
            created_at: now,
            sent_at: Some(now),
            delivered_at: Some(now),
            read_at: Some(now),
            edited_at: None,
            mentions: Vec::new(),
            reactions: Vec::new(),
            votes: Vec::new(),
        };
        let outbound = |status| Self::message_status(&sample(Direction::Outbound, status));
        let event = match kind {
            WebhookEvent::MessageReceived => Some(Self::message_received(
                &sample(Direction::Inbound, MessageStatus::Delivered),
                None,
            )),
            WebhookEvent::MessageSent => outbound(MessageStatus::Sent),
            WebhookEvent::MessageDelivered => outbound(MessageStatus::Delivered),
            WebhookEvent::MessageRead => outbound(MessageStatus::Read),
            WebhookEvent::MessageFailed => outbound(MessageStatus::Failed),
            WebhookEvent::InstanceConnected => Some(Self::instance_connected(
                account_id,
                instance_id,
                Some(PHONE),
                Some("EnviaAI"),
            )),
            WebhookEvent::InstanceDisconnected => Some(Self::instance_disconnected(
                account_id,
                instance_id,
                InstanceStatus::Disconnected,
                None,
            )),
            WebhookEvent::InstanceQrUpdated => Some(Self::qr_updated(
                account_id,
                instance_id,
                TEST_QR,
                Timestamp::from_millis(now.millis() + 60_000),
            )),
            WebhookEvent::MessageReaction => Some(Self::message_reaction(
                &sample(Direction::Inbound, MessageStatus::Delivered),
                &Reaction {
                    message_id: MessageId::from_trusted("msg_test".to_owned()),
                    emoji: "👍".into(),
                },
            )),
            WebhookEvent::PollVote => Some(Self::poll_vote(
                &sample(Direction::Outbound, MessageStatus::Read),
                &Vote {
                    voter: PHONE.into(),
                    options: vec!["Sim".into()],
                    at: now,
                },
            )),
            WebhookEvent::MessageEdited => Some(Self::message_edited(
                &sample(Direction::Inbound, MessageStatus::Delivered),
                Some(PHONE),
                now,
            )),
            WebhookEvent::MessageDeleted => Some(Self::message_deleted(
                &sample(Direction::Inbound, MessageStatus::Delivered),
                Some(PHONE),
                now,
            )),
            WebhookEvent::PresenceUpdated => Some(Self::presence_updated(
                account_id,
                instance_id,
                &ContactPresence {
                    from: crate::phone::PhoneNumber::from_trusted(PHONE.into()),
                    state: ContactState::Online(Presence::Unavailable),
                    last_seen: Some(now),
                },
            )),
            WebhookEvent::GroupJoined => Some(Self::group_notice(
                account_id,
                instance_id,
                &GroupNotice::Joined(sample_group(now)),
            )),
            WebhookEvent::GroupUpdated => Some(Self::group_notice(
                account_id,
                instance_id,
                &GroupNotice::Updated {
                    group: sample_group(now).id,
                    changes: GroupUpdate {
                        announce: Some(true),
                        ..GroupUpdate::default()
                    },
                    by: Some(PhoneNumber::from_trusted(PHONE.into())),
                },
            )),
            WebhookEvent::GroupParticipants => Some(Self::group_notice(
                account_id,
                instance_id,
                &GroupNotice::Participants {
                    group: sample_group(now).id,
                    action: ParticipantAction::Add,
                    participants: vec![PhoneNumber::from_trusted("5511988888888".into())],
                    by: Some(PhoneNumber::from_trusted(PHONE.into())),
                },
            )),
            WebhookEvent::CallReceived => Some(Self::call_received(
                account_id,
                instance_id,
                PHONE,
                false,
                true,
                now,
            )),
        };
        // Every kind has a constructor above; an outbound sample is never queued or inbound.
        let mut event =
            event.unwrap_or_else(|| Self::new(account_id, instance_id, kind, json!({})));
        event.data["test"] = json!(true);
        event
    }
}

/// The group of a test `group.*` event.
fn sample_group(now: Timestamp) -> Group {
    let member = |phone: &str, role| Participant {
        phone: PhoneNumber::from_trusted(phone.into()),
        role,
    };
    Group {
        id: GroupId::from_trusted("120363000000000000@g.us".into()),
        subject: "EnviaAI".into(),
        description: None,
        owner: Some(PhoneNumber::from_trusted("5511999999999".into())),
        participants: vec![
            member("5511999999999", Role::Superadmin),
            member("5511988888888", Role::Member),
        ],
        announce: false,
        locked: false,
        created_at: now,
    }
}

/// A group whole, as `GET /v1/groups/{groupId}` answers it.
fn group_json(g: &Group) -> Value {
    json!({
        "groupId": g.id.as_str(),
        "subject": g.subject,
        "description": g.description,
        "owner": g.owner.as_ref().map(PhoneNumber::as_str),
        "participantsCount": g.participants.len(),
        "participants": g.participants.iter()
            .map(|p| json!({"phone": p.phone.as_str(), "role": p.role.as_str()}))
            .collect::<Vec<_>>(),
        "announce": g.announce,
        "locked": g.locked,
        "createdAt": g.created_at.to_rfc3339(),
    })
}

/// A 1×1 PNG as a data URI: the QR code of a test `instance.qr_updated`.
const TEST_QR: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{MessageError, MessageStatus, Recipient};
    use crate::{ChatId, MessageId};

    fn outbound(status: MessageStatus) -> Message {
        Message {
            id: MessageId::generate(),
            account_id: AccountId::generate(),
            instance_id: InstanceId::generate(),
            chat_id: ChatId::generate(),
            direction: Direction::Outbound,
            peer: Recipient::parse("5511999999999").unwrap(),
            peer_name: None,
            author: None,
            content: Content::Text("hi".into()),
            quoted_message_id: None,
            quoted_external_id: None,
            metadata: Some(json!({"order": 7})),
            external_id: Some("x".into()),
            status,
            error: (status == MessageStatus::Failed).then(|| MessageError {
                code: crate::failure::FailureCode::RecipientNotOnWhatsapp,
                message: "no".into(),
            }),
            created_at: Timestamp::now(),
            sent_at: Some(Timestamp::now()),
            delivered_at: None,
            read_at: None,
            edited_at: None,
            mentions: Vec::new(),
            reactions: Vec::new(),
            votes: Vec::new(),
        }
    }

    #[test]
    fn status_events_carry_the_documented_fields_and_the_metadata() {
        let sent = Event::message_status(&outbound(MessageStatus::Sent)).unwrap();
        assert_eq!(sent.kind, WebhookEvent::MessageSent);
        let body: Value = serde_json::from_str(&sent.body(7)).unwrap();
        assert_eq!(body["id"], sent.id.as_str());
        assert_eq!(body["event"], "message.sent");
        for f in [
            "messageId",
            "instanceId",
            "chatId",
            "to",
            "type",
            "content",
            "status",
        ] {
            assert!(body["data"].get(f).is_some(), "{f}");
        }
        assert_eq!(body["data"]["metadata"]["order"], 7);

        let failed = Event::message_status(&outbound(MessageStatus::Failed)).unwrap();
        assert_eq!(failed.data["error"]["code"], "recipient_not_on_whatsapp");
        assert!(Event::message_status(&outbound(MessageStatus::Queued)).is_none());
    }
}
