//! Delivering events to webhook targets: the retry schedule (§9.5), what one attempt found, and
//! the log entries (§9.8) users read.

use std::time::Duration;

use crate::net::TargetUrl;
use crate::webhook::WebhookSecret;
use crate::webhook_event::WebhookEvent;
use crate::{DeliveryId, DeliveryLogId, EventId, InstanceId, Timestamp, WebhookId};

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
}

/// Where a delivery goes: a subscription, or the instance's own `webhookUrl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Instance,
    Subscription(WebhookId),
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
    pub target: Target,
    /// The target's URL and secret as they are now (None: the target has no URL any more).
    pub url: Option<TargetUrl>,
    pub secret: WebhookSecret,
    pub body: String,
    /// Attempts made before this one.
    pub attempts: u32,
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
}
