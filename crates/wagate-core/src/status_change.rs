//! A move of an outbound message along `queued → sent → delivered → read`, or to `failed`.
//!
//! The moves are values so that many of them can be committed together (the status writer's
//! group commit) and each applies only forward: a late "delivered" after "read" changes nothing.

use crate::message::MessageError;
use crate::{InstanceId, MessageId, Timestamp};

#[derive(Debug, Clone, PartialEq)]
pub enum StatusChange {
    /// The network accepted a `queued` message and named it `external_id`.
    Sent {
        id: MessageId,
        external_id: String,
        at: Timestamp,
    },
    /// A `queued` or `sent` message will never be sent (or was refused).
    Failed { id: MessageId, error: MessageError },
    /// The recipient's device has it (a receipt, by the network's id).
    Delivered {
        instance: InstanceId,
        external_id: String,
        at: Timestamp,
    },
    /// The recipient read it (implies delivered).
    Read {
        instance: InstanceId,
        external_id: String,
        at: Timestamp,
    },
    /// The network accepted it, then reported it undeliverable. A `read` message stays read.
    FailedAfterSent {
        instance: InstanceId,
        external_id: String,
        error: MessageError,
    },
}
