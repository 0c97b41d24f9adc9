//! Deliveries of outbox events: claiming the due ones (a lease, so a crashed node's work is
//! taken up again), recording each attempt in the logs, and the retry state.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};
use wagate_core::delivery::{AttemptResult, DeliveryLog, DueDelivery, Target};
use wagate_core::event::Event;
use wagate_core::net::TargetUrl;
use wagate_core::store::{DeliveryStore, DueListener, StoreError};
use wagate_core::webhook::WebhookSecret;
use wagate_core::{DeliveryId, DeliveryLogId, EventId, InstanceId, Timestamp, WebhookId};

use crate::error::{corrupt, db};
use crate::{Dialect, SqlStore};

/// The candidates: the first pending first attempt of each lane (a lane's first attempts leave
/// one at a time, in order), and every retry whose time has come (retries hold no lane up).
/// Both are found through indexes, so a claim costs the pending rows, not the whole history.
const CANDIDATES: &str = "SELECT MIN(h.id) FROM deliveries h \
       WHERE h.state = 'pending' AND h.attempts = 0 GROUP BY h.lane \
     UNION ALL SELECT r.id FROM deliveries r \
       WHERE r.state = 'pending' AND r.attempts > 0 AND r.next_attempt_at <= $1";

/// Due and not leased; subscriptions that are paused wait.
const DUE: &str = "d.next_attempt_at <= $1 \
     AND (d.locked_until IS NULL OR d.locked_until < $1) \
     AND (d.webhook_id IS NULL OR EXISTS (SELECT 1 FROM webhooks w WHERE w.id = d.webhook_id \
                                          AND w.status = 'active'))";

fn event_of(r: &AnyRow, col: &str) -> Result<wagate_core::webhook_event::WebhookEvent, StoreError> {
    r.try_get::<String, _>(col)
        .map_err(db)?
        .parse()
        .map_err(corrupt)
}

fn due_from_row(r: &AnyRow, claim: &str) -> Result<DueDelivery, StoreError> {
    let webhook: Option<String> = r.try_get("webhook_id").map_err(db)?;
    Ok(DueDelivery {
        id: DeliveryId::from_trusted(r.try_get("id").map_err(db)?),
        claim: claim.to_owned(),
        event_id: EventId::from_trusted(r.try_get("event_id").map_err(db)?),
        event: event_of(r, "event")?,
        instance_id: InstanceId::from_trusted(r.try_get("instance_id").map_err(db)?),
        target: match webhook {
            Some(w) => Target::Subscription(WebhookId::from_trusted(w)),
            None => Target::Instance,
        },
        url: r
            .try_get::<Option<String>, _>("url")
            .map_err(db)?
            .map(TargetUrl::from_trusted),
        secret: WebhookSecret::from_trusted(
            r.try_get::<Option<String>, _>("secret")
                .map_err(db)?
                .unwrap_or_default(),
        ),
        body: r.try_get("body").map_err(db)?,
        attempts: r.try_get::<i64, _>("attempts").map_err(db)?.max(0) as u32,
    })
}

fn log_from_row(r: &AnyRow) -> Result<DeliveryLog, StoreError> {
    let time = |c: &str| -> Result<Option<Timestamp>, StoreError> {
        Ok(r.try_get::<Option<i64>, _>(c)
            .map_err(db)?
            .map(Timestamp::from_millis))
    };
    Ok(DeliveryLog {
        id: DeliveryLogId::from_trusted(r.try_get("id").map_err(db)?),
        webhook_id: r
            .try_get::<Option<String>, _>("webhook_id")
            .map_err(db)?
            .map(WebhookId::from_trusted),
        event_id: r
            .try_get::<Option<String>, _>("event_id")
            .map_err(db)?
            .map(EventId::from_trusted),
        event: event_of(r, "event")?,
        success: r.try_get::<i64, _>("success").map_err(db)? != 0,
        status_code: r
            .try_get::<Option<i64>, _>("status_code")
            .map_err(db)?
            .and_then(|c| u16::try_from(c).ok()),
        response_ms: r.try_get::<i64, _>("response_ms").map_err(db)?.max(0) as u64,
        error: r.try_get("error").map_err(db)?,
        retry_count: r.try_get::<i64, _>("retry_count").map_err(db)?.max(0) as u32,
        next_retry_at: time("next_retry_at")?,
        at: Timestamp::from_millis(r.try_get("created_at").map_err(db)?),
    })
}

pub(crate) async fn insert_log_row(
    conn: &mut AnyConnection,
    delivery: Option<&DeliveryId>,
    instance: &InstanceId,
    log: &DeliveryLog,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO delivery_logs (id, delivery_id, webhook_id, instance_id, event_id, event, success, \
         status_code, response_ms, error, retry_count, next_retry_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(log.id.as_str())
    .bind(delivery.map(|d| d.as_str().to_owned()))
    .bind(log.webhook_id.as_ref().map(|w| w.as_str().to_owned()))
    .bind(instance.as_str())
    .bind(log.event_id.as_ref().map(|e| e.as_str().to_owned()))
    .bind(log.event.as_str())
    .bind(i64::from(log.success))
    .bind(log.status_code.map(i64::from))
    .bind(log.response_ms as i64)
    .bind(log.error.clone())
    .bind(i64::from(log.retry_count))
    .bind(log.next_retry_at.map(Timestamp::millis))
    .bind(log.at.millis())
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

#[async_trait]
impl DeliveryStore for SqlStore {
    fn on_deliveries_due(&self, listener: DueListener) {
        self.due_listeners
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(listener);
    }

    async fn record_event(&self, event: &Event) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        let wrote = crate::outbox::append(&mut tx, event).await?;
        tx.commit().await.map_err(db)?;
        if wrote {
            self.deliveries_written();
        }
        Ok(())
    }

    async fn claim_deliveries(
        &self,
        claim: &str,
        now: Timestamp,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        // PostgreSQL: rows another node is claiming right now are skipped, not waited for.
        let lock = match self.dialect {
            Dialect::Postgres => "FOR UPDATE OF d SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        let mut tx = self.writer.begin().await.map_err(db)?;
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE deliveries SET locked_by = $3, locked_until = $4 WHERE id IN \
             (SELECT d.id FROM deliveries d WHERE d.id IN ({CANDIDATES}) AND {DUE} \
              ORDER BY d.id LIMIT $2 {lock})"
        )))
        .bind(now.millis())
        .bind(i64::from(limit))
        .bind(claim)
        .bind(now.millis() + lease_ms)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let rows = sqlx::query(
            "SELECT d.id, d.event_id, d.event, d.instance_id, d.webhook_id, d.attempts, e.body, \
               CASE WHEN d.webhook_id IS NULL THEN i.webhook_url ELSE w.url END AS url, \
               CASE WHEN d.webhook_id IS NULL THEN i.webhook_secret ELSE w.secret END AS secret \
             FROM deliveries d JOIN events e ON e.id = d.event_id \
             JOIN instances i ON i.id = d.instance_id LEFT JOIN webhooks w ON w.id = d.webhook_id \
             WHERE d.locked_by = $1 ORDER BY d.id",
        )
        .bind(claim)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        rows.iter().map(|r| due_from_row(r, claim)).collect()
    }

    async fn release_claims(&self, node: &str) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE deliveries SET locked_by = NULL, locked_until = NULL \
             WHERE state = 'pending' AND locked_by LIKE $1",
        )
        .bind(format!("{node}:%"))
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(done.rows_affected())
    }

    async fn finish_attempt(
        &self,
        d: &DueDelivery,
        result: &AttemptResult,
        retry_at: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        let state = match (result.succeeded(), retry_at) {
            (true, _) => "succeeded",
            (false, Some(_)) => "pending",
            (false, None) => "failed",
        };
        let mut tx = self.writer.begin().await.map_err(db)?;
        let moved = sqlx::query(
            "UPDATE deliveries SET state = $2, attempts = attempts + 1, \
             next_attempt_at = COALESCE($3, next_attempt_at), locked_by = NULL, locked_until = NULL \
             WHERE id = $1",
        )
        .bind(d.id.as_str())
        .bind(state)
        .bind(retry_at.map(Timestamp::millis))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if moved.rows_affected() == 0 {
            return Ok(()); // deleted with its subscription meanwhile
        }
        let log = DeliveryLog {
            id: result.log_id.clone(),
            webhook_id: match &d.target {
                Target::Subscription(w) => Some(w.clone()),
                Target::Instance => None,
            },
            event_id: Some(d.event_id.clone()),
            event: d.event,
            success: result.succeeded(),
            status_code: result.status_code,
            response_ms: result.response_ms,
            error: result.error.clone(),
            retry_count: d.attempts,
            next_retry_at: retry_at.filter(|_| !result.succeeded()),
            at: result.at,
        };
        insert_log_row(&mut tx, Some(&d.id), &d.instance_id, &log).await?;
        tx.commit().await.map_err(db)
    }

    async fn list_logs(
        &self,
        webhook: &WebhookId,
        success: Option<bool>,
        limit: u32,
    ) -> Result<Vec<DeliveryLog>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM delivery_logs WHERE webhook_id = $1 AND success = COALESCE($2, success) \
             ORDER BY id DESC LIMIT $3",
        )
        .bind(webhook.as_str())
        .bind(success.map(i64::from))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        rows.iter().map(log_from_row).collect()
    }

    async fn retry_log(
        &self,
        webhook: &WebhookId,
        log: &DeliveryLogId,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE deliveries SET state = 'pending', next_attempt_at = $3, locked_by = NULL, \
             locked_until = NULL WHERE id = \
             (SELECT delivery_id FROM delivery_logs WHERE id = $1 AND webhook_id = $2)",
        )
        .bind(log.as_str())
        .bind(webhook.as_str())
        .bind(now.millis())
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() > 0)
    }

    async fn insert_log(&self, instance: &InstanceId, log: &DeliveryLog) -> Result<(), StoreError> {
        let mut conn = self.writer.acquire().await.map_err(db)?;
        insert_log_row(&mut conn, None, instance, log).await
    }
}
