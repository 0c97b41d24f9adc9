//! Inbound webhook URLs (§15.7). Only the token's hash is stored.

use async_trait::async_trait;
use sqlx::AssertSqlSafe;
use wagate_core::inbound_webhook::InboundWebhook;
use wagate_core::store::{InboundWebhookStore, StoreError};
use wagate_core::{AccountId, InboundWebhookId, InstanceId, Timestamp};

use crate::SqlStore;
use crate::error::db;

/// An `inbound_webhooks` row.
#[derive(sqlx::FromRow)]
struct InboundWebhookRow {
    id: String,
    account_id: String,
    instance_id: String,
    name: String,
    token_hash: String,
    created_at: i64,
}

impl From<InboundWebhookRow> for InboundWebhook {
    fn from(r: InboundWebhookRow) -> Self {
        InboundWebhook {
            id: InboundWebhookId::from_trusted(r.id),
            account_id: AccountId::from_trusted(r.account_id),
            instance_id: InstanceId::from_trusted(r.instance_id),
            name: r.name,
            token_hash: r.token_hash,
            created_at: Timestamp::from_millis(r.created_at),
        }
    }
}

const COLUMNS: &str = "id, account_id, instance_id, name, token_hash, created_at";

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
        let rows: Vec<InboundWebhookRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM inbound_webhooks WHERE account_id = $1 ORDER BY id"
        )))
        .bind(account.as_str())
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        Ok(rows.into_iter().map(InboundWebhook::from).collect())
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
        let row: Option<InboundWebhookRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM inbound_webhooks WHERE token_hash = $1"
        )))
        .bind(token_hash)
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        Ok(row.map(InboundWebhook::from))
    }
}
