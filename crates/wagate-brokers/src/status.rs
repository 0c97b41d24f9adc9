//! What `/metrics` shows of an output: written by its publisher only, read at each scrape.

use std::sync::Mutex;

use wagate_core::Timestamp;
use wagate_core::broker::BrokerKind;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusSnapshot {
    /// Events acknowledged by the broker since this node started.
    pub published: u64,
    /// Batches the broker failed or refused since this node started.
    pub failures: u64,
    /// Events after the output's place when last counted (up to `Publisher::BACKLOG_CAP`).
    pub backlog: u64,
    /// The latest failure, and when.
    pub last_error: Option<(String, Timestamp)>,
    /// Whether this node holds the output (publishes to it) now.
    pub holding: bool,
}

#[derive(Debug)]
pub struct TargetStatus {
    pub kind: BrokerKind,
    inner: Mutex<StatusSnapshot>,
}

impl TargetStatus {
    pub fn new(kind: BrokerKind) -> Self {
        Self {
            kind,
            inner: Mutex::new(StatusSnapshot::default()),
        }
    }

    pub fn snapshot(&self) -> StatusSnapshot {
        self.lock().clone()
    }

    pub(crate) fn update(&self, f: impl FnOnce(&mut StatusSnapshot)) {
        f(&mut self.lock());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StatusSnapshot> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
