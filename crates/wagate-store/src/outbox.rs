//! The transactional outbox: an event is written in the transaction of the change it reports,
//! with one delivery per target that wants it, so a change and its webhooks cannot part ways
//! (a crash loses both or neither).

use sqlx::AnyConnection;
use wagate_core::delivery::DeliveryState;
use wagate_core::event::Event;
use wagate_core::store::StoreError;
use wagate_core::webhook_event::WebhookEvent;
use wagate_core::{DeliveryId, InstanceId};

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

/// Writes `event` and its deliveries on `conn` (inside the caller's transaction). Targets are
/// the instance's own `webhookUrl` and its active subscriptions, each when it lists the event.
/// Returns whether anything was written (after the commit, `SqlStore::deliveries_written`).
pub(crate) async fn append(conn: &mut AnyConnection, event: &Event) -> Result<bool, StoreError> {
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
    if targets.is_empty() {
        return Ok(false);
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
        return Ok(false); // the instance is gone, and its targets with it
    };
    let number = u64::try_from(sequence).map_err(|_| corrupt(format!("sequence {sequence}")))?;
    sqlx::query(
        "INSERT INTO events (id, account_id, instance_id, event, body, created_at, sequence) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
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
    for webhook in targets {
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
    Ok(true)
}
