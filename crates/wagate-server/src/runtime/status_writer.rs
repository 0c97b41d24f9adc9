//! Group commit for status changes (`sent`, `failed`, receipts): a send loop's batch and the
//! receipts of every instance that arrive meanwhile share one transaction. Under send load
//! these were two to three commits per message; now they are a few per batch.

use std::sync::Arc;

use wagate_core::message::Message;
use wagate_core::status_change::StatusChange;
use wagate_core::store::{Store, StoreError};

use crate::runtime::group_commit::{GroupCommit, all_failed};

/// At most this many changes share one transaction.
const MAX_BATCH: usize = 512;

type Answer = Result<Option<Message>, StoreError>;

#[derive(Clone)]
pub struct StatusWriter {
    writer: GroupCommit<StatusChange, Answer>,
}

impl StatusWriter {
    pub fn start(store: Arc<dyn Store>) -> Self {
        let writer = GroupCommit::start(MAX_BATCH, move |batch| commit(store.clone(), batch));
        Self { writer }
    }

    /// Applies the change; returns the message when it moved, once committed.
    pub async fn apply(&self, change: StatusChange) -> Answer {
        self.writer
            .submit(change)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?
    }

    /// Applies the changes in order (in one or more transactions); waits for all of them.
    pub async fn apply_all(&self, changes: Vec<StatusChange>) -> Result<(), StoreError> {
        let answers = self
            .writer
            .submit_all(changes)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        answers.into_iter().try_for_each(|a| a.map(drop))
    }
}

async fn commit(store: Arc<dyn Store>, batch: Vec<StatusChange>) -> Vec<Answer> {
    match store.change_statuses(&batch).await {
        Ok(moved) => moved.into_iter().map(Ok).collect(),
        // Nothing of the batch was committed: every change is answered with the error.
        Err(e) => all_failed(batch.len(), &e),
    }
}
