//! Broker outputs (§21): every event of every account, published at least once, in per-instance
//! order, to NATS JetStream and/or RabbitMQ, from the same outbox as webhooks.
//!
//! Each output is a `Publisher` (one task per output and node) around a `Sink` (the broker's
//! client). The publisher reads the stream of all events after the output's place, hands a batch
//! to the sink, and moves the place on only once the broker acknowledged all of it; so a crash or
//! an outage repeats events (each carries its `evt_` id as the message id: JetStream drops the
//! repeat, a RabbitMQ consumer sees the same id twice) and never skips one.

pub mod amqp;
pub mod nats;
pub mod publisher;
pub mod sink;
pub mod status;

pub use amqp::{AmqpConfig, AmqpSink};
pub use nats::{NatsConfig, NatsSink};
pub use publisher::{Publisher, Step};
pub use sink::{Sink, SinkError};
pub use status::{StatusSnapshot, TargetStatus};
