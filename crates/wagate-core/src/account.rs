//! Accounts (§15.3): the tenant that owns instances and API keys.

use serde::Serialize;
use thiserror::Error;

use crate::plan::{Plan, RateLimits};
use crate::{AccountId, Timestamp};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub id: AccountId,
    pub name: AccountName,
    pub plan: Plan,
    /// Per-account limits that replace the plan's (enterprise "custom" limits).
    pub rate_limits: Option<RateLimits>,
    pub created_at: Timestamp,
}

impl Account {
    pub fn effective_rate_limits(&self) -> RateLimits {
        self.rate_limits.unwrap_or_else(|| self.plan.rate_limits())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("name must be 1 to 100 characters")]
pub struct NameError;

/// A display name: trimmed, 1–100 characters. Shared by accounts, keys, instances and webhooks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct AccountName(String);

pub type DisplayName = AccountName;

impl AccountName {
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let t = s.trim();
        let n = t.chars().count();
        if (1..=100).contains(&n) {
            Ok(Self(t.to_owned()))
        } else {
            Err(NameError)
        }
    }

    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(AccountName::parse("  Sales  ").unwrap().as_str(), "Sales");
        assert!(AccountName::parse("   ").is_err());
        assert!(AccountName::parse(&"x".repeat(101)).is_err());
        assert!(AccountName::parse(&"é".repeat(100)).is_ok());
    }
}
