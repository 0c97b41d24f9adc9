//! Accepting connections within limits, so that no client can exhaust the node by opening them.
//!
//! `axum::serve` has neither a cap nor timeouts: idle, half-sent and kept-alive connections stayed
//! open for ever. Here every connection holds a permit of `max_connections` (one over the cap is
//! closed at once), and hyper's header-read timeout runs whenever a connection waits for a
//! request's head: from the accept, between kept-alive requests, and while headers trickle in. A
//! connection that sends no complete head within `header_timeout` is closed, so an idle one
//! costs its slot for at most that long.
//!
//! HTTP/1.1 only: hyper-util's HTTP/2-detecting builder reads the first bytes with no timeout
//! (an idle connection would never be closed), and cleartext HTTP/2 is not what clients or
//! TLS-terminating proxies send a backend.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// What a node allows its HTTP clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Open connections at most; one more is closed as soon as it is accepted.
    pub max_connections: usize,
    /// How long a connection may wait for a complete request head, idle or not.
    pub header_timeout: Duration,
    /// How long a request's body may take to arrive, counted from the request's start.
    pub body_timeout: Duration,
    /// Requests being handled at most; more are answered 503 with `Retry-After` (the health
    /// routes excepted).
    pub max_in_flight: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 16_384,
            header_timeout: Duration::from_secs(20),
            body_timeout: Duration::from_secs(30),
            max_in_flight: 4_096,
        }
    }
}

/// Serves `router` on `listener` until `stop` resolves, then lets the requests in flight finish
/// for up to `drain` (idle connections close at once) and closes what is left.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    stop: impl Future<Output = ()>,
    drain: Duration,
) -> io::Result<()> {
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let connections = TaskTracker::new();
    // `true` once the node stops: each connection finishes its request in flight, then closes.
    let (stopping, stop_rx) = watch::channel(false);
    let abandon = CancellationToken::new();
    let mut refusals = Refusals::default();
    let mut stop = pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            refusals.count(limits.max_connections);
            continue; // dropping the stream closes it
        };
        let conn = Connection {
            stream,
            peer,
            router: router.clone(),
            header_timeout: limits.header_timeout,
        };
        let (stop_rx, abandon) = (stop_rx.clone(), abandon.clone());
        connections.spawn(async move {
            conn.serve(stop_rx, abandon).await;
            drop(permit);
        });
    }
    drop(listener);
    connections.close();
    let _ = stopping.send(true);
    if tokio::time::timeout(drain, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            connections = connections.len(),
            "requests still in flight after {drain:?}; closing them"
        );
        abandon.cancel();
        connections.wait().await;
    }
    Ok(())
}

/// Connections refused over the cap, logged at most once a second: a flood must not become a
/// flood of log lines too.
#[derive(Default)]
struct Refusals {
    since_logged: u64,
    logged_at: Option<tokio::time::Instant>,
}

impl Refusals {
    fn count(&mut self, max: usize) {
        self.since_logged += 1;
        let now = tokio::time::Instant::now();
        if self
            .logged_at
            .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1))
        {
            tracing::warn!(
                refused = self.since_logged,
                max,
                "connections refused: too many open"
            );
            (self.since_logged, self.logged_at) = (0, Some(now));
        }
    }
}

/// Errors of one accept that say nothing about the listener (the peer gave up, or the process is
/// out of descriptors for a moment): wait a little, so a full descriptor table is not spun on.
async fn accept_failed(e: io::Error) {
    tracing::warn!(error = %e, "accepting a connection failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    header_timeout: Duration,
}

impl Connection {
    async fn serve(self, mut stopping: watch::Receiver<bool>, abandon: CancellationToken) {
        // Small requests and answers: don't hold them back to fill a segment.
        let _ = self.stream.set_nodelay(true);
        let peer = self.peer;
        // The peer's address is what refused credentials are counted against.
        let service = self
            .router
            .map_request(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req.map(Body::new)
            });
        let service = TowerToHyperService::new(service);
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(self.header_timeout)
            // Room above `admission`'s limits, which answer with the envelope.
            .max_headers(2 * crate::http::admission::MAX_HEADERS);
        // Upgrades: `/v1/events/ws` takes the connection over as a WebSocket (which ends with
        // the event feed at shutdown).
        let mut conn = pin!(
            http.serve_connection(TokioIo::new(self.stream), service)
                .with_upgrades()
        );
        let mut asked_to_stop = false;
        loop {
            tokio::select! {
                ended = conn.as_mut() => {
                    if let Err(e) = ended {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                    return;
                }
                _ = stopping.wait_for(|s| *s), if !asked_to_stop => {
                    asked_to_stop = true;
                    conn.as_mut().graceful_shutdown();
                }
                _ = abandon.cancelled() => return,
            }
        }
    }
}
