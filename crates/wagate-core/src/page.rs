//! Offset pagination (§3, §15.8): bounds are checked when the query is parsed.

use serde::Serialize;
use thiserror::Error;

/// A page bound out of range; `field` names the query parameter.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PageError {
    #[error("limit must be between 1 and {max}")]
    Limit { max: u32 },
    #[error("offset must be between 0 and {}", OffsetPage::MAX_OFFSET)]
    Offset,
}

impl PageError {
    pub fn field(&self) -> &'static str {
        match self {
            PageError::Limit { .. } => "limit",
            PageError::Offset => "offset",
        }
    }
}

/// A checked `limit`/`offset` pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetPage {
    pub limit: u32,
    pub offset: u64,
}

impl OffsetPage {
    /// The largest offset: what both databases take as a 64-bit signed `OFFSET`.
    pub const MAX_OFFSET: u64 = i64::MAX as u64;

    pub fn parse(
        limit: Option<u32>,
        offset: Option<u64>,
        default: u32,
        max: u32,
    ) -> Result<Self, PageError> {
        let limit = limit.unwrap_or(default);
        if !(1..=max).contains(&limit) {
            return Err(PageError::Limit { max });
        }
        let offset = offset.unwrap_or(0);
        if offset > Self::MAX_OFFSET {
            return Err(PageError::Offset);
        }
        Ok(Self { limit, offset })
    }

    pub fn pagination(&self, total: u64) -> OffsetPagination {
        OffsetPagination {
            total,
            limit: self.limit,
            offset: self.offset,
            has_more: self.offset.saturating_add(u64::from(self.limit)) < total,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OffsetPagination {
    pub total: u64,
    pub limit: u32,
    pub offset: u64,
    pub has_more: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_has_more() {
        let p = OffsetPage::parse(None, None, 50, 100).unwrap();
        assert_eq!((p.limit, p.offset), (50, 0));
        assert!(OffsetPage::parse(Some(0), None, 50, 100).is_err());
        assert!(OffsetPage::parse(Some(101), None, 50, 100).is_err());
        let p = OffsetPage::parse(Some(2), Some(1), 50, 100).unwrap();
        assert!(!p.pagination(3).has_more);
        assert!(p.pagination(4).has_more);
    }
}
