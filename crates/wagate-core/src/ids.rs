//! Prefixed, time-ordered object ids (§15.1): `<prefix>_<lower-case ULID>`.
//!
//! Each object kind has its own type, so an `InstanceId` can never be passed where a `MessageId` is
//! expected, and parsing rejects a wrong prefix before any database look-up.

use std::fmt;
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("not a valid {kind} id")]
pub struct IdError {
    pub kind: &'static str,
}

/// One monotonic generator per process: ids made in the same millisecond still sort in the order
/// they were made, which the message-history cursors and FIFO queues rely on.
static GENERATOR: Mutex<ulid::Generator> = Mutex::new(ulid::Generator::new());

fn next_ulid() -> String {
    let mut g = GENERATOR.lock().unwrap_or_else(PoisonError::into_inner);
    // Overflow needs 2^80 ids in one millisecond; fall back to a plain (random) ULID.
    let u = g.generate().unwrap_or_else(|_| ulid::Ulid::new());
    u.to_string().to_ascii_lowercase()
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A new id; ids made later sort after ids made earlier (ULID).
            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, next_ulid()))
            }

            /// An id that sorts at `at`, for what happened before wagate saw it (history
            /// synced from the phone): among the ids made then, in random order.
            pub fn generate_at(at: crate::Timestamp) -> Self {
                let t = std::time::UNIX_EPOCH
                    + std::time::Duration::from_millis(u64::try_from(at.millis()).unwrap_or(0));
                let u = ulid::Ulid::from_datetime(t).to_string().to_ascii_lowercase();
                Self(format!("{}{}", $prefix, u))
            }

            /// Accepts `<prefix><26 ULID characters>`, in either case (stored lower case).
            pub fn parse(s: &str) -> Result<Self, IdError> {
                let err = IdError { kind: $kind };
                let rest = s.strip_prefix($prefix).ok_or(err.clone())?;
                ulid::Ulid::from_string(rest).map_err(|_| err)?;
                Ok(Self(s.to_ascii_lowercase()))
            }

            /// For values read back from our own database, which only ever holds parsed ids.
            pub fn from_trusted(s: String) -> Self {
                Self(s)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The ULID part, without the prefix.
            pub fn ulid_part(&self) -> &str {
                &self.0[$prefix.len()..]
            }

            /// When the id was made (the ULID's time, to the millisecond).
            pub fn made_at(&self) -> crate::Timestamp {
                let ms = ulid::Ulid::from_string(self.ulid_part())
                    .map(|u| u.timestamp_ms())
                    .unwrap_or(0);
                crate::Timestamp::from_millis(i64::try_from(ms).unwrap_or(i64::MAX))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

prefixed_id!(AccountId, "acct_", "account");
prefixed_id!(ApiKeyId, "key_", "API key");
prefixed_id!(InstanceId, "inst_", "instance");
prefixed_id!(MessageId, "msg_", "message");
prefixed_id!(ChatId, "chat_", "chat");
prefixed_id!(EventId, "evt_", "event");
prefixed_id!(WebhookId, "wh_", "webhook");
prefixed_id!(InboundWebhookId, "ib_", "inbound webhook");
prefixed_id!(DeliveryLogId, "log_", "webhook log");
prefixed_id!(DeliveryId, "dlv_", "delivery");
prefixed_id!(RequestId, "req_", "request");
prefixed_id!(MediaId, "med_", "media");
prefixed_id!(
    /// An edit or delete queued with the sends (internal: the API shows the message changed).
    ChangeId,
    "chg_",
    "change"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back_and_sort_by_creation() {
        let a = InstanceId::generate();
        let b = InstanceId::generate();
        assert_eq!(InstanceId::parse(a.as_str()).unwrap(), a);
        assert!(a < b);
        assert_eq!(a.as_str().len(), "inst_".len() + 26);
        assert_eq!(a.as_str(), a.as_str().to_ascii_lowercase());
    }

    #[test]
    fn wrong_prefix_or_body_is_refused() {
        let m = MessageId::generate();
        assert!(InstanceId::parse(m.as_str()).is_err());
        assert!(InstanceId::parse("inst_abc123").is_err());
        assert!(InstanceId::parse("").is_err());
    }

    #[test]
    fn upper_case_input_is_normalised() {
        let a = InstanceId::generate();
        let upper = format!("inst_{}", a.ulid_part().to_ascii_uppercase());
        assert_eq!(InstanceId::parse(&upper).unwrap(), a);
    }
}
