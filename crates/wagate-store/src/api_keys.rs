//! API keys: stored as the SHA-256 of their secret, never the secret itself.

use async_trait::async_trait;
use sqlx::AssertSqlSafe;
use wagate_core::account::{Account, AccountName};
use wagate_core::api_key::ApiKey;
use wagate_core::scope::Scopes;
use wagate_core::store::{ApiKeyStore, CredentialsChange, CredentialsListener, StoreError};
use wagate_core::{AccountId, ApiKeyId, Timestamp};

use crate::SqlStore;
use crate::accounts::AccountRow;
use crate::error::{corrupt, db};
use crate::key_changes;

/// An `api_keys` row.
#[derive(sqlx::FromRow)]
struct ApiKeyRow {
    id: String,
    account_id: String,
    name: String,
    scopes: String,
    secret_hash: String,
    created_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl TryFrom<ApiKeyRow> for ApiKey {
    type Error = StoreError;
    fn try_from(r: ApiKeyRow) -> Result<Self, StoreError> {
        Ok(ApiKey {
            id: ApiKeyId::from_trusted(r.id),
            account_id: AccountId::from_trusted(r.account_id),
            name: AccountName::from_trusted(r.name),
            scopes: Scopes::parse_csv(&r.scopes).map_err(corrupt)?,
            secret_hash: r.secret_hash,
            created_at: Timestamp::from_millis(r.created_at),
            expires_at: r.expires_at.map(Timestamp::from_millis),
            revoked_at: r.revoked_at.map(Timestamp::from_millis),
        })
    }
}

const KEY_COLUMNS: &str =
    "id, account_id, name, scopes, secret_hash, created_at, expires_at, revoked_at";

/// A key joined with its account, whose columns are aliased `acct_*`.
#[derive(sqlx::FromRow)]
struct CredentialsRow {
    #[sqlx(flatten)]
    key: ApiKeyRow,
    acct_id: String,
    acct_name: String,
    acct_plan: String,
    acct_rate_limits: Option<String>,
    acct_created_at: i64,
}

impl TryFrom<CredentialsRow> for (ApiKey, Account) {
    type Error = StoreError;
    fn try_from(r: CredentialsRow) -> Result<Self, StoreError> {
        let account = AccountRow {
            id: r.acct_id,
            name: r.acct_name,
            plan: r.acct_plan,
            rate_limits: r.acct_rate_limits,
            created_at: r.acct_created_at,
        };
        Ok((ApiKey::try_from(r.key)?, Account::try_from(account)?))
    }
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
        let row: Option<ApiKeyRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        row.map(ApiKey::try_from).transpose()
    }

    async fn get_credentials(
        &self,
        id: &ApiKeyId,
    ) -> Result<Option<(ApiKey, Account)>, StoreError> {
        let row: Option<CredentialsRow> = sqlx::query_as(
            "SELECT k.id, k.account_id, k.name, k.scopes, k.secret_hash, k.created_at, \
             k.expires_at, k.revoked_at, a.id AS acct_id, a.name AS acct_name, a.plan AS acct_plan, \
             a.rate_limits AS acct_rate_limits, a.created_at AS acct_created_at \
             FROM api_keys k JOIN accounts a ON a.id = k.account_id WHERE k.id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        row.map(<(ApiKey, Account)>::try_from).transpose()
    }

    async fn list_api_keys(&self, account: &AccountId) -> Result<Vec<ApiKey>, StoreError> {
        let rows: Vec<ApiKeyRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE account_id = $1 ORDER BY id"
        )))
        .bind(account.as_str())
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        rows.into_iter().map(ApiKey::try_from).collect()
    }

    async fn revoke_api_key(
        &self,
        account: &AccountId,
        id: &ApiKeyId,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = $3 WHERE id = $1 AND account_id = $2 AND revoked_at IS NULL",
        )
        .bind(id.as_str())
        .bind(account.as_str())
        .bind(at.millis())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        let change = CredentialsChange::Key(id.clone());
        key_changes::notify(&mut tx, &change).await?;
        tx.commit().await.map_err(db)?;
        self.credentials_changed(&change);
        Ok(true)
    }

    async fn watch_credentials(&self, listener: CredentialsListener) -> Result<(), StoreError> {
        self.watch(listener).await
    }
}
