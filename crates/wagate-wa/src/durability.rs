//! The inbound durability hook: the client acknowledges a batch of received messages to
//! WhatsApp only after this returns `Ok`, and wagate returns `Ok` only once every message of
//! the batch is committed. A crash in between makes WhatsApp redeliver; the store drops the
//! duplicate by its WhatsApp id.

use std::sync::Arc;

use async_trait::async_trait;
use whatsapp_rust::Client;
use whatsapp_rust::InboundDurabilityHook;
use whatsapp_rust::types::events::InboundMessage;

use crate::receive;
use crate::shared::Shared;

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
            if let Some(event) = receive::event_of(&self.0, &client, m).await? {
                self.0.sink.emit(event).await?;
            }
        }
        Ok(())
    }
}
