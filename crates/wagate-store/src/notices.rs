//! What nodes tell each other through PostgreSQL (§19): `NOTIFY` on three channels and one
//! `LISTEN` connection per node. Something was queued for an instance (the payload is its id:
//! whichever node drives it wakes its actor); a command was written for a node; a command was
//! answered for the node that asked. A notice lost (the listener was reconnecting) costs only
//! time: actors look at their queue every few seconds, and a node waiting for an answer also
//! reads it by itself. SQLite is one node, so there is nobody to tell.

use sqlx::postgres::PgListener;
use wagate_core::InstanceId;
use wagate_core::node::NodeId;
use wagate_core::store::StoreError;

use crate::error::db;
use crate::{Dialect, SqlStore};

const QUEUED: &str = "wagate_queued";
const COMMAND: &str = "wagate_command";
const ANSWER: &str = "wagate_answer";

/// A notice for this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Something was queued for this instance (maybe driven here).
    Queued(InstanceId),
    /// A command was written for this node: its id.
    Command(String),
    /// A command this node asked was answered: its id.
    Answered(String),
}

/// This node's subscription to the notices.
pub struct NodeListener {
    listener: PgListener,
    node: NodeId,
}

impl NodeListener {
    /// The next notice for this node (others' commands and answers are passed over).
    pub async fn next(&mut self) -> Result<Notice, StoreError> {
        loop {
            let n = self.listener.recv().await.map_err(db)?;
            let payload = n.payload();
            let notice = match n.channel() {
                QUEUED => InstanceId::parse(payload).ok().map(Notice::Queued),
                COMMAND => addressed(payload, &self.node).map(Notice::Command),
                ANSWER => addressed(payload, &self.node).map(Notice::Answered),
                _ => None,
            };
            if let Some(notice) = notice {
                return Ok(notice);
            }
        }
    }
}

/// `"<node> <id>"`: the id, when the notice is for `node`.
fn addressed(payload: &str, node: &NodeId) -> Option<String> {
    let (to, id) = payload.split_once(' ')?;
    (to == node.as_str()).then(|| id.to_owned())
}

impl SqlStore {
    /// `NOTIFY channel, payload` (nothing on SQLite). Inside a transaction, PostgreSQL sends
    /// it at the commit.
    pub(crate) async fn notify(
        &self,
        conn: &mut sqlx::AnyConnection,
        channel: &str,
        payload: &str,
    ) -> Result<(), StoreError> {
        if self.dialect == Dialect::Postgres {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(channel)
                .bind(payload)
                .execute(conn)
                .await
                .map_err(db)?;
        }
        Ok(())
    }

    pub(crate) async fn announce(&self, instance: &InstanceId) -> Result<(), StoreError> {
        if self.dialect != Dialect::Postgres {
            return Ok(()); // one node: nobody to tell (and SQLite's one writer stays free)
        }
        let mut conn = self.writer.acquire().await.map_err(db)?;
        self.notify(&mut conn, QUEUED, instance.as_str()).await
    }

    pub(crate) async fn tell_command(
        &self,
        conn: &mut sqlx::AnyConnection,
        node: &NodeId,
        id: &str,
    ) -> Result<(), StoreError> {
        self.notify(conn, COMMAND, &format!("{node} {id}")).await
    }

    pub(crate) async fn tell_answer(
        &self,
        conn: &mut sqlx::AnyConnection,
        node: &NodeId,
        id: &str,
    ) -> Result<(), StoreError> {
        self.notify(conn, ANSWER, &format!("{node} {id}")).await
    }

    /// Listens to the notices for `node` (`None` on SQLite).
    pub async fn listen_notices(&self, node: &NodeId) -> Result<Option<NodeListener>, StoreError> {
        if self.dialect != Dialect::Postgres {
            return Ok(None);
        }
        let mut listener = PgListener::connect(&self.url).await.map_err(db)?;
        listener
            .listen_all([QUEUED, COMMAND, ANSWER])
            .await
            .map_err(db)?;
        Ok(Some(NodeListener {
            listener,
            node: node.clone(),
        }))
    }
}
