//! Retention (§21.1): see `wagate_core::store::RetentionStore`. Each kind is one `DELETE` of at
//! most a batch of the oldest rows past the cut-off, found in id order (ids are time-ordered
//! ULIDs), so a pass holds SQLite's writer for a few milliseconds at most.

use async_trait::async_trait;
use sqlx::AnyPool;
use wagate_core::retention::{Cutoffs, Pruned};
use wagate_core::store::{RetentionStore, StoreError};

use crate::SqlStore;
use crate::error::db;

/// Events past the cut-off that nothing still needs: no delivery waiting for an attempt, every
/// broker output's place past them (`<=`: a place may name the next event to publish), and not
/// the newest event (SQLite numbers the next one after it).
const EVENTS: &str = "DELETE FROM events WHERE id IN (\
    SELECT e.id FROM events e \
    WHERE e.created_at < $1 AND e.position IS NOT NULL \
      AND e.position < (SELECT MAX(position) FROM events) \
      AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.state = 'pending') \
      AND NOT EXISTS (SELECT 1 FROM broker_targets t \
                      WHERE t.tx < e.tx OR (t.tx = e.tx AND t.position <= e.position)) \
    ORDER BY e.id LIMIT $2)";

const DELIVERY_LOGS: &str = "DELETE FROM delivery_logs WHERE id IN (\
    SELECT id FROM delivery_logs WHERE created_at < $1 ORDER BY id LIMIT $2)";

const IDEMPOTENCY_KEYS: &str = "DELETE FROM idempotency_keys WHERE (account_id, key) IN (\
    SELECT account_id, key FROM idempotency_keys WHERE created_at < $1 \
    ORDER BY created_at LIMIT $2)";

async fn delete(
    pool: &AnyPool,
    sql: &'static str,
    before: i64,
    batch: i64,
) -> Result<u64, StoreError> {
    let done = sqlx::query(sql)
        .bind(before)
        .bind(batch)
        .execute(pool)
        .await
        .map_err(db)?;
    Ok(done.rows_affected())
}

#[async_trait]
impl RetentionStore for SqlStore {
    async fn prune(&self, before: Cutoffs, batch: u32) -> Result<Pruned, StoreError> {
        let (records, keys) = (before.records.millis(), before.idempotency.millis());
        let batch = i64::from(batch);
        // Three short statements, not one transaction: traffic may write between them.
        Ok(Pruned {
            events: delete(&self.writer, EVENTS, records, batch).await?,
            delivery_logs: delete(&self.writer, DELIVERY_LOGS, records, batch).await?,
            idempotency_keys: delete(&self.writer, IDEMPOTENCY_KEYS, keys, batch).await?,
        })
    }
}
