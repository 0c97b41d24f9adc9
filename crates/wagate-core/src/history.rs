//! Messages the phone already had when it was linked (WhatsApp's history sync): stored as
//! history, without events, since they happened before anyone subscribed to them.

use crate::Timestamp;
use crate::message::{Content, MessageStatus};
use crate::phone::PhoneNumber;

/// Which history a new link brings in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryWindow {
    /// None: a new link starts empty.
    Off,
    /// Messages of the last this many days.
    Days(u32),
}

impl HistoryWindow {
    /// The oldest timestamp kept, or `None` when history is off.
    pub fn since(self, now: Timestamp) -> Option<Timestamp> {
        match self {
            HistoryWindow::Off => None,
            HistoryWindow::Days(d) => Some(now.plus_millis(-i64::from(d) * 86_400_000)),
        }
    }
}

/// One message of a chat's history, in either direction.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryMessage {
    /// The network's id: a message synced twice, or received live as well, is stored once.
    pub external_id: String,
    pub peer: PhoneNumber,
    /// The contact's name, as the phone knows it.
    pub peer_name: Option<String>,
    pub from_me: bool,
    pub content: Content,
    pub quoted_external_id: Option<String>,
    pub timestamp: Timestamp,
    /// Outbound: how far it got; inbound: `delivered` (unread) or `read`.
    pub status: MessageStatus,
}
