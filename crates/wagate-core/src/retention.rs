//! Retention (§21.1): delivered events, delivery logs, received media files and finished
//! idempotency records are deleted once older than the retention period, a batch at a time so
//! that pruning never holds the database for long. Messages, chats and contacts are kept until
//! their instance is deleted.

use std::time::Duration;

use crate::Timestamp;

/// `--retention-days` unless told otherwise.
pub const DEFAULT_RETENTION_DAYS: u32 = 30;

/// How long records are kept: at least a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPeriod(Duration);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the retention period is 1 to 36500 days")]
pub struct RetentionError;

impl RetentionPeriod {
    pub fn days(days: u32) -> Result<Self, RetentionError> {
        if !(1..=36_500).contains(&days) {
            return Err(RetentionError);
        }
        Ok(Self(Duration::from_secs(u64::from(days) * 86_400)))
    }

    /// Tests keep records for less than a day.
    pub fn of(d: Duration) -> Self {
        Self(d)
    }

    /// What was made before this is past the period at `now`.
    pub fn cutoff(self, now: Timestamp) -> Timestamp {
        back(now, self.0)
    }

    /// The cut-offs at `now`: an idempotency record is kept for its window too, even when the
    /// period is shorter (it still answers retries until then).
    pub fn cutoffs(self, now: Timestamp, idempotency_window: Duration) -> Cutoffs {
        let records = self.cutoff(now);
        Cutoffs {
            records,
            idempotency: records.min(back(now, idempotency_window)),
        }
    }
}

fn back(now: Timestamp, d: Duration) -> Timestamp {
    let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    Timestamp::from_millis(now.millis().saturating_sub(ms))
}

/// What is deleted was made before these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoffs {
    /// Events, delivery logs, media files.
    pub records: Timestamp,
    /// Idempotency records.
    pub idempotency: Timestamp,
}

impl Cutoffs {
    /// One cut-off for everything.
    pub fn all(before: Timestamp) -> Self {
        Self {
            records: before,
            idempotency: before,
        }
    }
}

/// What one pruning pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Events every delivery of which has ended and every broker has published (their
    /// finished deliveries go with them).
    pub events: u64,
    pub delivery_logs: u64,
    pub idempotency_keys: u64,
}

impl Pruned {
    /// Whether a kind filled its batch: there may be more to delete.
    pub fn filled(&self, batch: u32) -> bool {
        let b = u64::from(batch);
        self.events >= b || self.delivery_logs >= b || self.idempotency_keys >= b
    }

    pub fn total(&self) -> u64 {
        self.events + self.delivery_logs + self.idempotency_keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_period_is_whole_days_and_cuts_off_that_far_back() {
        assert!(RetentionPeriod::days(0).is_err());
        assert!(RetentionPeriod::days(36_501).is_err());
        let now = Timestamp::from_millis(10 * 86_400_000);
        let p = RetentionPeriod::days(3).unwrap();
        assert_eq!(p.cutoff(now), Timestamp::from_millis(7 * 86_400_000));
        // Idempotency records outlive a shorter period until their window ends.
        let short = RetentionPeriod::of(Duration::from_secs(60));
        let c = short.cutoffs(now, Duration::from_secs(86_400));
        assert_eq!(c.records, now.plus_millis(-60_000));
        assert_eq!(c.idempotency, Timestamp::from_millis(9 * 86_400_000));
        assert_eq!(
            p.cutoffs(now, Duration::from_secs(86_400)).idempotency,
            p.cutoff(now)
        );
    }
}
