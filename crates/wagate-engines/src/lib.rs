//! Engines: implementations of `wagate_core::engine::Engine`.

pub mod sandbox;

pub use sandbox::SandboxNetwork;
