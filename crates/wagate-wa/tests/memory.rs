//! Resident memory per connected session: N instances on wagate's WhatsApp Web engine (the
//! product code: `WhatsAppWeb`, `KvBackend`, the durability hook, the event driver) against
//! the in-process fake server. Session state is kept in memory (`MemStateStore`) so the number
//! is the engine's, not the database's page cache.
//!
//! `N=1000 cargo test -p wagate-wa --features test-fake-wa --test memory -- --ignored --nocapture`
#![cfg(feature = "test-fake-wa")]

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use wagate_core::InstanceId;
use wagate_core::engine::{
    ConnectRequest, Engine, EngineEvent, EventSink, LinkMethod, NotRecorded, Session,
};
use wagate_core::engine_state::EngineStateStore;
use wagate_core::node::Tenure;
use wagate_wa::fake::{FakeConnector, FakeServer};
use wagate_wa::state::MemStateStore;
use wagate_wa::{WaOptions, WaVersion, WhatsAppWeb};

/// Counts live heap bytes exactly (RSS is blurred by allocator reuse).
struct Counting;
static LIVE: AtomicI64 = AtomicI64::new(0);
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as i64, Ordering::Relaxed);
        unsafe { std::alloc::System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        LIVE.fetch_sub(l.size() as i64, Ordering::Relaxed);
        unsafe { std::alloc::System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: std::alloc::Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n as i64 - l.size() as i64, Ordering::Relaxed);
        unsafe { std::alloc::System.realloc(p, l, n) }
    }
}
#[global_allocator]
static A: Counting = Counting;

fn live_kib() -> i64 {
    LIVE.load(Ordering::Relaxed) / 1024
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Records what the engine reports per instance: its latest QR code, whether it is connected.
#[derive(Default)]
struct Board {
    qr: Mutex<HashMap<InstanceId, String>>,
    connected: Mutex<HashMap<InstanceId, bool>>,
}

struct Sink(InstanceId, Arc<Board>);

#[async_trait]
impl EventSink for Sink {
    async fn emit(&self, event: EngineEvent) -> Result<(), NotRecorded> {
        match event {
            EngineEvent::Qr { code, .. } => {
                self.1.qr.lock().unwrap().insert(self.0.clone(), code);
            }
            EngineEvent::Connected { .. } => {
                self.1
                    .connected
                    .lock()
                    .unwrap()
                    .insert(self.0.clone(), true);
            }
            EngineEvent::Reconnecting { .. } | EngineEvent::LoggedOut { .. } => {
                self.1
                    .connected
                    .lock()
                    .unwrap()
                    .insert(self.0.clone(), false);
            }
            _ => {}
        }
        Ok(())
    }
}

async fn until(secs: u64, f: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

/// The benchmark exchanges no media.
struct NoMedia;

#[async_trait::async_trait]
impl wagate_core::engine::MediaVault for NoMedia {
    async fn keep(
        &self,
        _: &InstanceId,
        _: wagate_core::engine::MediaBlob,
    ) -> Result<String, wagate_core::engine::MediaVaultError> {
        Err(wagate_core::engine::MediaVaultError("no media here".into()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: N=… cargo test -p wagate-wa --features test-fake-wa --test memory -- --ignored --nocapture"]
async fn rss_per_connected_session() {
    let n: usize = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let fake = FakeServer::new();
    let state: Arc<dyn EngineStateStore> = Arc::new(MemStateStore::new());
    let engine = WhatsAppWeb::new(
        state,
        WaOptions {
            version: Some(WaVersion(2, 3000, 1027000000)),
            connector: Some(Arc::new(FakeConnector(fake.clone()))),
            pre_key_count: 20,
            ..WaOptions::default()
        },
        Arc::new(NoMedia),
    );
    let board = Arc::new(Board::default());
    let ids: Vec<InstanceId> = (0..n).map(|_| InstanceId::generate()).collect();

    // Phase 1: link every instance by QR (its own phone each), 50 at a time.
    let t0 = Instant::now();
    for (c, chunk) in ids.chunks(50).enumerate() {
        let mut sessions: Vec<Box<dyn Session>> = Vec::new();
        for id in chunk {
            let req = ConnectRequest {
                instance_id: id.clone(),
                session: None,
                link: LinkMethod::Qr,
                tenure: Tenure::unbounded(),
            };
            let sink = Arc::new(Sink(id.clone(), board.clone()));
            sessions.push(engine.connect(req, sink).await.unwrap());
        }
        for (i, id) in chunk.iter().enumerate() {
            assert!(until(30, || board.qr.lock().unwrap().contains_key(id)).await);
            let qr = board.qr.lock().unwrap().get(id).cloned().unwrap();
            fake.scan_qr(&qr, &format!("1555{:07}", c * 50 + i))
                .await
                .unwrap();
        }
        for id in chunk {
            let ok = until(60, || {
                board.connected.lock().unwrap().get(id) == Some(&true)
            })
            .await;
            assert!(ok, "instance linked");
        }
        for s in sessions {
            s.close().await;
        }
    }
    let linked = t0.elapsed();
    board.connected.lock().unwrap().clear();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (rss_idle, live_idle) = (rss_kib(), live_kib());

    // Phase 2: a wagate restart: every instance resumes from its saved state (no QR).
    let t1 = Instant::now();
    let mut sessions = Vec::new();
    for id in &ids {
        let req = ConnectRequest {
            instance_id: id.clone(),
            session: Some("{}".into()),
            link: LinkMethod::Qr,
            tenure: Tenure::unbounded(),
        };
        let sink = Arc::new(Sink(id.clone(), board.clone()));
        sessions.push(engine.connect(req, sink).await.unwrap());
    }
    let all = until(120, || {
        board
            .connected
            .lock()
            .unwrap()
            .values()
            .filter(|c| **c)
            .count()
            == n
    })
    .await;
    let resumed = t1.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (rss_conn, live_conn) = (rss_kib(), live_kib());
    println!(
        "RESULT n={n} linked_all={linked:?} resumed_all={resumed:?} rss_idle={rss_idle}KiB \
         rss_connected={rss_conn}KiB rss_per_session={:.1}KiB live_heap_per_session={:.1}KiB \
         total_rss_per_session={:.1}KiB",
        rss_conn.saturating_sub(rss_idle) as f64 / n as f64,
        (live_conn - live_idle) as f64 / n as f64,
        rss_conn as f64 / n as f64,
    );
    assert!(all, "every instance reconnected");
    for s in sessions {
        s.close().await;
    }
}
