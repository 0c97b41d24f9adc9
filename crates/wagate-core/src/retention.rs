//! Retention (§21.1): delivered events, delivery logs, received media files and finished
//! idempotency records are deleted once older than the retention period, a batch at a time so
//! that pruning never holds the database for long. Messages, chats and contacts are kept until
//! their instance is deleted.

use std::time::Duration;

use crate::Timestamp;

/// `--retention-days` unless told otherwise.
pub const DEFAULT_RETENTION_DAYS: f64 = 30.0;

/// How long records are kept: a decimal number of days (`0.5` is twelve hours), from 0.001 (86.4 s,
/// for soak runs that must see pruning within minutes) to 36,500.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPeriod(Duration);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the retention period is 0.001 to 36500 days")]
pub struct RetentionError;

impl RetentionPeriod {
    pub fn days(days: f64) -> Result<Self, RetentionError> {
        // `contains` is false for NaN too.
        if !(0.001..=36_500.0).contains(&days) {
            return Err(RetentionError);
        }
        Ok(Self(Duration::from_secs_f64(days * 86_400.0)))
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
    fn the_period_is_days_and_cuts_off_that_far_back() {
        for wrong in [0.0, 0.0009, -1.0, 36_500.5, f64::NAN, f64::INFINITY] {
            assert!(RetentionPeriod::days(wrong).is_err(), "{wrong}");
        }
        let now = Timestamp::from_millis(10 * 86_400_000);
        let p = RetentionPeriod::days(3.0).unwrap();
        assert_eq!(p.cutoff(now), Timestamp::from_millis(7 * 86_400_000));
        let half = RetentionPeriod::days(0.5).unwrap();
        assert_eq!(half.cutoff(now), now.plus_millis(-43_200_000));
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
