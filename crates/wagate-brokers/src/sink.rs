//! What a publisher hands its events to: a broker's client.

use async_trait::async_trait;
use wagate_core::broker::{BrokerKind, OutboundEvent};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    #[error("cannot connect to the broker: {0}")]
    Connect(String),
    #[error("cannot set up the broker's {0}")]
    Setup(String),
    #[error("publishing failed: {0}")]
    Publish(String),
    #[error("the broker did not take event {event}: {reason}")]
    Refused { event: String, reason: String },
}

#[async_trait]
pub trait Sink: Send {
    fn kind(&self) -> BrokerKind;
    /// Publishes the batch, in order; `Ok` only once the broker has acknowledged all of it
    /// (stored it: JetStream's `PubAck`, RabbitMQ's publisher confirm). After an `Err` the
    /// connection is dropped and made again by the next call.
    async fn publish(&mut self, batch: &[OutboundEvent]) -> Result<(), SinkError>;
}
