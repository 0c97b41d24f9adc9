//! wagate's domain: the types every other layer speaks, and the `Store` trait.
//!
//! Nothing here does I/O. Types parse their input (`PhoneNumber::parse`, `InstanceId::parse`, …) so
//! that a value of the type is always valid, and the layers above never re-check it.

pub mod account;
pub mod api_key;
pub mod broker;
pub mod change;
pub mod chat;
pub mod contact;
pub mod content;
pub mod delivery;
pub mod engine;
pub mod engine_state;
pub mod event;
pub mod event_stream;
pub mod failure;
pub mod group;
pub mod history;
pub mod ids;
pub mod inbound_webhook;
pub mod instance;
pub mod media;
pub mod message;
pub mod net;
pub mod node;
pub mod page;
pub mod phone;
pub mod plan;
pub mod presence;
pub mod rate_window;
pub mod retention;
pub mod sandbox_reach;
pub mod scope;
pub mod send;
pub mod signature;
pub mod status_change;
pub mod store;
pub mod time;
pub mod webhook;
pub mod webhook_event;

pub use ids::*;
pub use time::{Timestamp, UtcDay};
