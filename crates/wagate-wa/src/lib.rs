//! wagate's WhatsApp Web engine on whatsapp-rust (`Engine` for `qrcode` connections), with the
//! client's session state kept in wagate's own database (`state`).

mod address;
mod convert;
mod driver;
mod durability;
mod engine;
mod groups;
mod history;
mod media;
pub mod options;
mod polls;
mod receive;
mod session;
mod shared;
pub mod state;
mod transport;
mod vcard;

#[cfg(feature = "test-fake-wa")]
pub mod fake;

pub use engine::WhatsAppWeb;
pub use options::{Connector, WaOptions, WaVersion};
