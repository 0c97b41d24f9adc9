//! Webhook subscriptions.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::any::AnyRow;
use wagate_core::net::TargetUrl;
use wagate_core::page::OffsetPage;
use wagate_core::store::{StoreError, SubscriptionStore};
use wagate_core::webhook::{Subscription, SubscriptionStatus, WebhookSecret};
use wagate_core::{AccountId, InstanceId, Timestamp, WebhookId};

use crate::SqlStore;
use crate::error::{corrupt, db};

pub(crate) fn subscription_from_row(r: &AnyRow) -> Result<Subscription, StoreError> {
    let status: String = r.try_get("status").map_err(db)?;
    Ok(Subscription {
        id: WebhookId::from_trusted(r.try_get("id").map_err(db)?),
        account_id: AccountId::from_trusted(r.try_get("account_id").map_err(db)?),
        instance_id: InstanceId::from_trusted(r.try_get("instance_id").map_err(db)?),
        name: r.try_get("name").map_err(db)?,
        url: TargetUrl::from_trusted(r.try_get("url").map_err(db)?),
        events: serde_json::from_str(&r.try_get::<String, _>("events").map_err(db)?)
            .map_err(corrupt)?,
        secret: WebhookSecret::from_trusted(r.try_get("secret").map_err(db)?),
        status: SubscriptionStatus::parse(&status)
            .ok_or_else(|| corrupt(format!("webhook status {status}")))?,
        created_at: Timestamp::from_millis(r.try_get("created_at").map_err(db)?),
        updated_at: Timestamp::from_millis(r.try_get("updated_at").map_err(db)?),
    })
}

fn events_json(s: &Subscription) -> Result<String, StoreError> {
    serde_json::to_string(&s.events).map_err(corrupt)
}

#[async_trait]
impl SubscriptionStore for SqlStore {
    async fn insert_subscription(&self, s: &Subscription) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO webhooks (id, account_id, instance_id, name, url, events, secret, status, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(s.id.as_str())
        .bind(s.account_id.as_str())
        .bind(s.instance_id.as_str())
        .bind(s.name.clone())
        .bind(s.url.as_str())
        .bind(events_json(s)?)
        .bind(s.secret.expose())
        .bind(s.status.as_str())
        .bind(s.created_at.millis())
        .bind(s.updated_at.millis())
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(())
    }
    async fn get_subscription(
        &self,
        account: &AccountId,
        id: &WebhookId,
    ) -> Result<Option<Subscription>, StoreError> {
        let row = sqlx::query("SELECT * FROM webhooks WHERE id = $1 AND account_id = $2")
            .bind(id.as_str())
            .bind(account.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(db)?;
        row.as_ref().map(subscription_from_row).transpose()
    }
    async fn list_subscriptions(
        &self,
        account: &AccountId,
        instance: Option<&InstanceId>,
        page: OffsetPage,
    ) -> Result<(Vec<Subscription>, u64), StoreError> {
        let instance = instance.map(|i| i.as_str().to_owned());
        let rows = sqlx::query(
            "SELECT * FROM webhooks WHERE account_id = $1 AND instance_id = COALESCE($2, instance_id) \
             ORDER BY id LIMIT $3 OFFSET $4",
        )
        .bind(account.as_str())
        .bind(instance.clone())
        .bind(i64::from(page.limit))
        .bind(page.offset as i64)
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        let total: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM webhooks WHERE account_id = $1 AND instance_id = COALESCE($2, instance_id)",
        )
        .bind(account.as_str())
        .bind(instance)
        .fetch_one(&self.reader)
        .await
        .map_err(db)?;
        let list = rows
            .iter()
            .map(subscription_from_row)
            .collect::<Result<_, _>>()?;
        Ok((list, total.max(0) as u64))
    }
    async fn update_subscription(&self, s: &Subscription) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE webhooks SET name = $3, url = $4, events = $5, secret = $6, status = $7, \
             updated_at = $8 WHERE id = $1 AND account_id = $2",
        )
        .bind(s.id.as_str())
        .bind(s.account_id.as_str())
        .bind(s.name.clone())
        .bind(s.url.as_str())
        .bind(events_json(s)?)
        .bind(s.secret.expose())
        .bind(s.status.as_str())
        .bind(s.updated_at.millis())
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() > 0)
    }
    async fn delete_subscription(
        &self,
        account: &AccountId,
        id: &WebhookId,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM webhooks WHERE id = $1 AND account_id = $2")
            .bind(id.as_str())
            .bind(account.as_str())
            .execute(&self.writer)
            .await
            .map_err(db)?;
        Ok(done.rows_affected() > 0)
    }
}
