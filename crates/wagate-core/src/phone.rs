//! Phone numbers in the documented format (§1, §15.5): country code + number, digits only, 8–15
//! digits, no `+` and no spaces.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("phone numbers are 8 to 15 digits, country code first, with no '+' or spaces")]
pub struct PhoneError;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(s: &str) -> Result<Self, PhoneError> {
        let ok = (8..=15).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(PhoneError)
        }
    }

    /// A number as people write it (`+55 11 98888-7777`, `(415) 555-0100`): its digits, if they
    /// make a number.
    pub fn from_written(s: &str) -> Option<Self> {
        let digits: String = s.chars().filter(char::is_ascii_digit).collect();
        Self::parse(&digits).ok()
    }

    /// For values read back from our own database, which only ever holds parsed numbers.
    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for PhoneNumber {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Stored JSON (a contact card's numbers) is read back through the parser.
impl<'de> Deserialize<'de> for PhoneNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_documented_format_only() {
        assert!(PhoneNumber::parse("5511999999999").is_ok());
        assert!(PhoneNumber::parse("12345678").is_ok());
        for bad in [
            "+5511999999999",
            "55 11 99999",
            "1234567",
            "1234567890123456",
            "55119999abc",
            "",
        ] {
            assert!(PhoneNumber::parse(bad).is_err(), "{bad} should be refused");
        }
        assert_eq!(
            PhoneNumber::from_written("+55 11 98888-7777").map(|p| p.to_string()),
            Some("5511988887777".into())
        );
        assert_eq!(PhoneNumber::from_written("ext. 12"), None);
    }
}
