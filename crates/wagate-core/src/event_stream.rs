//! Reading an account's events as one stream (§21): `GET /v1/events/stream` and `/v1/events/ws`.
//!
//! The stream's order is the order events became visible (commit order), not the order of their
//! ids: two transactions can commit in the other order than they began, and a reader that
//! resumed "after the newest id" would skip the slower one for good. So every event has a
//! stream position the store gives in commit order, and a client resumes from the position of
//! the last event it saw.

use crate::webhook_event::WebhookEvent;
use crate::{EventId, InstanceId};

/// A place in an account's stream: the events after it are still to be read. Opaque outside
/// the store (on PostgreSQL the writing transaction's id and the row's number; on SQLite the
/// number alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct StreamCursor {
    pub tx: i64,
    pub position: i64,
}

/// Where a stream starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamStart {
    /// With the next event written (a client with no `Last-Event-ID`).
    Now,
    /// Just after this event. If it is no longer kept (its instance was deleted), the stream
    /// starts with the first event written after the time in its id, so a client that comes
    /// back late misses nothing still kept.
    After(EventId),
}

/// Which events a reader wants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamFilter {
    /// One instance's events only.
    pub instance: Option<InstanceId>,
    /// These events only (none listed: every event).
    pub events: Vec<WebhookEvent>,
}

/// An event read from the stream: its §15.6 envelope as delivered to webhooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamedEvent {
    pub id: EventId,
    pub kind: WebhookEvent,
    /// The envelope's JSON.
    pub body: String,
    pub cursor: StreamCursor,
}
