//! The transactional outbox: an event is written in the transaction of the change it reports,
//! with one delivery per target that wants it, so a change and its webhooks cannot part ways
//! (a crash loses both or neither).

use sqlx::{AnyConnection, Row};
use wagate_core::event::Event;
use wagate_core::store::StoreError;
use wagate_core::webhook_event::WebhookEvent;
use wagate_core::{DeliveryId, InstanceId};

use crate::error::{corrupt, db};

/// The lane of a delivery: first attempts of one lane leave one at a time, in event order.
pub(crate) fn lane(instance: &InstanceId, webhook: Option<&str>) -> String {
    format!("{}:{}", instance.as_str(), webhook.unwrap_or("self"))
}

/// Writes `event` and its deliveries on `conn` (inside the caller's transaction). Targets are
/// the instance's own `webhookUrl` and its active subscriptions, each when it lists the event.
/// Returns whether anything was written (after the commit, `SqlStore::deliveries_written`).
pub(crate) async fn append(conn: &mut AnyConnection, event: &Event) -> Result<bool, StoreError> {
    let rows = sqlx::query(
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
    for r in &rows {
        let events: Vec<WebhookEvent> =
            serde_json::from_str(&r.try_get::<String, _>("events").map_err(db)?)
                .map_err(corrupt)?;
        if events.contains(&event.kind) {
            targets.push(r.try_get("webhook_id").map_err(db)?);
        }
    }
    if targets.is_empty() {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO events (id, account_id, instance_id, event, body, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(event.id.as_str())
    .bind(event.account_id.as_str())
    .bind(event.instance_id.as_str())
    .bind(event.kind.as_str())
    .bind(event.body())
    .bind(event.at.millis())
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    for webhook in targets {
        sqlx::query(
            "INSERT INTO deliveries (id, event_id, event, instance_id, webhook_id, lane, state, \
             attempts, next_attempt_at, locked_by, locked_until, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, NULL, NULL, $7)",
        )
        .bind(DeliveryId::generate().as_str())
        .bind(event.id.as_str())
        .bind(event.kind.as_str())
        .bind(event.instance_id.as_str())
        .bind(webhook.clone())
        .bind(lane(&event.instance_id, webhook.as_deref()))
        .bind(event.at.millis())
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    }
    Ok(true)
}
