//! Nodes and instance leases (§19): see `wagate_core::store::OwnershipStore` and
//! `wagate_core::node`. `check_fence` is the condition every write of an instance's session or
//! connection state is made under.

use async_trait::async_trait;
use sqlx::AssertSqlSafe;
use wagate_core::node::{Epoch, Fence, Fenced, Lease, Node, NodeId, NodeState};
use wagate_core::store::{OwnershipStore, StoreError};
use wagate_core::{InstanceId, Timestamp};

use crate::error::{corrupt, db};
use crate::{Dialect, SqlStore};

#[derive(sqlx::FromRow)]
struct NodeRow {
    node_id: String,
    started_at: i64,
    heartbeat_at: i64,
    state: String,
    instances: i64,
}

impl TryFrom<NodeRow> for Node {
    type Error = StoreError;
    fn try_from(r: NodeRow) -> Result<Self, StoreError> {
        Ok(Node {
            id: NodeId::from_trusted(r.node_id),
            started_at: Timestamp::from_millis(r.started_at),
            heartbeat_at: Timestamp::from_millis(r.heartbeat_at),
            state: NodeState::parse(&r.state)
                .ok_or_else(|| corrupt(format!("node state {:?}", r.state)))?,
            instances: r.instances.max(0) as u64,
        })
    }
}

#[derive(sqlx::FromRow)]
struct LeaseRow {
    instance_id: String,
    epoch: i64,
}

impl LeaseRow {
    fn held_by(self, node: &NodeId) -> Lease {
        Lease {
            instance: InstanceId::from_trusted(self.instance_id),
            node: node.clone(),
            epoch: Epoch(self.epoch),
        }
    }
}

/// Refuses (`Fenced`) a write inside `tx` unless `fence` holds at `now`. On PostgreSQL the lease
/// row is locked `FOR SHARE` until the write commits, so a node taking the lease over waits for
/// the write rather than slipping in between the check and the write. SQLite is one node with
/// one writer connection: nothing can slip in there.
pub(crate) async fn check_fence(
    tx: &mut sqlx::AnyConnection,
    fence: &Fence,
    now: Timestamp,
) -> Result<(), StoreError> {
    let lock = match Dialect::of(tx) {
        Dialect::Postgres => " FOR SHARE",
        Dialect::Sqlite => "",
    };
    let holds = match fence {
        Fence::Held(lease) => sqlx::query(AssertSqlSafe(format!(
            "SELECT instance_id FROM instance_leases WHERE instance_id = $1 AND node_id = $2 \
             AND epoch = $3 AND expires_at > $4{lock}"
        )))
        .bind(lease.instance.as_str())
        .bind(lease.node.as_str())
        .bind(lease.epoch.0)
        .bind(now.millis())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        .is_some(),
        Fence::Unheld(id) => sqlx::query(AssertSqlSafe(format!(
            "SELECT instance_id FROM instance_leases WHERE instance_id = $1 \
             AND node_id IS NOT NULL AND expires_at > $2{lock}"
        )))
        .bind(id.as_str())
        .bind(now.millis())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        .is_none(),
    };
    if holds {
        Ok(())
    } else {
        Err(Fenced(fence.instance().clone()).into())
    }
}

/// Takes `instance` for `node` when nobody holds a live lease on it, under the next epoch.
async fn take(
    store: &SqlStore,
    instance: &str,
    node: &NodeId,
    now: Timestamp,
    until: Timestamp,
) -> Result<Option<Lease>, StoreError> {
    let row: Option<LeaseRow> = sqlx::query_as(
        "INSERT INTO instance_leases (instance_id, node_id, epoch, expires_at) \
         VALUES ($1, $2, 1, $3) \
         ON CONFLICT (instance_id) DO UPDATE SET node_id = $2, \
           epoch = instance_leases.epoch + 1, expires_at = $3 \
         WHERE instance_leases.node_id IS NULL OR instance_leases.expires_at <= $4 \
         RETURNING instance_id, epoch",
    )
    .bind(instance)
    .bind(node.as_str())
    .bind(until.millis())
    .bind(now.millis())
    .fetch_optional(&store.writer)
    .await
    .map_err(db)?;
    Ok(row.map(|r| r.held_by(node)))
}

#[async_trait]
impl OwnershipStore for SqlStore {
    async fn register_node(
        &self,
        node: &NodeId,
        incarnation: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        sqlx::query(
            "INSERT INTO nodes (node_id, incarnation, started_at, heartbeat_at, state) \
             VALUES ($1, $2, $3, $3, $4) ON CONFLICT (node_id) DO UPDATE SET \
               incarnation = $2, started_at = $3, heartbeat_at = $3, state = $4",
        )
        .bind(node.as_str())
        .bind(incarnation)
        .bind(now.millis())
        .bind(NodeState::Up.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query("UPDATE instance_leases SET node_id = NULL, expires_at = 0 WHERE node_id = $1")
            .bind(node.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn heartbeat(
        &self,
        node: &NodeId,
        incarnation: &str,
        state: NodeState,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE nodes SET heartbeat_at = $3, state = $4 WHERE node_id = $1 AND incarnation = $2",
        )
        .bind(node.as_str())
        .bind(incarnation)
        .bind(now.millis())
        .bind(state.as_str())
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn list_nodes(&self, now: Timestamp) -> Result<Vec<Node>, StoreError> {
        let rows: Vec<NodeRow> = sqlx::query_as(
            "SELECT n.node_id, n.started_at, n.heartbeat_at, n.state, \
               (SELECT COUNT(*) FROM instance_leases l \
                 WHERE l.node_id = n.node_id AND l.expires_at > $1) AS instances \
             FROM nodes n ORDER BY n.node_id",
        )
        .bind(now.millis())
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        rows.into_iter().map(Node::try_from).collect()
    }

    async fn renew_leases(
        &self,
        node: &NodeId,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<Lease>, StoreError> {
        let rows: Vec<LeaseRow> = sqlx::query_as(
            "UPDATE instance_leases SET expires_at = $3 WHERE node_id = $1 AND expires_at > $2 \
             RETURNING instance_id, epoch",
        )
        .bind(node.as_str())
        .bind(now.millis())
        .bind(until.millis())
        .fetch_all(&self.writer)
        .await
        .map_err(db)?;
        Ok(rows.into_iter().map(|r| r.held_by(node)).collect())
    }

    async fn claim_unheld(
        &self,
        node: &NodeId,
        now: Timestamp,
        until: Timestamp,
        limit: u32,
    ) -> Result<Vec<Lease>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let candidates: Vec<String> = sqlx::query_scalar(
            "SELECT i.id FROM instances i LEFT JOIN instance_leases l ON l.instance_id = i.id \
             WHERE i.session IS NOT NULL AND (l.node_id IS NULL OR l.expires_at <= $1) \
             ORDER BY i.id LIMIT $2",
        )
        .bind(now.millis())
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        // Each take is conditional: of several nodes claiming the same candidate, one wins.
        let mut taken = Vec::with_capacity(candidates.len());
        for id in candidates {
            if let Some(lease) = take(self, &id, node, now, until).await? {
                taken.push(lease);
            }
        }
        Ok(taken)
    }

    async fn claim_instance(
        &self,
        instance: &InstanceId,
        node: &NodeId,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Result<Lease, NodeId>, StoreError> {
        let mine: Option<LeaseRow> = sqlx::query_as(
            "UPDATE instance_leases SET expires_at = $3 \
             WHERE instance_id = $1 AND node_id = $2 AND expires_at > $4 \
             RETURNING instance_id, epoch",
        )
        .bind(instance.as_str())
        .bind(node.as_str())
        .bind(until.millis())
        .bind(now.millis())
        .fetch_optional(&self.writer)
        .await
        .map_err(db)?;
        if let Some(row) = mine {
            return Ok(Ok(row.held_by(node)));
        }
        if let Some(lease) = take(self, instance.as_str(), node, now, until).await? {
            return Ok(Ok(lease));
        }
        match self.holder_of(instance, now).await? {
            Some(other) => Ok(Err(other)),
            // Released between the two statements: try once more.
            None => take(self, instance.as_str(), node, now, until)
                .await?
                .map(Ok)
                .ok_or_else(|| StoreError::Conflict("the lease changed hands twice".into())),
        }
    }

    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE instance_leases SET node_id = NULL, expires_at = 0 \
             WHERE instance_id = $1 AND node_id = $2 AND epoch = $3",
        )
        .bind(lease.instance.as_str())
        .bind(lease.node.as_str())
        .bind(lease.epoch.0)
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn release_leases(&self, node: &NodeId) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE instance_leases SET node_id = NULL, expires_at = 0 WHERE node_id = $1",
        )
        .bind(node.as_str())
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(done.rows_affected())
    }

    async fn count_should_be_connected(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM instances WHERE session IS NOT NULL")
            .fetch_one(&self.reader)
            .await
            .map_err(db)?;
        Ok(n.max(0) as u64)
    }

    async fn announce_queued(&self, instance: &InstanceId) -> Result<(), StoreError> {
        self.announce(instance).await
    }

    async fn holder_of(
        &self,
        instance: &InstanceId,
        now: Timestamp,
    ) -> Result<Option<NodeId>, StoreError> {
        let holder: Option<String> = sqlx::query_scalar(
            "SELECT node_id FROM instance_leases \
             WHERE instance_id = $1 AND node_id IS NOT NULL AND expires_at > $2",
        )
        .bind(instance.as_str())
        .bind(now.millis())
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        Ok(holder.map(NodeId::from_trusted))
    }
}
