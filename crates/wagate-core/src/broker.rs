//! Broker outputs (§21): every event of every account, published at least once to NATS
//! JetStream and/or RabbitMQ, from the same outbox as webhooks. Each output (a "target") has one
//! place in the stream of all events, moved on only after the broker acknowledged what came
//! before it, and one node at a time publishes to it (it holds the target, as a lease).

use crate::event_stream::StreamCursor;
use crate::webhook_event::WebhookEvent;
use crate::{AccountId, EventId, InstanceId};

/// An event as a broker gets it: the webhook's envelope and what names its subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundEvent {
    pub id: EventId,
    pub account: AccountId,
    pub instance: InstanceId,
    pub kind: WebhookEvent,
    /// The §15.6 envelope's JSON, as webhooks get it.
    pub body: String,
    pub cursor: StreamCursor,
}

impl OutboundEvent {
    /// `<accountId>.<instanceId>.<event>`: RabbitMQ's routing key, and the NATS subject after
    /// `wagate.`. Ids are `[a-z0-9_]`, so each is one token; the event name is two.
    pub fn routing_key(&self) -> String {
        format!("{}.{}.{}", self.account, self.instance, self.kind.as_str())
    }
}

/// The name of a broker output, which keys its place in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BrokerKind {
    Nats,
    Amqp,
}

impl BrokerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BrokerKind::Nats => "nats",
            BrokerKind::Amqp => "amqp",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_routing_key_names_account_instance_and_event() {
        let e = OutboundEvent {
            id: EventId::generate(),
            account: AccountId::parse("acct_01jd3k9w6q8x2m4v7c5b0n1t2r").unwrap(),
            instance: InstanceId::parse("inst_01jd3k9w6q8x2m4v7c5b0n1t2r").unwrap(),
            kind: WebhookEvent::MessageReceived,
            body: "{}".into(),
            cursor: StreamCursor::default(),
        };
        assert_eq!(
            e.routing_key(),
            "acct_01jd3k9w6q8x2m4v7c5b0n1t2r.inst_01jd3k9w6q8x2m4v7c5b0n1t2r.message.received"
        );
    }
}
