//! Delivering events to webhook targets: the retry schedule (§9.5), a delivery's state, what one
//! attempt found and what it leads to, and the log entries (§9.8) users read.
//!
//! An attempt is made under a claim (a lease on the delivery). Its outcome is recorded only while
//! that claim still holds: a worker whose lease ran out and whose delivery another worker took
//! records nothing (`Recorded::ClaimLost`), so each attempt that counts has exactly one outcome.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::net::TargetUrl;
use crate::webhook::WebhookSecret;
use crate::webhook_event::WebhookEvent;
use crate::{AccountId, DeliveryId, DeliveryLogId, EventId, InstanceId, Timestamp, WebhookId};

/// The documented waits before attempts 2 to 6 (attempt 1 is immediate).
const WAITS: [Duration; 5] = [
    Duration::from_secs(30),
    Duration::from_secs(2 * 60),
    Duration::from_secs(10 * 60),
    Duration::from_secs(60 * 60),
    Duration::from_secs(6 * 60 * 60),
];

/// The schedule, with every wait multiplied by `scale` (`WAGATE_WEBHOOK_RETRY_SCALE`; tests use
/// a small factor instead of a different schedule).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetrySchedule {
    scale: f64,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        Self { scale: 1.0 }
    }
}

impl RetrySchedule {
    /// `scale` must be a finite number above zero; anything else keeps the real schedule.
    pub fn scaled(scale: f64) -> Self {
        let scale = if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            1.0
        };
        Self { scale }
    }

    pub const MAX_ATTEMPTS: u32 = WAITS.len() as u32 + 1;

    /// The wait after failed attempt number `attempt` (1-based); None once all six failed.
    pub fn wait_after(&self, attempt: u32) -> Option<Duration> {
        let i = usize::try_from(attempt.checked_sub(1)?).ok()?;
        WAITS.get(i).map(|w| w.mul_f64(self.scale))
    }

    /// What the attempt that `delivery` was claimed for leads to, given what it found at `now`:
    /// done on success; given up when the target has no URL any more or all attempts failed;
    /// otherwise due again after the scheduled wait.
    pub fn outcome(
        &self,
        delivery: &DueDelivery,
        result: &AttemptResult,
        now: Timestamp,
    ) -> AttemptOutcome {
        if result.succeeded() {
            return AttemptOutcome::Succeeded;
        }
        if delivery.url.is_none() {
            return AttemptOutcome::GaveUp;
        }
        match self.wait_after(delivery.attempt()) {
            Some(wait) => AttemptOutcome::RetryAt(
                now.plus_millis(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX)),
            ),
            None => AttemptOutcome::GaveUp,
        }
    }
}

/// Where a delivery stands. `as_str` and `FromStr` are the one mapping to and from the
/// `deliveries.state` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryState {
    /// Waiting for its first attempt or a retry (claimed or not).
    Pending,
    /// An attempt succeeded.
    Succeeded,
    /// Given up: every attempt failed, or the target has no URL any more.
    Failed,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 3] = [
        DeliveryState::Pending,
        DeliveryState::Succeeded,
        DeliveryState::Failed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Succeeded => "succeeded",
            DeliveryState::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown delivery state {0:?}")]
pub struct DeliveryStateError(pub String);

impl FromStr for DeliveryState {
    type Err = DeliveryStateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeliveryState::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| DeliveryStateError(s.to_owned()))
    }
}

impl fmt::Display for DeliveryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one attempt leads to: computed by the worker, recorded by the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Delivered; the delivery is done.
    Succeeded,
    /// Failed; due again at this time.
    RetryAt(Timestamp),
    /// Failed for good.
    GaveUp,
}

impl AttemptOutcome {
    /// The state the delivery moves to.
    pub fn state(self) -> DeliveryState {
        match self {
            AttemptOutcome::Succeeded => DeliveryState::Succeeded,
            AttemptOutcome::RetryAt(_) => DeliveryState::Pending,
            AttemptOutcome::GaveUp => DeliveryState::Failed,
        }
    }

    pub fn succeeded(self) -> bool {
        self == AttemptOutcome::Succeeded
    }

    pub fn retry_at(self) -> Option<Timestamp> {
        match self {
            AttemptOutcome::RetryAt(at) => Some(at),
            _ => None,
        }
    }
}

/// An attempt made under its claim, to be recorded (`DeliveryStore::record_attempts`).
#[derive(Debug, Clone, Copy)]
pub struct Attempted<'a> {
    pub delivery: &'a DueDelivery,
    pub result: &'a AttemptResult,
    pub outcome: AttemptOutcome,
}

/// What recording an attempt's outcome did.
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// The claim still held: the delivery moved on and the attempt was logged, together.
    Written,
    /// The claim no longer holds (its lease ran out and another claim took the delivery, or it
    /// was freed or made due again meanwhile): nothing was written, neither state nor log.
    /// `held_by` is the claim that holds the delivery now, if any.
    ClaimLost { held_by: Option<String> },
    /// The delivery is gone (its subscription was deleted meanwhile): nothing was written.
    Gone,
}

/// Where a delivery goes: a subscription, or the instance's own `webhookUrl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Instance,
    Subscription(WebhookId),
}

/// How many more deliveries a claim may take for each account: `others` for an account not
/// listed. A node holds each account to its share of the delivery slots through it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRoom {
    pub listed: Vec<(AccountId, u32)>,
    pub others: u32,
}

impl AccountRoom {
    /// No account is held back.
    pub fn unlimited() -> Self {
        Self {
            listed: Vec::new(),
            others: u32::MAX,
        }
    }
}

/// A delivery that is due, with all an attempt needs.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub id: DeliveryId,
    /// The claim it was taken under.
    pub claim: String,
    pub event_id: EventId,
    pub event: WebhookEvent,
    pub instance_id: InstanceId,
    /// The instance's account, whose share of the delivery slots the attempt takes.
    pub account_id: AccountId,
    pub target: Target,
    /// The target's URL and secret as they are now (None: the target has no URL any more).
    pub url: Option<TargetUrl>,
    pub secret: WebhookSecret,
    pub body: String,
    /// The event's number among its instance's events (None for events written before there
    /// were numbers).
    pub sequence: Option<u64>,
    /// Attempts made before this one.
    pub attempts: u32,
}

impl DueDelivery {
    /// The number of the attempt it was claimed for (1-based).
    pub fn attempt(&self) -> u32 {
        self.attempts.saturating_add(1)
    }
}

/// A delivery as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: DeliveryId,
    pub event_id: EventId,
    pub event: WebhookEvent,
    pub instance_id: InstanceId,
    pub target: Target,
    pub state: DeliveryState,
    /// Attempts whose outcome was recorded.
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
    /// The claim it is held under, and until when (None: not claimed).
    pub claim: Option<String>,
    pub claimed_until: Option<Timestamp>,
}

/// What one attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptResult {
    pub log_id: DeliveryLogId,
    pub at: Timestamp,
    pub status_code: Option<u16>,
    pub response_ms: u64,
    /// None on success (a 2xx within the timeout).
    pub error: Option<String>,
}

impl AttemptResult {
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
    }
}

/// One attempt as the logs show it (§9.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryLog {
    pub id: DeliveryLogId,
    pub webhook_id: Option<WebhookId>,
    pub event_id: Option<EventId>,
    pub event: WebhookEvent,
    pub success: bool,
    pub status_code: Option<u16>,
    pub response_ms: u64,
    pub error: Option<String>,
    /// Attempts before this one.
    pub retry_count: u32,
    pub next_retry_at: Option<Timestamp>,
    pub at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_attempts_with_the_documented_waits_scaled() {
        let real = RetrySchedule::default();
        assert_eq!(real.wait_after(1), Some(Duration::from_secs(30)));
        assert_eq!(real.wait_after(5), Some(Duration::from_secs(21_600)));
        assert_eq!(real.wait_after(6), None);
        assert_eq!(real.wait_after(0), None);
        let fast = RetrySchedule::scaled(0.01);
        assert_eq!(fast.wait_after(1), Some(Duration::from_millis(300)));
        assert_eq!(fast.wait_after(2), Some(Duration::from_millis(1200)));
        assert_eq!(RetrySchedule::scaled(-1.0), real);
        assert_eq!(RetrySchedule::MAX_ATTEMPTS, 6);
    }

    fn due(attempts: u32, url: bool) -> DueDelivery {
        DueDelivery {
            id: DeliveryId::generate(),
            claim: "node:1".into(),
            event_id: EventId::generate(),
            event: WebhookEvent::MessageReceived,
            instance_id: InstanceId::generate(),
            account_id: AccountId::generate(),
            target: Target::Instance,
            url: url.then(|| TargetUrl::from_trusted("https://x.example/h".into())),
            secret: WebhookSecret::from_trusted(String::new()),
            body: "{}".into(),
            sequence: Some(1),
            attempts,
        }
    }

    fn result(error: Option<&str>) -> AttemptResult {
        AttemptResult {
            log_id: DeliveryLogId::generate(),
            at: Timestamp::from_millis(0),
            status_code: None,
            response_ms: 1,
            error: error.map(str::to_owned),
        }
    }

    #[test]
    fn outcomes_follow_the_schedule() {
        let s = RetrySchedule::default();
        let now = Timestamp::from_millis(1_000);
        let ok = result(None);
        let bad = result(Some("HTTP 500"));
        assert_eq!(
            s.outcome(&due(0, true), &ok, now),
            AttemptOutcome::Succeeded
        );
        assert_eq!(
            s.outcome(&due(0, true), &bad, now),
            AttemptOutcome::RetryAt(now.plus_millis(30_000))
        );
        assert_eq!(
            s.outcome(&due(4, true), &bad, now),
            AttemptOutcome::RetryAt(now.plus_millis(21_600_000))
        );
        assert_eq!(s.outcome(&due(5, true), &bad, now), AttemptOutcome::GaveUp);
        assert_eq!(s.outcome(&due(0, false), &bad, now), AttemptOutcome::GaveUp);
        assert_eq!(AttemptOutcome::Succeeded.state(), DeliveryState::Succeeded);
        assert_eq!(AttemptOutcome::RetryAt(now).state(), DeliveryState::Pending);
        assert_eq!(AttemptOutcome::RetryAt(now).retry_at(), Some(now));
        assert_eq!(AttemptOutcome::GaveUp.state(), DeliveryState::Failed);
    }

    #[test]
    fn states_map_to_the_column_and_back() {
        for s in DeliveryState::ALL {
            assert_eq!(s.as_str().parse::<DeliveryState>(), Ok(s));
        }
        assert_eq!(
            "done".parse::<DeliveryState>(),
            Err(DeliveryStateError("done".into()))
        );
    }
}
