//! Plans (§15.3): how many instances an account may have and how many requests a key may make.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    Free,
    Starter,
    Pro,
    Enterprise,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("plan must be one of free, starter, pro, enterprise")]
pub struct PlanError;

/// The rate-limit groups of §15.3. Every request counts against `General`, and also against its
/// own group when it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateGroup {
    Messages,
    Instances,
    Webhooks,
    General,
}

/// Requests per minute for each group; `None` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimits {
    pub messages: Option<u32>,
    pub instances: Option<u32>,
    pub webhooks: Option<u32>,
    pub general: Option<u32>,
}

impl RateLimits {
    pub const UNLIMITED: RateLimits = RateLimits {
        messages: None,
        instances: None,
        webhooks: None,
        general: None,
    };

    pub fn for_group(&self, group: RateGroup) -> Option<u32> {
        match group {
            RateGroup::Messages => self.messages,
            RateGroup::Instances => self.instances,
            RateGroup::Webhooks => self.webhooks,
            RateGroup::General => self.general,
        }
    }
}

impl Plan {
    pub const ALL: [Plan; 4] = [Plan::Free, Plan::Starter, Plan::Pro, Plan::Enterprise];

    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Starter => "starter",
            Plan::Pro => "pro",
            Plan::Enterprise => "enterprise",
        }
    }

    /// Maximum number of instances; `None` is unlimited.
    pub fn instance_limit(self) -> Option<u32> {
        match self {
            Plan::Free => Some(1),
            Plan::Starter => Some(3),
            Plan::Pro => Some(10),
            Plan::Enterprise => None,
        }
    }

    /// The per-minute limits of §15.3's table. Enterprise defaults to ten times pro's, so its
    /// headers always mean something and no key can flood a node; an account may carry its own
    /// limits instead (an operator raises them there).
    pub fn rate_limits(self) -> RateLimits {
        let (m, i, w, g) = match self {
            Plan::Free => (100, 50, 100, 500),
            Plan::Starter => (400, 200, 400, 2_000),
            Plan::Pro => (2_000, 1_000, 2_000, 10_000),
            Plan::Enterprise => (20_000, 10_000, 20_000, 100_000),
        };
        RateLimits {
            messages: Some(m),
            instances: Some(i),
            webhooks: Some(w),
            general: Some(g),
        }
    }
}

impl FromStr for Plan {
    type Err = PlanError;
    fn from_str(s: &str) -> Result<Self, PlanError> {
        Plan::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or(PlanError)
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_table_matches_the_spec() {
        assert_eq!(Plan::Free.instance_limit(), Some(1));
        assert_eq!(Plan::Starter.instance_limit(), Some(3));
        assert_eq!(Plan::Pro.instance_limit(), Some(10));
        assert_eq!(Plan::Enterprise.instance_limit(), None);
        assert_eq!(
            Plan::Free.rate_limits().for_group(RateGroup::Instances),
            Some(50)
        );
        assert_eq!(
            Plan::Starter.rate_limits().for_group(RateGroup::General),
            Some(2_000)
        );
        assert_eq!(
            Plan::Enterprise.rate_limits().for_group(RateGroup::General),
            Some(100_000)
        );
        assert_eq!(
            Plan::Enterprise
                .rate_limits()
                .for_group(RateGroup::Instances),
            Some(10_000)
        );
        assert_eq!("pro".parse::<Plan>(), Ok(Plan::Pro));
        assert!("gold".parse::<Plan>().is_err());
    }
}
