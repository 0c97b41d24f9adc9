//! The sandbox network's connections across nodes: see `wagate_core::store::SandboxReachStore`.

use async_trait::async_trait;
use wagate_core::node::{LEASE_TTL, NodeId};
use wagate_core::phone::PhoneNumber;
use wagate_core::sandbox_reach::{ConnectionClaim, Whereabouts};
use wagate_core::store::{SandboxReachStore, StoreError};
use wagate_core::{InstanceId, Timestamp};

use crate::SqlStore;
use crate::error::db;

/// The condition under which the connection row `c` belongs to a live process, with `$now`
/// bound as `now_param` (milliseconds).
fn live(now_param: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM nodes n WHERE n.node_id = c.node_id \
           AND n.incarnation = c.incarnation AND n.state <> 'gone' \
           AND n.heartbeat_at > {now_param} - {ttl})",
        ttl = LEASE_TTL.as_millis()
    )
}

#[derive(sqlx::FromRow)]
struct Found {
    instance_id: String,
    node_id: Option<String>,
}

#[async_trait]
impl SandboxReachStore for SqlStore {
    async fn sandbox_connect(
        &self,
        instance: &InstanceId,
        node: &NodeId,
        incarnation: &str,
        now: Timestamp,
    ) -> Result<ConnectionClaim, StoreError> {
        // One statement: the row is taken over only from this process or a process that is no
        // longer live; two nodes connecting at once cannot both win.
        let sql = format!(
            "INSERT INTO sandbox_connections AS c (instance_id, node_id, incarnation, since) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (instance_id) DO UPDATE SET node_id = $2, incarnation = $3, since = $4 \
             WHERE c.incarnation = $3 OR NOT {}",
            live("$4")
        );
        let taken = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(instance.as_str())
            .bind(node.as_str())
            .bind(incarnation)
            .bind(now.millis())
            .execute(&self.writer)
            .await
            .map_err(db)?
            .rows_affected()
            > 0;
        if taken {
            return Ok(ConnectionClaim::Taken);
        }
        let holder: Option<String> =
            sqlx::query_scalar("SELECT node_id FROM sandbox_connections WHERE instance_id = $1")
                .bind(instance.as_str())
                .fetch_optional(&self.writer)
                .await
                .map_err(db)?;
        Ok(ConnectionClaim::LiveOn(NodeId::from_trusted(
            holder.unwrap_or_default(),
        )))
    }

    async fn sandbox_disconnect(
        &self,
        instance: &InstanceId,
        incarnation: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sandbox_connections WHERE instance_id = $1 AND incarnation = $2")
            .bind(instance.as_str())
            .bind(incarnation)
            .execute(&self.writer)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn sandbox_whereabouts(
        &self,
        phone: &PhoneNumber,
        now: Timestamp,
    ) -> Result<Whereabouts, StoreError> {
        let sql = format!(
            "SELECT i.id AS instance_id, \
               (SELECT c.node_id FROM sandbox_connections c \
                 WHERE c.instance_id = i.id AND {}) AS node_id \
             FROM instances i WHERE i.phone = $1 AND i.session IS NOT NULL",
            live("$2")
        );
        let found: Vec<Found> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(phone.as_str())
            .bind(now.millis())
            .fetch_all(&self.reader)
            .await
            .map_err(db)?;
        // One number is linked to one instance; should two say so, the connected one answers.
        let connected = found.iter().find_map(|f| {
            let node = f.node_id.as_ref()?;
            Some(Whereabouts::Connected {
                instance: InstanceId::from_trusted(f.instance_id.clone()),
                node: NodeId::from_trusted(node.clone()),
            })
        });
        Ok(match connected {
            Some(w) => w,
            None if found.is_empty() => Whereabouts::Nowhere,
            None => Whereabouts::Offline,
        })
    }
}
