//! Commands for an instance held by another node, carried through the database (§19: never
//! node-to-node HTTP): a lifecycle command (`lifecycle::run_here`), or a whole API request that
//! needs the instance's connection (`http/forward.rs`). The asking node writes the command, the
//! holder is told, takes it, runs it and writes the answer, and the asking node is told and
//! reads it, within the request. A notice lost costs a quarter of a second (the answer is also
//! polled); a holder that never answers costs `ANSWER_WAIT`, then 503.

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use wagate_core::engine::NotRecorded;
use wagate_core::instance::Instance;
use wagate_core::node::{NodeCommand, NodeId};
use wagate_core::store::{Store, StoreError};
use wagate_core::{InstanceId, Timestamp};

use wagate_engines::SandboxNetwork;
use wagate_engines::sandbox::Crossing;

use crate::runtime::Live;
use crate::runtime::lifecycle::{Lifecycle, LifecycleError, Refusal, run_here};
use crate::runtime::supervisor::Supervisor;

/// How long a request waits for the holder's answer.
const ANSWER_WAIT: Duration = Duration::from_secs(15);
/// How long a sandbox instance waits for another node to take what it sends: the sender keeps
/// it and tries again, so a dead node should not hold its queue up for long.
const HAND_WAIT: Duration = Duration::from_secs(5);
/// How often the answer is read without a notice.
const POLL: Duration = Duration::from_millis(250);

/// What is asked of the holder.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Asked {
    Lifecycle {
        command: Lifecycle,
    },
    Request {
        request: CarriedRequest,
    },
    /// What a sandbox instance gives one connected on the asked node.
    Sandbox {
        crossing: Crossing,
    },
}

/// What the holder answers.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Answered {
    Lifecycle { answer: Result<Live, Refusal> },
    Response { response: CarriedResponse },
    Sandbox { taken: Result<(), String> },
}

/// An API request carried to the node that holds its instance, as the client sent it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CarriedRequest {
    /// The key the asking node authenticated the request with (its id, never its secret).
    pub key: String,
    pub method: String,
    /// Path and query.
    pub uri: String,
    pub headers: Vec<(String, String)>,
    /// Base64.
    pub body: String,
}

/// The holder's response, given to the client as it is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CarriedResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// Base64.
    pub body: String,
}

fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

pub struct Remote {
    store: Arc<dyn Store>,
    node: NodeId,
    /// The sandbox network's devices on this node, given what other nodes hand them.
    sandbox: Option<SandboxNetwork>,
    /// The commands this node waits on, by id.
    waiting: DashMap<String, Arc<Notify>>,
}

impl Remote {
    pub fn new(store: Arc<dyn Store>, node: NodeId, sandbox: Option<SandboxNetwork>) -> Self {
        Self {
            store,
            node,
            sandbox,
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
                match self
                    .ask(
                        &holder,
                        &inst.id,
                        &Asked::Lifecycle { command },
                        ANSWER_WAIT,
                    )
                    .await?
                {
                    Answered::Lifecycle { answer } => Ok(answer?),
                    _ => Err(Refusal::Unavailable.into()),
                }
            }
            other => other,
        }
    }

    /// Carries `request` to `holder` and brings back its response.
    pub async fn carry(
        &self,
        holder: &NodeId,
        instance: &InstanceId,
        request: CarriedRequest,
    ) -> Result<CarriedResponse, LifecycleError> {
        match self
            .ask(holder, instance, &Asked::Request { request }, ANSWER_WAIT)
            .await?
        {
            Answered::Response { response } => Ok(response),
            _ => Err(Refusal::Unavailable.into()),
        }
    }

    /// Gives `crossing` to the sandbox device of `instance` on `node`; `Ok` once it committed
    /// it there.
    pub async fn hand(
        &self,
        node: &NodeId,
        instance: &InstanceId,
        crossing: Crossing,
    ) -> Result<(), NotRecorded> {
        let asked = Asked::Sandbox { crossing };
        match self.ask(node, instance, &asked, HAND_WAIT).await {
            Ok(Answered::Sandbox { taken }) => taken.map_err(NotRecorded),
            Ok(_) => Err(NotRecorded("an unexpected answer".into())),
            Err(e) => Err(NotRecorded(e.to_string())),
        }
    }

    /// Asks `holder` and waits for its answer.
    #[tracing::instrument(skip(self, asked), fields(%holder, %instance))]
    async fn ask(
        &self,
        holder: &NodeId,
        instance: &InstanceId,
        asked: &Asked,
        wait: Duration,
    ) -> Result<Answered, LifecycleError> {
        let id = format!("cmd_{}", ulid::Ulid::new().to_string().to_lowercase());
        let command = NodeCommand {
            id: id.clone(),
            to: holder.clone(),
            from: self.node.clone(),
            instance: instance.clone(),
            body: serde_json::to_string(asked).map_err(corrupt)?,
        };
        let told = Arc::new(Notify::new());
        self.waiting.insert(id.clone(), told.clone());
        let answer = async {
            self.store.post_command(&command, Timestamp::now()).await?;
            loop {
                if let Some(a) = self.store.take_answer(&id).await? {
                    return Ok::<_, StoreError>(a);
                }
                let _ = tokio::time::timeout(POLL, told.notified()).await;
            }
        };
        let answer = tokio::time::timeout(wait, answer).await;
        self.waiting.remove(&id);
        match answer {
            Ok(a) => Ok(serde_json::from_str(&a?).map_err(corrupt)?),
            Err(_) => {
                tracing::warn!("the node holding the instance did not answer in time");
                let _ = self.store.drop_command(&id).await;
                Err(Refusal::Unavailable.into())
            }
        }
    }

    /// The answer to command `id` was written.
    pub fn answered(&self, id: &str) {
        if let Some(told) = self.waiting.get(id) {
            told.notify_one();
        }
    }

    /// Takes command `id` (if it is still to be run), runs it here and answers it; a carried
    /// request goes through `router`, this node's API, as if its client had sent it here.
    #[tracing::instrument(skip(self, supervisor, router))]
    pub async fn serve(
        &self,
        supervisor: &Supervisor,
        router: &axum::Router,
        id: &str,
    ) -> Result<(), StoreError> {
        let Some(command) = self
            .store
            .take_command(id, &self.node, Timestamp::now())
            .await?
        else {
            return Ok(());
        };
        let answered = match serde_json::from_str::<Asked>(&command.body) {
            Ok(Asked::Request { request }) => Answered::Response {
                response: crate::http::forward::run_carried(router, request).await,
            },
            Ok(Asked::Lifecycle { command: what }) => Answered::Lifecycle {
                answer: self
                    .lifecycle_here(supervisor, &command.instance, &what)
                    .await?,
            },
            Ok(Asked::Sandbox { crossing }) => Answered::Sandbox {
                taken: match &self.sandbox {
                    Some(net) => net
                        .take(&command.instance, crossing)
                        .await
                        .map_err(|e| e.to_string()),
                    None => Err("not a sandbox server".into()),
                },
            },
            Err(e) => {
                tracing::error!(error = %e, "an unreadable command from another node");
                Answered::Lifecycle {
                    answer: Err(Refusal::Unavailable),
                }
            }
        };
        let answer = serde_json::to_string(&answered).map_err(corrupt)?;
        self.store.answer_command(&command, &answer).await
    }

    async fn lifecycle_here(
        &self,
        supervisor: &Supervisor,
        instance: &InstanceId,
        what: &Lifecycle,
    ) -> Result<Result<Live, Refusal>, StoreError> {
        let Some(inst) = self.store.find_instance(instance).await? else {
            return Ok(Err(Refusal::Unavailable));
        };
        Ok(match run_here(supervisor, &inst, what).await {
            Ok(live) => Ok(live),
            Err(LifecycleError::Refused(r)) => Err(r),
            // It moved again meanwhile, or the database failed: the caller may retry.
            Err(e) => {
                tracing::warn!(error = %e, "a command from another node failed");
                Err(Refusal::Unavailable)
            }
        })
    }
}
