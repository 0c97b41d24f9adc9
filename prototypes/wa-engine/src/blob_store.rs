//! The small storage primitive wagate's whatsapp-rust `Backend` is built on:
//! per-instance keyed blobs in namespaces, with an optional sweep timestamp.
//!
//! Why: the crate's `Backend` has 57 required methods, but every one of them is a
//! get / upsert / delete / prefix scan / max-key / "delete rows older than" on
//! keyed blobs. Implementing those five primitives once per database (SQLite,
//! PostgreSQL — one table `wa_state(instance_id, ns, k, v, ts)`, see NOTES.md)
//! and mapping the 57 methods onto them once (`kv_backend.rs`) keeps the SQL tiny.
//! A store value is bound to one instance; the instance id is part of every key
//! in the SQL implementation and simply implicit here.

use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Namespaces (the `ns` column). Stable numbers: they are persisted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Ns {
    Device = 1,
    Identity = 2,
    Session = 3,
    PreKey = 4,
    SignedPreKey = 5,
    SenderKey = 6,
    SyncKey = 7,
    SyncKeyLatest = 8,
    AppStateVersion = 9,
    MutationMac = 10,
    SenderKeyDevice = 11,
    LidToEntry = 12,
    PnToLid = 13,
    BaseKey = 14,
    DeviceList = 15,
    GroupMeta = 16,
    TcToken = 17,
    SentMessage = 18,
    PendingInbound = 19,
    MsgSecret = 20,
}

/// One write inside an atomic batch.
#[derive(Debug, Clone)]
pub enum Op {
    /// Upsert. `ts` feeds the `delete_older_than` sweeps (None = never swept).
    Put { ns: Ns, key: Vec<u8>, value: Vec<u8>, ts: Option<i64> },
    Delete { ns: Ns, key: Vec<u8> },
    DeletePrefix { ns: Ns, prefix: Vec<u8> },
}

pub type StoreResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Keyed-blob storage for ONE instance. Every method must be durable when it
/// returns `Ok` (the Signal ratchet relies on it), and `apply` must be atomic.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    async fn get(&self, ns: Ns, key: &[u8]) -> StoreResult<Option<Vec<u8>>>;
    /// All rows of `ns` whose key starts with `prefix`, in key order.
    async fn scan(&self, ns: Ns, prefix: &[u8]) -> StoreResult<Vec<(Vec<u8>, Vec<u8>)>>;
    async fn exists_prefix(&self, ns: Ns, prefix: &[u8]) -> StoreResult<bool>;
    /// Largest key in `ns` (byte order), e.g. big-endian prekey ids.
    async fn max_key(&self, ns: Ns) -> StoreResult<Option<Vec<u8>>>;
    /// Atomic read-and-delete (`DELETE … RETURNING v`).
    async fn take(&self, ns: Ns, key: &[u8]) -> StoreResult<Option<Vec<u8>>>;
    /// Delete rows of `ns` with `ts < cutoff`; returns how many.
    async fn delete_older_than(&self, ns: Ns, cutoff: i64) -> StoreResult<u32>;
    /// Apply all ops in one transaction.
    async fn apply(&self, ops: Vec<Op>) -> StoreResult<()>;
    /// Remove everything of this instance (logout / instance deletion).
    async fn wipe(&self) -> StoreResult<()>;
}

/// In-memory `BlobStore` (tests, and a model of the SQL semantics).
#[derive(Default)]
pub struct MemBlobStore {
    rows: Mutex<BTreeMap<(Ns, Vec<u8>), (Vec<u8>, Option<i64>)>>,
    /// Call counters, to estimate database load per WhatsApp operation.
    pub stats: OpStats,
}

/// Counts calls and written rows (what a SQL backend would turn into statements).
#[derive(Default, Debug)]
pub struct OpStats {
    pub reads: std::sync::atomic::AtomicU64,
    pub batches: std::sync::atomic::AtomicU64,
    pub rows_written: std::sync::atomic::AtomicU64,
    pub bytes_written: std::sync::atomic::AtomicU64,
}

impl OpStats {
    pub fn snapshot(&self) -> [u64; 4] {
        use std::sync::atomic::Ordering::Relaxed;
        [self.reads.load(Relaxed), self.batches.load(Relaxed), self.rows_written.load(Relaxed), self.bytes_written.load(Relaxed)]
    }
    fn read(&self) {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl MemBlobStore {
    pub fn new() -> Self {
        Self::default()
    }
    /// Number of rows and total value bytes (for memory/size reports).
    pub fn size(&self) -> (usize, usize) {
        let rows = self.rows.lock().unwrap();
        (rows.len(), rows.values().map(|(v, _)| v.len()).sum())
    }
}

fn prefix_range<'a>(
    rows: &'a BTreeMap<(Ns, Vec<u8>), (Vec<u8>, Option<i64>)>,
    ns: Ns,
    prefix: &'a [u8],
) -> impl Iterator<Item = (&'a (Ns, Vec<u8>), &'a (Vec<u8>, Option<i64>))> + 'a {
    rows.range((ns, prefix.to_vec())..)
        .take_while(move |((n, k), _)| *n == ns && k.starts_with(prefix))
}

#[async_trait]
impl BlobStore for MemBlobStore {
    async fn get(&self, ns: Ns, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        self.stats.read();
        Ok(self.rows.lock().unwrap().get(&(ns, key.to_vec())).map(|(v, _)| v.clone()))
    }

    async fn scan(&self, ns: Ns, prefix: &[u8]) -> StoreResult<Vec<(Vec<u8>, Vec<u8>)>> {
        self.stats.read();
        let rows = self.rows.lock().unwrap();
        Ok(prefix_range(&rows, ns, prefix).map(|((_, k), (v, _))| (k.clone(), v.clone())).collect())
    }

    async fn exists_prefix(&self, ns: Ns, prefix: &[u8]) -> StoreResult<bool> {
        self.stats.read();
        let rows = self.rows.lock().unwrap();
        Ok(prefix_range(&rows, ns, prefix).next().is_some())
    }

    async fn max_key(&self, ns: Ns) -> StoreResult<Option<Vec<u8>>> {
        self.stats.read();
        let rows = self.rows.lock().unwrap();
        Ok(rows.keys().filter(|(n, _)| *n == ns).map(|(_, k)| k.clone()).max())
    }

    async fn take(&self, ns: Ns, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.rows.lock().unwrap().remove(&(ns, key.to_vec())).map(|(v, _)| v))
    }

    async fn delete_older_than(&self, ns: Ns, cutoff: i64) -> StoreResult<u32> {
        let mut rows = self.rows.lock().unwrap();
        let before = rows.len();
        rows.retain(|(n, _), (_, ts)| !(*n == ns && ts.is_some_and(|t| t < cutoff)));
        Ok((before - rows.len()) as u32)
    }

    async fn apply(&self, ops: Vec<Op>) -> StoreResult<()> {
        use std::sync::atomic::Ordering::Relaxed;
        self.stats.batches.fetch_add(1, Relaxed);
        self.stats.rows_written.fetch_add(ops.len() as u64, Relaxed);
        let bytes: usize = ops.iter().map(|o| if let Op::Put { value, .. } = o { value.len() } else { 0 }).sum();
        self.stats.bytes_written.fetch_add(bytes as u64, Relaxed);
        let mut rows = self.rows.lock().unwrap();
        for op in ops {
            match op {
                Op::Put { ns, key, value, ts } => {
                    rows.insert((ns, key), (value, ts));
                }
                Op::Delete { ns, key } => {
                    rows.remove(&(ns, key));
                }
                Op::DeletePrefix { ns, prefix } => {
                    rows.retain(|(n, k), _| !(*n == ns && k.starts_with(&prefix)));
                }
            }
        }
        Ok(())
    }

    async fn wipe(&self) -> StoreResult<()> {
        self.rows.lock().unwrap().clear();
        Ok(())
    }
}
