//! `EngineStateStore` on the `wa_kv` table: an engine's session state as keyed blobs per instance.
//! Reads go to the reader pool; writes to the writer, batches in one transaction.

use async_trait::async_trait;
use sqlx::Row;
use wagate_core::InstanceId;
use wagate_core::engine_state::{EngineStateStore, StateOp, prefix_upper_bound};
use wagate_core::store::StoreError;

use crate::connect::SqlStore;
use crate::error::db;

#[async_trait]
impl EngineStateStore for SqlStore {
    async fn state_get(
        &self,
        instance: &InstanceId,
        ns: i32,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT v FROM wa_kv WHERE instance_id = $1 AND ns = $2 AND k = $3")
            .bind(instance.as_str())
            .bind(ns)
            .bind(key.to_vec())
            .fetch_optional(&self.reader)
            .await
            .map_err(db)?;
        row.map(|r| r.try_get::<Vec<u8>, _>("v").map_err(db))
            .transpose()
    }

    async fn state_scan(
        &self,
        instance: &InstanceId,
        ns: i32,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        let rows = match prefix_upper_bound(prefix) {
            Some(upper) => {
                sqlx::query(
                    "SELECT k, v FROM wa_kv WHERE instance_id = $1 AND ns = $2 \
                     AND k >= $3 AND k < $4 ORDER BY k",
                )
                .bind(instance.as_str())
                .bind(ns)
                .bind(prefix.to_vec())
                .bind(upper)
                .fetch_all(&self.reader)
                .await
            }
            None => {
                sqlx::query(
                    "SELECT k, v FROM wa_kv WHERE instance_id = $1 AND ns = $2 \
                     AND k >= $3 ORDER BY k",
                )
                .bind(instance.as_str())
                .bind(ns)
                .bind(prefix.to_vec())
                .fetch_all(&self.reader)
                .await
            }
        }
        .map_err(db)?;
        rows.iter()
            .map(|r| Ok((r.try_get("k").map_err(db)?, r.try_get("v").map_err(db)?)))
            .collect()
    }

    async fn state_max_key(
        &self,
        instance: &InstanceId,
        ns: i32,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query(
            "SELECT k FROM wa_kv WHERE instance_id = $1 AND ns = $2 ORDER BY k DESC LIMIT 1",
        )
        .bind(instance.as_str())
        .bind(ns)
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        row.map(|r| r.try_get::<Vec<u8>, _>("k").map_err(db))
            .transpose()
    }

    async fn state_take(
        &self,
        instance: &InstanceId,
        ns: i32,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query(
            "DELETE FROM wa_kv WHERE instance_id = $1 AND ns = $2 AND k = $3 RETURNING v",
        )
        .bind(instance.as_str())
        .bind(ns)
        .bind(key.to_vec())
        .fetch_optional(&self.writer)
        .await
        .map_err(db)?;
        row.map(|r| r.try_get::<Vec<u8>, _>("v").map_err(db))
            .transpose()
    }

    async fn state_delete_older_than(
        &self,
        instance: &InstanceId,
        ns: i32,
        cutoff: i64,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM wa_kv WHERE instance_id = $1 AND ns = $2 AND ts < $3")
            .bind(instance.as_str())
            .bind(ns)
            .bind(cutoff)
            .execute(&self.writer)
            .await
            .map_err(db)?;
        Ok(done.rows_affected())
    }

    async fn state_apply(&self, instance: &InstanceId, ops: &[StateOp]) -> Result<(), StoreError> {
        if ops.is_empty() {
            return Ok(());
        }
        let mut tx = self.writer.begin().await.map_err(db)?;
        for op in ops {
            match op {
                StateOp::Put { ns, key, value, ts } => {
                    sqlx::query(
                        "INSERT INTO wa_kv (instance_id, ns, k, v, ts) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (instance_id, ns, k) DO UPDATE SET v = excluded.v, ts = excluded.ts",
                    )
                    .bind(instance.as_str())
                    .bind(*ns)
                    .bind(key.clone())
                    .bind(value.clone())
                    .bind(*ts)
                    .execute(&mut *tx)
                    .await
                }
                StateOp::Delete { ns, key } => {
                    sqlx::query("DELETE FROM wa_kv WHERE instance_id = $1 AND ns = $2 AND k = $3")
                        .bind(instance.as_str())
                        .bind(*ns)
                        .bind(key.clone())
                        .execute(&mut *tx)
                        .await
                }
                StateOp::DeletePrefix { ns, prefix } => match prefix_upper_bound(prefix) {
                    Some(upper) => {
                        sqlx::query(
                            "DELETE FROM wa_kv WHERE instance_id = $1 AND ns = $2 \
                             AND k >= $3 AND k < $4",
                        )
                        .bind(instance.as_str())
                        .bind(*ns)
                        .bind(prefix.clone())
                        .bind(upper)
                        .execute(&mut *tx)
                        .await
                    }
                    None => {
                        sqlx::query(
                            "DELETE FROM wa_kv WHERE instance_id = $1 AND ns = $2 AND k >= $3",
                        )
                        .bind(instance.as_str())
                        .bind(*ns)
                        .bind(prefix.clone())
                        .execute(&mut *tx)
                        .await
                    }
                },
            }
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn state_wipe(&self, instance: &InstanceId) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM wa_kv WHERE instance_id = $1")
            .bind(instance.as_str())
            .execute(&self.writer)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn state_count(&self, instance: &InstanceId) -> Result<u64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM wa_kv WHERE instance_id = $1")
            .bind(instance.as_str())
            .fetch_one(&self.reader)
            .await
            .map_err(db)?;
        let n: i64 = row.try_get("n").map_err(db)?;
        Ok(n as u64)
    }
}
