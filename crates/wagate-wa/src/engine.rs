//! `Engine` on whatsapp-rust: one `Bot` per instance on the shared tokio runtime.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::mpsc;
use wagate_core::engine::{
    ConnectRequest, Engine, EngineError, EventSink, LinkMethod, MediaVault, Session,
};
use wagate_core::engine_state::EngineStateStore;
use wagate_core::history::HistoryWindow;
use whatsapp_rust::bot::{Bot, EventDelivery};
use whatsapp_rust::pair_code::PairCodeOptions;
use whatsapp_rust::transport::{TokioWebSocketTransportFactory, TransportFactory};
use whatsapp_rust::types::events::Event;
use whatsapp_rust::wacore::net::HttpClient;

use crate::driver::drive;
use crate::durability::CommitBeforeAck;
use crate::options::WaOptions;
use crate::session::WaSession;
use crate::shared::Shared;
use crate::state::KvBackend;
use crate::transport::{ObservedTransport, SharedHttp};

/// The client's event mailbox. The handler only forwards into an unbounded channel, so the
/// mailbox drains as fast as events come and never drops one.
const MAILBOX: usize = 1024;

pub struct WhatsAppWeb {
    state: Arc<dyn EngineStateStore>,
    options: WaOptions,
    vault: Arc<dyn MediaVault>,
}

impl WhatsAppWeb {
    pub fn new(
        state: Arc<dyn EngineStateStore>,
        options: WaOptions,
        vault: Arc<dyn MediaVault>,
    ) -> Self {
        Self {
            state,
            options,
            vault,
        }
    }

    fn transport(&self) -> Arc<dyn TransportFactory> {
        match &self.options.connector {
            Some(c) => c.transport(),
            None => Arc::new(TokioWebSocketTransportFactory::new()),
        }
    }

    fn http(&self) -> Option<Arc<dyn HttpClient>> {
        self.options.connector.as_ref().map(|c| c.http())
    }
}

#[async_trait]
impl Engine for WhatsAppWeb {
    async fn connect(
        &self,
        req: ConnectRequest,
        sink: Arc<dyn EventSink>,
    ) -> Result<Box<dyn Session>, EngineError> {
        let backend = Arc::new(KvBackend::new(
            self.state.clone(),
            req.instance_id.clone(),
            req.tenure.clone(),
        ));
        if req.session.is_none() {
            // A new link starts from fresh keys, never from a half-linked or unlinked device.
            backend
                .wipe()
                .await
                .map_err(|e| EngineError::Failed(format!("clearing session state: {e}")))?;
        }
        let shared = Arc::new(Shared::new(
            req.instance_id.clone(),
            sink,
            backend.clone(),
            self.vault.clone(),
            self.options.history,
        ));
        let (tx, rx) = mpsc::unbounded_channel();
        let mut builder = Bot::builder()
            .with_backend_arc(backend)
            .with_transport_factory(ObservedTransport {
                inner: self.transport(),
                observer: shared.clone(),
            })
            .with_event_delivery(EventDelivery::Ordered { capacity: MAILBOX })
            .with_inbound_durability_hook(CommitBeforeAck(shared.clone()))
            .with_wanted_pre_key_count(self.options.pre_key_count)
            .on_event({
                let shared = shared.clone();
                move |event, _client| {
                    // Acks complete the waiting send here, never behind other events: the driver
                    // may be waiting for the runtime, and the runtime for this very ack.
                    match event.as_ref() {
                        Event::ServerAck(a) => shared.ack(&a.id, a.error.clone()),
                        _ => {
                            let _ = tx.send(event);
                        }
                    }
                    async {}
                }
            });
        if self.options.history == HistoryWindow::Off {
            builder = builder.skip_history_sync();
        }
        if let Some(http) = self.http() {
            builder = builder.with_http_client(SharedHttp(http));
        }
        if let Some(v) = self.options.version {
            builder = builder.with_version((v.0, v.1, v.2));
        }
        if let LinkMethod::PairingCode(phone) = &req.link {
            builder = builder.with_pair_code(PairCodeOptions {
                phone_number: phone.as_str().to_owned(),
                ..Default::default()
            });
        }
        let bot = builder
            .build()
            .await
            .map_err(|e| EngineError::Failed(format!("starting the WhatsApp client: {e}")))?;
        let handle = bot.spawn();
        let client = handle.client();
        shared.set_handle(handle);
        tokio::spawn(drive(shared.clone(), client.clone(), rx));
        Ok(Box::new(WaSession::new(shared, client)))
    }
}
