//! The sandbox network across nodes (§19), this node's side: connections recorded in the
//! database with this process's incarnation, receivers found there, and what one instance gives
//! another on another node carried as a node command (`Remote::hand`), never node-to-node HTTP.

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use wagate_core::engine::NotRecorded;
use wagate_core::node::NodeId;
use wagate_core::phone::PhoneNumber;
use wagate_core::sandbox_reach::{ConnectionClaim, Whereabouts};
use wagate_core::store::Store;
use wagate_core::{InstanceId, Timestamp};
use wagate_engines::sandbox::{Crossing, OtherNodes};

use crate::runtime::ownership::Ownership;
use crate::runtime::remote::Remote;

pub struct SandboxReach {
    store: Arc<dyn Store>,
    ownership: Arc<Ownership>,
    /// Weak: the remote holds the network, which holds this.
    remote: Weak<Remote>,
}

impl SandboxReach {
    pub fn new(store: Arc<dyn Store>, ownership: Arc<Ownership>, remote: &Arc<Remote>) -> Self {
        Self {
            store,
            ownership,
            remote: Arc::downgrade(remote),
        }
    }
}

#[async_trait]
impl OtherNodes for SandboxReach {
    fn is_me(&self, node: &NodeId) -> bool {
        node == self.ownership.node()
    }

    async fn claim(&self, instance: &InstanceId) -> Result<ConnectionClaim, String> {
        self.store
            .sandbox_connect(
                instance,
                self.ownership.node(),
                self.ownership.incarnation(),
                Timestamp::now(),
            )
            .await
            .map_err(|e| e.to_string())
    }

    async fn release(&self, instance: &InstanceId) {
        if let Err(e) = self
            .store
            .sandbox_disconnect(instance, self.ownership.incarnation())
            .await
        {
            tracing::warn!(%instance, error = %e, "could not forget a sandbox connection");
        }
    }

    async fn whereabouts(&self, phone: &PhoneNumber) -> Result<Whereabouts, String> {
        self.store
            .sandbox_whereabouts(phone, Timestamp::now())
            .await
            .map_err(|e| e.to_string())
    }

    async fn hand(
        &self,
        node: &NodeId,
        instance: &InstanceId,
        crossing: Crossing,
    ) -> Result<(), NotRecorded> {
        let remote = self
            .remote
            .upgrade()
            .ok_or_else(|| NotRecorded("the node is stopping".into()))?;
        remote.hand(node, instance, crossing).await
    }
}
