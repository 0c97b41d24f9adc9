//! Commands for an instance held by another node (§19): see
//! `wagate_core::store::NodeCommandStore`. Each write tells the node concerned (`notices.rs`) in
//! the same transaction, so the notice goes out with the commit.

use async_trait::async_trait;
use wagate_core::node::{NodeCommand, NodeId};
use wagate_core::store::{NodeCommandStore, StoreError};
use wagate_core::{InstanceId, Timestamp};

use crate::SqlStore;
use crate::error::db;

#[derive(sqlx::FromRow)]
struct CommandRow {
    id: String,
    node_id: String,
    from_node: String,
    instance_id: String,
    body: String,
}

impl From<CommandRow> for NodeCommand {
    fn from(r: CommandRow) -> Self {
        NodeCommand {
            id: r.id,
            to: NodeId::from_trusted(r.node_id),
            from: NodeId::from_trusted(r.from_node),
            instance: InstanceId::from_trusted(r.instance_id),
            body: r.body,
        }
    }
}

#[async_trait]
impl NodeCommandStore for SqlStore {
    async fn post_command(&self, c: &NodeCommand, now: Timestamp) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        sqlx::query(
            "INSERT INTO node_commands (id, node_id, from_node, instance_id, body, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&c.id)
        .bind(c.to.as_str())
        .bind(c.from.as_str())
        .bind(c.instance.as_str())
        .bind(&c.body)
        .bind(now.millis())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        self.tell_command(&mut tx, &c.to, &c.id).await?;
        tx.commit().await.map_err(db)
    }

    async fn take_command(
        &self,
        id: &str,
        node: &NodeId,
        now: Timestamp,
    ) -> Result<Option<NodeCommand>, StoreError> {
        let row: Option<CommandRow> = sqlx::query_as(
            "UPDATE node_commands SET taken_at = $3 \
             WHERE id = $1 AND node_id = $2 AND taken_at IS NULL \
             RETURNING id, node_id, from_node, instance_id, body",
        )
        .bind(id)
        .bind(node.as_str())
        .bind(now.millis())
        .fetch_optional(&self.writer)
        .await
        .map_err(db)?;
        Ok(row.map(NodeCommand::from))
    }

    async fn answer_command(&self, c: &NodeCommand, answer: &str) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        sqlx::query("UPDATE node_commands SET answer = $2 WHERE id = $1")
            .bind(&c.id)
            .bind(answer)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        self.tell_answer(&mut tx, &c.from, &c.id).await?;
        tx.commit().await.map_err(db)
    }

    async fn take_answer(&self, id: &str) -> Result<Option<String>, StoreError> {
        let answer: Option<String> = sqlx::query_scalar(
            "DELETE FROM node_commands WHERE id = $1 AND answer IS NOT NULL RETURNING answer",
        )
        .bind(id)
        .fetch_optional(&self.writer)
        .await
        .map_err(db)?;
        Ok(answer)
    }

    async fn drop_command(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM node_commands WHERE id = $1")
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(db)?;
        Ok(())
    }
}
