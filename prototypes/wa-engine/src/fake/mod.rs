//! In-process fake WhatsApp server for offline tests (feature `fake-server`).
pub mod media;
pub mod peer;
pub mod server;
pub mod wire;

pub use media::{FakeCdn, FakeCdnClient};
pub use server::{FakeOptions, FakeServer, FakeTransportFactory, Observed};
