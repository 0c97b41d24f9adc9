//! Per-key rate limits (§4, §15.3) on sliding windows (`wagate_core::rate_window`), one window per
//! key and group.
//!
//! A request counts against its group and against `general`; the `X-RateLimit-*` headers describe
//! whichever of the two has fewer requests left. A key may spend a minute's allowance at once,
//! and no 60 s window, aligned or not, ever admits more than the plan's number (governor's GCRA
//! buckets, used before, let a full burst and then a full refill through in one minute).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use dashmap::DashMap;
use wagate_core::plan::{RateGroup, RateLimits};
use wagate_core::rate_window::{Admission, SlidingWindow};
use wagate_core::{AccountId, ApiKeyId, Timestamp};

use crate::http::error::ApiError;

/// The group a path counts against, besides `general`.
pub fn group_for_path(path: &str) -> Option<RateGroup> {
    let under = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
    if under("/v1/messages") || path.starts_with("/webhook/") {
        Some(RateGroup::Messages)
    } else if under("/v1/instances") || under("/v1/groups") {
        Some(RateGroup::Instances)
    } else if under("/v1/webhooks") {
        Some(RateGroup::Webhooks)
    } else {
        None
    }
}

/// What the headers report: the tighter of the request's buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub limit: u32,
    pub remaining: u32,
    /// Unix seconds when the bucket is full again.
    pub reset: i64,
}

impl Window {
    pub fn write_headers(&self, h: &mut HeaderMap) {
        h.insert("x-ratelimit-limit", HeaderValue::from(self.limit));
        h.insert("x-ratelimit-remaining", HeaderValue::from(self.remaining));
        h.insert("x-ratelimit-reset", HeaderValue::from(self.reset));
    }
}

/// The answer to a caller whose bucket is empty: 429 with `Retry-After` and the bucket's headers.
pub fn too_many_requests(retry_after: u64, window: Window) -> Response {
    let mut res = ApiError::RateLimited { retry_after }.into_response();
    window.write_headers(res.headers_mut());
    res
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `None` when the caller has no limit at all (an account set to unlimited).
    Allowed(Option<Window>),
    Limited {
        retry_after: u64,
        window: Window,
    },
}

/// Who spends the quota: an API key; every inbound webhook URL of an account together (§15.7:
/// they count against the account's `messages` limit, so making more URLs buys no more sends);
/// or the address of a client whose credentials were refused.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Caller {
    Key(ApiKeyId),
    InboundUrls(AccountId),
    Address(IpAddr),
}

/// What one address may spend on refused credentials: the free plan's `general` limit. Only
/// refused requests count, so a client that guesses keys is slowed down while the keys behind
/// the same address (a proxy, a NAT) are not.
pub const REFUSED_CREDENTIALS: RateLimits = RateLimits {
    general: Some(500),
    ..RateLimits::UNLIMITED
};

pub struct RateLimiter {
    // Keyed by the limit too, so a plan change takes effect on the next request.
    windows: DashMap<(Caller, RateGroup, u32), Arc<Mutex<SlidingWindow>>>,
    /// The windows' clock: monotonic, so a change of the wall clock moves no window.
    epoch: Instant,
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self {
            windows: DashMap::new(),
            epoch: Instant::now(),
        }
    }
}

/// Whole seconds, rounded up (headers count in seconds; "0 s left" would invite a retry too soon).
fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

impl RateLimiter {
    fn window(
        &self,
        key: &Caller,
        group: RateGroup,
        limit: NonZeroU32,
    ) -> Arc<Mutex<SlidingWindow>> {
        self.windows
            .entry((key.clone(), group, limit.get()))
            .or_insert_with(|| Arc::new(Mutex::new(SlidingWindow::new(limit))))
            .clone()
    }

    pub fn check(&self, key: &Caller, limits: RateLimits, group: Option<RateGroup>) -> Outcome {
        let now = self.epoch.elapsed();
        let unix_now = Timestamp::now().unix_seconds();
        let mut tightest: Option<Window> = None;
        for g in group.into_iter().chain([RateGroup::General]) {
            let Some(limit) = limits.for_group(g).and_then(NonZeroU32::new) else {
                continue;
            };
            let admission = self
                .window(key, g, limit)
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .try_acquire(now);
            match admission {
                Admission::Allowed {
                    remaining,
                    reset_after,
                } => {
                    let w = Window {
                        limit: limit.get(),
                        remaining,
                        reset: unix_now + ceil_secs(reset_after) as i64,
                    };
                    if tightest.is_none_or(|t| w.remaining < t.remaining) {
                        tightest = Some(w);
                    }
                }
                Admission::Refused { retry_after } => {
                    let retry_after = ceil_secs(retry_after).max(1);
                    return Outcome::Limited {
                        retry_after,
                        window: Window {
                            limit: limit.get(),
                            remaining: 0,
                            reset: unix_now + retry_after as i64,
                        },
                    };
                }
            }
        }
        Outcome::Allowed(tightest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_follow_the_spec() {
        assert_eq!(
            group_for_path("/v1/messages/send"),
            Some(RateGroup::Messages)
        );
        assert_eq!(group_for_path("/webhook/wh_x"), Some(RateGroup::Messages));
        assert_eq!(group_for_path("/v1/instances"), Some(RateGroup::Instances));
        assert_eq!(
            group_for_path("/v1/webhooks/wh_1/logs"),
            Some(RateGroup::Webhooks)
        );
        assert_eq!(group_for_path("/v1/account"), None);
        assert_eq!(group_for_path("/v1/instancesX"), None);
    }

    #[test]
    fn the_group_limit_bites_before_general_and_keys_are_separate() {
        let rl = RateLimiter::default();
        let limits = RateLimits {
            instances: Some(3),
            general: Some(100),
            ..RateLimits::UNLIMITED
        };
        let (a, b) = (
            Caller::Key(ApiKeyId::generate()),
            Caller::InboundUrls(AccountId::generate()),
        );
        for left in (0..3).rev() {
            match rl.check(&a, limits, Some(RateGroup::Instances)) {
                Outcome::Allowed(Some(w)) => assert_eq!((w.limit, w.remaining), (3, left)),
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(
            rl.check(&a, limits, Some(RateGroup::Instances)),
            Outcome::Limited {
                retry_after: 1..,
                ..
            }
        ));
        assert!(matches!(
            rl.check(&a, limits, None),
            Outcome::Allowed(Some(_))
        ));
        assert!(matches!(
            rl.check(&b, limits, Some(RateGroup::Instances)),
            Outcome::Allowed(_)
        ));
        assert_eq!(
            rl.check(&a, RateLimits::UNLIMITED, None),
            Outcome::Allowed(None)
        );
    }
}
