//! Engines: implementations of `wagate_core::engine::Engine`.

pub mod cloud_api;
pub mod sandbox;

pub use cloud_api::CloudApi;
pub use sandbox::SandboxNetwork;
