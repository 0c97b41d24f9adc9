//! Scratch prototype of wagate's WhatsApp Web engine pieces (whatsapp-rust 0.7.0).
pub mod blob_store;
pub mod kv_backend;
#[cfg(feature = "fake-server")]
pub mod fake;
