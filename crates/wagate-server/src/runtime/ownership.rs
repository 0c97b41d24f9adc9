//! This node's side of several nodes on one database (§19): it registers, heartbeats, renews
//! the leases of the instances it drives, stops the actor of any lease it lost, gives back
//! leases it drives nothing under, and claims its share of the instances no node holds.
//!
//! One task runs the loop (`run`, one `tick` a second); `drain` is the shutdown: no more claims,
//! every actor stopped, every lease given back at once, so the other nodes take the instances
//! over at their next tick rather than after the leases run out.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use wagate_core::Timestamp;
use wagate_core::node::{Node, NodeId, NodeState, NodeStatus, fair_share, is_live, lease_until};
use wagate_core::store::{Store, StoreError};
use wagate_store::{NodeListener, Notice};

use crate::runtime::remote::Remote;
use crate::runtime::supervisor::Supervisor;

/// How often the loop heartbeats, renews and claims: a tenth of a lease, so a node that
/// missed a few ticks (a slow database) still holds its leases.
const TICK: Duration = Duration::from_secs(1);
/// Claimed instances a node resumes at a time. Each resume writes its connection state: ten
/// thousand at once queued the lease renewals behind them (on SQLite's one writer) until the
/// leases ran out and the node stopped what it had just resumed, again and again
/// (`bench/instances.sh`). The rest are claimed at the next ticks.
const RESUMING_AT_ONCE: u64 = 500;

pub struct Ownership {
    store: Arc<dyn Store>,
    supervisor: Arc<Supervisor>,
    /// Names this process: a second process registered under the same node id takes the name
    /// over, and this one's heartbeat then fails.
    incarnation: String,
    /// When this node last recorded a heartbeat (ms; 0: never).
    heartbeat_at: AtomicI64,
    draining: AtomicBool,
    stop: CancellationToken,
    /// Nodes found dead whose webhook claims this node has released: once per life of each
    /// (a node's name and when it started).
    released_for: Mutex<HashSet<(NodeId, Timestamp)>>,
}

impl Ownership {
    /// Registers the node (taking back nothing its previous life held) and records its first
    /// heartbeat, so it is ready as soon as it serves.
    pub async fn register(
        store: Arc<dyn Store>,
        supervisor: Arc<Supervisor>,
    ) -> Result<Arc<Self>, StoreError> {
        let incarnation = ulid::Ulid::new().to_string();
        let now = Timestamp::now();
        store
            .register_node(supervisor.node(), &incarnation, now)
            .await?;
        Ok(Arc::new(Self {
            store,
            supervisor,
            incarnation,
            heartbeat_at: AtomicI64::new(now.millis()),
            draining: AtomicBool::new(false),
            stop: CancellationToken::new(),
            released_for: Mutex::default(),
        }))
    }

    pub fn node(&self) -> &NodeId {
        self.supervisor.node()
    }

    /// Names this process among the lives of its node.
    pub fn incarnation(&self) -> &str {
        &self.incarnation
    }

    /// Whether this node holds a valid heartbeat (`/readyz`): not while draining, and not once
    /// it has failed to heartbeat for as long as a lease lasts.
    pub fn ready(&self) -> bool {
        let at = Timestamp::from_millis(self.heartbeat_at.load(Ordering::Acquire));
        !self.draining.load(Ordering::Acquire) && is_live(at, Timestamp::now())
    }

    /// Runs the loop until `drain`.
    pub async fn run(self: Arc<Self>, tasks: TaskTracker) {
        let mut ticks = tokio::time::interval(TICK);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = self.stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
            match self.tick(&tasks).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::error!(node = %self.node(), "another process registered under this node id: this one stops driving instances");
                    self.draining.store(true, Ordering::Release);
                    self.supervisor.stop_all().await;
                    return;
                }
                Err(e) => tracing::warn!(error = %e, "the ownership tick failed"),
            }
        }
    }

    /// Takes what other nodes tell this one, until `drain`: wakes actors for what was queued,
    /// runs the commands sent here, and hands answers to the requests waiting for them.
    pub async fn listen(
        self: Arc<Self>,
        mut notices: NodeListener,
        remote: Arc<Remote>,
        router: axum::Router,
    ) {
        loop {
            let next = tokio::select! {
                _ = self.stop.cancelled() => return,
                next = notices.next() => next,
            };
            match next {
                Ok(Notice::Queued(id)) => {
                    self.supervisor.wake_here(&id);
                }
                Ok(Notice::Answered(id)) => remote.answered(&id),
                Ok(Notice::Command(id)) => {
                    let (remote, supervisor) = (remote.clone(), self.supervisor.clone());
                    let router = router.clone();
                    tokio::spawn(async move {
                        if let Err(e) = remote.serve(&supervisor, &router, &id).await {
                            tracing::warn!(command = %id, error = %e, "could not answer a command");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "listening to the other nodes failed");
                    tokio::time::sleep(TICK).await;
                }
            }
        }
    }

    /// One step: heartbeat, renew, let go of what was lost or is driven no more, claim a share.
    /// False when another process has taken this node's name.
    #[tracing::instrument(skip_all, fields(node = %self.node()))]
    pub async fn tick(&self, tasks: &TaskTracker) -> Result<bool, StoreError> {
        let node = self.node();
        let now = Timestamp::now();
        let state = if self.draining.load(Ordering::Acquire) {
            NodeState::Draining
        } else {
            NodeState::Up
        };
        if !self
            .store
            .heartbeat(node, &self.incarnation, state, now)
            .await?
        {
            return Ok(false);
        }
        self.heartbeat_at.store(now.millis(), Ordering::Release);
        let asked = Instant::now();
        let held: HashMap<_, _> = self
            .store
            .renew_leases(node, now, lease_until(now))
            .await?
            .into_iter()
            .map(|l| (l.instance.clone(), l))
            .collect();
        // An actor whose lease is gone (run out while this node stalled, or taken under a new
        // epoch) must not drive its instance a moment longer: its tenure ends now, and its
        // connection and session writes are refused already.
        for id in self.supervisor.renewed(&held, asked) {
            tracing::warn!(instance = %id, "lease lost: stopping the instance here");
            let supervisor = self.supervisor.clone();
            tasks.spawn(async move { supervisor.stop(&id).await });
        }
        let (driven, keep) = self.supervisor.driven();
        // A lease this node drives nothing under (the link failed, the instance logged out)
        // goes back, so another node may take it; a resting one stays (see `Supervisor`).
        for (id, lease) in &held {
            let is_driven = driven.iter().any(|(d, e)| d == id && *e == lease.epoch);
            if !is_driven && !keep.contains(id) {
                self.store.release_lease(lease).await?;
            }
        }
        let nodes = self.store.list_nodes(now).await?;
        self.release_claims_of_dead(&nodes, now).await?;
        if state == NodeState::Up {
            let live = nodes
                .iter()
                .filter(|n| n.status(now) == NodeStatus::Up)
                .count() as u64;
            self.claim_share(held.len() as u64, live, now, tasks)
                .await?;
        }
        Ok(true)
    }

    /// A node that died (silent past its lease, not stopped cleanly) held webhook deliveries
    /// in flight: their claims are released now rather than when they run out (30 s), so the
    /// deliveries behind them in their lane go on. An attempt of that node still in flight (it
    /// was only frozen) finds its claim gone and records nothing: at least once, never lost.
    async fn release_claims_of_dead(
        &self,
        nodes: &[Node],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let dead = nodes.iter().filter(|n| {
            n.id != *self.node()
                && n.state != NodeState::Stopped
                && n.status(now) == NodeStatus::Gone
        });
        for n in dead {
            let first = self
                .released_for
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert((n.id.clone(), n.started_at));
            if first {
                let released = self.store.release_claims(n.id.as_str()).await?;
                if released > 0 {
                    tracing::info!(node = %n.id, deliveries = released, "released the webhook claims of a dead node");
                }
            }
        }
        Ok(())
    }

    /// Claims instances no node holds, up to this node's fair share of those that should be
    /// connected, and resumes each.
    async fn claim_share(
        &self,
        holding: u64,
        live: u64,
        now: Timestamp,
        tasks: &TaskTracker,
    ) -> Result<(), StoreError> {
        let should = self.store.count_should_be_connected().await?;
        let resuming = self.supervisor.in_hand_count() as u64;
        let room = fair_share(should, live)
            .saturating_sub(holding)
            .min(RESUMING_AT_ONCE.saturating_sub(resuming));
        if room == 0 {
            return Ok(());
        }
        let claimed = self
            .store
            .claim_unheld(
                self.node(),
                now,
                lease_until(now),
                room.min(u32::MAX as u64) as u32,
            )
            .await?;
        if !claimed.is_empty() {
            tracing::info!(instances = claimed.len(), "claimed instances to resume");
        }
        for lease in claimed {
            self.supervisor.starting(&lease.instance);
            let supervisor = self.supervisor.clone();
            tasks.spawn(async move {
                let id = lease.instance.clone();
                if let Err(e) = supervisor.resume_claimed(lease).await {
                    tracing::error!(instance = %id, error = %e, "resuming a claimed instance failed");
                }
            });
        }
        Ok(())
    }

    /// Shutdown: takes nothing more, stops every actor (each lets its send in flight finish),
    /// then gives every lease back and says the node has stopped.
    pub async fn drain(&self) {
        self.draining.store(true, Ordering::Release);
        self.stop.cancel();
        let node = self.node();
        let say = |state| async move {
            if let Err(e) = self
                .store
                .heartbeat(node, &self.incarnation, state, Timestamp::now())
                .await
            {
                tracing::warn!(error = %e, "could not record the node's state");
            }
        };
        say(NodeState::Draining).await;
        self.supervisor.stop_all().await;
        match self.store.release_leases(node).await {
            Ok(n) if n > 0 => tracing::info!(instances = n, "leases handed back"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not hand the leases back"),
        }
        say(NodeState::Stopped).await;
    }
}
