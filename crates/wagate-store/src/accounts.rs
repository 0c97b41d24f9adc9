//! Accounts.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::any::AnyRow;
use wagate_core::account::{Account, AccountName};
use wagate_core::page::OffsetPage;
use wagate_core::store::{AccountStore, StoreError};
use wagate_core::{AccountId, Timestamp};

use crate::SqlStore;
use crate::error::{corrupt, db};

fn from_row(r: &AnyRow) -> Result<Account, StoreError> {
    account_from_row(r, "")
}

/// An account from columns named `<prefix><column>` (a join aliases them, e.g. `acct_id`).
pub(crate) fn account_from_row(r: &AnyRow, prefix: &str) -> Result<Account, StoreError> {
    let col = |c: &str| format!("{prefix}{c}");
    let limits: Option<String> = r.try_get(col("rate_limits").as_str()).map_err(db)?;
    Ok(Account {
        id: AccountId::from_trusted(r.try_get(col("id").as_str()).map_err(db)?),
        name: AccountName::from_trusted(r.try_get(col("name").as_str()).map_err(db)?),
        plan: r
            .try_get::<String, _>(col("plan").as_str())
            .map_err(db)?
            .parse()
            .map_err(corrupt)?,
        rate_limits: limits
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(corrupt)?,
        created_at: Timestamp::from_millis(r.try_get(col("created_at").as_str()).map_err(db)?),
    })
}

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
        let row = sqlx::query("SELECT * FROM accounts WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(db)?;
        row.as_ref().map(from_row).transpose()
    }

    async fn list_accounts(&self, page: OffsetPage) -> Result<(Vec<Account>, u64), StoreError> {
        let rows = sqlx::query("SELECT * FROM accounts ORDER BY id LIMIT $1 OFFSET $2")
            .bind(i64::from(page.limit))
            .bind(page.offset as i64)
            .fetch_all(&self.reader)
            .await
            .map_err(db)?;
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts")
            .fetch_one(&self.reader)
            .await
            .map_err(db)?;
        let list = rows.iter().map(from_row).collect::<Result<_, _>>()?;
        Ok((list, total as u64))
    }

    async fn update_account(&self, a: &Account) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE accounts SET name = $2, plan = $3, rate_limits = $4 WHERE id = $1")
                .bind(a.id.as_str())
                .bind(a.name.as_str())
                .bind(a.plan.as_str())
                .bind(limits_json(a))
                .execute(&self.writer)
                .await
                .map_err(db)?;
        Ok(done.rows_affected() == 1)
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
        tx.commit().await.map_err(db)?;
        Ok(done.rows_affected() == 1)
    }
}
