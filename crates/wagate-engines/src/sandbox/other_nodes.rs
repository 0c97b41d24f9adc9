//! The sandbox network beyond this node (§19). With several nodes on one database, an instance
//! on one node talks to an instance on another: the sender's node finds where the receiver is
//! connected (`Whereabouts`, from the database) and hands what it sends to that node
//! (`OtherNodes::hand`, a command through the database), which gives it to the receiver's device
//! there; the hand succeeds once the receiver has committed it, as on one node. Each connection
//! is recorded with the process that holds it (`claim`), and a second live connection of one
//! linked session is refused, as WhatsApp's "stream replaced" would end one of them.
//!
//! Groups stay on the node where they were made.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use wagate_core::change::Change;
use wagate_core::content::Content;
use wagate_core::engine::{
    EngineEvent, InboundChange, InboundMessage, InboundReaction, NotRecorded,
};
use wagate_core::message::{MessageStatus, Recipient};
use wagate_core::node::NodeId;
use wagate_core::phone::PhoneNumber;
use wagate_core::presence::ContactState;
use wagate_core::sandbox_reach::{ConnectionClaim, Whereabouts};
use wagate_core::{InstanceId, Timestamp};

/// What the network needs of the other nodes; the server provides it (PostgreSQL only).
#[async_trait]
pub trait OtherNodes: Send + Sync + 'static {
    /// Whether `node` is this one.
    fn is_me(&self, node: &NodeId) -> bool;
    /// Records `instance`'s connection as this process's.
    async fn claim(&self, instance: &InstanceId) -> Result<ConnectionClaim, String>;
    /// Forgets `instance`'s connection, if this process holds it.
    async fn release(&self, instance: &InstanceId);
    async fn whereabouts(&self, phone: &PhoneNumber) -> Result<Whereabouts, String>;
    /// Gives `crossing` to `instance`'s device on `node`; `Ok` once it has committed it.
    async fn hand(
        &self,
        node: &NodeId,
        instance: &InstanceId,
        crossing: Crossing,
    ) -> Result<(), NotRecorded>;
}

/// What one sandbox instance gives another on another node: the few events that travel
/// between instances, in a form that survives the trip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Crossing {
    Message {
        external_id: String,
        from: String,
        /// The content as the store keeps it (`Content::from_parts`).
        content_type: String,
        text: String,
        object: Option<String>,
        mentions: Vec<String>,
        quoted_external_id: Option<String>,
    },
    Reaction {
        external_id: String,
        from: String,
        target_external_id: String,
        emoji: String,
    },
    Receipt {
        external_id: String,
        status: MessageStatus,
    },
    Changed {
        external_id: String,
        from: String,
        target_external_id: String,
        /// The new text; none for a delete.
        edit: Option<String>,
    },
    Presence {
        from: String,
        state: String,
    },
}

impl Crossing {
    /// The crossing form of an event one instance gives another; `None` for events that never
    /// travel between instances.
    pub fn of(event: &EngineEvent) -> Option<Self> {
        Some(match event {
            EngineEvent::Inbound(m) => Crossing::Message {
                external_id: m.external_id.clone(),
                from: m.from.as_str().to_owned(),
                content_type: m.content.type_str().to_owned(),
                text: m.content.text(),
                object: m.content.object().map(|o| o.to_string()),
                mentions: m.mentions.iter().map(ToString::to_string).collect(),
                quoted_external_id: m.quoted_external_id.clone(),
            },
            EngineEvent::Reaction(r) => Crossing::Reaction {
                external_id: r.external_id.clone(),
                from: r.from.to_string(),
                target_external_id: r.target_external_id.clone(),
                emoji: r.emoji.clone(),
            },
            EngineEvent::Receipt {
                external_id,
                status,
                ..
            } => Crossing::Receipt {
                external_id: external_id.clone(),
                status: *status,
            },
            EngineEvent::Changed(c) => Crossing::Changed {
                external_id: c.external_id.clone(),
                from: c.from.to_string(),
                target_external_id: c.target_external_id.clone(),
                edit: match &c.change {
                    Change::Edit(t) => Some(t.clone()),
                    Change::Delete => None,
                },
            },
            EngineEvent::Presence(p) => Crossing::Presence {
                from: p.from.to_string(),
                state: p.state.as_str().to_owned(),
            },
            _ => return None,
        })
    }

    /// The event again, as the receiving device reports it.
    pub fn into_event(self) -> Result<EngineEvent, String> {
        let phone = PhoneNumber::from_trusted;
        let now = Timestamp::now();
        Ok(match self {
            Crossing::Message {
                external_id,
                from,
                content_type,
                text,
                object,
                mentions,
                quoted_external_id,
            } => EngineEvent::Inbound(InboundMessage {
                external_id,
                from: Recipient::Phone(phone(from)),
                from_name: None,
                group: None,
                content: Content::from_parts(&content_type, text, object.as_deref())
                    .map_err(|e| e.to_string())?,
                mentions: mentions.into_iter().map(phone).collect(),
                quoted_external_id,
                timestamp: now,
            }),
            Crossing::Reaction {
                external_id,
                from,
                target_external_id,
                emoji,
            } => EngineEvent::Reaction(InboundReaction {
                external_id,
                from: phone(from),
                from_name: None,
                group: None,
                target_external_id,
                emoji,
                timestamp: now,
            }),
            Crossing::Receipt {
                external_id,
                status,
            } => EngineEvent::Receipt {
                external_id,
                status,
                at: now,
            },
            Crossing::Changed {
                external_id,
                from,
                target_external_id,
                edit,
            } => EngineEvent::Changed(InboundChange {
                external_id,
                from: phone(from),
                target_external_id,
                change: edit.map_or(Change::Delete, Change::Edit),
                timestamp: now,
            }),
            Crossing::Presence { from, state } => {
                let state = ContactState::parse(&state).map_err(|e| e.to_string())?;
                EngineEvent::Presence(super::contact_presence(phone(from), state))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wagate_core::content::Location;

    #[test]
    fn what_crosses_comes_back_as_it_left() {
        let events = [
            EngineEvent::Inbound(InboundMessage {
                external_id: "msg_1".into(),
                from: Recipient::Phone(PhoneNumber::from_trusted("5511999990001".into())),
                from_name: None,
                group: None,
                content: Content::Location(
                    Location::parse(Location {
                        latitude: -23.5,
                        longitude: -46.6,
                        name: Some("Office".into()),
                        address: None,
                    })
                    .unwrap(),
                ),
                mentions: vec![PhoneNumber::from_trusted("5511999990002".into())],
                quoted_external_id: Some("msg_0".into()),
                timestamp: Timestamp::now(),
            }),
            EngineEvent::Changed(InboundChange {
                external_id: "sbx_2".into(),
                from: PhoneNumber::from_trusted("5511999990001".into()),
                target_external_id: "msg_1".into(),
                change: Change::Delete,
                timestamp: Timestamp::now(),
            }),
        ];
        for event in events {
            let crossing = Crossing::of(&event).unwrap();
            let json = serde_json::to_string(&crossing).unwrap();
            let back: Crossing = serde_json::from_str(&json).unwrap();
            let mut again = back.into_event().unwrap();
            // Only the time it arrived differs.
            match (&mut again, &event) {
                (EngineEvent::Inbound(a), EngineEvent::Inbound(e)) => a.timestamp = e.timestamp,
                (EngineEvent::Changed(a), EngineEvent::Changed(e)) => a.timestamp = e.timestamp,
                _ => unreachable!(),
            }
            assert_eq!(again, event);
        }
    }
}
