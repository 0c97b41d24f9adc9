//! An account's events as one stream (§21), read in commit order: see
//! `wagate_core::event_stream` for why the order is not the ids' order.

use async_trait::async_trait;
use sqlx::AssertSqlSafe;
use wagate_core::event_stream::{StreamCursor, StreamFilter, StreamStart, StreamedEvent};
use wagate_core::store::{DueListener, EventStreamStore, StoreError};
use wagate_core::webhook_event::WebhookEvent;
use wagate_core::{AccountId, EventId};

use crate::args::{Arg, arguments, placeholders};
use crate::error::{corrupt, db};
use crate::{Dialect, SqlStore};

#[derive(sqlx::FromRow)]
pub(crate) struct CursorRow {
    tx: i64,
    position: i64,
}

impl From<CursorRow> for StreamCursor {
    fn from(r: CursorRow) -> Self {
        StreamCursor {
            tx: r.tx,
            position: r.position,
        }
    }
}

#[derive(sqlx::FromRow)]
struct StreamRow {
    id: String,
    event: String,
    body: String,
    tx: i64,
    position: i64,
}

impl TryFrom<StreamRow> for StreamedEvent {
    type Error = StoreError;
    fn try_from(r: StreamRow) -> Result<Self, StoreError> {
        Ok(StreamedEvent {
            id: EventId::from_trusted(r.id),
            kind: r.event.parse::<WebhookEvent>().map_err(corrupt)?,
            body: r.body,
            cursor: StreamCursor {
                tx: r.tx,
                position: r.position,
            },
        })
    }
}

impl SqlStore {
    /// Only rows no running transaction can still come before: on PostgreSQL, rows of
    /// transactions older than every one in progress; SQLite commits in the order it writes.
    pub(crate) fn settled(&self) -> &'static str {
        match self.dialect {
            Dialect::Postgres => "AND tx < pg_snapshot_xmin(pg_current_snapshot())::text::bigint",
            Dialect::Sqlite => "",
        }
    }

    /// The newest settled place of the account's stream, or (`None`) of the stream of all
    /// events.
    pub(crate) async fn stream_end(
        &self,
        account: Option<&AccountId>,
    ) -> Result<StreamCursor, StoreError> {
        let scope = if account.is_some() {
            "account_id = $1"
        } else {
            "1 = 1"
        };
        let sql = format!(
            "SELECT tx, position FROM events WHERE {scope} {} \
             ORDER BY tx DESC, position DESC LIMIT 1",
            self.settled()
        );
        let mut query = sqlx::query_as::<_, CursorRow>(AssertSqlSafe(sql));
        if let Some(account) = account {
            query = query.bind(account.as_str());
        }
        let row = query.fetch_optional(&self.reader).await.map_err(db)?;
        Ok(row.map(StreamCursor::from).unwrap_or_default())
    }
}

#[async_trait]
impl EventStreamStore for SqlStore {
    fn on_events_written(&self, listener: DueListener) {
        self.event_listeners
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(listener);
    }

    async fn stream_cursor(
        &self,
        account: &AccountId,
        start: &StreamStart,
    ) -> Result<StreamCursor, StoreError> {
        let StreamStart::After(id) = start else {
            return self.stream_end(Some(account)).await;
        };
        let row: Option<CursorRow> =
            sqlx::query_as("SELECT tx, position FROM events WHERE id = $1 AND account_id = $2")
                .bind(id.as_str())
                .bind(account.as_str())
                .fetch_optional(&self.reader)
                .await
                .map_err(db)?;
        if let Some(row) = row {
            return Ok(row.into());
        }
        // No longer kept: from the first event written after it was.
        let first: Option<CursorRow> = sqlx::query_as(
            "SELECT tx, position FROM events WHERE account_id = $1 AND created_at > $2 \
             ORDER BY tx, position LIMIT 1",
        )
        .bind(account.as_str())
        .bind(id.made_at().millis())
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        match first {
            Some(r) => Ok(StreamCursor {
                tx: r.tx,
                position: r.position - 1,
            }),
            None => self.stream_end(Some(account)).await,
        }
    }

    async fn read_stream(
        &self,
        account: &AccountId,
        after: StreamCursor,
        filter: &StreamFilter,
        limit: u32,
    ) -> Result<Vec<StreamedEvent>, StoreError> {
        let mut args: Vec<Arg> = vec![
            account.as_str().into(),
            after.tx.into(),
            after.position.into(),
            i64::from(limit).into(),
        ];
        let mut wanted = String::new();
        if let Some(instance) = &filter.instance {
            args.push(instance.as_str().into());
            wanted.push_str(&format!(" AND instance_id = ${}", args.len()));
        }
        if !filter.events.is_empty() {
            wanted.push_str(&format!(
                " AND event IN ({})",
                placeholders(args.len() + 1, filter.events.len())
            ));
            args.extend(filter.events.iter().map(|e| Arg::from(e.as_str())));
        }
        let rows: Vec<StreamRow> = sqlx::query_as_with(
            AssertSqlSafe(format!(
                "SELECT id, event, body, tx, position FROM events \
                 WHERE account_id = $1 AND (tx > $2 OR (tx = $2 AND position > $3)) {settled}{wanted} \
                 ORDER BY tx, position LIMIT $4",
                settled = self.settled(),
            )),
            arguments(&args)?,
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        rows.into_iter().map(StreamedEvent::try_from).collect()
    }
}
