//! What an instance shows right now: its status, the code to scan or type, the last send's
//! latency. Kept in memory (codes live for seconds); the actor is its only writer and publishes
//! each change on a `watch` channel that routes read.

use serde::{Deserialize, Serialize};
use wagate_core::Timestamp;
use wagate_core::instance::{InstanceStatus, LastError};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Live {
    pub status: Option<InstanceStatus>,
    /// Why the connection last failed, published with `status` in the same change: a reader
    /// sees the two from one moment (the database row may be a save behind).
    pub last_error: Option<LastError>,
    /// The engine's QR payload (what the phone decodes).
    pub qr_raw: Option<String>,
    /// The same code as a `data:image/png;base64,…` URI, as the API shows it.
    pub qr_data_uri: Option<String>,
    pub pairing_code: Option<String>,
    pub code_expires_at: Option<Timestamp>,
    /// Milliseconds the network took to accept the last message.
    pub latency_ms: Option<u64>,
}

impl Live {
    /// A shown code is dead once the device is linked or the link ended.
    pub fn clear_codes(&mut self) {
        self.qr_raw = None;
        self.qr_data_uri = None;
        self.pairing_code = None;
        self.code_expires_at = None;
    }
}
