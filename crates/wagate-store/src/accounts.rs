//! Accounts.

use async_trait::async_trait;
use sqlx::AssertSqlSafe;
use wagate_core::account::{Account, AccountName};
use wagate_core::page::OffsetPage;
use wagate_core::store::{AccountStore, CredentialsChange, StoreError};
use wagate_core::{AccountId, Timestamp};

use crate::SqlStore;
use crate::error::{corrupt, db};
use crate::key_changes;
use crate::paged::PagedQuery;

/// An `accounts` row.
#[derive(sqlx::FromRow)]
pub(crate) struct AccountRow {
    pub id: String,
    pub name: String,
    pub plan: String,
    pub rate_limits: Option<String>,
    pub created_at: i64,
}

impl TryFrom<AccountRow> for Account {
    type Error = StoreError;
    fn try_from(r: AccountRow) -> Result<Self, StoreError> {
        Ok(Account {
            id: AccountId::from_trusted(r.id),
            name: AccountName::from_trusted(r.name),
            plan: r.plan.parse().map_err(corrupt)?,
            rate_limits: r
                .rate_limits
                .map(|s| serde_json::from_str(&s))
                .transpose()
                .map_err(corrupt)?,
            created_at: Timestamp::from_millis(r.created_at),
        })
    }
}

const ACCOUNT_COLUMNS: &str = "id, name, plan, rate_limits, created_at";

fn limits_json(a: &Account) -> Option<String> {
    a.rate_limits
        .map(|l| serde_json::to_string(&l).unwrap_or_default())
}

#[async_trait]
impl AccountStore for SqlStore {
    async fn insert_account(&self, a: &Account) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO accounts (id, name, plan, rate_limits, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(a.id.as_str())
        .bind(a.name.as_str())
        .bind(a.plan.as_str())
        .bind(limits_json(a))
        .bind(a.created_at.millis())
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn get_account(&self, id: &AccountId) -> Result<Option<Account>, StoreError> {
        let row: Option<AccountRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        row.map(Account::try_from).transpose()
    }

    async fn list_accounts(&self, page: OffsetPage) -> Result<(Vec<Account>, u64), StoreError> {
        let (rows, total) = PagedQuery {
            columns: ACCOUNT_COLUMNS,
            from: "accounts",
            filter: "1 = 1",
            order: "id",
            args: vec![],
        }
        .fetch::<AccountRow>(&self.reader, page)
        .await?;
        let list = rows
            .into_iter()
            .map(Account::try_from)
            .collect::<Result<_, _>>()?;
        Ok((list, total))
    }

    async fn accounts_named(&self, name: &AccountName) -> Result<Vec<Account>, StoreError> {
        let rows: Vec<AccountRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name = $1 ORDER BY id"
        )))
        .bind(name.as_str())
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        rows.into_iter().map(Account::try_from).collect()
    }

    async fn update_account(&self, a: &Account) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        let done =
            sqlx::query("UPDATE accounts SET name = $2, plan = $3, rate_limits = $4 WHERE id = $1")
                .bind(a.id.as_str())
                .bind(a.name.as_str())
                .bind(a.plan.as_str())
                .bind(limits_json(a))
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        let change = CredentialsChange::Account(a.id.clone());
        key_changes::notify(&mut tx, &change).await?;
        tx.commit().await.map_err(db)?;
        self.credentials_changed(&change);
        Ok(true)
    }

    async fn delete_account(&self, id: &AccountId) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        // The engines' session state of its instances goes with the account (no FK: see 0005).
        sqlx::query(
            "DELETE FROM wa_kv WHERE instance_id IN (SELECT id FROM instances WHERE account_id = $1)",
        )
        .bind(id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let done = sqlx::query("DELETE FROM accounts WHERE id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        let change = CredentialsChange::Account(id.clone());
        key_changes::notify(&mut tx, &change).await?;
        tx.commit().await.map_err(db)?;
        self.credentials_changed(&change);
        Ok(true)
    }
}
