//! Starts, finds and stops instance actors, each under a lease of this node (§19): an actor
//! starts only once its instance's lease is taken, and writes under it. Which instances this
//! node resumes, and when it lets one go, is the ownership loop's (`ownership.rs`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use tokio_util::task::TaskTracker;
use wagate_core::engine::{ConnectRequest, Engine, EngineError, LinkMethod};
use wagate_core::failure::FailureCode;
use wagate_core::instance::{ConnectionMethod, Instance, InstanceStatus, LastError};
use wagate_core::node::{Epoch, Fence, Lease, NodeId, Tenure, lease_until};
use wagate_core::store::{ConnectionState, Store, StoreError};
use wagate_core::{InstanceId, Timestamp};

use crate::runtime::actor::{ActorParts, InstanceActor};
use crate::runtime::connection_writer::ConnectionWriter;
use crate::runtime::handle::InstanceHandle;
use crate::runtime::media_fetch::MediaFetcher;
use crate::runtime::resume_pace::ResumePace;
use crate::runtime::sink::RuntimeSink;
use crate::runtime::status_writer::StatusWriter;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("no engine serves this connection method on this server")]
    NoEngine,
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another node drives the instance now (the command is then carried there).
    #[error("the instance is held by node {0}")]
    HeldElsewhere(NodeId),
}

pub struct Supervisor {
    store: Arc<dyn Store>,
    /// The engine for `qrcode` connections: the sandbox network, or WhatsApp Web.
    qr_engine: Option<Arc<dyn Engine>>,
    /// The engine for `official` connections: Meta's Cloud API.
    official_engine: Option<Arc<dyn Engine>>,
    parts: ActorParts,
    runtimes: DashMap<InstanceId, InstanceHandle>,
    node: NodeId,
    /// Instances whose saved session could not be reopened: their lease is kept, so no node
    /// retries them in a loop, until `restart` (or this node's next start) tries again.
    resting: DashMap<InstanceId, ()>,
    /// Instances whose lease is kept while no actor of theirs is in `runtimes`: an actor being
    /// started, or one being logged out (it still writes under the lease).
    in_hand: DashMap<InstanceId, ()>,
    /// The pace of claimed WhatsApp Web sessions' logins (`--resume-rate`); none on the
    /// sandbox.
    resume_pace: Option<ResumePace>,
}

impl Supervisor {
    /// `tasks` tracks every actor and send pass, so shutdown can wait for them.
    pub fn new(
        store: Arc<dyn Store>,
        qr_engine: Option<Arc<dyn Engine>>,
        official_engine: Option<Arc<dyn Engine>>,
        media: MediaFetcher,
        tasks: TaskTracker,
        send_deadline: Duration,
        node: NodeId,
    ) -> Self {
        let parts = ActorParts {
            statuses: StatusWriter::start(store.clone()),
            connections: ConnectionWriter::start(store.clone()),
            store: store.clone(),
            media,
            tasks,
            send_deadline,
        };
        Self {
            store,
            qr_engine,
            official_engine,
            parts,
            runtimes: DashMap::new(),
            node,
            resting: DashMap::new(),
            in_hand: DashMap::new(),
            resume_pace: None,
        }
    }

    /// Paces the logins of the WhatsApp Web sessions this node claims.
    pub fn with_resume_pace(self, resume_pace: Option<ResumePace>) -> Self {
        Self {
            resume_pace,
            ..self
        }
    }

    pub fn node(&self) -> &NodeId {
        &self.node
    }

    pub fn get(&self, id: &InstanceId) -> Option<InstanceHandle> {
        self.runtimes.get(id).map(|r| r.clone())
    }

    /// Something was queued for `id`: its actor looks at the queue, here or on the node that
    /// drives it.
    pub fn wake(&self, id: &InstanceId) {
        if self.wake_here(id) {
            return;
        }
        let (store, id) = (self.store.clone(), id.clone());
        self.parts.tasks.spawn(async move {
            if let Err(e) = store.announce_queued(&id).await {
                tracing::debug!(instance = %id, error = %e, "could not tell the other nodes");
            }
        });
    }

    /// Wakes `id`'s actor if it runs on this node; tells whether it does.
    pub fn wake_here(&self, id: &InstanceId) -> bool {
        match self.get(id) {
            Some(r) if !r.is_gone() => {
                r.wake();
                true
            }
            _ => false,
        }
    }

    /// Reconnects an instance this node has just claimed, from its saved session. One that
    /// cannot be reopened reads `disconnected` (`resume_failed`) and rests under the lease.
    pub async fn resume_claimed(&self, lease: Lease) -> Result<bool, StoreError> {
        let _in_hand = InHand::mark(&self.in_hand, &lease.instance);
        let Some(inst) = self.store.find_instance(&lease.instance).await? else {
            return Ok(false);
        };
        if inst.connection_method == Some(ConnectionMethod::Qrcode)
            && let Some(pace) = &self.resume_pace
        {
            pace.turn().await;
        }
        match self.resume(&inst).await {
            Ok(_) => Ok(true),
            Err(e) => {
                tracing::warn!(instance = %inst.id, error = %e, "could not resume");
                self.resting.insert(inst.id.clone(), ());
                // Nothing drives it now; the session stays, so `restart` can try again.
                let why = format!("The saved session could not be reopened: {e}.");
                let mut state = ConnectionState::of(&inst);
                state.status = InstanceStatus::Disconnected;
                state.connected_at = None;
                state.last_error = Some(LastError {
                    code: FailureCode::ResumeFailed,
                    message: why,
                    at: Timestamp::now(),
                });
                state.last_seen_at = Some(Timestamp::now());
                match self
                    .store
                    .save_connection(&Fence::Held(lease), &state)
                    .await
                {
                    Ok(()) | Err(StoreError::Fenced(_)) => Ok(false),
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// The node other than this one that holds a live lease on `id`, if any.
    pub async fn holder_elsewhere(&self, id: &InstanceId) -> Result<Option<NodeId>, StoreError> {
        let holder = self.store.holder_of(id, Timestamp::now()).await?;
        Ok(holder.filter(|n| *n != self.node))
    }

    /// How many instances are in hand (being resumed, or logged out) now.
    pub fn in_hand_count(&self) -> usize {
        self.in_hand.len()
    }

    /// Marks a claimed instance as in hand, before its resume is spawned, so the ownership
    /// loop keeps its lease meanwhile (`resume_claimed` unmarks it).
    pub fn starting(&self, id: &InstanceId) {
        self.in_hand.insert(id.clone(), ());
    }

    /// The leases renewed by a request sent at `asked` extend their actors' tenure; an actor
    /// whose lease is not among them (lost, or taken under another epoch) ends its tenure at
    /// once, and is stopped. Answers the instances stopped.
    pub fn renewed(&self, held: &HashMap<InstanceId, Lease>, asked: Instant) -> Vec<InstanceId> {
        let mut lost = Vec::new();
        for r in self.runtimes.iter().filter(|r| !r.is_gone()) {
            match held.get(r.key()) {
                Some(l) if l.epoch == r.epoch => r.tenure.renewed(asked),
                _ => {
                    r.tenure.end();
                    lost.push(r.key().clone());
                }
            }
        }
        lost
    }

    /// The epoch each live actor drives its instance under, and the instances whose lease is
    /// kept with no actor (resting, or in hand); the ownership loop gives back the rest.
    pub fn driven(&self) -> (Vec<(InstanceId, Epoch)>, HashSet<InstanceId>) {
        let live = self
            .runtimes
            .iter()
            .filter(|r| !r.is_gone())
            .map(|r| (r.key().clone(), r.epoch))
            .collect();
        let keep = self
            .resting
            .iter()
            .chain(self.in_hand.iter())
            .map(|r| r.key().clone())
            .collect();
        (live, keep)
    }

    /// At start-up, before anything is served: an instance that was linking (or connected
    /// without a saved session) when the server stopped has nothing driving it now. It reads
    /// `disconnected`, with `lastError` saying why, so every route agrees with its status.
    pub async fn settle_interrupted_links(&self) -> Result<usize, StoreError> {
        let ids = self.store.instances_linking_without_session().await?;
        for id in &ids {
            if let Some(inst) = self.store.find_instance(id).await? {
                let why = "The server restarted before the link was completed; connect again.";
                self.settle(&inst, FailureCode::LinkInterrupted, why)
                    .await?;
            }
        }
        Ok(ids.len())
    }

    /// Saves an instance that no node drives as `disconnected` for `code` (one another node
    /// drives is left alone).
    async fn settle(
        &self,
        inst: &Instance,
        code: FailureCode,
        message: &str,
    ) -> Result<(), StoreError> {
        let now = Timestamp::now();
        let mut state = ConnectionState::of(inst);
        state.status = InstanceStatus::Disconnected;
        state.connected_at = None;
        state.last_error = Some(LastError {
            code,
            message: message.to_owned(),
            at: now,
        });
        state.last_seen_at = Some(now);
        match self
            .store
            .save_connection(&Fence::Unheld(inst.id.clone()), &state)
            .await
        {
            Err(StoreError::Fenced(_)) => Ok(()),
            other => other,
        }
    }

    /// Reconnects from the saved session, with the engine of the instance's connection method.
    pub async fn resume(&self, inst: &Instance) -> Result<InstanceHandle, RuntimeError> {
        let method = inst.connection_method.unwrap_or(ConnectionMethod::Qrcode);
        let session = self.store.get_session(&inst.id).await?;
        self.start(inst, method, session, LinkMethod::Qr).await
    }

    /// Starts a `qrcode` connection: from the saved session when there is one, else by linking
    /// anew.
    pub async fn connect(
        &self,
        inst: &Instance,
        link: LinkMethod,
    ) -> Result<InstanceHandle, RuntimeError> {
        // An official instance's session is sealed credentials, meaningless to a QR engine.
        let session = match inst.connection_method {
            Some(ConnectionMethod::Official) => None,
            _ => self.store.get_session(&inst.id).await?,
        };
        self.start(inst, ConnectionMethod::Qrcode, session, link)
            .await
    }

    /// Connects an `official` instance with its sealed credentials (checked with Meta already).
    pub async fn connect_official(
        &self,
        inst: &Instance,
        sealed: String,
    ) -> Result<InstanceHandle, RuntimeError> {
        self.start(
            inst,
            ConnectionMethod::Official,
            Some(sealed),
            LinkMethod::Qr,
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(instance = %inst.id, method = method.as_str()))]
    async fn start(
        &self,
        inst: &Instance,
        method: ConnectionMethod,
        session: Option<String>,
        link: LinkMethod,
    ) -> Result<InstanceHandle, RuntimeError> {
        let engine = match method {
            ConnectionMethod::Qrcode => self.qr_engine.clone(),
            ConnectionMethod::Official => self.official_engine.clone(),
        }
        .ok_or(RuntimeError::NoEngine)?;
        self.stop(&inst.id).await;
        self.resting.remove(&inst.id);
        let _in_hand = InHand::mark(&self.in_hand, &inst.id);
        let (asked, now) = (Instant::now(), Timestamp::now());
        let lease = self
            .store
            .claim_instance(&inst.id, &self.node, now, lease_until(now))
            .await?
            .map_err(RuntimeError::HeldElsewhere)?;
        let tenure = Tenure::from_renewal(asked);
        let handle =
            InstanceActor::spawn(self.parts.clone(), inst, method, lease, tenure.clone()).await?;
        // Two concurrent starts: the later one wins, and the earlier actor is stopped, never
        // left running unreachable.
        if let Some(earlier) = self.runtimes.insert(inst.id.clone(), handle.clone()) {
            earlier.stop().await;
        }
        let sink = Arc::new(RuntimeSink {
            handle: handle.clone(),
            store: self.store.clone(),
        });
        let request = ConnectRequest {
            instance_id: inst.id.clone(),
            session,
            link,
            tenure,
        };
        // The actor takes the engine's events while `connect` runs (an engine may report
        // `Connected` before it returns, as the official one does).
        match engine.connect(request, sink).await {
            Ok(s) => {
                handle.attach(Arc::from(s));
                Ok(handle)
            }
            Err(e) => {
                self.stop(&inst.id).await;
                Err(e.into())
            }
        }
    }

    /// Closes the connection, keeping the saved session.
    pub async fn stop(&self, id: &InstanceId) {
        if let Some((_, handle)) = self.runtimes.remove(id) {
            handle.stop().await;
        }
    }

    /// Logs out: the saved session is destroyed and queued messages fail.
    pub async fn logout(&self, inst: &Instance) -> Result<(), RuntimeError> {
        // The ownership loop would give back the lease of an instance with no actor in
        // `runtimes` while the logout still writes under it.
        let _in_hand = InHand::mark(&self.in_hand, &inst.id);
        if let Some((_, handle)) = self.runtimes.remove(&inst.id) {
            return Ok(handle.logout().await?);
        }
        // No actor here drives the instance. Written under this node's lease (taken now, or
        // kept by an instance resting here), so no node starts driving it meanwhile; the
        // ownership loop gives the lease back afterwards.
        let now = Timestamp::now();
        let lease = self
            .store
            .claim_instance(&inst.id, &self.node, now, lease_until(now))
            .await?
            .map_err(RuntimeError::HeldElsewhere)?;
        let fence = Fence::Held(lease);
        self.resting.remove(&inst.id);
        self.store.set_session(&fence, None).await?;
        let mut state = ConnectionState::of(inst);
        state.status = InstanceStatus::Disconnected;
        state.phone = None;
        state.connected_at = None;
        state.last_error = None;
        state.last_seen_at = Some(Timestamp::now());
        self.store.save_connection(&fence, &state).await?;
        Ok(())
    }

    /// Stops every actor, side by side (shutdown): each lets its send in flight finish or
    /// abandons it after a few seconds, so this takes as long as the slowest, not their sum.
    pub async fn stop_all(&self) {
        let ids: Vec<InstanceId> = self.runtimes.iter().map(|r| r.key().clone()).collect();
        let mut stopping = tokio::task::JoinSet::new();
        for id in ids {
            if let Some((_, handle)) = self.runtimes.remove(&id) {
                stopping.spawn(async move { handle.stop().await });
            }
        }
        while stopping.join_next().await.is_some() {}
    }

    /// The engine's code behind a QR code as the API showed it (the data URI), or the raw code.
    pub fn raw_code_for(&self, shown: &str) -> Option<String> {
        self.runtimes.iter().find_map(|r| {
            let live = r.live();
            let matches =
                live.qr_data_uri.as_deref() == Some(shown) || live.qr_raw.as_deref() == Some(shown);
            matches.then_some(live.qr_raw).flatten()
        })
    }

    /// The instance currently showing `raw` (a QR or pairing code).
    pub fn instance_showing(&self, raw: &str) -> Option<InstanceId> {
        self.runtimes.iter().find_map(|r| {
            let live = r.live();
            (live.qr_raw.as_deref() == Some(raw) || live.pairing_code.as_deref() == Some(raw))
                .then(|| r.key().clone())
        })
    }
}

/// An instance marked as in hand until this guard drops: its actor is in `runtimes` by then,
/// or its start failed, or its logout ended.
struct InHand<'a> {
    set: &'a DashMap<InstanceId, ()>,
    id: InstanceId,
}

impl<'a> InHand<'a> {
    fn mark(set: &'a DashMap<InstanceId, ()>, id: &InstanceId) -> Self {
        set.insert(id.clone(), ());
        Self {
            set,
            id: id.clone(),
        }
    }
}

impl Drop for InHand<'_> {
    fn drop(&mut self) {
        self.set.remove(&self.id);
    }
}
