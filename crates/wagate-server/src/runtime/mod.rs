//! The instance runtime: one actor per live instance (`actor`), which owns its connection and
//! its state and runs its send passes (`send_batch`); the `Supervisor` starts, finds and stops
//! actors through their handles (`handle`).

pub mod actor;
pub mod command;
pub mod connection_writer;
pub mod group_commit;
pub mod handle;
pub mod lifecycle;
pub mod live;
pub mod media_fetch;
pub mod ownership;
pub mod qr;
pub mod remote;
pub mod resume_pace;
pub mod sandbox_reach;
pub mod send_batch;
pub mod send_batcher;
pub mod send_queue;
pub mod sink;
pub mod status_writer;
pub mod supervisor;

pub use handle::InstanceHandle;
pub use live::Live;
pub use supervisor::Supervisor;
