//! A webhook receiver for `bench/webhooks.sh`: answers every POST with 200 at once and counts.
//! `GET /stats` → `{"count", "firstMs", "lastMs"}` (Unix ms of the first and last POST).
//!
//! cargo run --release -p wagate --example webhook_sink -- 127.0.0.1:9100

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use axum::routing::get;

#[derive(Default)]
struct Stats {
    count: AtomicU64,
    first_ms: AtomicU64,
    last_ms: AtomicU64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

async fn receive(State(s): State<Arc<Stats>>) -> &'static str {
    let now = now_ms();
    let _ = s
        .first_ms
        .compare_exchange(0, now, Ordering::SeqCst, Ordering::SeqCst);
    s.last_ms.fetch_max(now, Ordering::SeqCst);
    s.count.fetch_add(1, Ordering::SeqCst);
    "ok"
}

async fn stats(State(s): State<Arc<Stats>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "count": s.count.load(Ordering::SeqCst),
        "firstMs": s.first_ms.load(Ordering::SeqCst),
        "lastMs": s.last_ms.load(Ordering::SeqCst),
    }))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9100".into());
    let app = axum::Router::new()
        .route("/stats", get(stats))
        .fallback(receive)
        .with_state(Arc::new(Stats::default()));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await
}
