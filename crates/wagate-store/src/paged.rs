//! One offset-paged list: a page of rows and the count of every row that passes the same filter.
//! The filter text and its arguments are given once and used by both statements, so the
//! `total` a client sees can never count by other rules than the page it gets.

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Arguments, AssertSqlSafe, FromRow};
use wagate_core::page::OffsetPage;
use wagate_core::store::StoreError;

use crate::args::{Arg, arguments};
use crate::error::{corrupt, db};

/// `SELECT {columns} FROM {from} WHERE {filter} ORDER BY {order} LIMIT … OFFSET …`, and
/// `SELECT COUNT(*) FROM {from} WHERE {filter}`. The filter's placeholders are `$1`…`$n`, one
/// per argument, in order; the page's come after them.
pub(crate) struct PagedQuery<'a> {
    pub columns: &'a str,
    pub from: &'a str,
    pub filter: &'a str,
    pub order: &'a str,
    pub args: Vec<Arg>,
}

impl PagedQuery<'_> {
    /// The page's rows, as `R`, and the number of rows that pass the filter.
    pub async fn fetch<R>(
        &self,
        pool: &AnyPool,
        page: OffsetPage,
    ) -> Result<(Vec<R>, u64), StoreError>
    where
        R: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
    {
        let rows = self.rows(pool, page).await?;
        Ok((rows, self.count(pool).await?))
    }

    /// The page's rows alone (for a caller that keeps the count elsewhere).
    pub async fn rows<R>(&self, pool: &AnyPool, page: OffsetPage) -> Result<Vec<R>, StoreError>
    where
        R: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
    {
        let n = self.args.len();
        let rows_sql = format!(
            "SELECT {} FROM {} WHERE {} ORDER BY {} LIMIT ${} OFFSET ${}",
            self.columns,
            self.from,
            self.filter,
            self.order,
            n + 1,
            n + 2
        );
        let mut args = arguments(&self.args)?;
        // An offset past i64::MAX is past every row.
        let offset = i64::try_from(page.offset).unwrap_or(i64::MAX);
        args.add(i64::from(page.limit))
            .and_then(|()| args.add(offset))
            .map_err(corrupt)?;
        sqlx::query_as_with(AssertSqlSafe(rows_sql), args)
            .fetch_all(pool)
            .await
            .map_err(db)
    }

    /// The number of rows that pass the filter.
    pub async fn count(&self, pool: &AnyPool) -> Result<u64, StoreError> {
        let count_sql = format!("SELECT COUNT(*) FROM {} WHERE {}", self.from, self.filter);
        let total: i64 = sqlx::query_scalar_with(AssertSqlSafe(count_sql), arguments(&self.args)?)
            .fetch_one(pool)
            .await
            .map_err(db)?;
        Ok(u64::try_from(total).unwrap_or(0))
    }
}
