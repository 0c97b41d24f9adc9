//! NATS JetStream: each event to `wagate.<accountId>.<instanceId>.<event>` in a file-backed
//! stream (made when missing, capturing `wagate.>`), with its `evt_` id as `Nats-Msg-Id`, so
//! the stream drops a repeat within its duplicate window.

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use async_trait::async_trait;
use bytes::Bytes;
use wagate_core::broker::{BrokerKind, OutboundEvent};

use crate::sink::{Sink, SinkError};

/// How long the broker has to answer a connection or a publish.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Repeats of an id within this time are dropped by the stream: longer than any retry of a
/// batch (the publisher retries within 5 s), so a batch sent again is stored once.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(10 * 60);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsConfig {
    /// `nats://host:4222`.
    pub url: String,
    /// The JetStream stream's name.
    pub stream: String,
}

pub struct NatsSink {
    config: NatsConfig,
    context: Option<jetstream::Context>,
}

impl NatsSink {
    pub fn new(config: NatsConfig) -> Self {
        Self {
            config,
            context: None,
        }
    }

    /// The JetStream context, connected and with the stream in place.
    async fn context(&mut self) -> Result<jetstream::Context, SinkError> {
        if let Some(c) = &self.context {
            return Ok(c.clone());
        }
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(TIMEOUT)
            .request_timeout(Some(TIMEOUT))
            .connect(self.config.url.as_str())
            .await
            .map_err(|e| SinkError::Connect(e.to_string()))?;
        let mut context = jetstream::new(client);
        context.set_timeout(TIMEOUT);
        context
            .get_or_create_stream(stream::Config {
                name: self.config.stream.clone(),
                subjects: vec!["wagate.>".into()],
                storage: stream::StorageType::File,
                duplicate_window: DUPLICATE_WINDOW,
                ..Default::default()
            })
            .await
            .map_err(|e| SinkError::Setup(format!("stream {}: {e}", self.config.stream)))?;
        self.context = Some(context.clone());
        Ok(context)
    }

    async fn send(context: &jetstream::Context, batch: &[OutboundEvent]) -> Result<(), SinkError> {
        // All of the batch is sent before the first ack is awaited: the acks come back in order
        // on the one connection, and the batch costs one round trip, not one per event.
        let mut acks = Vec::with_capacity(batch.len());
        for event in batch {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(async_nats::header::NATS_MESSAGE_ID, event.id.as_str());
            let ack = context
                .publish_with_headers(
                    format!("wagate.{}", event.routing_key()),
                    headers,
                    Bytes::from(event.body.clone()),
                )
                .await
                .map_err(|e| SinkError::Publish(e.to_string()))?;
            acks.push((event, ack));
        }
        for (event, ack) in acks {
            ack.await.map_err(|e| SinkError::Refused {
                event: event.id.to_string(),
                reason: e.to_string(),
            })?;
        }
        Ok(())
    }
}

#[async_trait]
impl Sink for NatsSink {
    fn kind(&self) -> BrokerKind {
        BrokerKind::Nats
    }

    async fn publish(&mut self, batch: &[OutboundEvent]) -> Result<(), SinkError> {
        let context = self.context().await?;
        let sent = Self::send(&context, batch).await;
        if sent.is_err() {
            self.context = None;
        }
        sent
    }
}
