//! API key scopes (§15.3, and `keys:write` of §20). A key created without scopes has all of
//! §15.3's.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    InstancesRead,
    InstancesWrite,
    MessagesRead,
    MessagesWrite,
    ContactsRead,
    WebhooksRead,
    WebhooksWrite,
    /// Manage the account's own API keys (`/v1/account/keys`). Only an account's first key has
    /// it unless asked for by name: a key created without scopes does not get it.
    KeysWrite,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown scope '{0}'")]
pub struct ScopeError(pub String);

impl Scope {
    pub const ALL: [Scope; 8] = [
        Scope::InstancesRead,
        Scope::InstancesWrite,
        Scope::MessagesRead,
        Scope::MessagesWrite,
        Scope::ContactsRead,
        Scope::WebhooksRead,
        Scope::WebhooksWrite,
        Scope::KeysWrite,
    ];

    /// What a key created without scopes gets (§15.3): every scope but `keys:write`.
    pub const DEFAULT: [Scope; 7] = [
        Scope::InstancesRead,
        Scope::InstancesWrite,
        Scope::MessagesRead,
        Scope::MessagesWrite,
        Scope::ContactsRead,
        Scope::WebhooksRead,
        Scope::WebhooksWrite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::InstancesRead => "instances:read",
            Scope::InstancesWrite => "instances:write",
            Scope::MessagesRead => "messages:read",
            Scope::MessagesWrite => "messages:write",
            Scope::ContactsRead => "contacts:read",
            Scope::WebhooksRead => "webhooks:read",
            Scope::WebhooksWrite => "webhooks:write",
            Scope::KeysWrite => "keys:write",
        }
    }
}

impl FromStr for Scope {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, ScopeError> {
        Scope::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| ScopeError(s.to_owned()))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A key's scopes: never empty once parsed (no scopes given means the default set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scopes(Vec<Scope>);

impl Scopes {
    /// Every scope, `keys:write` included: an account's first key.
    pub fn all() -> Self {
        Self(Scope::ALL.to_vec())
    }

    /// `[]` or no list at all grants every scope of §15.3, which does not include `keys:write`.
    pub fn from_list(list: Vec<Scope>) -> Self {
        if list.is_empty() {
            return Self(Scope::DEFAULT.to_vec());
        }
        let mut list = list;
        list.sort();
        list.dedup();
        Self(list)
    }

    pub fn parse_csv(s: &str) -> Result<Self, ScopeError> {
        let list = s
            .split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::parse)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::from_list(list))
    }

    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    /// The first scope of `wanted` that is not here (a key may grant only what it holds).
    pub fn first_missing(&self, wanted: &Scopes) -> Option<Scope> {
        wanted.iter().find(|s| !self.contains(*s))
    }

    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }

    pub fn to_csv(&self) -> String {
        self.0
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl Serialize for Scopes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_means_all_and_csv_round_trips() {
        let default = Scopes::from_list(vec![]);
        assert!(default.contains(Scope::WebhooksWrite));
        assert!(!default.contains(Scope::KeysWrite));
        assert!(Scopes::all().contains(Scope::KeysWrite));
        assert_eq!(Scopes::all().first_missing(&default), None);
        assert_eq!(
            default.first_missing(&Scopes::all()),
            Some(Scope::KeysWrite)
        );
        let s = Scopes::parse_csv("messages:write, instances:read").unwrap();
        assert!(s.contains(Scope::MessagesWrite));
        assert!(!s.contains(Scope::InstancesWrite));
        assert_eq!(Scopes::parse_csv(&s.to_csv()).unwrap(), s);
        assert!(Scopes::parse_csv("messages:delete").is_err());
    }
}
