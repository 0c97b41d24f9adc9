//! API keys: stored as the SHA-256 of their secret, never the secret itself.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::any::AnyRow;
use wagate_core::account::{Account, AccountName};
use wagate_core::api_key::ApiKey;
use wagate_core::scope::Scopes;
use wagate_core::store::{ApiKeyStore, StoreError};
use wagate_core::{AccountId, ApiKeyId, Timestamp};

use crate::SqlStore;
use crate::accounts::account_from_row;
use crate::error::{corrupt, db};

fn from_row(r: &AnyRow) -> Result<ApiKey, StoreError> {
    let opt_time = |col: &str| -> Result<Option<Timestamp>, StoreError> {
        Ok(r.try_get::<Option<i64>, _>(col)
            .map_err(db)?
            .map(Timestamp::from_millis))
    };
    Ok(ApiKey {
        id: ApiKeyId::from_trusted(r.try_get("id").map_err(db)?),
        account_id: AccountId::from_trusted(r.try_get("account_id").map_err(db)?),
        name: AccountName::from_trusted(r.try_get("name").map_err(db)?),
        scopes: Scopes::parse_csv(&r.try_get::<String, _>("scopes").map_err(db)?)
            .map_err(corrupt)?,
        secret_hash: r.try_get("secret_hash").map_err(db)?,
        created_at: Timestamp::from_millis(r.try_get("created_at").map_err(db)?),
        expires_at: opt_time("expires_at")?,
        revoked_at: opt_time("revoked_at")?,
    })
}

#[async_trait]
impl ApiKeyStore for SqlStore {
    async fn insert_api_key(&self, k: &ApiKey) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_keys (id, account_id, name, scopes, secret_hash, created_at, expires_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(k.id.as_str())
        .bind(k.account_id.as_str())
        .bind(k.name.as_str())
        .bind(k.scopes.to_csv())
        .bind(&k.secret_hash)
        .bind(k.created_at.millis())
        .bind(k.expires_at.map(Timestamp::millis))
        .bind(k.revoked_at.map(Timestamp::millis))
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn get_api_key(&self, id: &ApiKeyId) -> Result<Option<ApiKey>, StoreError> {
        let row = sqlx::query("SELECT * FROM api_keys WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(db)?;
        row.as_ref().map(from_row).transpose()
    }

    async fn get_credentials(
        &self,
        id: &ApiKeyId,
    ) -> Result<Option<(ApiKey, Account)>, StoreError> {
        let row = sqlx::query(
            "SELECT k.*, a.id AS acct_id, a.name AS acct_name, a.plan AS acct_plan, \
             a.rate_limits AS acct_rate_limits, a.created_at AS acct_created_at \
             FROM api_keys k JOIN accounts a ON a.id = k.account_id WHERE k.id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        row.as_ref()
            .map(|r| Ok((from_row(r)?, account_from_row(r, "acct_")?)))
            .transpose()
    }

    async fn list_api_keys(&self, account: &AccountId) -> Result<Vec<ApiKey>, StoreError> {
        let rows = sqlx::query("SELECT * FROM api_keys WHERE account_id = $1 ORDER BY id")
            .bind(account.as_str())
            .fetch_all(&self.reader)
            .await
            .map_err(db)?;
        rows.iter().map(from_row).collect()
    }

    async fn revoke_api_key(
        &self,
        account: &AccountId,
        id: &ApiKeyId,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = $3 WHERE id = $1 AND account_id = $2 AND revoked_at IS NULL",
        )
        .bind(id.as_str())
        .bind(account.as_str())
        .bind(at.millis())
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }
}
