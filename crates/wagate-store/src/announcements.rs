//! Telling the node that drives an instance that something was queued for it (§19), when the
//! request was served by another node: PostgreSQL's `NOTIFY` on one channel, with the instance
//! id as payload, and a `LISTEN` per node. A notification lost (the listener was reconnecting)
//! costs only latency: every actor also looks at its queue every few seconds. SQLite is one node,
//! so there is nobody to tell.

use sqlx::postgres::PgListener;
use wagate_core::InstanceId;
use wagate_core::store::StoreError;

use crate::error::db;
use crate::{Dialect, SqlStore};

const CHANNEL: &str = "wagate_queued";

/// This node's subscription to the announcements of every node.
pub struct QueuedListener(PgListener);

impl QueuedListener {
    /// The next instance something was queued for (on any node, this one included).
    pub async fn next(&mut self) -> Result<InstanceId, StoreError> {
        loop {
            let n = self.0.recv().await.map_err(db)?;
            // Ids are ours; anything else on the channel is not.
            if let Ok(id) = InstanceId::parse(n.payload()) {
                return Ok(id);
            }
        }
    }
}

impl SqlStore {
    /// Says that something was queued for `instance`, to whichever node drives it.
    pub(crate) async fn announce(&self, instance: &InstanceId) -> Result<(), StoreError> {
        if self.dialect == Dialect::Postgres {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(instance.as_str())
                .execute(&self.writer)
                .await
                .map_err(db)?;
        }
        Ok(())
    }

    /// Listens to the announcements (`None` on SQLite).
    pub async fn listen_queued(&self) -> Result<Option<QueuedListener>, StoreError> {
        if self.dialect != Dialect::Postgres {
            return Ok(None);
        }
        let mut listener = PgListener::connect(&self.url).await.map_err(db)?;
        listener.listen(CHANNEL).await.map_err(db)?;
        Ok(Some(QueuedListener(listener)))
    }
}
