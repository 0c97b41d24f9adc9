//! How the rest of the server reaches an instance's actor: a mailbox to send commands to, and
//! the actor's live state to read. Cloning a handle is cheap; any number may exist.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use wagate_core::InstanceId;
use wagate_core::engine::{EngineEvent, NotRecorded, Session};
use wagate_core::message::Recipient;
use wagate_core::node::{Epoch, Tenure};
use wagate_core::store::StoreError;

use crate::runtime::command::Command;
use crate::runtime::live::Live;

#[derive(Clone)]
pub struct InstanceHandle {
    pub id: InstanceId,
    /// The epoch of the lease the actor drives the instance under.
    pub epoch: Epoch,
    /// How long this node may still act for the instance (renewed by the ownership loop).
    pub tenure: Tenure,
    mailbox: mpsc::UnboundedSender<Command>,
    live: watch::Receiver<Live>,
}

/// The actor has ended (stopped, logged out): nothing more can be asked of it.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the instance's connection was closed")]
pub struct Gone;

impl InstanceHandle {
    pub(crate) fn new(
        id: InstanceId,
        epoch: Epoch,
        tenure: Tenure,
        mailbox: mpsc::UnboundedSender<Command>,
        live: watch::Receiver<Live>,
    ) -> Self {
        Self {
            id,
            epoch,
            tenure,
            mailbox,
            live,
        }
    }

    /// What the instance shows now.
    pub fn live(&self) -> Live {
        self.live.borrow().clone()
    }

    /// Waits until `pred` holds for the live state, or `timeout` passes; tells which.
    pub async fn wait_for(&self, timeout: Duration, pred: impl Fn(&Live) -> bool) -> bool {
        let mut live = self.live.clone();
        match tokio::time::timeout(timeout, live.wait_for(|l| pred(l))).await {
            Ok(Ok(_)) => true,
            // Timed out, or the actor ended: judge the last state it showed.
            _ => pred(&self.live.borrow()),
        }
    }

    pub fn is_gone(&self) -> bool {
        self.mailbox.is_closed()
    }

    /// A message was queued: the send loop looks at the queue.
    pub fn wake(&self) {
        let _ = self.mailbox.send(Command::Wake);
    }

    pub(crate) fn attach(&self, session: Arc<dyn Session>) {
        let _ = self.mailbox.send(Command::Attach(session));
    }

    /// Hands an engine event to the actor; returns once its effect is committed.
    pub(crate) async fn report(&self, event: EngineEvent) -> Result<(), NotRecorded> {
        let (done, committed) = oneshot::channel();
        self.mailbox
            .send(Command::Engine {
                event: Box::new(event),
                done,
            })
            .map_err(|_| NotRecorded(Gone.to_string()))?;
        match committed.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(NotRecorded(e.to_string())),
            Err(_) => Err(NotRecorded(Gone.to_string())),
        }
    }

    /// The session to use, when the instance is connected.
    pub async fn connected_session(&self) -> Option<Arc<dyn Session>> {
        let (reply, answer) = oneshot::channel();
        self.mailbox.send(Command::Session(reply)).ok()?;
        answer.await.ok().flatten()
    }

    pub(crate) fn mark_read(&self, peer: Recipient, ids: Vec<String>) {
        let _ = self.mailbox.send(Command::MarkRead { peer, ids });
    }

    /// Closes the connection (the saved session stays) and waits for the actor to end.
    pub async fn stop(&self) {
        let (done, ended) = oneshot::channel();
        if self.mailbox.send(Command::Stop(done)).is_ok() {
            let _ = ended.await;
        }
    }

    /// Logs out and waits for the actor to end: the saved session is void afterwards.
    pub async fn logout(&self) -> Result<(), StoreError> {
        let (done, ended) = oneshot::channel();
        if self.mailbox.send(Command::Logout(done)).is_err() {
            return Ok(()); // already ended
        }
        ended
            .await
            .unwrap_or_else(|_| Err(StoreError::Unavailable(Gone.to_string())))
    }
}
