//! What an instance's bot, its event driver, its durability hook and its `Session` share.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;
use wagate_core::InstanceId;
use wagate_core::engine::{EngineEvent, EventSink, MediaVault};
use wagate_core::failure::FailureCode;
use wagate_core::history::HistoryWindow;
use whatsapp_rust::bot::BotHandle;

use crate::state::KvBackend;
use crate::transport::ReachabilityObserver;

/// The server's answer to one of our stanzas: `None` = acknowledged, `Some(code)` = refused.
pub type Ack = Option<String>;

pub struct Shared {
    pub instance: InstanceId,
    pub sink: Arc<dyn EventSink>,
    pub backend: Arc<KvBackend>,
    /// Where received media is kept for the account.
    pub vault: Arc<dyn MediaVault>,
    /// Which of the phone's history is stored when it syncs.
    pub history: HistoryWindow,
    /// Sends waiting for the server's ack, by WhatsApp message id.
    acks: Mutex<HashMap<String, oneshot::Sender<Ack>>>,
    /// The linked phone number, learnt at pairing or from the saved device.
    phone: Mutex<Option<String>>,
    handle: Mutex<Option<BotHandle>>,
    /// Set once "unreachable" was reported, so a waiting instance reports it once per outage.
    unreachable_reported: AtomicBool,
    /// Contacts whose presence this connection asked WhatsApp for (it forgets on reconnect).
    presence_asked: Mutex<HashSet<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub fn new(
        instance: InstanceId,
        sink: Arc<dyn EventSink>,
        backend: Arc<KvBackend>,
        vault: Arc<dyn MediaVault>,
        history: HistoryWindow,
    ) -> Self {
        Self {
            instance,
            sink,
            backend,
            vault,
            history,
            acks: Mutex::new(HashMap::new()),
            phone: Mutex::new(None),
            handle: Mutex::new(None),
            unreachable_reported: AtomicBool::new(false),
            presence_asked: Mutex::new(HashSet::new()),
        }
    }

    /// True the first time `jid`'s presence is asked for on this connection.
    pub fn ask_presence_once(&self, jid: &str) -> bool {
        lock(&self.presence_asked).insert(jid.to_owned())
    }

    /// A new connection starts with no presence subscriptions.
    pub fn forget_presence_asked(&self) {
        lock(&self.presence_asked).clear();
    }

    pub fn expect_ack(&self, id: &str) -> oneshot::Receiver<Ack> {
        let (tx, rx) = oneshot::channel();
        lock(&self.acks).insert(id.to_owned(), tx);
        rx
    }

    pub fn forget_ack(&self, id: &str) {
        lock(&self.acks).remove(id);
    }

    pub fn ack(&self, id: &str, result: Ack) {
        if let Some(tx) = lock(&self.acks).remove(id) {
            let _ = tx.send(result);
        }
    }

    pub fn set_phone(&self, phone: String) {
        *lock(&self.phone) = Some(phone);
    }

    pub fn phone(&self) -> Option<String> {
        lock(&self.phone).clone()
    }

    pub fn set_handle(&self, h: BotHandle) {
        *lock(&self.handle) = Some(h);
    }

    pub fn take_handle(&self) -> Option<BotHandle> {
        lock(&self.handle).take()
    }

    /// The bot stops for good: flushes what it holds, then ends its tasks.
    pub async fn shutdown(&self) {
        if let Some(h) = self.take_handle() {
            h.shutdown().await;
        }
    }

    pub fn reachable(&self) {
        self.unreachable_reported.store(false, Ordering::SeqCst);
    }
}

impl ReachabilityObserver for Shared {
    fn unreachable(&self, reason: String) {
        if self.unreachable_reported.swap(true, Ordering::SeqCst) {
            return;
        }
        let sink = self.sink.clone();
        tokio::spawn(async move {
            let _ = sink
                .emit(EngineEvent::Reconnecting {
                    code: FailureCode::NetworkError,
                    message: format!(
                        "WhatsApp cannot be reached ({reason}); retrying with backoff."
                    ),
                })
                .await;
        });
    }
}
