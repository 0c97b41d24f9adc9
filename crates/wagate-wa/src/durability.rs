//! The inbound durability hook: the client acknowledges a batch of received messages to
//! WhatsApp only after this returns `Ok`, and wagate returns `Ok` only once every message of
//! the batch is committed. A crash in between makes WhatsApp redeliver; the store drops the
//! duplicate by its WhatsApp id.

use std::sync::Arc;

use async_trait::async_trait;
use wagate_core::engine::EngineEvent;
use whatsapp_rust::Client;
use whatsapp_rust::InboundDurabilityHook;
use whatsapp_rust::types::events::InboundMessage;

use crate::shared::Shared;
use crate::{convert, media};

pub struct CommitBeforeAck(pub Arc<Shared>);

#[async_trait]
impl InboundDurabilityHook for CommitBeforeAck {
    async fn on_messages(
        &self,
        client: Arc<Client>,
        batch: &[InboundMessage],
    ) -> anyhow::Result<()> {
        for m in batch {
            // Protocol messages (key shares, revokes) are not stored; acknowledging them at
            // once keeps the connection moving.
            let Some(received) = convert::inbound(m) else {
                continue;
            };
            let inbound = media::inbound(&self.0, &client, received).await?;
            self.0.sink.emit(EngineEvent::Inbound(inbound)).await?;
        }
        Ok(())
    }
}
