//! Timestamps: milliseconds since the Unix epoch in storage, ISO 8601 UTC with milliseconds and `Z`
//! on the wire (§1, §15.9).

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub fn now() -> Self {
        Self(Utc::now().timestamp_millis())
    }

    pub fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    pub fn millis(self) -> i64 {
        self.0
    }

    pub fn unix_seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    pub fn plus_millis(self, ms: i64) -> Self {
        Self(self.0.saturating_add(ms))
    }

    /// The time `d` before now (the start of a window that ends now).
    pub fn ago(d: std::time::Duration) -> Self {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Self(Self::now().0.saturating_sub(ms))
    }

    /// Parses an RFC 3339 time (any offset), e.g. an `expiresAt` given by a client.
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| Self(t.timestamp_millis()))
    }

    pub fn to_rfc3339(self) -> String {
        DateTime::<Utc>::from_timestamp_millis(self.0)
            .unwrap_or_default()
            .to_rfc3339_opts(SecondsFormat::Millis, true)
    }
}

/// A UTC calendar day, counted from the Unix epoch: what "today" means in the status statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcDay(i64);

impl UtcDay {
    const MILLIS: i64 = 86_400_000;

    /// The day `t` falls in.
    pub fn of(t: Timestamp) -> Self {
        Self(t.0.div_euclid(Self::MILLIS))
    }

    /// Days since 1970-01-01.
    pub fn number(self) -> i64 {
        self.0
    }

    /// Its first millisecond.
    pub fn start(self) -> Timestamp {
        Timestamp(self.0.saturating_mul(Self::MILLIS))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse_rfc3339(&s).ok_or_else(|| serde::de::Error::custom("not an ISO 8601 time"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_milliseconds_and_z() {
        let t = Timestamp::from_millis(1_770_120_000_000);
        assert_eq!(t.to_rfc3339(), "2026-02-03T12:00:00.000Z");
        assert_eq!(
            Timestamp::parse_rfc3339("2026-02-03T12:00:00.000Z"),
            Some(t)
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2026-02-03T14:00:00+02:00"),
            Some(t)
        );
    }

    #[test]
    fn a_day_runs_from_utc_midnight_to_midnight() {
        let noon = Timestamp::parse_rfc3339("2026-02-03T12:00:00.000Z").unwrap();
        let day = UtcDay::of(noon);
        assert_eq!(day.start().to_rfc3339(), "2026-02-03T00:00:00.000Z");
        assert_eq!(UtcDay::of(day.start()), day);
        assert_eq!(
            UtcDay::of(day.start().plus_millis(-1)).number(),
            day.number() - 1
        );
        assert_eq!(
            UtcDay::of(Timestamp::from_millis(-1)).number(),
            -1,
            "before 1970 too"
        );
    }
}
