//! Shared test harness: builds a real whatsapp-rust Bot wired to the fake server
//! and to wagate's KvBackend, and collects its events.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};
use wa_engine_scratch::blob_store::MemBlobStore;
use wa_engine_scratch::fake::FakeServer;
use wa_engine_scratch::kv_backend::KvBackend;
use whatsapp_rust::async_channel;
use whatsapp_rust::prelude::*;
use whatsapp_rust::InboundDurabilityHook;

use whatsapp_rust::wacore::net::{HttpClient, HttpRequest, HttpResponse};

pub const VERSION: (u32, u32, u32) = (2, 3000, 1027000000);

/// No network: every HTTP call (version fetch, media) fails loudly.
pub struct NoHttp;
#[async_trait::async_trait]
impl HttpClient for NoHttp {
    async fn execute(&self, r: HttpRequest) -> anyhow::Result<HttpResponse> {
        anyhow::bail!("offline test: no HTTP to {}", r.url)
    }
}

pub fn init_log() {
    let _ = env_logger::builder().is_test(true).try_init();
}

pub type Backend = Arc<KvBackend<MemBlobStore>>;

pub fn new_backend() -> Backend {
    Arc::new(KvBackend::new(MemBlobStore::new()))
}

/// A running session plus everything it emitted, in order.
pub struct Session {
    pub handle: BotHandle,
    pub events: async_channel::Receiver<Arc<Event>>,
    pub seen: Vec<Arc<Event>>,
}

impl Session {
    pub fn client(&self) -> Arc<Client> {
        self.handle.client()
    }
    /// Waits for the first event (new or already seen) matching `pred`.
    pub async fn wait_event<F: Fn(&Event) -> bool>(&mut self, timeout: Duration, pred: F) -> Option<Arc<Event>> {
        if let Some(e) = self.seen.iter().find(|e| pred(e)) {
            return Some(e.clone());
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let e = tokio::time::timeout_at(deadline, self.events.recv()).await.ok()?.ok()?;
            self.seen.push(e.clone());
            if pred(&e) {
                return Some(e);
            }
        }
    }
    pub fn kinds(&self) -> Vec<String> {
        self.seen.iter().map(|e| format!("{:?}", e.kind())).collect()
    }
}

pub async fn start(server: &Arc<FakeServer>, backend: Backend, hook: Option<Arc<dyn InboundDurabilityHook>>) -> Session {
    start_with(server, backend, hook, None).await
}

pub async fn start_with(
    server: &Arc<FakeServer>,
    backend: Backend,
    hook: Option<Arc<dyn InboundDurabilityHook>>,
    pair_phone: Option<&str>,
) -> Session {
    let (tx, rx) = async_channel::unbounded::<Arc<Event>>();
    let mut b = Bot::builder()
        .with_backend_arc(backend)
        .with_transport_factory(server.transport_factory())
        .with_http_client(wa_engine_scratch::fake::FakeCdnClient(server.cdn.clone()))
        .with_version(VERSION)
        .skip_history_sync()
        .with_wanted_pre_key_count(20)
        .on_event(move |e, _c| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(e).await;
            }
        });
    if let Some(p) = pair_phone {
        b = b.with_pair_code(whatsapp_rust::pair_code::PairCodeOptions { phone_number: p.to_string(), ..Default::default() });
    }
    if let Some(h) = hook {
        b = b.with_inbound_durability_hook(ArcHook(h));
    }
    let bot = b.build().await.expect("build bot");
    Session { handle: bot.spawn(), events: rx, seen: Vec::new() }
}

/// Adapter: the builder takes a hook by value.
struct ArcHook(Arc<dyn InboundDurabilityHook>);
#[async_trait::async_trait]
impl InboundDurabilityHook for ArcHook {
    async fn on_messages(&self, client: Arc<Client>, batch: &[InboundMessage]) -> anyhow::Result<()> {
        self.0.on_messages(client, batch).await
    }
}

/// Pairs a fresh session to account `phone`: waits for the QR, lets the fake
/// phone scan it, and waits until the client is connected. Returns timings.
pub async fn pair(server: &Arc<FakeServer>, s: &mut Session, phone: &str) -> (Duration, Duration) {
    let t0 = Instant::now();
    let qr = s
        .wait_event(Duration::from_secs(10), |e| matches!(e, Event::PairingQrCode(_)))
        .await
        .expect("QR code");
    let t_qr = t0.elapsed();
    let Event::PairingQrCode(qr) = &*qr else { unreachable!() };
    server.scan_qr(&qr.code, phone).await.expect("scan");
    s.wait_event(Duration::from_secs(30), |e| matches!(e, Event::Connected(_))).await.unwrap_or_else(|| {
        panic!("not connected after pairing; events: {:?}", s.kinds())
    });
    (t_qr, t0.elapsed())
}
