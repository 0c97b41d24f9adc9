//! The transactional outbox: an event is written in the transaction of the change it reports,
//! with one delivery per target that wants it, so a change and its webhooks (and the streams
//! that read the events) cannot part ways: a crash loses both or neither.

use sqlx::AnyConnection;
use wagate_core::delivery::DeliveryState;
use wagate_core::event::Event;
use wagate_core::store::StoreError;
use wagate_core::webhook_event::WebhookEvent;
use wagate_core::{DeliveryId, InstanceId};

use crate::Dialect;
use crate::error::{corrupt, db};

/// The lane of a delivery: first attempts of one lane leave one at a time, in event order.
pub(crate) fn lane(instance: &InstanceId, webhook: Option<&str>) -> String {
    format!("{}:{}", instance.as_str(), webhook.unwrap_or("self"))
}

/// A target of an instance's events: its own `webhookUrl` (no webhook id) or a subscription.
#[derive(sqlx::FromRow)]
struct TargetRow {
    webhook_id: Option<String>,
    /// The JSON list of the events it wants.
    events: String,
}

/// What an append wrote, for the listeners told after the commit (`SqlStore::appended`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Appended {
    /// Nothing: the instance is gone, or there was no event to write.
    Nothing,
    /// The event alone (for the streams of §21): no target wanted it.
    Event,
    /// The event and at least one delivery.
    EventAndDeliveries,
}

/// Writes `event` and its deliveries on `conn` (inside the caller's transaction). Every event is
/// kept, for the streams of §21; targets are the instance's own `webhookUrl` and its active
/// subscriptions, each when it lists the event.
pub(crate) async fn append(
    conn: &mut AnyConnection,
    event: &Event,
) -> Result<Appended, StoreError> {
    let rows: Vec<TargetRow> = sqlx::query_as(
        "SELECT CAST(NULL AS TEXT) AS webhook_id, webhook_events AS events FROM instances \
           WHERE id = $1 AND webhook_url IS NOT NULL \
         UNION ALL \
         SELECT id AS webhook_id, events FROM webhooks WHERE instance_id = $1 AND status = 'active'",
    )
    .bind(event.instance_id.as_str())
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    let mut targets: Vec<Option<String>> = Vec::new();
    for r in rows {
        let events: Vec<WebhookEvent> = serde_json::from_str(&r.events).map_err(corrupt)?;
        if events.contains(&event.kind) {
            targets.push(r.webhook_id);
        }
    }
    // The instance's next number. The update locks the instance row until the commit
    // (PostgreSQL), so the numbers of one instance follow its commit order with no gap; SQLite's
    // single writer does the same.
    let sequence: Option<i64> = sqlx::query_scalar(
        "UPDATE instances SET event_sequence = event_sequence + 1 WHERE id = $1 \
         RETURNING event_sequence",
    )
    .bind(event.instance_id.as_str())
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?;
    let Some(sequence) = sequence else {
        return Ok(Appended::Nothing); // the instance is gone, and its targets with it
    };
    let number = u64::try_from(sequence).map_err(|_| corrupt(format!("sequence {sequence}")))?;
    // The stream position (§21): on PostgreSQL the columns' defaults number the row and record
    // the writing transaction; SQLite, whose one writer commits in the order it writes, takes
    // the next number.
    let insert = match Dialect::of(conn) {
        Dialect::Postgres => {
            "INSERT INTO events (id, account_id, instance_id, event, body, created_at, sequence) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)"
        }
        Dialect::Sqlite => {
            "INSERT INTO events (id, account_id, instance_id, event, body, created_at, sequence, \
             position) VALUES ($1, $2, $3, $4, $5, $6, $7, \
             (SELECT COALESCE(MAX(position), 0) + 1 FROM events))"
        }
    };
    sqlx::query(insert)
        .bind(event.id.as_str())
        .bind(event.account_id.as_str())
        .bind(event.instance_id.as_str())
        .bind(event.kind.as_str())
        .bind(event.body(number))
        .bind(event.at.millis())
        .bind(sequence)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    for webhook in &targets {
        sqlx::query(
            "INSERT INTO deliveries (id, event_id, event, instance_id, webhook_id, lane, state, \
             attempts, next_attempt_at, locked_by, locked_until, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, NULL, NULL, $8)",
        )
        .bind(DeliveryId::generate().as_str())
        .bind(event.id.as_str())
        .bind(event.kind.as_str())
        .bind(event.instance_id.as_str())
        .bind(webhook.clone())
        .bind(lane(&event.instance_id, webhook.as_deref()))
        .bind(DeliveryState::Pending.as_str())
        .bind(event.at.millis())
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    }
    Ok(if targets.is_empty() {
        Appended::Event
    } else {
        Appended::EventAndDeliveries
    })
}
