//! Resident memory per connected session against the fake server.
//! Run: N=100 nice -n 15 cargo test --features fake-server -j 1 --test memory -- --ignored --nocapture
#![cfg(feature = "fake-server")]

mod common;
use common::*;
use std::time::{Duration, Instant};
use wa_engine_scratch::fake::FakeServer;

/// Counts live heap bytes exactly (RSS deltas are blurred by allocator reuse of
/// pages freed in an earlier phase).
struct Counting;
static LIVE: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as i64, std::sync::atomic::Ordering::Relaxed);
        unsafe { std::alloc::System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        LIVE.fetch_sub(l.size() as i64, std::sync::atomic::Ordering::Relaxed);
        unsafe { std::alloc::System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: std::alloc::Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n as i64 - l.size() as i64, std::sync::atomic::Ordering::Relaxed);
        unsafe { std::alloc::System.realloc(p, l, n) }
    }
}
#[global_allocator]
static A: Counting = Counting;
fn live_kib() -> i64 {
    LIVE.load(std::sync::atomic::Ordering::Relaxed) / 1024
}

/// Returns freed heap pages to the OS first, so RSS deltas measure live memory
/// rather than what glibc kept cached from an earlier phase.
fn rss_kib() -> u64 {
    unsafe {
        libc::malloc_trim(0);
    }
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn rss_per_connected_session() {
    let n: usize = std::env::var("N").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let server = FakeServer::new();
    let rss0 = rss_kib();

    // Phase 1: pair N fresh sessions (each its own account/phone), concurrently in chunks.
    let t0 = Instant::now();
    let backends: Vec<Backend> = (0..n).map(|_| new_backend()).collect();
    let mut handles = Vec::new();
    for chunk in backends.chunks(50).enumerate() {
        let (ci, chunk) = chunk;
        let mut tasks = Vec::new();
        for (i, b) in chunk.iter().enumerate() {
            let server = server.clone();
            let b = b.clone();
            let phone = format!("1555{:07}", ci * 50 + i);
            tasks.push(tokio::spawn(async move {
                let mut s = start(&server, b, None).await;
                pair(&server, &mut s, &phone).await;
                s
            }));
        }
        for t in tasks {
            handles.push(t.await.unwrap());
        }
    }
    println!("paired {n} sessions in {:?}; rss {} KiB, live heap {} KiB (start: {} KiB)", t0.elapsed(), rss_kib(), live_kib(), rss0);
    let weaks: Vec<_> = handles.iter().map(|s| std::sync::Arc::downgrade(&s.client())).collect();
    for s in handles.drain(..) {
        s.handle.shutdown().await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let alive = weaks.iter().filter(|w| w.upgrade().is_some()).count();
    println!("clients still alive after shutdown: {alive}/{n}; fake server observed {} records", server.observed().len());
    let backend_bytes: usize = backends.iter().map(|b| b.store().size().1).sum();
    let rss_idle = rss_kib();
    let live_idle = live_kib();
    println!("all shut down: rss {rss_idle} KiB (before anything: {rss0} KiB); backends hold {} KiB of values", backend_bytes / 1024);

    // Phase 2: restart every session from its stored state (no QR) and wait until connected.
    let t1 = Instant::now();
    let mut sessions = Vec::new();
    for b in &backends {
        sessions.push(start(&server, b.clone(), None).await);
    }
    let mut ok = 0;
    for s in &sessions {
        if s.client().wait_for_connected(Duration::from_secs(60)).await.is_ok() {
            ok += 1;
        }
    }
    let t_conn = t1.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_conn = rss_kib();
    let live_conn = live_kib();
    let mut est = 0u64;
    for s in &sessions {
        est += s.client().resource_report().await.total_estimated_bytes();
    }
    let threads = std::fs::read_dir("/proc/self/task").unwrap().count();
    println!(
        "RESULT n={n} connected={ok} reconnect_all={t_conn:?} rss_idle={rss_idle}KiB rss_connected={rss_conn}KiB \
         rss_per_session={:.1}KiB live_heap_idle={live_idle}KiB live_heap_connected={live_conn}KiB \
         live_heap_per_session={:.1}KiB lib_estimate_per_session={:.1}KiB threads={threads}",
        (rss_conn.saturating_sub(rss_idle)) as f64 / n as f64,
        (live_conn - live_idle) as f64 / n as f64,
        est as f64 / 1024.0 / n as f64
    );
    assert_eq!(ok, n);
    for s in sessions {
        s.handle.shutdown().await;
    }
}
