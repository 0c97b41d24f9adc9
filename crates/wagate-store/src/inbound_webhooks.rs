//! Inbound webhook URLs (§15.7). Only the token's hash is stored.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::any::AnyRow;
use wagate_core::inbound_webhook::InboundWebhook;
use wagate_core::store::{InboundWebhookStore, StoreError};
use wagate_core::{AccountId, InboundWebhookId, InstanceId, Timestamp};

use crate::SqlStore;
use crate::error::db;

fn from_row(r: &AnyRow) -> Result<InboundWebhook, StoreError> {
    Ok(InboundWebhook {
        id: InboundWebhookId::from_trusted(r.try_get("id").map_err(db)?),
        account_id: AccountId::from_trusted(r.try_get("account_id").map_err(db)?),
        instance_id: InstanceId::from_trusted(r.try_get("instance_id").map_err(db)?),
        name: r.try_get("name").map_err(db)?,
        token_hash: r.try_get("token_hash").map_err(db)?,
        created_at: Timestamp::from_millis(r.try_get("created_at").map_err(db)?),
    })
}

#[async_trait]
impl InboundWebhookStore for SqlStore {
    async fn insert_inbound_webhook(&self, w: &InboundWebhook) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO inbound_webhooks (id, account_id, instance_id, name, token_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(w.id.as_str())
        .bind(w.account_id.as_str())
        .bind(w.instance_id.as_str())
        .bind(&w.name)
        .bind(&w.token_hash)
        .bind(w.created_at.millis())
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn list_inbound_webhooks(
        &self,
        account: &AccountId,
    ) -> Result<Vec<InboundWebhook>, StoreError> {
        let rows = sqlx::query("SELECT * FROM inbound_webhooks WHERE account_id = $1 ORDER BY id")
            .bind(account.as_str())
            .fetch_all(&self.reader)
            .await
            .map_err(db)?;
        rows.iter().map(from_row).collect()
    }

    async fn delete_inbound_webhook(
        &self,
        account: &AccountId,
        id: &InboundWebhookId,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM inbound_webhooks WHERE id = $1 AND account_id = $2")
            .bind(id.as_str())
            .bind(account.as_str())
            .execute(&self.writer)
            .await
            .map_err(db)?;
        Ok(done.rows_affected() > 0)
    }

    async fn find_inbound_webhook(
        &self,
        token_hash: &str,
    ) -> Result<Option<InboundWebhook>, StoreError> {
        let row = sqlx::query("SELECT * FROM inbound_webhooks WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&self.reader)
            .await
            .map_err(db)?;
        row.as_ref().map(from_row).transpose()
    }
}
