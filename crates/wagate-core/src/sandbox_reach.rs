//! The sandbox network across nodes (§19): which node each sandbox connection lives on, so an
//! instance on one node can reach an instance on another, and so a second live connection of
//! one linked session is refused (WhatsApp's "stream replaced") rather than left unseen.

use crate::InstanceId;
use crate::node::NodeId;

/// Where the instance linked as a phone number is, as the database says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Whereabouts {
    /// Connected on `node`, a live node.
    Connected { instance: InstanceId, node: NodeId },
    /// Linked (it has a saved session) but connected nowhere live: what is sent to it waits.
    Offline,
    /// No instance is linked as that number: it is a virtual contact.
    Nowhere,
}

/// What recording a connection found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionClaim {
    /// The connection is this process's now.
    Taken,
    /// Another live process holds a connection of the same session: the new one is refused.
    LiveOn(NodeId),
}
