//! One live instance as a single-writer actor (the shape of tokio mini-redis's server): one
//! task owns the instance's session, its connection state and what it shows, and takes every
//! command from one mailbox: wake-ups, the engine's events, attach, stop, logout.
//!
//! Sending runs beside it as a pass task (`send_batch`), one at a time, so the actor never waits
//! on the network and an ack always finds the send that waits for it. A receipt that arrives
//! while a pass is in flight may be for a message whose `sent` is not committed yet, so it is
//! parked and applied when the pass ends; outside a pass it is applied at once. That is how
//! receipts are ordered after the `sent` they follow without anyone waiting on a lock.

mod events;

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use wagate_core::InstanceId;
use wagate_core::Timestamp;
use wagate_core::engine::Session;
use wagate_core::failure::FailureCode;
use wagate_core::instance::{ConnectionMethod, Instance, InstanceStatus};
use wagate_core::node::{Fence, Fenced, Lease, Tenure};
use wagate_core::status_change::StatusChange;
use wagate_core::store::{ConnectionState, Store, StoreError};

use crate::runtime::command::{Command, Done};
use crate::runtime::connection_writer::ConnectionWriter;
use crate::runtime::handle::InstanceHandle;
use crate::runtime::live::Live;
use crate::runtime::media_fetch::MediaFetcher;
use crate::runtime::send_batch::{PassEnd, SEND_BATCH, SendBatch, expired};
use crate::runtime::status_writer::StatusWriter;

/// The queue is looked at this often even without a wake-up: a safety net, not the mechanism.
const IDLE_LOOK: Duration = Duration::from_secs(5);
/// After an interrupted send, the next pass waits this long (the connection is going).
const AFTER_INTERRUPT: Duration = Duration::from_millis(200);
/// After the queue could not be read.
const AFTER_QUEUE_ERROR: Duration = Duration::from_secs(1);
/// How long stopping waits for the send in flight before abandoning it. An abandoned message
/// stays `queued` and is sent again under the same network id, which the network deduplicates.
const PASS_GRACE: Duration = Duration::from_secs(5);

/// What every actor shares: the store, the status writer, the media fetcher, the task tracker.
#[derive(Clone)]
pub struct ActorParts {
    pub store: Arc<dyn Store>,
    pub statuses: StatusWriter,
    /// The connection states of every actor, group-committed.
    pub connections: ConnectionWriter,
    pub media: MediaFetcher,
    pub tasks: TaskTracker,
    /// A message still queued this long after it was accepted fails with `expired`.
    pub send_deadline: Duration,
}

/// The send pass in flight.
struct Pass {
    task: JoinHandle<PassEnd>,
    cancel: CancellationToken,
    /// A message was queued after the pass read the queue.
    woken: bool,
}

pub struct InstanceActor {
    id: InstanceId,
    parts: ActorParts,
    method: ConnectionMethod,
    /// The connection fields as last saved: this actor is their only writer while it runs.
    state: ConnectionState,
    live: watch::Sender<Live>,
    session: Option<Arc<dyn Session>>,
    pass: Option<Pass>,
    /// Receipts (and late failures) that arrived during the pass, applied when it ends.
    parked: Vec<(StatusChange, Done)>,
    /// Whether the queue may hold something to send.
    maybe_queued: bool,
    /// No pass starts before this.
    not_before: Option<Instant>,
    /// The lease this actor drives the instance under: every write of its session and
    /// connection state names it, and is refused once another node holds the instance.
    fence: Fence,
    /// A write was refused by the fence: the actor closes the connection and ends.
    fenced: bool,
    /// While it holds, receipts and send outcomes are written (see `Tenure`).
    tenure: Tenure,
}

impl InstanceActor {
    /// Starts the actor of `inst`, connecting with `method`. Returns once `connecting` is saved,
    /// so whatever the engine reports after this is ordered after it.
    pub async fn spawn(
        parts: ActorParts,
        inst: &Instance,
        method: ConnectionMethod,
        lease: Lease,
        tenure: Tenure,
    ) -> Result<InstanceHandle, StoreError> {
        let mut state = ConnectionState::of(inst);
        state.status = InstanceStatus::Connecting;
        state.connection_method = Some(method);
        state.last_seen_at = Some(Timestamp::now());
        let epoch = lease.epoch;
        let fence = Fence::Held(lease);
        parts.connections.save(&fence, &state).await?;
        let live = Live {
            status: Some(InstanceStatus::Connecting),
            last_error: state.last_error.clone(),
            ..Live::default()
        };
        let (live_tx, live_rx) = watch::channel(live);
        let (mailbox, commands) = mpsc::unbounded_channel();
        let actor = Self {
            id: inst.id.clone(),
            parts: parts.clone(),
            method,
            state,
            live: live_tx,
            session: None,
            pass: None,
            parked: Vec::new(),
            maybe_queued: true,
            not_before: None,
            fence,
            fenced: false,
            tenure: tenure.clone(),
        };
        parts.tasks.spawn(actor.run(commands));
        Ok(InstanceHandle::new(
            inst.id.clone(),
            epoch,
            tenure,
            mailbox,
            live_rx,
        ))
    }

    #[tracing::instrument(name = "instance", skip_all, fields(instance = %self.id))]
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut next_look = Instant::now() + IDLE_LOOK;
        loop {
            self.start_pass_if_due();
            let wake_at = self.not_before.map_or(next_look, |t| t.min(next_look));
            tokio::select! {
                command = commands.recv() => {
                    let Some(command) = command else {
                        // Every handle is gone: nobody can reach this instance any more.
                        self.close().await;
                        return;
                    };
                    if self.handle(command).await.is_break() {
                        return;
                    }
                    if self.fenced {
                        tracing::warn!("another node holds the instance now: closing");
                        self.close().await;
                        return;
                    }
                }
                end = wait_for_pass(&mut self.pass) => self.pass_ended(end).await,
                _ = tokio::time::sleep_until(wake_at) => {
                    if Instant::now() >= next_look {
                        self.maybe_queued = true;
                        next_look = Instant::now() + IDLE_LOOK;
                        if self.pass.is_none() && self.connected_session().is_none() {
                            // No pass will look at the queue while the link is down.
                            self.expire_queued().await;
                        }
                    }
                }
            }
        }
    }

    async fn handle(&mut self, command: Command) -> ControlFlow<()> {
        match command {
            Command::Wake => {
                self.maybe_queued = true;
                if let Some(p) = &mut self.pass {
                    p.woken = true;
                }
            }
            Command::Attach(session) => {
                self.session = Some(session);
                self.maybe_queued = true;
            }
            Command::Engine { event, done } => self.on_engine_event(*event, done).await,
            Command::Session(reply) => {
                let _ = reply.send(self.connected_session());
            }
            Command::MarkRead { peer, ids } => {
                if let Some(session) = self.session.clone() {
                    self.parts.tasks.spawn(async move {
                        let _ = session.mark_read(&peer, &ids).await;
                    });
                }
            }
            Command::Stop(done) => {
                self.close().await;
                let _ = done.send(());
                return ControlFlow::Break(());
            }
            Command::Logout(done) => {
                let _ = done.send(self.logout().await);
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }

    fn connected_session(&self) -> Option<Arc<dyn Session>> {
        (self.live.borrow().status == Some(InstanceStatus::Connected))
            .then(|| self.session.clone())
            .flatten()
    }

    fn start_pass_if_due(&mut self) {
        if self.pass.is_some() || !self.maybe_queued {
            return;
        }
        if self.not_before.is_some_and(|t| Instant::now() < t) {
            return;
        }
        // Cleared once passed, connected or not: a past deadline left set would make the loop's
        // timer fire at once, again and again, while the instance reconnects.
        self.not_before = None;
        let Some(session) = self.connected_session() else {
            return;
        };
        self.maybe_queued = false;
        let cancel = CancellationToken::new();
        let pass = SendBatch {
            instance: self.id.clone(),
            store: self.parts.store.clone(),
            statuses: self.parts.statuses.clone(),
            media: self.parts.media.clone(),
            session,
            cancel: cancel.clone(),
            deadline: self.parts.send_deadline,
            tenure: self.tenure.clone(),
        };
        self.pass = Some(Pass {
            task: self.parts.tasks.spawn(pass.run()),
            cancel,
            woken: false,
        });
    }

    async fn pass_ended(&mut self, end: PassEnd) {
        let woken = self.pass.take().is_some_and(|p| p.woken);
        self.apply_parked().await;
        match end {
            PassEnd::Empty | PassEnd::Cancelled => self.maybe_queued |= woken,
            PassEnd::Sent { latency_ms } => {
                self.maybe_queued = true;
                if latency_ms.is_some() {
                    self.live.send_modify(|l| l.latency_ms = latency_ms);
                }
            }
            PassEnd::Interrupted => {
                self.maybe_queued = true;
                self.not_before = Some(Instant::now() + AFTER_INTERRUPT);
            }
            PassEnd::QueueUnreadable => {
                self.maybe_queued = true;
                self.not_before = Some(Instant::now() + AFTER_QUEUE_ERROR);
            }
        }
    }

    /// Applies a reported status change now, or after the pass in flight (see the module doc).
    async fn apply_reported(&mut self, change: StatusChange, done: Done) {
        if self.pass.is_some() {
            self.parked.push((change, done));
        } else if !self.tenure.holds() {
            let _ = done.send(Err(Fenced(self.id.clone()).into()));
        } else {
            let _ = done.send(self.parts.statuses.apply(change).await.map(drop));
        }
    }

    async fn apply_parked(&mut self) {
        if self.parked.is_empty() {
            return;
        }
        let (changes, dones): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.parked).into_iter().unzip();
        if !self.tenure.holds() {
            // Not acknowledged: the network reports them again to the node holding the lease.
            for done in dones {
                let _ = done.send(Err(Fenced(self.id.clone()).into()));
            }
            return;
        }
        let result = self.parts.statuses.apply_all(changes).await;
        if let Err(e) = &result {
            tracing::error!(error = %e, "recording receipts failed");
        }
        for done in dones {
            let answer = match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(StoreError::Unavailable(e.to_string())),
            };
            let _ = done.send(answer);
        }
    }

    /// Lets the pass in flight finish (or abandons it after `PASS_GRACE`), then applies what
    /// waited for it.
    async fn end_pass(&mut self) {
        if let Some(mut pass) = self.pass.take() {
            pass.cancel.cancel();
            if tokio::time::timeout(PASS_GRACE, &mut pass.task)
                .await
                .is_err()
            {
                tracing::warn!("a send did not finish in time; it stays queued");
                pass.task.abort();
            }
        }
        self.apply_parked().await;
    }

    /// Closes the connection, keeping the saved session.
    async fn close(&mut self) {
        self.end_pass().await;
        if let Some(s) = self.session.take() {
            s.close().await;
        }
    }

    /// Logs out: the saved session is destroyed, queued messages fail, the instance reads
    /// `disconnected`.
    async fn logout(&mut self) -> Result<(), StoreError> {
        self.end_pass().await;
        if let Some(s) = self.session.take() {
            let _ = s.logout().await;
        }
        self.fail_queued(
            FailureCode::InstanceDisconnected,
            "The instance was disconnected before the message could be sent.",
        )
        .await;
        self.set_session(None).await?;
        self.live.send_modify(Live::clear_codes);
        self.save(|s| {
            s.status = InstanceStatus::Disconnected;
            s.phone = None;
            s.connected_at = None;
            s.last_error = None;
        })
        .await
    }

    /// Fails the head of the queue that is past its deadline (the queue is in acceptance order,
    /// so that is a prefix of it).
    async fn expire_queued(&self) {
        if !self.tenure.holds() {
            return; // the node holding the instance now decides
        }
        let store = self.parts.store.as_ref();
        let Ok(head) = store.next_queued(&self.id, SEND_BATCH).await else {
            return;
        };
        let cutoff = Timestamp::ago(self.parts.send_deadline);
        let expired: Vec<StatusChange> = head
            .into_iter()
            .take_while(|m| m.created_at < cutoff)
            .map(|m| expired(m.id))
            .collect();
        if !expired.is_empty()
            && let Err(e) = self.parts.statuses.apply_all(expired).await
        {
            tracing::error!(error = %e, "failing expired messages failed");
        }
    }

    async fn fail_queued(&self, code: FailureCode, message: &str) {
        crate::runtime::send_batch::fail_queued(
            self.parts.store.as_ref(),
            &self.parts.statuses,
            &self.id,
            code,
            message,
        )
        .await;
    }

    /// Changes the connection state, saves it and shows its status.
    async fn save(&mut self, f: impl FnOnce(&mut ConnectionState)) -> Result<(), StoreError> {
        let mut next = self.state.clone();
        f(&mut next);
        next.last_seen_at = Some(Timestamp::now());
        let saved = self.parts.connections.save(&self.fence, &next).await;
        self.fenced |= matches!(saved, Err(StoreError::Fenced(_)));
        saved?;
        let (status, last_error) = (next.status, next.last_error.clone());
        self.state = next;
        self.live.send_modify(|l| {
            l.status = Some(status);
            l.last_error = last_error;
        });
        Ok(())
    }
}

impl InstanceActor {
    /// Saves (or clears) the session, under the actor's lease.
    async fn set_session(&mut self, session: Option<&str>) -> Result<(), StoreError> {
        let saved = self.parts.store.set_session(&self.fence, session).await;
        self.fenced |= matches!(saved, Err(StoreError::Fenced(_)));
        saved
    }
}

/// The end of the pass in flight; never, when there is none.
async fn wait_for_pass(pass: &mut Option<Pass>) -> PassEnd {
    match pass {
        Some(p) => (&mut p.task).await.unwrap_or(PassEnd::Cancelled),
        None => std::future::pending().await,
    }
}
