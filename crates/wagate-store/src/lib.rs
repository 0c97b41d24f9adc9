//! SQLite and PostgreSQL storage for wagate, behind `wagate_core::store::Store`.
//!
//! One implementation serves both databases: the SQL is written in the subset they share
//! (`$n` parameters, BIGINT/TEXT columns, `ON CONFLICT`, `RETURNING`) and runs through sqlx's `Any`
//! driver. Where the two differ (row locks, pool shape, pragmas) `Dialect` says so in one place.

mod accounts;
mod api_keys;
mod args;
mod broker_targets;
mod changes;
mod connect;
mod contacts;
mod deliveries;
mod engine_state;
mod error;
mod event_stream;
mod groups;
mod history;
mod inbound_webhooks;
mod instances;
mod key_changes;
mod messages;
mod node_commands;
mod notices;
mod outbox;
mod ownership;
mod paged;
mod reactions;
mod retention;
mod sandbox_reach;
mod settings;
mod stats;
mod status_changes;
mod webhooks;

pub use connect::{Dialect, SqlStore};
pub use notices::{NodeListener, Notice};
