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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum NameError {
    #[error("name must be 1 to {} characters", AccountName::MAX_CHARS)]
    Length,
    /// NUL, escape sequences that repaint a terminal, line breaks in a log line.
    #[error("name must not contain control characters")]
    Control,
    /// Embeddings, overrides and isolates make a name display as something else.
    #[error("name must not contain bidirectional text controls (U+202A-U+202E, U+2066-U+2069)")]
    Bidi,
}

/// A display name: trimmed, 1–100 characters, no control characters and no bidirectional
/// overrides. Shared by accounts, keys, instances, webhooks and sandbox senders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct AccountName(String);

pub type DisplayName = AccountName;

impl AccountName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(s: &str) -> Result<Self, NameError> {
        let t = s.trim();
        if !(1..=Self::MAX_CHARS).contains(&t.chars().count()) {
            return Err(NameError::Length);
        }
        if t.chars().any(char::is_control) {
            return Err(NameError::Control);
        }
        if t.chars().any(is_bidi_control) {
            return Err(NameError::Bidi);
        }
        Ok(Self(t.to_owned()))
    }

    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The explicit embeddings and overrides (U+202A–U+202E) and isolates (U+2066–U+2069) of
/// Unicode's bidirectional algorithm: the "Trojan Source" characters.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_hold_no_control_or_bidi_characters() {
        for (bad, why) in [
            ("a\0b", NameError::Control),
            ("red \u{1b}[31m", NameError::Control),
            ("two\nlines", NameError::Control),
            ("\u{9b}c1", NameError::Control),
            ("invoice \u{202E}fdp.exe", NameError::Bidi),
            ("\u{2066}isolate", NameError::Bidi),
        ] {
            assert_eq!(AccountName::parse(bad), Err(why), "{bad:?}");
        }
        for good in ["José's shop", "מכירות", "営業部", "Sales 🚀", "a\u{200D}b"] {
            assert!(AccountName::parse(good).is_ok(), "{good:?}");
        }
        assert_eq!(AccountName::parse(&"x".repeat(101)), Err(NameError::Length));
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(AccountName::parse("  Sales  ").unwrap().as_str(), "Sales");
        assert!(AccountName::parse("   ").is_err());
        assert!(AccountName::parse(&"x".repeat(101)).is_err());
        assert!(AccountName::parse(&"é".repeat(100)).is_ok());
    }
}
