//! Group commit for accepted sends. Requests hand their message to one worker, which commits
//! every send that arrived meanwhile in a single transaction, then answers each. Under load this
//! turns N commits (and N lock hand-offs on PostgreSQL) into one, and id order stays commit order.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use wagate_core::message::Message;
use wagate_core::store::{
    IdempotencyRequest, InsertMessageError, OutboundInsert, Store, StoreError,
};

/// At most this many sends share one transaction.
const MAX_BATCH: usize = 256;

type Reply = oneshot::Sender<Result<Message, InsertMessageError>>;

#[derive(Clone)]
pub struct SendBatcher {
    jobs: mpsc::Sender<(OutboundInsert, Reply)>,
}

impl SendBatcher {
    pub fn start(store: Arc<dyn Store>) -> Self {
        let (jobs, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(store, rx));
        Self { jobs }
    }

    /// Stores the message (`queued`); returns it with its id and chat once committed.
    pub async fn submit(
        &self,
        message: Message,
        idempotency: Option<IdempotencyRequest>,
    ) -> Result<Message, InsertMessageError> {
        let (reply, answer) = oneshot::channel();
        let insert = OutboundInsert {
            message,
            idempotency,
        };
        let gone =
            || InsertMessageError::Store(StoreError::Unavailable("the send writer stopped".into()));
        self.jobs.send((insert, reply)).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

async fn run(store: Arc<dyn Store>, mut rx: mpsc::Receiver<(OutboundInsert, Reply)>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let (mut batch, replies): (Vec<_>, Vec<_>) = jobs.drain(..).unzip();
        match store.insert_outbound_batch(&mut batch).await {
            Ok(results) => {
                for ((insert, reply), result) in batch.into_iter().zip(replies).zip(results) {
                    let _ = reply.send(match result {
                        Ok(()) => Ok(insert.message),
                        Err(used) => Err(InsertMessageError::IdempotencyKeyUsed(used)),
                    });
                }
            }
            Err(e) => {
                // Nothing of the batch was committed: every request is answered with the error.
                let msg = e.to_string();
                for reply in replies {
                    let _ = reply.send(Err(InsertMessageError::Store(StoreError::Unavailable(
                        msg.clone(),
                    ))));
                }
            }
        }
    }
}
