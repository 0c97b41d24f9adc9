//! Instances.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::any::AnyRow;
use wagate_core::account::DisplayName;
use wagate_core::event::Event;
use wagate_core::instance::{
    ConnectionMethod, Instance, InstancePatch, InstanceStatus, LastError, Settings,
};
use wagate_core::net::TargetUrl;
use wagate_core::page::OffsetPage;
use wagate_core::phone::PhoneNumber;
use wagate_core::store::{ConnectionState, InsertInstanceError, InstanceStore, StoreError};
use wagate_core::webhook_event::WebhookEvent;
use wagate_core::{AccountId, InstanceId, Timestamp};

use crate::error::{corrupt, db};
use crate::{Dialect, SqlStore};

fn from_row(r: &AnyRow) -> Result<Instance, StoreError> {
    let text = |col: &str| r.try_get::<Option<String>, _>(col).map_err(db);
    let time = |col: &str| -> Result<Option<Timestamp>, StoreError> {
        Ok(r.try_get::<Option<i64>, _>(col)
            .map_err(db)?
            .map(Timestamp::from_millis))
    };
    let events: Vec<WebhookEvent> =
        serde_json::from_str(&r.try_get::<String, _>("webhook_events").map_err(db)?)
            .map_err(corrupt)?;
    let last_error: Option<LastError> = text("last_error")?
        .map(|s| serde_json::from_str(&s))
        .transpose()
        .map_err(corrupt)?;
    Ok(Instance {
        id: InstanceId::from_trusted(r.try_get("id").map_err(db)?),
        account_id: AccountId::from_trusted(r.try_get("account_id").map_err(db)?),
        name: DisplayName::from_trusted(r.try_get("name").map_err(db)?),
        status: r
            .try_get::<String, _>("status")
            .map_err(db)?
            .parse()
            .map_err(corrupt)?,
        phone: text("phone")?.map(PhoneNumber::from_trusted),
        profile_name: text("profile_name")?,
        profile_pic_url: text("profile_pic_url")?,
        webhook_url: text("webhook_url")?.map(TargetUrl::from_trusted),
        webhook_events: events,
        webhook_secret: r.try_get("webhook_secret").map_err(db)?,
        settings: Settings {
            auto_read: r.try_get::<i64, _>("auto_read").map_err(db)? != 0,
            auto_typing: r.try_get::<i64, _>("auto_typing").map_err(db)? != 0,
        },
        connection_method: text("connection_method")?
            .map(|m| ConnectionMethod::parse(&m).ok_or_else(|| corrupt(format!("method {m}"))))
            .transpose()?,
        last_error,
        created_at: Timestamp::from_millis(r.try_get("created_at").map_err(db)?),
        last_seen_at: time("last_seen_at")?,
        connected_at: time("connected_at")?,
        has_session: text("session")?.is_some(),
    })
}

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
        if self.dialect == Dialect::Postgres {
            sqlx::query("SELECT id FROM accounts WHERE id = $1 FOR UPDATE")
                .bind(i.account_id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        if let Some(limit) = limit {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM instances WHERE account_id = $1")
                .bind(i.account_id.as_str())
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?;
            if n >= i64::from(limit) {
                return Err(InsertInstanceError::LimitReached { limit });
            }
        }
        sqlx::query(
            "INSERT INTO instances (id, account_id, name, status, phone, profile_name, profile_pic_url, \
             webhook_url, webhook_events, webhook_secret, auto_read, auto_typing, connection_method, \
             last_error, created_at, last_seen_at, connected_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
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
        let row = sqlx::query("SELECT * FROM instances WHERE id = $1 AND account_id = $2")
            .bind(id.as_str())
            .bind(account.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(db)?;
        row.as_ref().map(from_row).transpose()
    }

    async fn list_instances(
        &self,
        account: &AccountId,
        status: Option<InstanceStatus>,
        page: OffsetPage,
    ) -> Result<(Vec<Instance>, u64), StoreError> {
        let status = status.map(|s| s.as_str().to_owned());
        let rows = sqlx::query(
            "SELECT * FROM instances WHERE account_id = $1 AND status = COALESCE($2, status) \
             ORDER BY id LIMIT $3 OFFSET $4",
        )
        .bind(account.as_str())
        .bind(status.clone())
        .bind(i64::from(page.limit))
        .bind(page.offset as i64)
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        let total: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM instances WHERE account_id = $1 AND status = COALESCE($2, status)",
        )
        .bind(account.as_str())
        .bind(status)
        .fetch_one(&self.reader)
        .await
        .map_err(db)?;
        let list = rows.iter().map(from_row).collect::<Result<_, _>>()?;
        Ok((list, total as u64))
    }

    async fn count_instances(&self, account: &AccountId) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM instances WHERE account_id = $1")
            .bind(account.as_str())
            .fetch_one(&self.reader)
            .await
            .map_err(db)?;
        Ok(n as u64)
    }

    async fn update_instance(
        &self,
        account: &AccountId,
        id: &InstanceId,
        p: &InstancePatch,
    ) -> Result<Option<Instance>, StoreError> {
        // One statement, so concurrent PATCHes of different fields never undo each other.
        let row = sqlx::query(
            "UPDATE instances SET \
               name = COALESCE($3, name), \
               webhook_url = CASE WHEN $4 = 1 THEN $5 ELSE webhook_url END, \
               webhook_events = COALESCE($6, webhook_events), \
               auto_read = COALESCE($7, auto_read), \
               auto_typing = COALESCE($8, auto_typing) \
             WHERE id = $1 AND account_id = $2 RETURNING *",
        )
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
        .fetch_optional(&self.writer)
        .await
        .map_err(db)?;
        row.as_ref().map(from_row).transpose()
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
        let row = sqlx::query("SELECT * FROM instances WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(db)?;
        row.as_ref().map(from_row).transpose()
    }

    async fn save_connection(
        &self,
        id: &InstanceId,
        c: &ConnectionState,
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        let before = sqlx::query("SELECT account_id, status FROM instances WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        let Some(before) = before else {
            return Ok(()); // deleted meanwhile
        };
        let account = AccountId::from_trusted(before.try_get("account_id").map_err(db)?);
        let was_connected = before.try_get::<String, _>("status").map_err(db)?
            == InstanceStatus::Connected.as_str();
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
                c.last_error.as_ref(),
            )),
            _ => None,
        };
        let wrote = match event {
            Some(e) => crate::outbox::append(&mut tx, &e).await?,
            None => false,
        };
        tx.commit().await.map_err(db)?;
        if wrote {
            self.deliveries_written();
        }
        Ok(())
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

    async fn set_session(&self, id: &InstanceId, session: Option<&str>) -> Result<(), StoreError> {
        sqlx::query("UPDATE instances SET session = $2 WHERE id = $1")
            .bind(id.as_str())
            .bind(session.map(str::to_owned))
            .execute(&self.writer)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn instances_with_session(&self) -> Result<Vec<InstanceId>, StoreError> {
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT id FROM instances WHERE session IS NOT NULL ORDER BY id")
                .fetch_all(&self.reader)
                .await
                .map_err(db)?;
        Ok(ids.into_iter().map(InstanceId::from_trusted).collect())
    }
}
