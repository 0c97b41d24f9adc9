//! A webhook receiver for the webhook benchmarks: answers every POST with 200, after `DELAY_MS`
//! (the second argument, default 0), and counts. With `hold` as the third argument it holds
//! every request until `POST /release` (so that a backlog builds up behind the requests in
//! flight). `GET /stats` → `{"count", "firstMs", "lastMs", "releasedMs", "p50Ms", "p99Ms",
//! "maxMs"}`: Unix ms of the first and last answer and of the release, and the percentiles of
//! each event's latency, from the time in its `webhook-id` (an event id, `evt_` and a ULID,
//! whose first 48 bits are the ms it was written) to its answer.
//!
//! cargo run --release -p wagate --example webhook_sink -- 127.0.0.1:9100 [DELAY_MS [hold]]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use tokio::sync::watch;

struct Stats {
    count: AtomicU64,
    first_ms: AtomicU64,
    last_ms: AtomicU64,
    latencies_ms: Mutex<Vec<u64>>,
    delay: Duration,
    /// True while requests are held.
    held: watch::Sender<bool>,
    released_ms: AtomicU64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The ms a ULID was made at: its first ten characters, Crockford base-32.
fn ulid_ms(ulid: &str) -> Option<u64> {
    const ALPHABET: &[u8] = b"0123456789abcdefghjkmnpqrstvwxyz";
    ulid.get(..10)?.bytes().try_fold(0u64, |ms, c| {
        let digit = ALPHABET.iter().position(|&a| a == c.to_ascii_lowercase())?;
        Some(ms << 5 | digit as u64)
    })
}

async fn receive(State(s): State<Arc<Stats>>, headers: HeaderMap) -> &'static str {
    let _ = s.held.subscribe().wait_for(|held| !held).await;
    if !s.delay.is_zero() {
        // A thread's sleep, not tokio's: the timer wheel's 1 ms ticks make a 1 ms sleep ~2 ms.
        let delay = s.delay;
        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(delay)).await;
    }
    let now = now_ms();
    let written = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|id| id.strip_prefix("evt_"))
        .and_then(ulid_ms);
    if let Some(at) = written {
        let mut l = s.latencies_ms.lock().unwrap_or_else(|e| e.into_inner());
        l.push(now.saturating_sub(at));
    }
    let _ = s
        .first_ms
        .compare_exchange(0, now, Ordering::SeqCst, Ordering::SeqCst);
    s.last_ms.fetch_max(now, Ordering::SeqCst);
    s.count.fetch_add(1, Ordering::SeqCst);
    "ok"
}

async fn release(State(s): State<Arc<Stats>>) -> &'static str {
    s.released_ms.store(now_ms(), Ordering::SeqCst);
    s.held.send_replace(false);
    "released"
}

async fn stats(State(s): State<Arc<Stats>>) -> Json<serde_json::Value> {
    let mut l = s
        .latencies_ms
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    l.sort_unstable();
    let at = |q: f64| l.get(((l.len() as f64 * q) as usize).min(l.len().saturating_sub(1)));
    Json(serde_json::json!({
        "count": s.count.load(Ordering::SeqCst),
        "firstMs": s.first_ms.load(Ordering::SeqCst),
        "lastMs": s.last_ms.load(Ordering::SeqCst),
        "releasedMs": s.released_ms.load(Ordering::SeqCst),
        "p50Ms": at(0.50),
        "p99Ms": at(0.99),
        "maxMs": l.last(),
    }))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9100".into());
    let delay = Duration::from_millis(args.next().and_then(|d| d.parse().ok()).unwrap_or(0));
    let hold = args.next().as_deref() == Some("hold");
    let app = axum::Router::new()
        .route("/stats", get(stats))
        .route("/release", post(release))
        .fallback(receive)
        .with_state(Arc::new(Stats {
            count: AtomicU64::new(0),
            first_ms: AtomicU64::new(0),
            last_ms: AtomicU64::new(0),
            latencies_ms: Mutex::new(Vec::new()),
            delay,
            held: watch::Sender::new(hold),
            released_ms: AtomicU64::new(0),
        }));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await
}
