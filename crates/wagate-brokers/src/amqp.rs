//! RabbitMQ (AMQP 0.9.1): each event to a durable topic exchange (made when missing) with the
//! routing key `<accountId>.<instanceId>.<event>`, persistent, its `evt_` id as `message_id`
//! and its name as `type`, on a channel in publisher-confirm mode.

use async_trait::async_trait;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use wagate_core::broker::{BrokerKind, OutboundEvent};

use crate::sink::{Sink, SinkError};

/// AMQP's "persistent" delivery mode: the broker writes the message to disk.
const PERSISTENT: u8 = 2;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmqpConfig {
    /// `amqp://user:password@host:5672/%2f`.
    pub url: String,
    /// The topic exchange's name.
    pub exchange: String,
}

pub struct AmqpSink {
    config: AmqpConfig,
    /// The connection is kept beside its channel: dropping it closes both.
    link: Option<(Connection, Channel)>,
}

impl AmqpSink {
    pub fn new(config: AmqpConfig) -> Self {
        Self { config, link: None }
    }

    async fn channel(&mut self) -> Result<Channel, SinkError> {
        if let Some((_, channel)) = &self.link
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        self.link = None;
        let connection = Connection::connect(&self.config.url, ConnectionProperties::default())
            .await
            .map_err(|e| SinkError::Connect(e.to_string()))?;
        let channel = connection
            .create_channel()
            .await
            .map_err(|e| SinkError::Connect(e.to_string()))?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| SinkError::Setup(format!("publisher confirms: {e}")))?;
        channel
            .exchange_declare(
                self.config.exchange.as_str().into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|e| SinkError::Setup(format!("exchange {}: {e}", self.config.exchange)))?;
        self.link = Some((connection, channel.clone()));
        Ok(channel)
    }

    async fn send(
        channel: &Channel,
        exchange: &str,
        batch: &[OutboundEvent],
    ) -> Result<(), SinkError> {
        // The whole batch goes out before the first confirm is awaited (one round trip).
        let mut confirms = Vec::with_capacity(batch.len());
        for event in batch {
            let properties = BasicProperties::default()
                .with_message_id(event.id.as_str().into())
                .with_type(event.kind.as_str().into())
                .with_content_type("application/json".into())
                .with_delivery_mode(PERSISTENT);
            let confirm = channel
                .basic_publish(
                    exchange.into(),
                    event.routing_key().as_str().into(),
                    BasicPublishOptions::default(),
                    event.body.as_bytes(),
                    properties,
                )
                .await
                .map_err(|e| SinkError::Publish(e.to_string()))?;
            confirms.push((event, confirm));
        }
        for (event, confirm) in confirms {
            let confirmation = confirm.await.map_err(|e| SinkError::Refused {
                event: event.id.to_string(),
                reason: e.to_string(),
            })?;
            if confirmation.is_nack() {
                return Err(SinkError::Refused {
                    event: event.id.to_string(),
                    reason: "negative acknowledgement".into(),
                });
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Sink for AmqpSink {
    fn kind(&self) -> BrokerKind {
        BrokerKind::Amqp
    }

    async fn publish(&mut self, batch: &[OutboundEvent]) -> Result<(), SinkError> {
        let channel = self.channel().await?;
        let sent = Self::send(&channel, &self.config.exchange, batch).await;
        if sent.is_err() {
            self.link = None;
        }
        sent
    }
}
