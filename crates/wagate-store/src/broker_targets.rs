//! The broker outputs' places in the stream of all events and which node holds each (§21):
//! see `wagate_core::store::BrokerStore`.

use async_trait::async_trait;
use sqlx::AssertSqlSafe;
use wagate_core::broker::{BrokerKind, OutboundEvent};
use wagate_core::event_stream::StreamCursor;
use wagate_core::store::{BrokerStore, StoreError};
use wagate_core::webhook_event::WebhookEvent;
use wagate_core::{AccountId, EventId, InstanceId, Timestamp};

use crate::SqlStore;
use crate::error::{corrupt, db};
use crate::event_stream::CursorRow;

#[derive(sqlx::FromRow)]
struct OutboundRow {
    id: String,
    account_id: String,
    instance_id: String,
    event: String,
    body: String,
    tx: i64,
    position: i64,
}

impl TryFrom<OutboundRow> for OutboundEvent {
    type Error = StoreError;
    fn try_from(r: OutboundRow) -> Result<Self, StoreError> {
        Ok(OutboundEvent {
            id: EventId::from_trusted(r.id),
            account: AccountId::from_trusted(r.account_id),
            instance: InstanceId::from_trusted(r.instance_id),
            kind: r.event.parse::<WebhookEvent>().map_err(corrupt)?,
            body: r.body,
            cursor: StreamCursor {
                tx: r.tx,
                position: r.position,
            },
        })
    }
}

#[async_trait]
impl BrokerStore for SqlStore {
    async fn hold_broker_target(
        &self,
        target: BrokerKind,
        node: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Option<StreamCursor>, StoreError> {
        let known: Option<(String,)> =
            sqlx::query_as("SELECT target FROM broker_targets WHERE target = $1")
                .bind(target.as_str())
                .fetch_optional(&self.reader)
                .await
                .map_err(db)?;
        if known.is_none() {
            let end = self.stream_end(None).await?;
            // Two nodes starting at once: the first row stays.
            sqlx::query(
                "INSERT INTO broker_targets (target, tx, position, holder, held_until, updated_at) \
                 VALUES ($1, $2, $3, NULL, 0, $4) ON CONFLICT (target) DO NOTHING",
            )
            .bind(target.as_str())
            .bind(end.tx)
            .bind(end.position)
            .bind(now.millis())
            .execute(&self.writer)
            .await
            .map_err(db)?;
        }
        let held: Option<CursorRow> = sqlx::query_as(
            "UPDATE broker_targets SET holder = $2, held_until = $3, updated_at = $4 \
             WHERE target = $1 AND (holder = $2 OR holder IS NULL OR held_until < $4) \
             RETURNING tx, position",
        )
        .bind(target.as_str())
        .bind(node)
        .bind(until.millis())
        .bind(now.millis())
        .fetch_optional(&self.writer)
        .await
        .map_err(db)?;
        Ok(held.map(StreamCursor::from))
    }

    async fn advance_broker_target(
        &self,
        target: BrokerKind,
        node: &str,
        to: StreamCursor,
        until: Timestamp,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE broker_targets SET tx = $3, position = $4, held_until = $5, updated_at = $6 \
             WHERE target = $1 AND holder = $2",
        )
        .bind(target.as_str())
        .bind(node)
        .bind(to.tx)
        .bind(to.position)
        .bind(until.millis())
        .bind(Timestamp::now().millis())
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_broker_target(
        &self,
        target: BrokerKind,
        node: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE broker_targets SET holder = NULL, held_until = 0 \
             WHERE target = $1 AND holder = $2",
        )
        .bind(target.as_str())
        .bind(node)
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn read_all_events(
        &self,
        after: StreamCursor,
        limit: u32,
    ) -> Result<Vec<OutboundEvent>, StoreError> {
        let rows: Vec<OutboundRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT id, account_id, instance_id, event, body, tx, position FROM events \
             WHERE (tx, position) > ($1, $2) {} ORDER BY tx, position LIMIT $3",
            self.settled()
        )))
        .bind(after.tx)
        .bind(after.position)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        rows.into_iter().map(OutboundEvent::try_from).collect()
    }

    async fn count_events_after(&self, after: StreamCursor, cap: u32) -> Result<u64, StoreError> {
        let (n,): (i64,) = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM events WHERE (tx, position) > ($1, $2) {} \
             LIMIT $3) AS after_cursor",
            self.settled()
        )))
        .bind(after.tx)
        .bind(after.position)
        .bind(i64::from(cap))
        .fetch_one(&self.reader)
        .await
        .map_err(db)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
