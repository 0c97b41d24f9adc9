//! Node-wide settings: a small key/value table.

use async_trait::async_trait;
use sqlx::Row;
use wagate_core::store::{SettingsStore, StoreError};

use crate::SqlStore;
use crate::error::db;

#[async_trait]
impl SettingsStore for SqlStore {
    async fn get_setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.reader)
            .await
            .map_err(db)?;
        row.map(|r| r.try_get::<String, _>("value"))
            .transpose()
            .map_err(db)
    }

    async fn put_setting_if_absent(&self, name: &str, value: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(value)
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }
}
