//! Handlers, one file per resource.

pub mod account;
pub mod account_keys;
pub mod admin;
pub mod connection;
pub mod contact_blocking;
pub mod contacts;
pub mod event_socket;
pub mod event_stream;
pub mod group_membership;
pub mod groups;
pub mod health;
pub mod inbound_webhooks;
pub mod instances;
pub mod key_request;
pub mod live_session;
pub mod media;
pub mod message_changes;
pub mod messages;
pub mod meta;
pub mod nodes;
pub mod presence;
pub mod profile;
pub mod sandbox;
pub mod views;
pub mod webhooks;
