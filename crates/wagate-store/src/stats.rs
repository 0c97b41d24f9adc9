//! The status statistics (§6.4) as counters that move in the transactions that move messages and
//! chats (`message_days`, `message_totals`), so the status route reads a few rows instead of
//! counting the instance's history.
//!
//! A writer gathers what it changed in a `Tally` and writes it just before it commits. The
//! counters are written last and in key order: on PostgreSQL two transactions touching the same
//! instances take the counter rows in the same order, after every other lock they need, so they
//! can wait for each other but never deadlock.

use std::collections::BTreeMap;

use sqlx::Row;
use sqlx::any::AnyRow;
use wagate_core::message::{Direction, Message, MessageStatus};
use wagate_core::store::{MessageStats, StoreError};
use wagate_core::{InstanceId, Timestamp, UtcDay};

use crate::error::db;

/// What one message adds to its instance's counters in the state it is in.
#[derive(Debug, Clone, Copy)]
struct Share {
    sent_on: Option<UtcDay>,
    received_on: Option<UtcDay>,
    attempted: bool,
    delivered: bool,
}

impl Share {
    fn of(
        direction: Direction,
        status: MessageStatus,
        sent_at: Option<Timestamp>,
        created_at: Timestamp,
    ) -> Self {
        let outbound = direction == Direction::Outbound;
        Self {
            sent_on: sent_at.filter(|_| outbound).map(UtcDay::of),
            received_on: (!outbound).then(|| UtcDay::of(created_at)),
            attempted: outbound && status != MessageStatus::Queued,
            delivered: outbound && matches!(status, MessageStatus::Delivered | MessageStatus::Read),
        }
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Totals {
    attempted: i64,
    delivered: i64,
    unread: i64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Day {
    sent: i64,
    received: i64,
}

/// The counter changes of one transaction, by instance (and day).
#[derive(Debug, Default)]
pub(crate) struct Tally {
    totals: BTreeMap<String, Totals>,
    days: BTreeMap<(String, i64), Day>,
}

impl Tally {
    /// `m` was stored as it is.
    pub(crate) fn inserted(&mut self, m: &Message) {
        let share = Share::of(m.direction, m.status, m.sent_at, m.created_at);
        self.add(&m.instance_id, share, 1);
    }

    /// `m` reached its status from `from`. A status change moves no other counted field but
    /// `sent_at`, which only leaving `queued` sets.
    pub(crate) fn moved(&mut self, from: MessageStatus, m: &Message) {
        let sent_at = m.sent_at.filter(|_| from != MessageStatus::Queued);
        let before = Share::of(m.direction, from, sent_at, m.created_at);
        let after = Share::of(m.direction, m.status, m.sent_at, m.created_at);
        self.add(&m.instance_id, before, -1);
        self.add(&m.instance_id, after, 1);
    }

    /// The instance's chats gained (or, negative, lost) `n` unread messages.
    pub(crate) fn unread(&mut self, instance: &InstanceId, n: i64) {
        self.totals.entry(instance.to_string()).or_default().unread += n;
    }

    fn add(&mut self, instance: &InstanceId, s: Share, sign: i64) {
        let t = self.totals.entry(instance.to_string()).or_default();
        t.attempted += sign * i64::from(s.attempted);
        t.delivered += sign * i64::from(s.delivered);
        if let Some(day) = s.sent_on {
            self.day(instance, day).sent += sign;
        }
        if let Some(day) = s.received_on {
            self.day(instance, day).received += sign;
        }
    }

    fn day(&mut self, instance: &InstanceId, day: UtcDay) -> &mut Day {
        self.days
            .entry((instance.to_string(), day.number()))
            .or_default()
    }

    /// Writes the changes (inside the caller's transaction, as its last writes).
    pub(crate) async fn write(self, conn: &mut sqlx::AnyConnection) -> Result<(), StoreError> {
        for (instance, t) in self.totals {
            if t == Totals::default() {
                continue;
            }
            sqlx::query(
                "INSERT INTO message_totals (instance_id, attempted, delivered, unread) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (instance_id) DO UPDATE SET \
                 attempted = message_totals.attempted + excluded.attempted, \
                 delivered = message_totals.delivered + excluded.delivered, \
                 unread = message_totals.unread + excluded.unread",
            )
            .bind(instance)
            .bind(t.attempted)
            .bind(t.delivered)
            .bind(t.unread)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        }
        for ((instance, day), d) in self.days {
            if d == Day::default() {
                continue;
            }
            sqlx::query(
                "INSERT INTO message_days (instance_id, day, sent, received) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (instance_id, day) DO UPDATE SET \
                 sent = message_days.sent + excluded.sent, \
                 received = message_days.received + excluded.received",
            )
            .bind(instance)
            .bind(day)
            .bind(d.sent)
            .bind(d.received)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        }
        Ok(())
    }
}

/// The statistics of `instance`: its counters, and its chats with a message since the start of
/// `today` (a range of `chats_by_last_message`, as long as the day's active chats).
pub(crate) async fn read(
    reader: &sqlx::AnyPool,
    instance: &InstanceId,
    today: UtcDay,
) -> Result<MessageStats, StoreError> {
    // Days after today only hold messages stamped by a clock ahead of ours; "since the start of
    // today" counts them, as a count of the messages would.
    let row = sqlx::query(
        "SELECT \
           (SELECT CAST(COALESCE(SUM(sent), 0) AS BIGINT) FROM message_days \
              WHERE instance_id = $1 AND day >= $2) AS sent, \
           (SELECT CAST(COALESCE(SUM(received), 0) AS BIGINT) FROM message_days \
              WHERE instance_id = $1 AND day >= $2) AS received, \
           (SELECT COUNT(*) FROM chats WHERE instance_id = $1 AND last_message_at >= $3) AS active, \
           t.attempted, t.delivered, t.unread \
         FROM (SELECT 1 AS one) o LEFT JOIN message_totals t ON t.instance_id = $1",
    )
    .bind(instance.as_str())
    .bind(today.number())
    .bind(today.start().millis())
    .fetch_one(reader)
    .await
    .map_err(db)?;
    let n = |r: &AnyRow, c: &str| {
        r.try_get::<Option<i64>, _>(c)
            .map(|v| v.unwrap_or(0).max(0) as u64)
            .map_err(db)
    };
    Ok(MessageStats {
        sent_since: n(&row, "sent")?,
        received_since: n(&row, "received")?,
        delivered: n(&row, "delivered")?,
        attempted: n(&row, "attempted")?,
        active_chats: n(&row, "active")?,
        unread_messages: n(&row, "unread")?,
    })
}
