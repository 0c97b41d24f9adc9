//! Lifecycle commands for an instance held by another node, carried through the database
//! (§19: never node-to-node HTTP): the asking node writes the command, the holder is told,
//! takes it, runs it (`lifecycle::run_here`) and writes the answer, and the asking node is told
//! and reads it, within the request. A notice lost costs a quarter of a second (the answer is
//! also polled); a holder that never answers costs `ANSWER_WAIT`, then 503.

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use tokio::sync::Notify;
use wagate_core::instance::Instance;
use wagate_core::node::{NodeCommand, NodeId};
use wagate_core::store::{Store, StoreError};
use wagate_core::{InstanceId, Timestamp};

use crate::runtime::Live;
use crate::runtime::lifecycle::{Lifecycle, LifecycleError, Refusal, run_here};
use crate::runtime::supervisor::Supervisor;

/// How long a request waits for the holder's answer.
const ANSWER_WAIT: Duration = Duration::from_secs(15);
/// How often the answer is read without a notice.
const POLL: Duration = Duration::from_millis(250);

/// What the holder answers.
type Answer = Result<Live, Refusal>;

pub struct Remote {
    store: Arc<dyn Store>,
    node: NodeId,
    /// The commands this node waits on, by id.
    waiting: DashMap<String, Arc<Notify>>,
}

impl Remote {
    pub fn new(store: Arc<dyn Store>, node: NodeId) -> Self {
        Self {
            store,
            node,
            waiting: DashMap::new(),
        }
    }

    /// Runs `command` here, or on the node that holds the instance.
    pub async fn run(
        &self,
        supervisor: &Supervisor,
        inst: &Instance,
        command: Lifecycle,
    ) -> Result<Live, LifecycleError> {
        match run_here(supervisor, inst, &command).await {
            Err(LifecycleError::HeldElsewhere(holder)) => {
                self.ask(&holder, &inst.id, &command).await
            }
            other => other,
        }
    }

    /// Asks `holder` to run `command` and waits for its answer.
    #[tracing::instrument(skip(self, command), fields(%holder, %instance))]
    async fn ask(
        &self,
        holder: &NodeId,
        instance: &InstanceId,
        command: &Lifecycle,
    ) -> Result<Live, LifecycleError> {
        let id = format!("cmd_{}", ulid::Ulid::new().to_string().to_lowercase());
        let body =
            serde_json::to_string(command).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let told = Arc::new(Notify::new());
        self.waiting.insert(id.clone(), told.clone());
        let asked = NodeCommand {
            id: id.clone(),
            to: holder.clone(),
            from: self.node.clone(),
            instance: instance.clone(),
            body,
        };
        let answer = async {
            self.store.post_command(&asked, Timestamp::now()).await?;
            loop {
                if let Some(a) = self.store.take_answer(&id).await? {
                    return Ok::<_, LifecycleError>(a);
                }
                let _ = tokio::time::timeout(POLL, told.notified()).await;
            }
        };
        let answer = tokio::time::timeout(ANSWER_WAIT, answer).await;
        self.waiting.remove(&id);
        let answer = match answer {
            Ok(a) => a?,
            Err(_) => {
                tracing::warn!("the node holding the instance did not answer in time");
                let _ = self.store.drop_command(&id).await;
                return Err(Refusal::Unavailable.into());
            }
        };
        let answer: Answer =
            serde_json::from_str(&answer).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(answer?)
    }

    /// The answer to command `id` was written.
    pub fn answered(&self, id: &str) {
        if let Some(told) = self.waiting.get(id) {
            told.notify_one();
        }
    }

    /// Takes command `id` (if it is still to be run), runs it here and answers it.
    #[tracing::instrument(skip(self, supervisor))]
    pub async fn serve(&self, supervisor: &Supervisor, id: &str) -> Result<(), StoreError> {
        let Some(command) = self
            .store
            .take_command(id, &self.node, Timestamp::now())
            .await?
        else {
            return Ok(());
        };
        let answer: Answer = match (
            serde_json::from_str::<Lifecycle>(&command.body),
            self.store.find_instance(&command.instance).await?,
        ) {
            (Ok(what), Some(inst)) => match run_here(supervisor, &inst, &what).await {
                Ok(live) => Ok(live),
                Err(LifecycleError::Refused(r)) => Err(r),
                // It moved again meanwhile, or the database failed: the caller may retry.
                Err(e) => {
                    tracing::warn!(error = %e, "a command from another node failed");
                    Err(Refusal::Unavailable)
                }
            },
            (Err(e), _) => {
                tracing::error!(error = %e, "an unreadable command from another node");
                Err(Refusal::Unavailable)
            }
            (_, None) => Err(Refusal::Unavailable),
        };
        let answer =
            serde_json::to_string(&answer).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.store.answer_command(&command, &answer).await
    }
}
