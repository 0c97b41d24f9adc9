//! What every request goes through, whatever its route.

pub mod admin_auth;
pub mod admission;
pub mod auth;
pub mod connections;
pub mod error;
pub mod extract;
pub mod forward;
pub mod key_cache;
pub mod metrics;
pub mod rate_limit;
pub mod request_context;
pub mod request_span;
