//! Deliveries of outbox events: claiming the due ones (a lease, so a crashed node's work is
//! taken up again), recording each attempt's outcome in the logs, and the retry state.
//!
//! Claims fence the outcome: recording an attempt updates a delivery only while the claim it was
//! taken under still marks the row (`WHERE id = $1 AND locked_by = $2`), and logs the attempt in
//! the same transaction only when that update touched the row. A worker whose lease ran out and
//! whose delivery another worker claimed therefore writes nothing: not the state, not a log.

use std::collections::BTreeSet;

use async_trait::async_trait;
use sqlx::{AnyConnection, AssertSqlSafe};
use wagate_core::delivery::{
    AccountRoom, Attempted, Delivery, DeliveryLog, DeliveryState, DueDelivery, Recorded, Target,
};
use wagate_core::event::Event;
use wagate_core::net::TargetUrl;
use wagate_core::store::{DeliveryStore, DueListener, StoreError};
use wagate_core::webhook::WebhookSecret;
use wagate_core::webhook_event::WebhookEvent;
use wagate_core::{
    AccountId, DeliveryId, DeliveryLogId, EventId, InstanceId, Timestamp, WebhookId,
};

use crate::args::placeholders;
use crate::error::{corrupt, db};
use crate::{Dialect, SqlStore};

/// The `state` column's value for pending deliveries, inlined into the claim's SQL (a literal,
/// not a parameter, so PostgreSQL plans the claim for the few pending rows, never for a generic
/// state among the many delivered ones).
const PENDING: &str = DeliveryState::Pending.as_str();

/// The candidates: the first pending first attempt of each lane (a lane's first attempts leave
/// one at a time, in order), and every retry whose time has come (retries hold no lane up).
/// Both are found through indexes, so a claim costs the pending rows, not the whole history.
fn candidates() -> String {
    format!(
        "SELECT MIN(h.id) AS id FROM deliveries h \
           WHERE h.state = '{PENDING}' AND h.attempts = 0 GROUP BY h.lane \
         UNION ALL SELECT r.id FROM deliveries r \
           WHERE r.state = '{PENDING}' AND r.attempts > 0 AND r.next_attempt_at <= $1"
    )
}

/// Pending, due and not leased; subscriptions that are paused wait. The state is checked on `d`
/// itself too: on PostgreSQL a row that another transaction moved on after this one's snapshot
/// is re-checked against these conditions when it is locked, so an outcome recorded meanwhile is
/// never claimed again. It is written as a `CASE` so that no index serves it: as a plain
/// `d.state = …` PostgreSQL read every pending row through the `(state, next_attempt_at)` index
/// at each claim instead of looking up the few candidates by id, and delivered half as fast.
fn due() -> String {
    format!(
        "CASE WHEN d.state = '{PENDING}' THEN 1 ELSE 0 END = 1 AND d.next_attempt_at <= $1 \
         AND (d.locked_until IS NULL OR d.locked_until < $1) \
         AND (d.webhook_id IS NULL OR EXISTS (SELECT 1 FROM webhooks w WHERE w.id = d.webhook_id \
                                              AND w.status = 'active'))"
    )
}

fn event_of(s: &str) -> Result<WebhookEvent, StoreError> {
    s.parse().map_err(corrupt)
}

fn target_of(webhook: Option<String>) -> Target {
    match webhook {
        Some(w) => Target::Subscription(WebhookId::from_trusted(w)),
        None => Target::Instance,
    }
}

fn count(n: i64, what: &str) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|_| corrupt(format!("{what} is {n}")))
}

/// A claimed delivery with what its attempt needs (the claim query's columns).
#[derive(sqlx::FromRow)]
struct DueRow {
    id: String,
    claim: String,
    event_id: String,
    event: String,
    instance_id: String,
    account_id: String,
    webhook_id: Option<String>,
    attempts: i64,
    body: String,
    sequence: Option<i64>,
    url: Option<String>,
    secret: Option<String>,
}

impl TryFrom<DueRow> for DueDelivery {
    type Error = StoreError;
    fn try_from(r: DueRow) -> Result<Self, StoreError> {
        Ok(DueDelivery {
            id: DeliveryId::from_trusted(r.id),
            claim: r.claim,
            event_id: EventId::from_trusted(r.event_id),
            event: event_of(&r.event)?,
            instance_id: InstanceId::from_trusted(r.instance_id),
            account_id: AccountId::from_trusted(r.account_id),
            target: target_of(r.webhook_id),
            url: r.url.map(TargetUrl::from_trusted),
            secret: WebhookSecret::from_trusted(r.secret.unwrap_or_default()),
            body: r.body,
            sequence: r.sequence.and_then(|n| u64::try_from(n).ok()),
            attempts: count(r.attempts, "attempts")?,
        })
    }
}

/// A `deliveries` row.
#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: String,
    event_id: String,
    event: String,
    instance_id: String,
    webhook_id: Option<String>,
    state: String,
    attempts: i64,
    next_attempt_at: i64,
    locked_by: Option<String>,
    locked_until: Option<i64>,
}

impl TryFrom<DeliveryRow> for Delivery {
    type Error = StoreError;
    fn try_from(r: DeliveryRow) -> Result<Self, StoreError> {
        Ok(Delivery {
            id: DeliveryId::from_trusted(r.id),
            event_id: EventId::from_trusted(r.event_id),
            event: event_of(&r.event)?,
            instance_id: InstanceId::from_trusted(r.instance_id),
            target: target_of(r.webhook_id),
            state: r.state.parse().map_err(corrupt)?,
            attempts: count(r.attempts, "attempts")?,
            next_attempt_at: Timestamp::from_millis(r.next_attempt_at),
            claim: r.locked_by,
            claimed_until: r.locked_until.map(Timestamp::from_millis),
        })
    }
}

/// A `delivery_logs` row.
#[derive(sqlx::FromRow)]
struct LogRow {
    id: String,
    webhook_id: Option<String>,
    event_id: Option<String>,
    event: String,
    success: i64,
    status_code: Option<i64>,
    response_ms: i64,
    error: Option<String>,
    retry_count: i64,
    next_retry_at: Option<i64>,
    created_at: i64,
}

impl TryFrom<LogRow> for DeliveryLog {
    type Error = StoreError;
    fn try_from(r: LogRow) -> Result<Self, StoreError> {
        Ok(DeliveryLog {
            id: DeliveryLogId::from_trusted(r.id),
            webhook_id: r.webhook_id.map(WebhookId::from_trusted),
            event_id: r.event_id.map(EventId::from_trusted),
            event: event_of(&r.event)?,
            success: r.success != 0,
            status_code: r.status_code.and_then(|c| u16::try_from(c).ok()),
            response_ms: u64::try_from(r.response_ms).unwrap_or(0),
            error: r.error,
            retry_count: count(r.retry_count, "retry_count")?,
            next_retry_at: r.next_retry_at.map(Timestamp::from_millis),
            at: Timestamp::from_millis(r.created_at),
        })
    }
}

const DELIVERY_COLUMNS: &str = "id, event_id, event, instance_id, webhook_id, state, attempts, \
     next_attempt_at, locked_by, locked_until";

pub(crate) async fn insert_log_row(
    conn: &mut AnyConnection,
    delivery: Option<&DeliveryId>,
    instance: &InstanceId,
    log: &DeliveryLog,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO delivery_logs (id, delivery_id, webhook_id, instance_id, event_id, event, success, \
         status_code, response_ms, error, retry_count, next_retry_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(log.id.as_str())
    .bind(delivery.map(|d| d.as_str().to_owned()))
    .bind(log.webhook_id.as_ref().map(|w| w.as_str().to_owned()))
    .bind(instance.as_str())
    .bind(log.event_id.as_ref().map(|e| e.as_str().to_owned()))
    .bind(log.event.as_str())
    .bind(i64::from(log.success))
    .bind(log.status_code.map(i64::from))
    .bind(log.response_ms as i64)
    .bind(log.error.clone())
    .bind(i64::from(log.retry_count))
    .bind(log.next_retry_at.map(Timestamp::millis))
    .bind(log.at.millis())
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

/// Everything `claim` holds, with what its attempts need, in id order.
async fn held_by(conn: &mut AnyConnection, claim: &str) -> Result<Vec<DueDelivery>, StoreError> {
    let rows: Vec<DueRow> = sqlx::query_as(
        "SELECT d.id, d.locked_by AS claim, d.event_id, d.event, d.instance_id, i.account_id, \
           d.webhook_id, \
           d.attempts, e.body, e.sequence, \
           CASE WHEN d.webhook_id IS NULL THEN i.webhook_url ELSE w.url END AS url, \
           CASE WHEN d.webhook_id IS NULL THEN i.webhook_secret ELSE w.secret END AS secret \
         FROM deliveries d JOIN events e ON e.id = d.event_id \
         JOIN instances i ON i.id = d.instance_id LEFT JOIN webhooks w ON w.id = d.webhook_id \
         WHERE d.locked_by = $1 ORDER BY d.id",
    )
    .bind(claim)
    .fetch_all(conn)
    .await
    .map_err(db)?;
    rows.into_iter().map(DueDelivery::try_from).collect()
}

/// The rows a delivery hangs on: its instance, and its subscription if it has one.
fn owners_of(d: &DueDelivery) -> impl Iterator<Item = (&'static str, &str)> {
    let subscription = match &d.target {
        Target::Subscription(w) => Some(("webhooks", w.as_str())),
        Target::Instance => None,
    };
    std::iter::once(("instances", d.instance_id.as_str())).chain(subscription)
}

/// PostgreSQL: locks the instance and subscription rows of every attempt (`FOR KEY SHARE`), in
/// one order, before any delivery row, as deleting either locks it before its deliveries. The
/// other way round (the delivery, then the log's foreign keys) deadlocked with a `DELETE` of the
/// subscription, which then answered 503. Answers the owners that are gone.
async fn lock_owners<'a>(
    conn: &mut AnyConnection,
    attempts: &[Attempted<'a>],
) -> Result<BTreeSet<(&'static str, &'a str)>, StoreError> {
    let owners: BTreeSet<(&'static str, &'a str)> = attempts
        .iter()
        .flat_map(|a| owners_of(a.delivery))
        .collect();
    let mut gone = BTreeSet::new();
    for (table, id) in owners {
        let held: Option<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT 1 FROM {table} WHERE id = $1 FOR KEY SHARE"
        )))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
        if held.is_none() {
            gone.insert((table, id));
        }
    }
    Ok(gone)
}

/// Records one attempt inside the caller's transaction. The fence: only the claim that still
/// marks the row moves it, and the attempt is logged only when it did. The claim is cleared
/// here, so the same claim cannot record twice either.
async fn record_in(conn: &mut AnyConnection, a: &Attempted<'_>) -> Result<Recorded, StoreError> {
    let (d, result, outcome) = (a.delivery, a.result, a.outcome);
    let moved = sqlx::query(AssertSqlSafe(format!(
        "UPDATE deliveries SET state = $3, attempts = attempts + 1, \
         next_attempt_at = COALESCE($4, next_attempt_at), locked_by = NULL, locked_until = NULL \
         WHERE id = $1 AND locked_by = $2 AND state = '{PENDING}'"
    )))
    .bind(d.id.as_str())
    .bind(d.claim.as_str())
    .bind(outcome.state().as_str())
    .bind(outcome.retry_at().map(Timestamp::millis))
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    if moved.rows_affected() == 0 {
        // Nothing written; tell a lost claim from a delivery deleted with its subscription.
        let holder: Option<(Option<String>,)> =
            sqlx::query_as("SELECT locked_by FROM deliveries WHERE id = $1")
                .bind(d.id.as_str())
                .fetch_optional(&mut *conn)
                .await
                .map_err(db)?;
        return Ok(match holder {
            None => Recorded::Gone,
            Some((held_by,)) => Recorded::ClaimLost { held_by },
        });
    }
    let log = DeliveryLog {
        id: result.log_id.clone(),
        webhook_id: match &d.target {
            Target::Subscription(w) => Some(w.clone()),
            Target::Instance => None,
        },
        event_id: Some(d.event_id.clone()),
        event: d.event,
        success: outcome.succeeded(),
        status_code: result.status_code,
        response_ms: result.response_ms,
        error: result.error.clone(),
        retry_count: d.attempts,
        next_retry_at: outcome.retry_at(),
        at: result.at,
    };
    insert_log_row(conn, Some(&d.id), &d.instance_id, &log).await?;
    Ok(Recorded::Written)
}

#[async_trait]
impl DeliveryStore for SqlStore {
    fn on_deliveries_due(&self, listener: DueListener) {
        self.due_listeners
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(listener);
    }

    async fn record_event(&self, event: &Event) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        let wrote = crate::outbox::append(&mut tx, event).await?;
        tx.commit().await.map_err(db)?;
        self.appended(wrote);
        Ok(())
    }

    async fn claim_deliveries(
        &self,
        claim: &str,
        now: Timestamp,
        lease_ms: i64,
        limit: u32,
        room: &AccountRoom,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        // PostgreSQL: rows another node is claiming right now are skipped, not waited for.
        let lock = match self.dialect {
            Dialect::Postgres => "FOR UPDATE OF d SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        let (candidates, due) = (candidates(), due());
        // Each account's room: `CASE account WHEN $6 THEN $7 … ELSE $5 END` (a handful of
        // accounts at most: those with attempts in flight on this node).
        let mut cases = String::new();
        for n in 0..room.listed.len() {
            cases.push_str(&format!(" WHEN ${} THEN ${}", 6 + 2 * n, 7 + 2 * n));
        }
        let room_of = if cases.is_empty() {
            "$5".to_owned()
        } else {
            format!("CASE r.account_id{cases} ELSE $5 END")
        };
        let mut tx = self.writer.begin().await.map_err(db)?;
        // The candidates are found first (a materialized CTE: a fence the planner cannot see
        // through) and only then looked up and checked: left to itself, PostgreSQL's planner,
        // misled by the stale statistics of a table that just grew, ran the candidates' query
        // once per pending row, and a claim over 1,000 pending rows took half a second. Each
        // account's candidates are then numbered (`r`), and taken by number first: everyone's
        // oldest, then everyone's second… (the window is in a CTE because PostgreSQL locks no
        // rows of a query with a window function).
        let mut update = sqlx::query(AssertSqlSafe(format!(
            "UPDATE deliveries SET locked_by = $3, locked_until = $4 WHERE id IN \
             (WITH c AS MATERIALIZED ({candidates}), \
              r AS MATERIALIZED (SELECT d.id, i.account_id, \
                ROW_NUMBER() OVER (PARTITION BY i.account_id ORDER BY d.id) AS n \
                FROM c JOIN deliveries d ON d.id = c.id \
                JOIN instances i ON i.id = d.instance_id WHERE {due}) \
              SELECT d.id FROM r JOIN deliveries d ON d.id = r.id \
              WHERE {due} AND r.n <= {room_of} \
              ORDER BY r.n, d.id LIMIT $2 {lock})"
        )))
        .bind(now.millis())
        .bind(i64::from(limit))
        .bind(claim)
        .bind(now.millis() + lease_ms)
        .bind(i64::from(room.others));
        for (account, n) in &room.listed {
            update = update.bind(account.as_str()).bind(i64::from(*n));
        }
        update.execute(&mut *tx).await.map_err(db)?;
        let due = held_by(&mut tx, claim).await?;
        tx.commit().await.map_err(db)?;
        Ok(due)
    }

    async fn lengthen_claim(
        &self,
        claim: &str,
        now: Timestamp,
        lease_ms: i64,
        run: u32,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        // The rows after each head in its lane, up to the run's length, that nobody holds.
        // Nobody else can be claiming them: a claim's candidates are lane heads, and these
        // lanes' heads are held by `claim`.
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE deliveries SET locked_by = $1, locked_until = $3 WHERE id IN \
             (WITH h AS MATERIALIZED (SELECT id, lane FROM deliveries \
                WHERE locked_by = $1 AND attempts = 0), \
              f AS MATERIALIZED (SELECT n.id, \
                ROW_NUMBER() OVER (PARTITION BY n.lane ORDER BY n.id) AS k \
                FROM h JOIN deliveries n ON n.lane = h.lane \
                WHERE n.state = '{PENDING}' AND n.attempts = 0 AND n.id > h.id \
                  AND (n.locked_until IS NULL OR n.locked_until < $2)) \
              SELECT id FROM f WHERE k < $4)"
        )))
        .bind(claim)
        .bind(now.millis())
        .bind(now.millis() + lease_ms)
        .bind(i64::from(run))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let due = held_by(&mut tx, claim).await?;
        tx.commit().await.map_err(db)?;
        Ok(due)
    }

    async fn release_deliveries(&self, claim: &str, ids: &[DeliveryId]) -> Result<u64, StoreError> {
        let mut released = 0;
        // A few hundred ids at most; kept under SQLite's and PostgreSQL's parameter limits.
        for some in ids.chunks(500) {
            let list = placeholders(2, some.len());
            let mut q = sqlx::query(AssertSqlSafe(format!(
                "UPDATE deliveries SET locked_by = NULL, locked_until = NULL \
                 WHERE locked_by = $1 AND state = '{PENDING}' AND id IN ({list})"
            )))
            .bind(claim);
            for id in some {
                q = q.bind(id.as_str());
            }
            released += q.execute(&self.writer).await.map_err(db)?.rows_affected();
        }
        Ok(released)
    }

    async fn release_claims(&self, node: &str) -> Result<u64, StoreError> {
        let done = sqlx::query(AssertSqlSafe(format!(
            "UPDATE deliveries SET locked_by = NULL, locked_until = NULL \
             WHERE state = '{PENDING}' AND locked_by LIKE $1"
        )))
        .bind(format!("{node}:%"))
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(done.rows_affected())
    }

    async fn record_attempts(
        &self,
        attempts: &[Attempted<'_>],
    ) -> Result<Vec<Recorded>, StoreError> {
        if attempts.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.writer.begin().await.map_err(db)?;
        let gone = match self.dialect {
            Dialect::Postgres => lock_owners(&mut tx, attempts).await?,
            Dialect::Sqlite => BTreeSet::new(),
        };
        let mut answers = Vec::with_capacity(attempts.len());
        for a in attempts {
            let answer = if owners_of(a.delivery).any(|o| gone.contains(&o)) {
                Recorded::Gone
            } else {
                record_in(&mut tx, a).await?
            };
            answers.push(answer);
        }
        tx.commit().await.map_err(db)?;
        Ok(answers)
    }

    async fn get_delivery(&self, id: &DeliveryId) -> Result<Option<Delivery>, StoreError> {
        let row: Option<DeliveryRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        row.map(Delivery::try_from).transpose()
    }

    async fn list_logs(
        &self,
        webhook: &WebhookId,
        success: Option<bool>,
        limit: u32,
    ) -> Result<Vec<DeliveryLog>, StoreError> {
        let rows: Vec<LogRow> = sqlx::query_as(
            "SELECT * FROM delivery_logs WHERE webhook_id = $1 AND success = COALESCE($2, success) \
             ORDER BY id DESC LIMIT $3",
        )
        .bind(webhook.as_str())
        .bind(success.map(i64::from))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        rows.into_iter().map(DeliveryLog::try_from).collect()
    }

    async fn retry_log(
        &self,
        webhook: &WebhookId,
        log: &DeliveryLogId,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(AssertSqlSafe(format!(
            "UPDATE deliveries SET state = '{PENDING}', next_attempt_at = $3, locked_by = NULL, \
             locked_until = NULL WHERE id = \
             (SELECT delivery_id FROM delivery_logs WHERE id = $1 AND webhook_id = $2)"
        )))
        .bind(log.as_str())
        .bind(webhook.as_str())
        .bind(now.millis())
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() > 0)
    }

    async fn insert_log(&self, instance: &InstanceId, log: &DeliveryLog) -> Result<(), StoreError> {
        let mut conn = self.writer.acquire().await.map_err(db)?;
        insert_log_row(&mut conn, None, instance, log).await
    }
}
