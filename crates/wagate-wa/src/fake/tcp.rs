//! The fake server over TCP, so a wagate *process* (built with `test-fake-wa`) can connect to it:
//! the crash test kills that process. The transport is a dumb byte pipe (framing and Noise are
//! the client's), so the bridge copies bytes both ways.

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use whatsapp_rust::async_channel;
use whatsapp_rust::bytes::Bytes;
use whatsapp_rust::transport::{DisconnectReason, Transport, TransportEvent, TransportFactory};
use whatsapp_rust::wacore::net::{HttpClient, HttpRequest, HttpResponse};

use super::server::FakeServer;

impl FakeServer {
    /// Accepts clients on a loopback port; returns its address.
    pub async fn listen_tcp(self: &Arc<Self>) -> std::io::Result<SocketAddr> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = self.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let server = server.clone();
                tokio::spawn(async move {
                    let _ = bridge(server, stream).await;
                });
            }
        });
        Ok(addr)
    }
}

async fn bridge(server: Arc<FakeServer>, stream: TcpStream) -> anyhow::Result<()> {
    let (c2s, ev_tx, ev_rx) = server.open_conn().await?;
    let (mut rd, mut wr) = stream.into_split();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if c2s.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                        break;
                    }
                }
            }
        }
        // The client went away (e.g. killed): the server side sees the stream end.
        c2s.close();
        ev_tx.close();
    });
    while let Ok(ev) = ev_rx.recv().await {
        match ev {
            TransportEvent::DataReceived(b) => wr.write_all(&b).await?,
            TransportEvent::Disconnected(_) => break,
            _ => {}
        }
    }
    wr.shutdown().await?;
    Ok(())
}

/// Client side: a `TransportFactory` that connects to `FakeServer::listen_tcp`.
pub struct TcpTransportFactory(pub SocketAddr);

struct TcpTransport {
    writer: tokio::sync::Mutex<OwnedWriteHalf>,
}

#[async_trait]
impl Transport for TcpTransport {
    async fn send(&self, data: Bytes) -> anyhow::Result<()> {
        Ok(self.writer.lock().await.write_all(&data).await?)
    }
    async fn disconnect(&self) {
        let _ = self.writer.lock().await.shutdown().await;
    }
}

#[async_trait]
impl TransportFactory for TcpTransportFactory {
    async fn create_transport(
        &self,
    ) -> anyhow::Result<(Arc<dyn Transport>, async_channel::Receiver<TransportEvent>)> {
        let stream = TcpStream::connect(self.0).await?;
        let (mut rd, wr) = stream.into_split();
        let (tx, rx) = async_channel::unbounded();
        tx.send(TransportEvent::Connected).await?;
        tokio::spawn(async move {
            // One event per whole frame, as WebSocket messages arrive: the client's handshake
            // reads with a frame decoder of its own and drops it afterwards, so bytes of the
            // first post-handshake frame that shared a TCP read with the handshake's last one
            // would be lost (and every later frame fail to decrypt).
            let mut buf = vec![0u8; 64 * 1024];
            let mut pending: Vec<u8> = Vec::new();
            loop {
                match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        pending.extend_from_slice(&buf[..n]);
                        while let Some(len) = whole_frame(&pending) {
                            let frame = Bytes::copy_from_slice(&pending[..len]);
                            pending.drain(..len);
                            if tx.send(TransportEvent::DataReceived(frame)).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            }
            let _ = tx
                .send(TransportEvent::Disconnected(DisconnectReason::Unknown))
                .await;
        });
        let transport = TcpTransport {
            writer: tokio::sync::Mutex::new(wr),
        };
        Ok((Arc::new(transport), rx))
    }
}

/// The length of the first whole frame in `bytes` (3-byte big-endian length, then the
/// payload), if it has arrived.
fn whole_frame(bytes: &[u8]) -> Option<usize> {
    let [a, b, c, ..] = *bytes else {
        return None;
    };
    let len = 3 + ((usize::from(a) << 16) | (usize::from(b) << 8) | usize::from(c));
    (bytes.len() >= len).then_some(len)
}

/// No HTTP (media, version lookup) for a process talking to the fake over TCP.
pub struct NoHttp;

#[async_trait]
impl HttpClient for NoHttp {
    async fn execute(&self, r: HttpRequest) -> anyhow::Result<HttpResponse> {
        anyhow::bail!(
            "the fake WhatsApp server over TCP serves no HTTP ({})",
            r.url
        )
    }
}

/// Points wagate's engine at a fake server listening on `addr`.
pub struct TcpConnector(pub SocketAddr);

impl crate::options::Connector for TcpConnector {
    fn transport(&self) -> Arc<dyn TransportFactory> {
        Arc::new(TcpTransportFactory(self.0))
    }

    fn http(&self) -> Arc<dyn HttpClient> {
        Arc::new(NoHttp)
    }
}
