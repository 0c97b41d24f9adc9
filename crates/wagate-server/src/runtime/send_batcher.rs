//! Group commit for accepted sends: every send that arrives while a transaction commits goes
//! into the next one, and id order stays commit order.

use std::sync::Arc;

use wagate_core::message::Message;
use wagate_core::send::NewMessage;
use wagate_core::store::{
    IdempotencyRequest, InsertMessageError, OutboundInsert, Store, StoreError,
};

use crate::runtime::group_commit::{GroupCommit, all_failed};

/// At most this many sends share one transaction.
const MAX_BATCH: usize = 256;

type Answer = Result<Message, InsertMessageError>;

#[derive(Clone)]
pub struct SendBatcher {
    writer: GroupCommit<OutboundInsert, Answer>,
}

impl SendBatcher {
    pub fn start(store: Arc<dyn Store>) -> Self {
        let writer = GroupCommit::start(MAX_BATCH, move |batch| commit(store.clone(), batch));
        Self { writer }
    }

    /// Stores the message (`queued`); returns it with its id and chat once committed.
    pub async fn submit(
        &self,
        message: NewMessage,
        idempotency: Option<IdempotencyRequest>,
    ) -> Result<Message, InsertMessageError> {
        let insert = OutboundInsert {
            message,
            idempotency,
        };
        self.writer
            .submit(insert)
            .await
            .map_err(|e| InsertMessageError::Store(StoreError::Unavailable(e.to_string())))?
    }
}

async fn commit(store: Arc<dyn Store>, batch: Vec<OutboundInsert>) -> Vec<Answer> {
    match store.insert_outbound_batch(&batch).await {
        Ok(results) => results
            .into_iter()
            .map(|result| result.map_err(InsertMessageError::IdempotencyKeyUsed))
            .collect(),
        // One row's value was refused, which rolled back everyone's: each send gets a
        // transaction of its own, so only the bad one fails. (An unreachable database is not
        // retried row by row: it would fail every row again, slowly.)
        Err(StoreError::Rejected(_)) if batch.len() > 1 => {
            let mut answers = Vec::with_capacity(batch.len());
            for insert in batch {
                answers.push(store.insert_outbound(insert).await);
            }
            answers
        }
        // Nothing of the batch was committed: every request is answered with the error.
        Err(e) => all_failed(batch.len(), &e),
    }
}
