//! The client's transport, wrapped to report whether WhatsApp can be reached at all.
//!
//! whatsapp-rust retries a failed connect by itself (Fibonacci backoff up to 15 minutes, a
//! sleeping task: no CPU while it waits) but emits no event for it. The wrapper turns a failed
//! socket open into a `network_error` the instance shows as `lastError`.

use std::sync::Arc;

use async_trait::async_trait;
use whatsapp_rust::async_channel::Receiver;
use whatsapp_rust::transport::{Transport, TransportEvent, TransportFactory};
use whatsapp_rust::wacore::net::{HttpClient, HttpRequest, HttpResponse};

/// Told about each connect attempt's outcome.
pub trait ReachabilityObserver: Send + Sync + 'static {
    fn unreachable(&self, reason: String);
}

pub struct ObservedTransport {
    pub inner: Arc<dyn TransportFactory>,
    pub observer: Arc<dyn ReachabilityObserver>,
}

#[async_trait]
impl TransportFactory for ObservedTransport {
    async fn create_transport(
        &self,
    ) -> Result<(Arc<dyn Transport>, Receiver<TransportEvent>), anyhow::Error> {
        let made = self.inner.create_transport().await;
        if let Err(e) = &made {
            self.observer.unreachable(format!("{e:#}"));
        }
        made
    }
}

/// `Arc<dyn HttpClient>` as the `impl HttpClient` the builder takes.
pub struct SharedHttp(pub Arc<dyn HttpClient>);

#[async_trait]
impl HttpClient for SharedHttp {
    async fn execute(&self, request: HttpRequest) -> anyhow::Result<HttpResponse> {
        self.0.execute(request).await
    }
}
