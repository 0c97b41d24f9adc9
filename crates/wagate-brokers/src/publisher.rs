//! One broker output's publisher: hold the output, read the events after its place, publish
//! them, move the place. `try_publish_once` is one such step (tests drive it); `run` repeats it
//! until told to stop, waiting when there is nothing to publish and backing off when the broker
//! fails, so an outage delays this output's events (kept in the database) and nothing else.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use wagate_core::Timestamp;
use wagate_core::broker::BrokerKind;
use wagate_core::event_stream::StreamCursor;
use wagate_core::store::{Store, StoreError};

use crate::sink::{Sink, SinkError};
use crate::status::TargetStatus;

/// How long a hold lasts without being renewed: a node that dies is replaced after this.
pub const HOLD: Duration = Duration::from_secs(30);
/// Events per batch: one round trip to the broker and one write of the place.
pub const BATCH: u32 = 500;
/// The backlog is counted up to this many events, at most once a `COUNT_EVERY` while it drains
/// (a count reads the index up to the cap: done per batch, it would slow the drain it measures).
pub const BACKLOG_CAP: u32 = 100_000;
const COUNT_EVERY: Duration = Duration::from_secs(1);
/// How often the stream is looked at when nothing on this node woke the publisher: the delay
/// of events written by other nodes (and, on PostgreSQL, of a commit that was still running).
const POLL: Duration = Duration::from_millis(500);
/// After a failure the publisher waits this long, doubling up to `MAX_BACKOFF` (short: a broker
/// that is back is written to within seconds).
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Another node publishes to this output.
    HeldElsewhere,
    /// Nothing after the output's place.
    Idle,
    /// This many events were acknowledged by the broker and the place moved past them.
    Published(usize),
    /// The broker failed; the place did not move, and the same events go next time.
    Failed(SinkError),
    /// The broker took the batch, but meanwhile another node took the output over (this node
    /// stalled past its hold): the place is the other node's to move, and the batch is repeated.
    HoldLost,
}

pub struct Publisher {
    store: Arc<dyn Store>,
    sink: Box<dyn Sink>,
    node: String,
    status: Arc<TargetStatus>,
    wake: Arc<Notify>,
    /// The place, and until when the hold lasts, while this node holds the output.
    held: Option<(StreamCursor, Timestamp)>,
    /// When the backlog was last counted.
    counted_at: Option<Instant>,
}

impl Publisher {
    pub fn new(store: Arc<dyn Store>, sink: Box<dyn Sink>, node: String) -> Self {
        let wake = Arc::new(Notify::new());
        let tell = wake.clone();
        store.on_events_written(Arc::new(move || tell.notify_one()));
        let status = Arc::new(TargetStatus::new(sink.kind()));
        Self {
            store,
            sink,
            node,
            status,
            wake,
            held: None,
            counted_at: None,
        }
    }

    pub fn kind(&self) -> BrokerKind {
        self.sink.kind()
    }

    /// What `/metrics` shows of this output.
    pub fn status(&self) -> Arc<TargetStatus> {
        self.status.clone()
    }

    /// The place and the hold: taken, or renewed once half of it has run.
    async fn hold(&mut self, now: Timestamp) -> Result<Option<StreamCursor>, StoreError> {
        let half = millis(HOLD) / 2;
        if let Some((cursor, until)) = self.held
            && until.millis() - now.millis() > half
        {
            return Ok(Some(cursor));
        }
        let until = now.plus_millis(millis(HOLD));
        let cursor = self
            .store
            .hold_broker_target(self.kind(), &self.node, now, until)
            .await?;
        self.held = cursor.map(|c| (c, until));
        self.status.update(|s| s.holding = cursor.is_some());
        Ok(cursor)
    }

    /// The events after `after`, when the last count is older than `COUNT_EVERY`.
    async fn backlog(&mut self, after: StreamCursor) -> Result<Option<u64>, StoreError> {
        if self.counted_at.is_some_and(|t| t.elapsed() < COUNT_EVERY) {
            return Ok(None);
        }
        self.counted_at = Some(Instant::now());
        Ok(Some(
            self.store.count_events_after(after, BACKLOG_CAP).await?,
        ))
    }

    /// One step: hold the output, read up to `BATCH` events after its place, publish them, and
    /// move the place past them once the broker acknowledged all of them.
    #[tracing::instrument(skip(self), fields(target = self.kind().as_str()))]
    pub async fn try_publish_once(&mut self) -> Result<Step, StoreError> {
        let now = Timestamp::now();
        let Some(cursor) = self.hold(now).await? else {
            return Ok(Step::HeldElsewhere);
        };
        let batch = self.store.read_all_events(cursor, BATCH).await?;
        let Some(last) = batch.last().map(|e| e.cursor) else {
            self.status.update(|s| s.backlog = 0);
            return Ok(Step::Idle);
        };
        if let Err(e) = self.sink.publish(&batch).await {
            tracing::warn!(error = %e, events = batch.len(), "publishing to the broker failed");
            let backlog = self.backlog(cursor).await?;
            self.status.update(|s| {
                s.failures += 1;
                s.last_error = Some((e.to_string(), Timestamp::now()));
                s.backlog = backlog.unwrap_or(s.backlog);
            });
            return Ok(Step::Failed(e));
        }
        let until = Timestamp::now().plus_millis(millis(HOLD));
        if !self
            .store
            .advance_broker_target(self.kind(), &self.node, last, until)
            .await?
        {
            self.held = None;
            self.status.update(|s| s.holding = false);
            return Ok(Step::HoldLost);
        }
        self.held = Some((last, until));
        let backlog = self.backlog(last).await?;
        self.status.update(|s| {
            s.published += batch.len() as u64;
            s.backlog = backlog.unwrap_or(s.backlog.saturating_sub(batch.len() as u64));
        });
        Ok(Step::Published(batch.len()))
    }

    /// Publishes until `stop`, then lets go of the output so another node takes it at once.
    pub async fn run(mut self, stop: CancellationToken) {
        let mut backoff = FIRST_BACKOFF;
        loop {
            let step = tokio::select! {
                _ = stop.cancelled() => break,
                step = self.try_publish_once() => step,
            };
            let pause = match step {
                Ok(Step::Published(_)) | Ok(Step::HoldLost) => {
                    backoff = FIRST_BACKOFF;
                    continue;
                }
                Ok(Step::Idle) => {
                    backoff = FIRST_BACKOFF;
                    // Woken by this node's next event, else polled.
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = self.wake.notified() => continue,
                        _ = tokio::time::sleep(POLL) => continue,
                    }
                }
                Ok(Step::HeldElsewhere) => HOLD / 3,
                Ok(Step::Failed(_)) => next_backoff(&mut backoff),
                Err(e) => {
                    tracing::warn!(error = %e, target = self.kind().as_str(), "reading the events to publish failed");
                    next_backoff(&mut backoff)
                }
            };
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(pause) => {}
            }
        }
        if self.held.is_some()
            && let Err(e) = self
                .store
                .release_broker_target(self.kind(), &self.node)
                .await
        {
            tracing::warn!(error = %e, target = self.kind().as_str(), "letting go of the broker output failed");
        }
    }
}

fn next_backoff(backoff: &mut Duration) -> Duration {
    let now = *backoff;
    *backoff = (*backoff * 2).min(MAX_BACKOFF);
    now
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
