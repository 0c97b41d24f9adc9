//! What the event streams of this node wait on (§21): a wake-up after every commit that wrote an
//! event, and the end of the server. Events written on another node are found by polling.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use wagate_core::AccountId;
use wagate_core::event_stream::{StreamCursor, StreamFilter, StreamedEvent};
use wagate_core::store::Store;

/// How long a stream waits without a wake-up before it reads again: events of other nodes,
/// and events that commit while an older transaction still runs (PostgreSQL hands those out
/// once it ends), take at most this long.
const POLL: Duration = Duration::from_secs(1);
/// Events read from the store at a time.
const BATCH: u32 = 100;

/// Shared by every stream of the node.
#[derive(Clone)]
pub struct EventFeed {
    written: watch::Sender<()>,
    stop: CancellationToken,
}

impl EventFeed {
    pub fn new(store: &dyn Store) -> Self {
        let (written, _) = watch::channel(());
        let tell = written.clone();
        store.on_events_written(Arc::new(move || {
            tell.send_replace(());
        }));
        Self {
            written,
            stop: CancellationToken::new(),
        }
    }

    /// Ends every stream (at shutdown, so that none holds the server's drain).
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// A reader of `account`'s events after `cursor`.
    pub fn reader(
        &self,
        store: Arc<dyn Store>,
        account: AccountId,
        filter: StreamFilter,
        cursor: StreamCursor,
    ) -> StreamReader {
        StreamReader {
            store,
            account,
            filter,
            cursor,
            buffer: VecDeque::new(),
            woken: self.written.subscribe(),
            stop: self.stop.clone(),
        }
    }
}

/// One client's place in its account's stream; the one owner of that place.
pub struct StreamReader {
    store: Arc<dyn Store>,
    account: AccountId,
    filter: StreamFilter,
    cursor: StreamCursor,
    buffer: VecDeque<StreamedEvent>,
    woken: watch::Receiver<()>,
    stop: CancellationToken,
}

impl StreamReader {
    /// The next event, waiting for one. None when the server stops or the store fails: the
    /// client reconnects with the last id it got and misses nothing.
    pub async fn next(&mut self) -> Option<StreamedEvent> {
        loop {
            if let Some(e) = self.buffer.pop_front() {
                return Some(e);
            }
            // Marked seen before reading, so a commit during the read wakes the wait below.
            self.woken.borrow_and_update();
            match self
                .store
                .read_stream(&self.account, self.cursor, &self.filter, BATCH)
                .await
            {
                Ok(batch) => {
                    if let Some(last) = batch.last() {
                        self.cursor = last.cursor;
                        self.buffer.extend(batch);
                        continue;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "event stream: reading failed; ending the stream");
                    return None;
                }
            }
            tokio::select! {
                () = self.stop.cancelled() => return None,
                woke = self.woken.changed() => {
                    if woke.is_err() {
                        // No writer left to wake us (never while the store lives): poll.
                        tokio::time::sleep(POLL).await;
                    }
                }
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }
}
