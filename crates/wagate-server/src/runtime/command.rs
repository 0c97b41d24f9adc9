//! What an instance's actor is asked to do. Everything that changes an instance's connection
//! arrives here, in one mailbox, so the actor applies it in arrival order.

use std::sync::Arc;

use tokio::sync::oneshot;
use wagate_core::engine::{EngineEvent, Session};
use wagate_core::message::Recipient;
use wagate_core::store::StoreError;

/// The answer to a command whose effect is a write: `Ok` once it is committed.
pub type Done = oneshot::Sender<Result<(), StoreError>>;

pub enum Command {
    /// A message was queued: look at the queue.
    Wake,
    /// The engine's connection exists: the session to send through.
    Attach(Arc<dyn Session>),
    /// An event of the engine (not an inbound message), answered once its effect is committed.
    Engine { event: Box<EngineEvent>, done: Done },
    /// The session, when the instance is connected.
    Session(oneshot::Sender<Option<Arc<dyn Session>>>),
    /// Marks received messages read on the network (auto-read); best effort.
    MarkRead { peer: Recipient, ids: Vec<String> },
    /// Closes the connection and ends the actor, keeping the saved session.
    Stop(oneshot::Sender<()>),
    /// Logs out and ends the actor: the saved session is destroyed and queued messages fail.
    Logout(Done),
}
