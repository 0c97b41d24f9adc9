//! History synced from the phone at link time: stored like traffic (messages, chats, contacts)
//! but with no events, and with ids that sort at the time each message was written.

use async_trait::async_trait;
use wagate_core::history::HistoryMessage;
use wagate_core::message::{Direction, Message, MessageStatus, Recipient};
use wagate_core::store::{HistoryStore, StoreError};
use wagate_core::{AccountId, ChatId, InstanceId, MessageId};

use crate::SqlStore;
use crate::error::db;
use crate::messages::stored_id;
use crate::messages::{ChatUpdate, insert_message_row, upsert_chat};
use crate::stats::Tally;

#[async_trait]
impl HistoryStore for SqlStore {
    async fn import_history(
        &self,
        instance: &InstanceId,
        messages: &[HistoryMessage],
    ) -> Result<u64, StoreError> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        let account: Option<String> =
            sqlx::query_scalar("SELECT account_id FROM instances WHERE id = $1")
                .bind(instance.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        let Some(account) = account.map(AccountId::from_trusted) else {
            return Ok(0); // deleted meanwhile
        };
        let mut imported = 0;
        let mut tally = Tally::default();
        for h in messages {
            if stored_id(&mut tx, instance, &h.external_id)
                .await?
                .is_some()
            {
                continue;
            }
            let quoted = match &h.quoted_external_id {
                Some(q) => stored_id(&mut tx, instance, q).await?,
                None => None,
            };
            let direction = if h.from_me {
                Direction::Outbound
            } else {
                Direction::Inbound
            };
            let read = h.status == MessageStatus::Read;
            let mut m = Message {
                id: MessageId::generate_at(h.timestamp),
                account_id: account.clone(),
                instance_id: instance.clone(),
                chat_id: ChatId::generate(),
                direction,
                peer: Recipient::Phone(h.peer.clone()),
                // Like live traffic: a received message carries its sender's name, a sent one none.
                peer_name: h.peer_name.clone().filter(|_| !h.from_me),
                author: None,
                content: h.content.clone(),
                quoted_message_id: quoted,
                quoted_external_id: h.quoted_external_id.clone(),
                metadata: None,
                external_id: Some(h.external_id.clone()),
                status: h.status,
                error: None,
                created_at: h.timestamp,
                sent_at: h.from_me.then_some(h.timestamp),
                delivered_at: matches!(h.status, MessageStatus::Delivered | MessageStatus::Read)
                    .then_some(h.timestamp),
                read_at: read.then_some(h.timestamp),
                edited_at: None,
                mentions: Vec::new(),
                reactions: Vec::new(),
                votes: Vec::new(),
            };
            let unread = !h.from_me && !read;
            m.chat_id = upsert_chat(
                &mut tx,
                ChatUpdate::synced(&m, h.peer_name.as_deref(), unread),
                &mut tally,
            )
            .await?;
            crate::contacts::seen(&mut tx, instance, h.peer.as_str(), h.peer_name.as_deref())
                .await?;
            insert_message_row(&mut tx, &m).await?;
            tally.inserted(&m);
            imported += 1;
        }
        tally.write(&mut tx).await?;
        tx.commit().await.map_err(db)?;
        Ok(imported)
    }
}
