//! Edits and deletes (§17.2, §17.3): ours wait in `message_changes` with the sends; when the
//! network took one, or a contact's arrives, the message row follows and its event is written in
//! the same transaction.

use async_trait::async_trait;
use sqlx::AssertSqlSafe;
use wagate_core::change::{Change, ChangeOutcome, QueuedChange};
use wagate_core::engine::InboundChange;
use wagate_core::event::Event;
use wagate_core::message::{Direction, Message};
use wagate_core::store::{ChangeStore, StoreError};
use wagate_core::{AccountId, ChangeId, InstanceId, MessageId, Timestamp};

use crate::SqlStore;
use crate::error::{corrupt, db};
use crate::messages::{MESSAGE_COLUMNS, MessageRow};
use crate::outbox::Appended;

/// A `message_changes` row still queued, with its message's account.
#[derive(sqlx::FromRow)]
struct QueuedRow {
    id: String,
    account_id: String,
    instance_id: String,
    message_id: String,
    kind: String,
    text: Option<String>,
    created_at: i64,
}

fn change_of(kind: &str, text: Option<String>) -> Result<Change, StoreError> {
    match (kind, text) {
        ("edit", Some(t)) => Ok(Change::Edit(t)),
        ("delete", _) => Ok(Change::Delete),
        (other, _) => Err(corrupt(format!("change {other}"))),
    }
}

fn text_of(change: &Change) -> Option<&str> {
    match change {
        Change::Edit(t) => Some(t),
        Change::Delete => None,
    }
}

impl TryFrom<QueuedRow> for QueuedChange {
    type Error = StoreError;
    fn try_from(r: QueuedRow) -> Result<Self, StoreError> {
        Ok(QueuedChange {
            id: ChangeId::from_trusted(r.id),
            account_id: AccountId::from_trusted(r.account_id),
            instance_id: InstanceId::from_trusted(r.instance_id),
            message_id: MessageId::from_trusted(r.message_id),
            change: change_of(&r.kind, r.text)?,
            created_at: Timestamp::from_millis(r.created_at),
        })
    }
}

async fn message(conn: &mut sqlx::AnyConnection, id: &str) -> Result<Option<Message>, StoreError> {
    let row: Option<MessageRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?;
    row.map(Message::try_from).transpose()
}

/// `m` after `change` by `from`, written with its event; None when `m` cannot take it.
/// Returns the message and what the outbox wrote.
async fn apply(
    conn: &mut sqlx::AnyConnection,
    mut m: Message,
    change: &Change,
    from: Option<&str>,
    at: Timestamp,
) -> Result<Option<(Message, Appended)>, StoreError> {
    let Some(content) = change.applied_to(&m.content) else {
        return Ok(None);
    };
    m.content = content;
    if let Change::Edit(_) = change {
        m.edited_at = Some(at);
    }
    sqlx::query(
        "UPDATE messages SET type = $2, content = $3, media = $4, edited_at = $5 WHERE id = $1",
    )
    .bind(m.id.as_str())
    .bind(m.content.type_str())
    .bind(m.content.text())
    .bind(m.content.object().map(|o| o.to_string()))
    .bind(m.edited_at.map(Timestamp::millis))
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    let event = match change {
        Change::Edit(_) => Event::message_edited(&m, from, at),
        Change::Delete => Event::message_deleted(&m, from, at),
    };
    let wrote = crate::outbox::append(conn, &event).await?;
    Ok(Some((m, wrote)))
}

#[async_trait]
impl ChangeStore for SqlStore {
    async fn queue_change(&self, c: &QueuedChange) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO message_changes (id, instance_id, message_id, kind, text, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, 'queued', $6)",
        )
        .bind(c.id.as_str())
        .bind(c.instance_id.as_str())
        .bind(c.message_id.as_str())
        .bind(c.change.as_str())
        .bind(text_of(&c.change))
        .bind(c.created_at.millis())
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn next_changes(
        &self,
        instance: &InstanceId,
        limit: u32,
    ) -> Result<Vec<QueuedChange>, StoreError> {
        let rows: Vec<QueuedRow> = sqlx::query_as(
            "SELECT c.id, m.account_id, c.instance_id, c.message_id, c.kind, c.text, c.created_at \
             FROM message_changes c JOIN messages m ON m.id = c.message_id \
             WHERE c.instance_id = $1 AND c.status = 'queued' ORDER BY c.id LIMIT $2",
        )
        .bind(instance.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        rows.into_iter().map(QueuedChange::try_from).collect()
    }

    async fn finish_change(
        &self,
        id: &ChangeId,
        outcome: &ChangeOutcome,
    ) -> Result<Option<Message>, StoreError> {
        let (status, error, at) = match outcome {
            ChangeOutcome::Done { at } => ("done", None, *at),
            ChangeOutcome::Failed(e) => (
                "failed",
                Some(serde_json::to_string(e).map_err(corrupt)?),
                Timestamp::now(),
            ),
        };
        let mut tx = self.writer.begin().await.map_err(db)?;
        // Only while it is still queued: a change is finished once.
        let row: Option<(String, String, Option<String>, String)> = sqlx::query_as(
            "UPDATE message_changes SET status = $2, error = $3, done_at = $4 \
             WHERE id = $1 AND status = 'queued' RETURNING message_id, kind, text, instance_id",
        )
        .bind(id.as_str())
        .bind(status)
        .bind(error)
        .bind(at.millis())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some((message_id, kind, text, instance)) = row else {
            return Ok(None);
        };
        let Some(m) = message(&mut tx, &message_id).await? else {
            return Ok(None);
        };
        let mut wrote = Appended::Nothing;
        let m = match outcome {
            ChangeOutcome::Failed(_) => m,
            ChangeOutcome::Done { at } => {
                let change = change_of(&kind, text)?;
                let me = crate::reactions::own_phone(&mut tx, &InstanceId::from_trusted(instance))
                    .await?;
                match apply(&mut tx, m.clone(), &change, me.as_deref(), *at).await? {
                    Some((m, w)) => {
                        wrote = w;
                        m
                    }
                    None => m,
                }
            }
        };
        tx.commit().await.map_err(db)?;
        self.appended(wrote);
        Ok(Some(m))
    }

    async fn apply_received_change(
        &self,
        instance: &InstanceId,
        c: &InboundChange,
    ) -> Result<Option<Message>, StoreError> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        let row: Option<MessageRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE instance_id = $1 AND external_id = $2"
        )))
        .bind(instance.as_str())
        .bind(&c.target_external_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some(m) = row.map(Message::try_from).transpose()? else {
            return Ok(None);
        };
        // A contact changes only what it wrote itself; in a group, an admin may also delete
        // what others wrote (the network, not wagate, knows who is admin and checked it).
        let theirs = m.direction == Direction::Inbound
            && (m.sender().as_str() == c.from.as_str()
                || (m.peer.is_group() && matches!(c.change, Change::Delete)));
        if !theirs {
            return Ok(None);
        }
        let seen = sqlx::query(
            "INSERT INTO message_changes (id, instance_id, message_id, kind, text, status, \
             external_id, created_at, done_at) VALUES ($1, $2, $3, $4, $5, 'done', $6, $7, $7) \
             ON CONFLICT (instance_id, external_id) DO NOTHING",
        )
        .bind(ChangeId::generate().as_str())
        .bind(instance.as_str())
        .bind(m.id.as_str())
        .bind(c.change.as_str())
        .bind(text_of(&c.change))
        .bind(&c.external_id)
        .bind(c.timestamp.millis())
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected()
            == 0;
        if seen {
            return Ok(None);
        }
        let Some((m, wrote)) =
            apply(&mut tx, m, &c.change, Some(c.from.as_str()), c.timestamp).await?
        else {
            return Ok(None);
        };
        tx.commit().await.map_err(db)?;
        self.appended(wrote);
        Ok(Some(m))
    }
}
