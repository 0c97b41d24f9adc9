//! Instances.

use async_trait::async_trait;
use sqlx::{AnyConnection, AssertSqlSafe, Row};
use wagate_core::account::DisplayName;
use wagate_core::event::Event;
use wagate_core::instance::{
    ConnectionMethod, Instance, InstancePatch, InstanceStatus, LastError, RejectCallMessage,
    Settings,
};
use wagate_core::net::TargetUrl;
use wagate_core::node::{Fence, Fenced};
use wagate_core::page::OffsetPage;
use wagate_core::phone::PhoneNumber;
use wagate_core::store::{ConnectionState, InsertInstanceError, InstanceStore, StoreError};
use wagate_core::webhook_event::WebhookEvent;
use wagate_core::{AccountId, InstanceId, Timestamp};

use crate::error::{corrupt, db};
use crate::outbox::Appended;
use crate::ownership::check_fence;
use crate::paged::PagedQuery;
use crate::{Dialect, SqlStore};

/// An `instances` row, without its session (read only by the engine that restores it).
#[derive(sqlx::FromRow)]
struct InstanceRow {
    id: String,
    account_id: String,
    name: String,
    status: String,
    phone: Option<String>,
    profile_name: Option<String>,
    profile_pic_url: Option<String>,
    webhook_url: Option<String>,
    webhook_events: String,
    webhook_secret: String,
    auto_read: i64,
    auto_typing: i64,
    reject_calls: i64,
    reject_call_message: Option<String>,
    connection_method: Option<String>,
    last_error: Option<String>,
    created_at: i64,
    last_seen_at: Option<i64>,
    connected_at: Option<i64>,
    has_session: i64,
}

impl TryFrom<InstanceRow> for Instance {
    type Error = StoreError;
    fn try_from(r: InstanceRow) -> Result<Self, StoreError> {
        Ok(Instance {
            id: InstanceId::from_trusted(r.id),
            account_id: AccountId::from_trusted(r.account_id),
            name: DisplayName::from_trusted(r.name),
            status: r.status.parse().map_err(corrupt)?,
            phone: r.phone.map(PhoneNumber::from_trusted),
            profile_name: r.profile_name,
            profile_pic_url: r.profile_pic_url,
            webhook_url: r.webhook_url.map(TargetUrl::from_trusted),
            webhook_events: serde_json::from_str(&r.webhook_events).map_err(corrupt)?,
            webhook_secret: r.webhook_secret,
            settings: Settings {
                auto_read: r.auto_read != 0,
                auto_typing: r.auto_typing != 0,
                reject_calls: r.reject_calls != 0,
                reject_call_message: r.reject_call_message.map(RejectCallMessage::from_trusted),
            },
            connection_method: r
                .connection_method
                .map(|m| ConnectionMethod::parse(&m).ok_or_else(|| corrupt(format!("method {m}"))))
                .transpose()?,
            last_error: r
                .last_error
                .map(|s| serde_json::from_str::<LastError>(&s))
                .transpose()
                .map_err(corrupt)?,
            created_at: Timestamp::from_millis(r.created_at),
            last_seen_at: r.last_seen_at.map(Timestamp::from_millis),
            connected_at: r.connected_at.map(Timestamp::from_millis),
            has_session: r.has_session != 0,
        })
    }
}

/// The columns of an `InstanceRow`: the session itself (large) is not read, only whether one
/// is saved.
const COLUMNS: &str = "id, account_id, name, status, phone, profile_name, profile_pic_url, \
     webhook_url, webhook_events, webhook_secret, auto_read, auto_typing, reject_calls, \
     reject_call_message, connection_method, last_error, created_at, last_seen_at, connected_at, \
     CAST(CASE WHEN session IS NULL THEN 0 ELSE 1 END AS BIGINT) AS has_session";

fn events_json(events: &[WebhookEvent]) -> String {
    serde_json::to_string(events).unwrap_or_else(|_| "[]".into())
}

#[async_trait]
impl InstanceStore for SqlStore {
    async fn insert_instance(
        &self,
        i: &Instance,
        limit: Option<u32>,
    ) -> Result<(), InsertInstanceError> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        // SQLite serialises writers on its single writer connection; PostgreSQL needs the
        // account row locked so two concurrent creates cannot both see "one below the limit".
        let lock = match self.dialect {
            Dialect::Postgres => " FOR UPDATE",
            Dialect::Sqlite => "",
        };
        let count: Option<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT instance_count FROM accounts WHERE id = $1{lock}"
        )))
        .bind(i.account_id.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        if let Some(limit) = limit
            && count.unwrap_or(0) >= i64::from(limit)
        {
            return Err(InsertInstanceError::LimitReached { limit });
        }
        sqlx::query("UPDATE accounts SET instance_count = instance_count + 1 WHERE id = $1")
            .bind(i.account_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query(
            "INSERT INTO instances (id, account_id, name, status, phone, profile_name, profile_pic_url, \
             webhook_url, webhook_events, webhook_secret, auto_read, auto_typing, connection_method, \
             last_error, created_at, last_seen_at, connected_at, reject_calls, reject_call_message) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
        )
        .bind(i.id.as_str())
        .bind(i.account_id.as_str())
        .bind(i.name.as_str())
        .bind(i.status.as_str())
        .bind(i.phone.as_ref().map(|p| p.as_str().to_owned()))
        .bind(i.profile_name.clone())
        .bind(i.profile_pic_url.clone())
        .bind(i.webhook_url.as_ref().map(|u| u.as_str().to_owned()))
        .bind(events_json(&i.webhook_events))
        .bind(&i.webhook_secret)
        .bind(i64::from(i.settings.auto_read))
        .bind(i64::from(i.settings.auto_typing))
        .bind(i.connection_method.map(|m| m.as_str().to_owned()))
        .bind(
            i.last_error
                .as_ref()
                .map(|e| serde_json::to_string(e).unwrap_or_default()),
        )
        .bind(i.created_at.millis())
        .bind(i.last_seen_at.map(Timestamp::millis))
        .bind(i.connected_at.map(Timestamp::millis))
        .bind(i64::from(i.settings.reject_calls))
        .bind(
            i.settings
                .reject_call_message
                .as_ref()
                .map(|m| m.as_str().to_owned()),
        )
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    async fn get_instance(
        &self,
        account: &AccountId,
        id: &InstanceId,
    ) -> Result<Option<Instance>, StoreError> {
        let row: Option<InstanceRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM instances WHERE id = $1 AND account_id = $2"
        )))
        .bind(id.as_str())
        .bind(account.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        row.map(Instance::try_from).transpose()
    }

    async fn list_instances(
        &self,
        account: &AccountId,
        status: Option<InstanceStatus>,
        page: OffsetPage,
    ) -> Result<(Vec<Instance>, u64), StoreError> {
        // Two filters rather than `status = COALESCE($2, status)`, which keeps SQLite's count
        // off the index: each page follows `instances_by_account` or
        // `instances_by_account_status` in id order. The whole account's total is its stored
        // count; a status's is counted on its index.
        let mut args = vec![account.as_str().into()];
        let filter = match status {
            None => "account_id = $1",
            Some(s) => {
                args.push(s.as_str().into());
                "account_id = $1 AND status = $2"
            }
        };
        let query = PagedQuery {
            columns: COLUMNS,
            from: "instances",
            filter,
            order: "id",
            args,
        };
        let (rows, total) = match status {
            None => {
                let rows = query.rows::<InstanceRow>(&self.reader, page).await?;
                (rows, self.count_instances(account).await?)
            }
            Some(_) => query.fetch::<InstanceRow>(&self.reader, page).await?,
        };
        let list = rows
            .into_iter()
            .map(Instance::try_from)
            .collect::<Result<_, _>>()?;
        Ok((list, total))
    }

    /// Kept by `insert_instance` and `delete_instance` (migration 0020): one row read, whatever
    /// the number of instances.
    async fn count_instances(&self, account: &AccountId) -> Result<u64, StoreError> {
        let n: Option<i64> =
            sqlx::query_scalar("SELECT instance_count FROM accounts WHERE id = $1")
                .bind(account.as_str())
                .fetch_optional(&self.reader)
                .await
                .map_err(db)?;
        Ok(u64::try_from(n.unwrap_or(0)).unwrap_or(0))
    }

    async fn update_instance(
        &self,
        account: &AccountId,
        id: &InstanceId,
        p: &InstancePatch,
    ) -> Result<Option<Instance>, StoreError> {
        // One statement, so concurrent PATCHes of different fields never undo each other.
        let row: Option<InstanceRow> = sqlx::query_as(AssertSqlSafe(format!(
            "UPDATE instances SET \
               name = COALESCE($3, name), \
               webhook_url = CASE WHEN $4 = 1 THEN $5 ELSE webhook_url END, \
               webhook_events = COALESCE($6, webhook_events), \
               auto_read = COALESCE($7, auto_read), \
               auto_typing = COALESCE($8, auto_typing), \
               reject_calls = COALESCE($9, reject_calls), \
               reject_call_message = CASE WHEN $10 = 1 THEN $11 ELSE reject_call_message END \
             WHERE id = $1 AND account_id = $2 RETURNING {COLUMNS}"
        )))
        .bind(id.as_str())
        .bind(account.as_str())
        .bind(p.name.as_ref().map(|n| n.as_str().to_owned()))
        .bind(i64::from(p.webhook_url.is_some()))
        .bind(
            p.webhook_url
                .as_ref()
                .and_then(|u| u.as_ref().map(|u| u.as_str().to_owned())),
        )
        .bind(p.webhook_events.as_deref().map(events_json))
        .bind(p.auto_read.map(i64::from))
        .bind(p.auto_typing.map(i64::from))
        .bind(p.reject_calls.map(i64::from))
        .bind(i64::from(p.reject_call_message.is_some()))
        .bind(
            p.reject_call_message
                .as_ref()
                .and_then(|m| m.as_ref().map(|m| m.as_str().to_owned())),
        )
        .fetch_optional(&self.writer)
        .await
        .map_err(db)?;
        row.map(Instance::try_from).transpose()
    }

    async fn delete_instance(
        &self,
        account: &AccountId,
        id: &InstanceId,
    ) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        let done = sqlx::query("DELETE FROM instances WHERE id = $1 AND account_id = $2")
            .bind(id.as_str())
            .bind(account.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query("UPDATE accounts SET instance_count = instance_count - 1 WHERE id = $1")
            .bind(account.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        // The engine's session state (device keys) goes with the instance.
        sqlx::query("DELETE FROM wa_kv WHERE instance_id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    async fn instance_counts_by_status(&self) -> Result<Vec<(InstanceStatus, u64)>, StoreError> {
        let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM instances GROUP BY status")
            .fetch_all(&self.reader)
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                let status: String = r.try_get("status").map_err(db)?;
                let n: i64 = r.try_get("n").map_err(db)?;
                Ok((status.parse().map_err(corrupt)?, n as u64))
            })
            .collect()
    }

    async fn find_instance(&self, id: &InstanceId) -> Result<Option<Instance>, StoreError> {
        let row: Option<InstanceRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM instances WHERE id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        row.map(Instance::try_from).transpose()
    }

    async fn save_connection(&self, fence: &Fence, c: &ConnectionState) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        let wrote = save_in(&mut tx, fence, c).await?;
        tx.commit().await.map_err(db)?;
        self.appended(wrote);
        Ok(())
    }

    async fn save_connections(
        &self,
        batch: &[(Fence, ConnectionState)],
    ) -> Result<Vec<Result<(), Fenced>>, StoreError> {
        let fenced = |r: Result<(), StoreError>| match r {
            Ok(()) => Ok(Ok(())),
            Err(StoreError::Fenced(f)) => Ok(Err(f)),
            Err(e) => Err(e),
        };
        if self.dialect == Dialect::Postgres {
            let mut answers = Vec::with_capacity(batch.len());
            for (fence, c) in batch {
                answers.push(fenced(self.save_connection(fence, c).await)?);
            }
            return Ok(answers);
        }
        let mut tx = self.writer.begin().await.map_err(db)?;
        let mut answers = Vec::with_capacity(batch.len());
        let mut wrote = Appended::Nothing;
        for (fence, c) in batch {
            answers.push(fenced(save_in(&mut tx, fence, c).await.map(|w| {
                wrote = wrote.max(w);
            }))?);
        }
        tx.commit().await.map_err(db)?;
        self.appended(wrote);
        Ok(answers)
    }

    async fn get_session(&self, id: &InstanceId) -> Result<Option<String>, StoreError> {
        let s: Option<Option<String>> =
            sqlx::query_scalar("SELECT session FROM instances WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(&self.reader)
                .await
                .map_err(db)?;
        Ok(s.flatten())
    }

    async fn set_session(&self, fence: &Fence, session: Option<&str>) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        check_fence(&mut tx, fence, Timestamp::now()).await?;
        sqlx::query("UPDATE instances SET session = $2 WHERE id = $1")
            .bind(fence.instance().as_str())
            .bind(session.map(str::to_owned))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn instances_with_session(&self) -> Result<Vec<InstanceId>, StoreError> {
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT id FROM instances WHERE session IS NOT NULL ORDER BY id")
                .fetch_all(&self.reader)
                .await
                .map_err(db)?;
        Ok(ids.into_iter().map(InstanceId::from_trusted).collect())
    }

    async fn instances_linking_without_session(&self) -> Result<Vec<InstanceId>, StoreError> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM instances WHERE session IS NULL AND status <> $1 ORDER BY id",
        )
        .bind(InstanceStatus::Disconnected.as_str())
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        Ok(ids.into_iter().map(InstanceId::from_trusted).collect())
    }
}

/// Writes the connection fields of `fence`'s instance inside the caller's transaction, with the
/// `instance.connected` / `instance.disconnected` event when it becomes or stops being
/// connected; `Fenced` when the fence no longer holds (nothing written).
async fn save_in(
    tx: &mut AnyConnection,
    fence: &Fence,
    c: &ConnectionState,
) -> Result<Appended, StoreError> {
    let id = fence.instance();
    check_fence(tx, fence, Timestamp::now()).await?;
    let before = sqlx::query("SELECT account_id, status FROM instances WHERE id = $1")
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
    let Some(before) = before else {
        return Ok(Appended::Nothing); // deleted meanwhile
    };
    let account = AccountId::from_trusted(before.try_get("account_id").map_err(db)?);
    let was_connected =
        before.try_get::<String, _>("status").map_err(db)? == InstanceStatus::Connected.as_str();
    sqlx::query(
        "UPDATE instances SET status = $2, phone = $3, profile_name = $4, last_error = $5, \
         connection_method = $6, connected_at = $7, last_seen_at = $8 WHERE id = $1",
    )
    .bind(id.as_str())
    .bind(c.status.as_str())
    .bind(c.phone.as_ref().map(|p| p.as_str().to_owned()))
    .bind(c.profile_name.clone())
    .bind(
        c.last_error
            .as_ref()
            .and_then(|e| serde_json::to_string(e).ok()),
    )
    .bind(c.connection_method.map(|m| m.as_str().to_owned()))
    .bind(c.connected_at.map(Timestamp::millis))
    .bind(c.last_seen_at.map(Timestamp::millis))
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    let is_connected = c.status == InstanceStatus::Connected;
    let event = match (was_connected, is_connected) {
        (false, true) => Some(Event::instance_connected(
            &account,
            id,
            c.phone.as_ref().map(PhoneNumber::as_str),
            c.profile_name.as_deref(),
        )),
        (true, false) => Some(Event::instance_disconnected(
            &account,
            id,
            c.status,
            c.last_error.as_ref(),
        )),
        _ => None,
    };
    let wrote = match event {
        Some(e) => crate::outbox::append(tx, &e).await?,
        None => Appended::Nothing,
    };
    Ok(wrote)
}
