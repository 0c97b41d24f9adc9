//! `EngineStateStore` in memory: a model of the SQL table's semantics, for unit tests and the
//! memory benchmark (which measures the client, not the database).

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use wagate_core::InstanceId;
use wagate_core::engine_state::{EngineStateStore, StateOp};
use wagate_core::store::StoreError;

type Key = (String, i32, Vec<u8>);
/// Value and sweep timestamp.
type Row = (Vec<u8>, Option<i64>);
type Rows = BTreeMap<Key, Row>;

#[derive(Default)]
pub struct MemStateStore {
    rows: Mutex<Rows>,
}

impl MemStateStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn rows(&self) -> MutexGuard<'_, Rows> {
        self.rows.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn in_ns<'a>(
    rows: &'a Rows,
    instance: &'a InstanceId,
    ns: i32,
    prefix: &'a [u8],
) -> impl Iterator<Item = (&'a Key, &'a Row)> + 'a {
    rows.range((instance.as_str().to_owned(), ns, prefix.to_vec())..)
        .take_while(move |((i, n, k), _)| {
            i == instance.as_str() && *n == ns && k.starts_with(prefix)
        })
}

#[async_trait]
impl EngineStateStore for MemStateStore {
    async fn state_get(
        &self,
        instance: &InstanceId,
        ns: i32,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let k = (instance.as_str().to_owned(), ns, key.to_vec());
        Ok(self.rows().get(&k).map(|(v, _)| v.clone()))
    }

    async fn state_scan(
        &self,
        instance: &InstanceId,
        ns: i32,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        let rows = self.rows();
        Ok(in_ns(&rows, instance, ns, prefix)
            .map(|((_, _, k), (v, _))| (k.clone(), v.clone()))
            .collect())
    }

    async fn state_max_key(
        &self,
        instance: &InstanceId,
        ns: i32,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let rows = self.rows();
        Ok(in_ns(&rows, instance, ns, b"")
            .map(|((_, _, k), _)| k.clone())
            .last())
    }

    async fn state_take(
        &self,
        instance: &InstanceId,
        ns: i32,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let k = (instance.as_str().to_owned(), ns, key.to_vec());
        Ok(self.rows().remove(&k).map(|(v, _)| v))
    }

    async fn state_delete_older_than(
        &self,
        instance: &InstanceId,
        ns: i32,
        cutoff: i64,
    ) -> Result<u64, StoreError> {
        let mut rows = self.rows();
        let before = rows.len();
        rows.retain(|(i, n, _), (_, ts)| {
            !(i == instance.as_str() && *n == ns && ts.is_some_and(|t| t < cutoff))
        });
        Ok((before - rows.len()) as u64)
    }

    async fn state_apply(&self, instance: &InstanceId, ops: &[StateOp]) -> Result<(), StoreError> {
        let mut rows = self.rows();
        let id = instance.as_str().to_owned();
        for op in ops {
            match op {
                StateOp::Put { ns, key, value, ts } => {
                    rows.insert((id.clone(), *ns, key.clone()), (value.clone(), *ts));
                }
                StateOp::Delete { ns, key } => {
                    rows.remove(&(id.clone(), *ns, key.clone()));
                }
                StateOp::DeletePrefix { ns, prefix } => {
                    rows.retain(|(i, n, k), _| !(*i == id && n == ns && k.starts_with(prefix)));
                }
            }
        }
        Ok(())
    }

    async fn state_wipe(&self, instance: &InstanceId) -> Result<(), StoreError> {
        self.rows().retain(|(i, _, _), _| i != instance.as_str());
        Ok(())
    }

    async fn state_count(&self, instance: &InstanceId) -> Result<u64, StoreError> {
        Ok(self
            .rows()
            .keys()
            .filter(|(i, _, _)| i == instance.as_str())
            .count() as u64)
    }
}
