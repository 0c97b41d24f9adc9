//! Shared state handed to every handler.

use std::sync::Arc;

use wagate_core::store::Store;

use crate::config::ServerConfig;
use crate::http::metrics::Metrics;
use crate::http::rate_limit::RateLimiter;
use crate::runtime::Supervisor;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub config: Arc<ServerConfig>,
    pub limiter: Arc<RateLimiter>,
    pub metrics: Arc<Metrics>,
    /// Verified API keys held in memory (`http/key_cache.rs`).
    pub keys: Arc<crate::http::key_cache::KeyCache>,
    /// SHA-256 of the admin token (configured or generated at first start).
    pub admin_token_hash: Arc<str>,
    pub supervisor: Arc<Supervisor>,
    /// This node's heartbeat and leases (§19).
    pub ownership: Arc<crate::runtime::ownership::Ownership>,
    /// Lifecycle commands for instances held by other nodes.
    pub remote: Arc<crate::runtime::remote::Remote>,
    /// Group commit of accepted sends.
    pub sends: crate::runtime::send_batcher::SendBatcher,
    /// The official engine (Meta's Cloud API): checks credentials, receives Meta's webhooks.
    pub official: wagate_engines::CloudApi,
    /// The simulated network, when the server runs with `--sandbox`.
    pub sandbox: Option<wagate_engines::SandboxNetwork>,
    /// The URL policy and resolver for every user-given URL (webhooks, media).
    pub net: crate::net_guard::NetGuard,
    /// The webhook delivery worker (to wake when a delivery is made due).
    pub deliveries: crate::delivery::DeliveryWorker,
    /// Wakes this node's event streams (§21) and ends them at shutdown.
    pub events: crate::event_feed::EventFeed,
    /// The places for requests in flight (`ConnectionLimits::max_in_flight`).
    pub in_flight: crate::http::admission::InFlight,
    /// The broker outputs' publishers (§21), for `/metrics` and the shutdown.
    pub brokers: Arc<crate::broker_outputs::BrokerOutputs>,
}
