//! Several nodes on one database (§19): who a node is, what it reports of itself, and the lease
//! through which exactly one node drives an instance.
//!
//! A node heartbeats; an instance that should be connected is held by one node through a lease
//! that runs out `LEASE_TTL` after the holder last renewed it. Each time a lease changes hands its
//! `epoch` grows, and every write the holder makes for the instance names the epoch
//! (`Fence::Held`): once another node has taken the lease, or the lease ran out, the write is
//! refused, so a node that stalled (a long GC pause, `SIGSTOP`, a partition) cannot undo what the
//! new holder did.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::{InstanceId, Timestamp};

/// A node that has not renewed for this long has lost its leases, and reads `gone` (§19: "loses
/// its leases after at most 10 s").
pub const LEASE_TTL: Duration = Duration::from_secs(10);

/// A node's name: 1–64 letters, digits, `.`, `_` or `-`, so it is safe in logs, metrics labels
/// and file names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a node id is 1 to 64 letters, digits, '.', '_' or '-'")]
pub struct BadNodeId;

impl NodeId {
    pub const MAX_LEN: usize = 64;

    pub fn parse(s: &str) -> Result<Self, BadNodeId> {
        let ok = !s.is_empty()
            && s.len() <= Self::MAX_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(BadNodeId)
        }
    }

    /// A fresh id for a node that was given none (`node-` and 10 random base-32 characters).
    pub fn generate() -> Self {
        let ulid = ulid::Ulid::new().to_string().to_lowercase();
        Self(format!("node-{}", &ulid[ulid.len() - 10..]))
    }

    /// A name read back from the database, written by `parse` before.
    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a node says of itself in its heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    /// Serving and taking instances.
    Up,
    /// Shutting down: handing its instances back, taking none.
    Draining,
    /// Stopped cleanly.
    Stopped,
}

impl NodeState {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Up => "up",
            NodeState::Draining => "draining",
            NodeState::Stopped => "gone",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "up" => Some(NodeState::Up),
            "draining" => Some(NodeState::Draining),
            "gone" => Some(NodeState::Stopped),
            _ => None,
        }
    }
}

/// How a node looks to the others (`GET /admin/v1/nodes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeStatus {
    Up,
    Draining,
    /// Stopped, or silent for longer than a lease lasts.
    Gone,
}

impl NodeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Up => "up",
            NodeStatus::Draining => "draining",
            NodeStatus::Gone => "gone",
        }
    }
}

/// A node as the database knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub id: NodeId,
    pub started_at: Timestamp,
    pub heartbeat_at: Timestamp,
    pub state: NodeState,
    /// Instances it holds a live lease on.
    pub instances: u64,
}

impl Node {
    /// What the node is at `now`: a node whose heartbeat is older than a lease is gone, whatever
    /// it last said.
    pub fn status(&self, now: Timestamp) -> NodeStatus {
        if self.state == NodeState::Stopped || !is_live(self.heartbeat_at, now) {
            return NodeStatus::Gone;
        }
        match self.state {
            NodeState::Draining => NodeStatus::Draining,
            _ => NodeStatus::Up,
        }
    }
}

/// When a lease taken or renewed at `now` runs out.
pub fn lease_until(now: Timestamp) -> Timestamp {
    now.plus_millis(LEASE_TTL.as_millis() as i64)
}

/// Whether something renewed at `at` still holds at `now`.
pub fn is_live(at: Timestamp, now: Timestamp) -> bool {
    now.millis() - at.millis() < LEASE_TTL.as_millis() as i64
}

/// The epoch of a lease: grows by one each time the instance changes hands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Epoch(pub i64);

/// A node's right to drive one instance, as it was granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub instance: InstanceId,
    pub node: NodeId,
    pub epoch: Epoch,
}

/// The condition a write of an instance's session or connection state is made under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fence {
    /// By the instance's actor: only while `lease` is still the live one.
    Held(Lease),
    /// By a node that drives no actor for the instance (settling an interrupted link, logging
    /// out an idle instance): only while no node holds a live lease on it.
    Unheld(InstanceId),
}

impl Fence {
    pub fn instance(&self) -> &InstanceId {
        match self {
            Fence::Held(l) => &l.instance,
            Fence::Unheld(id) => id,
        }
    }
}

/// A write was refused because its fence no longer holds: another node holds the instance now,
/// or this node's lease ran out. The caller stops driving the instance.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("instance {0} is no longer held by this node")]
pub struct Fenced(pub InstanceId);

/// How long this node may still act for one instance without asking the database: until its
/// last renewal of the lease (on the monotonic clock, which goes on while a process is frozen)
/// plus the lease's time less `TENURE_MARGIN`. Sends, receipts, inbound messages and engine state
/// are written only while it holds, so a node that was stalled past its lease (a long pause,
/// `SIGSTOP`) does nothing for the instance once it runs again, before it even learns that the
/// lease was taken. Clones share one deadline.
#[derive(Debug, Clone)]
pub struct Tenure(Arc<AtomicU64>);

/// Taken off every tenure, so that it ends before the lease in the database does, whatever the
/// time a renewal took.
pub const TENURE_MARGIN: Duration = Duration::from_secs(2);

impl Tenure {
    /// A tenure for a lease renewed (or taken) by a request sent at `asked`.
    pub fn from_renewal(asked: Instant) -> Self {
        let t = Self(Arc::new(AtomicU64::new(0)));
        t.renewed(asked);
        t
    }

    /// A tenure that never ends (an engine used outside the runtime: tests, tools).
    pub fn unbounded() -> Self {
        Self(Arc::new(AtomicU64::new(u64::MAX)))
    }

    /// The lease was renewed by a request sent at `asked`: the tenure runs until then plus the
    /// lease's time, less the margin. Never moves back.
    pub fn renewed(&self, asked: Instant) {
        let until = asked + LEASE_TTL - TENURE_MARGIN;
        self.0.fetch_max(since_base(until), Ordering::AcqRel);
    }

    /// The lease is gone: nothing more may be done under it.
    pub fn end(&self) {
        self.0.store(0, Ordering::Release);
    }

    pub fn holds(&self) -> bool {
        since_base(Instant::now()) < self.0.load(Ordering::Acquire)
    }
}

/// Nanoseconds from the first time any tenure looked at the clock (an `Instant` has no number).
fn since_base(t: Instant) -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    let base = *BASE.get_or_init(Instant::now);
    t.saturating_duration_since(base).as_nanos() as u64
}

/// A command for an instance, written by the node that was asked (`from`) for the node that
/// holds it (`to`), which runs it and answers (§19: commands go through the database, never
/// node-to-node HTTP). `body` and the answer are the runtime's own JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeCommand {
    /// Made by the asking node: `cmd_` and a ULID.
    pub id: String,
    pub to: NodeId,
    pub from: NodeId,
    pub instance: InstanceId,
    pub body: String,
}

/// How many instances a node should hold: an even share of those that should be connected over
/// the live nodes, rounded up, so that every instance finds a node.
pub fn fair_share(should_be_connected: u64, live_nodes: u64) -> u64 {
    should_be_connected.div_ceil(live_nodes.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_are_short_safe_names() {
        assert!(NodeId::parse("n1").is_ok());
        assert!(NodeId::parse("eu-west.node_2").is_ok());
        for bad in ["", "a b", "n/1", "nó", &"x".repeat(65)] {
            assert_eq!(NodeId::parse(bad), Err(BadNodeId), "{bad:?}");
        }
        let g = NodeId::generate();
        assert_eq!(NodeId::parse(g.as_str()), Ok(g.clone()));
        assert_ne!(g, NodeId::generate());
    }

    #[test]
    fn a_silent_node_is_gone_whatever_it_said() {
        let t = Timestamp::from_millis(1_000_000);
        let node = |state, beat: i64| Node {
            id: NodeId::parse("n").unwrap(),
            started_at: t,
            heartbeat_at: Timestamp::from_millis(beat),
            state,
            instances: 0,
        };
        assert_eq!(node(NodeState::Up, 995_000).status(t), NodeStatus::Up);
        assert_eq!(
            node(NodeState::Draining, 995_000).status(t),
            NodeStatus::Draining
        );
        assert_eq!(node(NodeState::Up, 990_000).status(t), NodeStatus::Gone);
        assert_eq!(
            node(NodeState::Stopped, 999_999).status(t),
            NodeStatus::Gone
        );
    }

    #[test]
    fn a_tenure_ends_before_its_lease_and_when_told() {
        let now = Instant::now();
        assert!(Tenure::from_renewal(now).holds());
        let stale = Tenure::from_renewal(now - (LEASE_TTL - TENURE_MARGIN));
        assert!(!stale.holds(), "a renewal a lease ago holds no more");
        stale.renewed(now);
        assert!(stale.holds(), "a later renewal extends it");
        let shared = stale.clone();
        stale.renewed(now - LEASE_TTL);
        assert!(
            shared.holds(),
            "an older renewal never shortens it, for any clone"
        );
        stale.end();
        assert!(!shared.holds());
        assert!(Tenure::unbounded().holds());
    }

    #[test]
    fn shares_cover_every_instance() {
        assert_eq!(fair_share(30, 3), 10);
        assert_eq!(fair_share(31, 3), 11);
        assert_eq!(fair_share(5, 0), 5);
        assert_eq!(fair_share(0, 2), 0);
    }
}
