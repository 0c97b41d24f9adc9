//! Changes to credentials (revoked keys, changed or deleted accounts), told to whoever keeps
//! credentials read earlier (the server's cache of verified keys).
//!
//! This process's listeners are told right after the commit. On PostgreSQL the changing
//! transaction also sends `NOTIFY wagate_keys` (delivered on commit, to every node and whatever
//! process made the change, the CLI included), and each watcher `LISTEN`s on a connection of its
//! own. SQLite is served by one server alone, so what it commits itself is told at once; but
//! `wagate key revoke` may write the file beside it, so the changing transaction also stamps the
//! `credentials_changed` setting, which each watcher reads every `POLL` (4 tiny reads a second).

use std::sync::PoisonError;
use std::time::Duration;

use sqlx::postgres::PgListener;
use wagate_core::store::{CredentialsChange, CredentialsListener, StoreError};
use wagate_core::{AccountId, ApiKeyId, Timestamp};

use crate::error::db;
use crate::{Dialect, SqlStore};

const CHANNEL: &str = "wagate_keys";

/// How often a lost `LISTEN` connection is tried again, and how often a waiting one checks
/// whether the store was closed.
const RETRY: Duration = Duration::from_secs(1);
const CLOSED_CHECK: Duration = Duration::from_secs(5);
/// How often a SQLite watcher looks for changes made by another process.
const POLL: Duration = Duration::from_millis(250);
const STAMP: &str = "credentials_changed";

fn payload(change: &CredentialsChange) -> Option<String> {
    match change {
        CredentialsChange::Key(id) => Some(format!("key:{id}")),
        CredentialsChange::Account(id) => Some(format!("account:{id}")),
        CredentialsChange::Any | CredentialsChange::Deaf | CredentialsChange::Hearing => None,
    }
}

/// A notification's change; one this code cannot read is taken as "anything may have changed".
fn parse(payload: &str) -> CredentialsChange {
    let change = match payload.split_once(':') {
        Some(("key", id)) => ApiKeyId::parse(id).ok().map(CredentialsChange::Key),
        Some(("account", id)) => AccountId::parse(id).ok().map(CredentialsChange::Account),
        _ => None,
    };
    change.unwrap_or(CredentialsChange::Any)
}

/// Sends `change` to the other processes when the caller's transaction commits (PostgreSQL).
pub(crate) async fn notify(
    conn: &mut sqlx::AnyConnection,
    change: &CredentialsChange,
) -> Result<(), StoreError> {
    let Some(payload) = payload(change) else {
        return Ok(());
    };
    match Dialect::of(conn) {
        Dialect::Postgres => sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(payload),
        Dialect::Sqlite => sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(STAMP)
        // Differs from the stamp before it: another change, or the same one later.
        .bind(format!("{} {payload}", Timestamp::now().millis())),
    }
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

impl SqlStore {
    /// Tells this process's listeners of a committed change.
    pub(crate) fn credentials_changed(&self, change: &CredentialsChange) {
        let listeners = self
            .credential_listeners
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        for l in listeners.iter() {
            l(change);
        }
    }

    pub(crate) async fn watch(&self, listener: CredentialsListener) -> Result<(), StoreError> {
        match self.dialect {
            Dialect::Postgres => {
                let connection = listen(&self.url).await?;
                tokio::spawn(hear(
                    connection,
                    self.url.clone(),
                    self.writer.clone(),
                    listener.clone(),
                ));
            }
            Dialect::Sqlite => {
                let first = stamp(&self.reader).await?;
                tokio::spawn(poll(first, self.reader.clone(), listener.clone()));
            }
        }
        self.credential_listeners
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(listener);
        Ok(())
    }
}

async fn stamp(reader: &sqlx::AnyPool) -> Result<Option<String>, StoreError> {
    sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
        .bind(STAMP)
        .fetch_optional(reader)
        .await
        .map_err(db)
}

/// Tells `listener` when the stamp moves (SQLite), until the store is closed. A failed read
/// tells `Any`: the change it might have seen is not missed.
async fn poll(mut last: Option<String>, reader: sqlx::AnyPool, listener: CredentialsListener) {
    loop {
        tokio::time::sleep(POLL).await;
        if reader.is_closed() {
            return;
        }
        match stamp(&reader).await {
            Ok(now) if now == last => {}
            Ok(now) => {
                last = now;
                listener(&CredentialsChange::Any);
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading the key changes stamp failed");
                listener(&CredentialsChange::Any);
            }
        }
    }
}

async fn listen(url: &str) -> Result<PgListener, StoreError> {
    let mut l = PgListener::connect(url).await.map_err(db)?;
    l.listen(CHANNEL).await.map_err(db)?;
    Ok(l)
}

/// Tells `listener` what the other processes change, until the store is closed. While the
/// connection is lost the listener is `Deaf`: notifications sent meanwhile are gone for good.
async fn hear(
    mut connection: PgListener,
    url: std::sync::Arc<str>,
    store: sqlx::AnyPool,
    listener: CredentialsListener,
) {
    loop {
        match tokio::time::timeout(CLOSED_CHECK, connection.try_recv()).await {
            Err(_) if store.is_closed() => return,
            Err(_) => continue,
            Ok(Ok(Some(n))) => listener(&parse(n.payload())),
            Ok(lost) => {
                if let Err(e) = lost {
                    tracing::warn!(error = %e, "listening for key changes failed");
                }
                listener(&CredentialsChange::Deaf);
                connection = loop {
                    tokio::time::sleep(RETRY).await;
                    if store.is_closed() {
                        return;
                    }
                    match listen(&url).await {
                        Ok(c) => break c,
                        Err(e) => tracing::warn!(error = %e, "listening for key changes again"),
                    }
                };
                listener(&CredentialsChange::Hearing);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_reads_back_from_its_notification() {
        for change in [
            CredentialsChange::Key(ApiKeyId::generate()),
            CredentialsChange::Account(AccountId::generate()),
        ] {
            assert_eq!(parse(&payload(&change).unwrap()), change);
        }
        assert_eq!(parse("key:not-a-key"), CredentialsChange::Any);
        assert_eq!(parse("something else"), CredentialsChange::Any);
    }
}
