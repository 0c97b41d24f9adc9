//! The broker outputs the operator configured (§21), one publisher task each on this node, and
//! their state for `/metrics`. With several nodes, each runs a publisher per output and one of
//! them at a time holds the output (see `wagate_brokers::publisher`).

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use wagate_brokers::{AmqpSink, NatsSink, Publisher, Sink, TargetStatus};
use wagate_core::store::Store;

use crate::config::BrokerConfig;

pub struct BrokerOutputs {
    statuses: Vec<Arc<TargetStatus>>,
    stop: CancellationToken,
}

impl BrokerOutputs {
    pub fn start(
        config: &BrokerConfig,
        store: &Arc<dyn Store>,
        node: &str,
        tasks: &TaskTracker,
    ) -> Self {
        let stop = CancellationToken::new();
        let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
        if let Some(nats) = &config.nats {
            sinks.push(Box::new(NatsSink::new(nats.clone())));
        }
        if let Some(amqp) = &config.amqp {
            sinks.push(Box::new(AmqpSink::new(amqp.clone())));
        }
        let mut statuses = Vec::new();
        for sink in sinks {
            let publisher = Publisher::new(store.clone(), sink, node.to_owned());
            statuses.push(publisher.status());
            tracing::info!(
                target = publisher.kind().as_str(),
                "publishing every event to the broker"
            );
            tasks.spawn(publisher.run(stop.clone()));
        }
        Self { statuses, stop }
    }

    pub fn statuses(&self) -> &[Arc<TargetStatus>] {
        &self.statuses
    }

    /// Ends the publishers (each lets go of its output).
    pub fn stop(&self) {
        self.stop.cancel();
    }
}
