//! In-process fake WhatsApp server for offline tests (test-only feature `test-fake-wa`, which
//! also lets the client accept the fake's zero-signed certificate chain). Moved from the research
//! prototype; it speaks the real protocol (Noise XX/IK, binary nodes, Signal) to the real client.
// Protobuf literals keep `..Default::default()` so they still compile when the schema grows.
#![allow(clippy::needless_update)]

pub mod groups;
pub mod media;
pub mod peer;
pub mod profiles;
pub mod server;
pub mod tcp;
pub mod wire;

pub use groups::{FakeGroup, FakeRole};
pub use media::{FakeCdn, FakeCdnClient, PhoneFile};
pub use profiles::FakeProfile;
pub use server::{ContactReceipts, FakeOptions, FakeServer, FakeTransportFactory, Observed};
/// The protobuf types tests build payloads with (history, messages).
pub use whatsapp_rust::buffa::MessageField;
/// How a phone encrypts its vote on a poll (tests play the voter).
pub use whatsapp_rust::wacore::download::MediaType as WaMediaType;
pub use whatsapp_rust::wacore::poll as wa_poll;
pub use whatsapp_rust::waproto::whatsapp as wa;

/// Points wagate's engine at this fake server (`WaOptions::connector`).
pub struct FakeConnector(pub std::sync::Arc<FakeServer>);

impl crate::options::Connector for FakeConnector {
    fn transport(&self) -> std::sync::Arc<dyn whatsapp_rust::transport::TransportFactory> {
        std::sync::Arc::new(self.0.transport_factory())
    }

    fn http(&self) -> std::sync::Arc<dyn whatsapp_rust::wacore::net::HttpClient> {
        std::sync::Arc::new(FakeCdnClient(self.0.cdn.clone()))
    }
}
