//! The storage port for an engine's own session state (device keys, Signal sessions, app state):
//! keyed blobs per instance, in small numbered namespaces the engine defines.
//!
//! Why this shape: whatsapp-rust's `Backend` has ~60 methods, but each is a get, upsert, delete,
//! prefix scan, max key or "delete rows older than" on keyed blobs. The database implements these
//! few primitives once (one table, both dialects); the engine maps its methods onto them.
//! Every call must be durable when it returns `Ok`: the Signal ratchet relies on it.

use async_trait::async_trait;

use crate::InstanceId;
use crate::store::StoreError;

/// One write inside an atomic batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateOp {
    /// Insert or replace. `ts` feeds `delete_older_than` (None = never swept).
    Put {
        ns: i32,
        key: Vec<u8>,
        value: Vec<u8>,
        ts: Option<i64>,
    },
    Delete {
        ns: i32,
        key: Vec<u8>,
    },
    /// Every key of `ns` that starts with `prefix` (an empty prefix: the whole namespace).
    DeletePrefix {
        ns: i32,
        prefix: Vec<u8>,
    },
}

#[async_trait]
pub trait EngineStateStore: Send + Sync + 'static {
    async fn state_get(
        &self,
        instance: &InstanceId,
        ns: i32,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, StoreError>;
    /// Rows of `ns` whose key starts with `prefix`, in byte order of the key.
    async fn state_scan(
        &self,
        instance: &InstanceId,
        ns: i32,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError>;
    /// The largest key of `ns` in byte order.
    async fn state_max_key(
        &self,
        instance: &InstanceId,
        ns: i32,
    ) -> Result<Option<Vec<u8>>, StoreError>;
    /// Reads and deletes a row in one statement.
    async fn state_take(
        &self,
        instance: &InstanceId,
        ns: i32,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, StoreError>;
    /// Deletes the rows of `ns` with `ts < cutoff`; returns how many.
    async fn state_delete_older_than(
        &self,
        instance: &InstanceId,
        ns: i32,
        cutoff: i64,
    ) -> Result<u64, StoreError>;
    /// Applies every op in one transaction.
    async fn state_apply(&self, instance: &InstanceId, ops: &[StateOp]) -> Result<(), StoreError>;
    /// Removes all of the instance's state (logout, deletion).
    async fn state_wipe(&self, instance: &InstanceId) -> Result<(), StoreError>;
    /// How many rows the instance has (tests, diagnostics).
    async fn state_count(&self, instance: &InstanceId) -> Result<u64, StoreError>;
}

/// The smallest byte string greater than every string starting with `prefix`, if any: the
/// exclusive upper bound of a prefix range (`k >= prefix AND k < upper`).
pub fn prefix_upper_bound(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut upper = prefix.to_vec();
    while let Some(last) = upper.pop() {
        if last < 0xFF {
            upper.push(last + 1);
            return Some(upper);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::prefix_upper_bound;

    #[test]
    fn prefix_bounds_cover_exactly_the_prefix() {
        assert_eq!(prefix_upper_bound(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_upper_bound(&[1, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_upper_bound(&[0xFF, 0xFF]), None);
        assert_eq!(prefix_upper_bound(b""), None);
    }
}
