//! Webhook subscriptions.

use async_trait::async_trait;
use sqlx::AssertSqlSafe;
use wagate_core::net::TargetUrl;
use wagate_core::page::OffsetPage;
use wagate_core::store::{StoreError, SubscriptionStore};
use wagate_core::webhook::{Subscription, SubscriptionStatus, WebhookSecret};
use wagate_core::{AccountId, InstanceId, Timestamp, WebhookId};

use crate::SqlStore;
use crate::error::{corrupt, db};
use crate::paged::PagedQuery;

/// A `webhooks` row.
#[derive(sqlx::FromRow)]
struct SubscriptionRow {
    id: String,
    account_id: String,
    instance_id: String,
    name: Option<String>,
    url: String,
    events: String,
    secret: String,
    status: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<SubscriptionRow> for Subscription {
    type Error = StoreError;
    fn try_from(r: SubscriptionRow) -> Result<Self, StoreError> {
        Ok(Subscription {
            id: WebhookId::from_trusted(r.id),
            account_id: AccountId::from_trusted(r.account_id),
            instance_id: InstanceId::from_trusted(r.instance_id),
            name: r.name,
            url: TargetUrl::from_trusted(r.url),
            events: serde_json::from_str(&r.events).map_err(corrupt)?,
            secret: WebhookSecret::from_trusted(r.secret),
            status: SubscriptionStatus::parse(&r.status)
                .ok_or_else(|| corrupt(format!("webhook status {}", r.status)))?,
            created_at: Timestamp::from_millis(r.created_at),
            updated_at: Timestamp::from_millis(r.updated_at),
        })
    }
}

const COLUMNS: &str =
    "id, account_id, instance_id, name, url, events, secret, status, created_at, updated_at";

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
        let row: Option<SubscriptionRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM webhooks WHERE id = $1 AND account_id = $2"
        )))
        .bind(id.as_str())
        .bind(account.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        row.map(Subscription::try_from).transpose()
    }
    async fn list_subscriptions(
        &self,
        account: &AccountId,
        instance: Option<&InstanceId>,
        page: OffsetPage,
    ) -> Result<(Vec<Subscription>, u64), StoreError> {
        let (rows, total) = PagedQuery {
            columns: COLUMNS,
            from: "webhooks",
            filter: "account_id = $1 AND instance_id = COALESCE($2, instance_id)",
            order: "id",
            args: vec![
                account.as_str().into(),
                instance.map(|i| i.as_str().to_owned()).into(),
            ],
        }
        .fetch::<SubscriptionRow>(&self.reader, page)
        .await?;
        let list = rows
            .into_iter()
            .map(Subscription::try_from)
            .collect::<Result<_, _>>()?;
        Ok((list, total))
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
