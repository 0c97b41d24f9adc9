//! Group commit for connection states (`connecting`, `connected`, `disconnected`…): the saves of
//! every instance's actor that arrive while a batch commits share the next transaction. A node
//! resuming thousands of instances after a restart made two commits for each, and on SQLite
//! every commit is a sync to disk: that, not the resumes themselves, was the restart's pace.

use std::sync::Arc;

use wagate_core::node::Fence;
use wagate_core::store::{ConnectionState, Store, StoreError};

use crate::runtime::group_commit::{GroupCommit, all_failed};

/// At most this many saves share one transaction.
const MAX_BATCH: usize = 256;

type Save = (Fence, ConnectionState);
type Answer = Result<(), StoreError>;

#[derive(Clone)]
pub struct ConnectionWriter {
    writer: GroupCommit<Save, Answer>,
}

impl ConnectionWriter {
    pub fn start(store: Arc<dyn Store>) -> Self {
        let writer = GroupCommit::start(MAX_BATCH, move |batch| commit(store.clone(), batch));
        Self { writer }
    }

    /// `Store::save_connection`, once committed with whatever else was waiting.
    pub async fn save(&self, fence: &Fence, state: &ConnectionState) -> Answer {
        self.writer
            .submit((fence.clone(), state.clone()))
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?
    }
}

async fn commit(store: Arc<dyn Store>, batch: Vec<Save>) -> Vec<Answer> {
    match store.save_connections(&batch).await {
        Ok(answers) => answers
            .into_iter()
            .map(|a| a.map_err(StoreError::from))
            .collect(),
        // Nothing of the batch was saved: every save is answered with the error.
        Err(e) => all_failed(batch.len(), &e),
    }
}
