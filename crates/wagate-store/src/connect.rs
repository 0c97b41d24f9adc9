//! Opening a store: pools, per-connection settings and migrations.

use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use wagate_core::store::{CredentialsListener, DueListener, StoreError};

use crate::error::db;
use crate::outbox::Appended;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The dialect of a connection (for code that is handed a transaction, not the store).
    pub(crate) fn of(conn: &sqlx::AnyConnection) -> Self {
        if conn.backend_name().eq_ignore_ascii_case("postgresql") {
            Dialect::Postgres
        } else {
            Dialect::Sqlite
        }
    }
}

/// The store. On SQLite all writes go through one connection (SQLite has one writer at a time;
/// queueing in the pool is cheaper and more predictable than `SQLITE_BUSY` retries) while reads use
/// a pool of their own (WAL lets them run beside the writer). On PostgreSQL both are one pool.
#[derive(Clone)]
pub struct SqlStore {
    pub(crate) dialect: Dialect,
    pub(crate) writer: AnyPool,
    pub(crate) reader: AnyPool,
    pub(crate) due_listeners: Arc<RwLock<Vec<DueListener>>>,
    /// Told after every commit that wrote an event (the streams of §21).
    pub(crate) event_listeners: Arc<RwLock<Vec<DueListener>>>,
    /// Told after every commit that changed credentials (`key_changes.rs`).
    pub(crate) credential_listeners: Arc<RwLock<Vec<CredentialsListener>>>,
    /// What the store was opened with (PostgreSQL: for the connections that `LISTEN`: to other
    /// nodes' announcements and to credential changes).
    pub(crate) url: Arc<str>,
}

static MIGRATE_SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static MIGRATE_POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl SqlStore {
    /// Tells the listeners what a commit wrote to the outbox.
    pub(crate) fn appended(&self, wrote: Appended) {
        let tell = |listeners: &RwLock<Vec<DueListener>>| {
            let listeners = listeners
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for l in listeners.iter() {
                l();
            }
        };
        if wrote >= Appended::Event {
            tell(&self.event_listeners);
        }
        if wrote == Appended::EventAndDeliveries {
            tell(&self.due_listeners);
        }
    }

    /// Connects to `sqlite://…` or `postgres://…` and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let store = Self::open(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects without migrating (for `wagate migrate` and tests that check migrations).
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Dialect::Postgres
        } else {
            return Err(StoreError::Unavailable(
                "the database URL must start with sqlite: or postgres:".into(),
            ));
        };
        let options = AnyConnectOptions::from_str(url).map_err(db)?;
        match dialect {
            Dialect::Sqlite => {
                let writer = sqlite_pool(1)
                    .connect_with(options.clone())
                    .await
                    .map_err(db)?;
                let reader = sqlite_pool(4).connect_with(options).await.map_err(db)?;
                Ok(Self {
                    dialect,
                    writer,
                    reader,
                    due_listeners: Arc::default(),
                    event_listeners: Arc::default(),
                    credential_listeners: Arc::default(),
                    url: url.into(),
                })
            }
            Dialect::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(options)
                    .await
                    .map_err(db)?;
                Ok(Self {
                    dialect,
                    writer: pool.clone(),
                    reader: pool,
                    due_listeners: Arc::default(),
                    event_listeners: Arc::default(),
                    credential_listeners: Arc::default(),
                    url: url.into(),
                })
            }
        }
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = match self.dialect {
            Dialect::Sqlite => &MIGRATE_SQLITE,
            Dialect::Postgres => &MIGRATE_POSTGRES,
        };
        migrator
            .run(&self.writer)
            .await
            .map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

/// WAL for concurrent readers; `synchronous=FULL` syncs the WAL at every commit, so a 200 means the
/// row is on disk even across a power loss or an OS crash (`NORMAL` survives only a process
/// crash). The send path commits a batch at a time, so one sync serves many sends. Foreign keys for
/// cascading deletes.
fn sqlite_pool(max: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                )
                .await?;
                Ok(())
            })
        })
}

#[async_trait::async_trait]
impl wagate_core::store::Store for SqlStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn close(&self) {
        SqlStore::close(self).await
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Row;
    use wagate_testkit::{Backend, TestDb};

    use super::*;

    /// `PRAGMA synchronous` is per connection and not stored in the file, so it is read back
    /// through the store's own pools: 2 is `FULL`.
    #[tokio::test]
    async fn sqlite_commits_are_synced_to_disk() {
        let db = TestDb::new(Backend::Sqlite).await;
        let store = SqlStore::connect(&db.url).await.unwrap();
        for pool in [&store.writer, &store.reader] {
            let row = sqlx::query("PRAGMA synchronous")
                .fetch_one(pool)
                .await
                .unwrap();
            assert_eq!(row.get::<i64, _>(0), 2, "synchronous must be FULL");
        }
    }
}
