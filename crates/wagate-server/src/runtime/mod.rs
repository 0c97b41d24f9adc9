//! The instance runtime: one `InstanceRuntime` per live instance, owning its connection, its
//! FIFO send loop and its state; the `Supervisor` starts, stops and finds them.

pub mod group_commit;
pub mod instance;
pub mod media_fetch;
pub mod qr;
pub mod send_batcher;
pub mod sink;
pub mod status_writer;
pub mod supervisor;

pub use instance::{InstanceRuntime, Live};
pub use supervisor::Supervisor;
