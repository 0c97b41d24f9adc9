//! API key scopes (§15.3). A key created without scopes has all of them.

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
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown scope '{0}'")]
pub struct ScopeError(pub String);

impl Scope {
    pub const ALL: [Scope; 7] = [
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

/// A key's scopes: never empty once parsed (no scopes given means all of them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scopes(Vec<Scope>);

impl Scopes {
    pub fn all() -> Self {
        Self(Scope::ALL.to_vec())
    }

    /// `[]` or no list at all grants every scope, as §15.3 says.
    pub fn from_list(list: Vec<Scope>) -> Self {
        if list.is_empty() {
            return Self::all();
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
        assert_eq!(Scopes::from_list(vec![]), Scopes::all());
        let s = Scopes::parse_csv("messages:write, instances:read").unwrap();
        assert!(s.contains(Scope::MessagesWrite));
        assert!(!s.contains(Scope::InstancesWrite));
        assert_eq!(Scopes::parse_csv(&s.to_csv()).unwrap(), s);
        assert!(Scopes::parse_csv("messages:delete").is_err());
    }
}
