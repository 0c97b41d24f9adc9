//! The retention loop (§21.1): every `every`, what is past the retention period is deleted in
//! batches, with a pause after each so traffic has the database in between: delivered events,
//! delivery logs and idempotency records (`RetentionStore::prune`), then received media files
//! (`media::prune`). Every node runs it; on a shared database their deletes simply find less.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use wagate_core::Timestamp;
use wagate_core::retention::{Pruned, RetentionPeriod};
use wagate_core::store::{Store, StoreError};

/// Rows of each kind, or media files, one batch deletes.
pub const BATCH: u32 = 500;
/// The pause between two batches of one pass.
const BREATHE: Duration = Duration::from_millis(20);

#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("media files: {0}")]
    Media(#[from] std::io::Error),
}

/// What one pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    pub rows: Pruned,
    pub media_files: u64,
}

pub struct Retention {
    store: Arc<dyn Store>,
    media_dir: PathBuf,
    period: RetentionPeriod,
    idempotency_window: Duration,
    every: Duration,
}

impl Retention {
    /// `idempotency_window`: records are kept at least that long (`ServerConfig`).
    pub fn new(
        store: Arc<dyn Store>,
        media_dir: PathBuf,
        period: RetentionPeriod,
        idempotency_window: Duration,
        every: Duration,
    ) -> Self {
        Self {
            store,
            media_dir,
            period,
            idempotency_window,
            every,
        }
    }

    /// One pass at `now`: batches until none fills.
    #[tracing::instrument(skip(self), err)]
    pub async fn pass(&self, now: Timestamp) -> Result<Swept, PruneError> {
        let before = self.period.cutoffs(now, self.idempotency_window);
        let mut swept = Swept::default();
        loop {
            let p = self.store.prune(before, BATCH).await?;
            swept.rows.events += p.events;
            swept.rows.delivery_logs += p.delivery_logs;
            swept.rows.idempotency_keys += p.idempotency_keys;
            if !p.filled(BATCH) {
                break;
            }
            tokio::time::sleep(BREATHE).await;
        }
        loop {
            let n = crate::media::prune(&self.media_dir, before.records, BATCH as usize).await?;
            swept.media_files += n;
            if n < u64::from(BATCH) {
                break;
            }
            tokio::time::sleep(BREATHE).await;
        }
        Ok(swept)
    }

    /// Passes until `stop`; the first right away.
    pub async fn run(self, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(self.every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
            // A failed pass is logged (by `instrument`) and tried again at the next tick.
            if let Ok(swept) = self.pass(Timestamp::now()).await
                && (swept.rows.total() > 0 || swept.media_files > 0)
            {
                tracing::info!(
                    events = swept.rows.events,
                    delivery_logs = swept.rows.delivery_logs,
                    idempotency_keys = swept.rows.idempotency_keys,
                    media_files = swept.media_files,
                    "deleted what is past the retention period"
                );
            }
        }
    }
}
