//! wagate's HTTP API and runtime: routes, authentication, limits, errors and start-up.
//!
//! Layout: `http/` holds what every request goes through (errors, extractors, request ids, auth,
//! rate limits, metrics); `routes/` holds the handlers, one file per resource; `accounts` and
//! `bootstrap` are the operations shared with the CLI; `runtime/` runs the instances and
//! `delivery/` the webhook deliveries; `event_feed` wakes the event streams.

pub mod accounts;
pub mod api_docs;
pub mod app;
pub mod bootstrap;
pub mod broker_outputs;
pub mod config;
pub mod dashboard;
pub mod delivery;
pub mod event_feed;
pub mod http;
pub mod media;
pub mod net_guard;
pub mod openapi;
pub mod retention;
pub mod routes;
pub mod runtime;
pub mod serve;
pub mod single_node;
pub mod state;

pub use app::build_router;
pub use config::{AdminToken, BrokerConfig, ServerConfig, WeakAdminToken};
pub use serve::{Running, serve, start};
pub use state::AppState;
pub use wagate_brokers::{AmqpConfig, NatsConfig};

/// The credential types the binary parses its configuration into.
pub mod cloud_api {
    pub use wagate_engines::cloud_api::credentials::{AppSecret, SecretKey};
}
