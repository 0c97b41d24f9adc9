//! The delivery worker: claims due deliveries (leased, so a crashed node's share is taken up
//! again), attempts each in its own task, and records the outcome with the next retry time.
//!
//! A commit on this node that makes deliveries due wakes the worker; otherwise (deliveries
//! written by other nodes, retries coming due) it polls.
//!
//! Deliveries of different lanes run side by side (up to `CONCURRENCY`), so a receiver that
//! hangs only holds up its own lane, for at most the 5 s timeout per attempt.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};
use wagate_core::Timestamp;
use wagate_core::delivery::{DueDelivery, RetrySchedule};
use wagate_core::store::Store;

use crate::delivery::attempt::{Attempt, TIMEOUT, post_signed};
use crate::net_guard::NetGuard;

/// Attempts in flight at once on one node.
const CONCURRENCY: usize = 64;
/// How long a claim holds a delivery: the timeout with room to record the outcome.
const LEASE_MS: i64 = 30_000;
/// How often the outbox is looked at when nothing woke the worker: the delay of a retry and of
/// another node's events.
const POLL: Duration = Duration::from_millis(200);

#[derive(Clone)]
pub struct DeliveryWorker {
    wake: Arc<Notify>,
    stopped: Arc<AtomicBool>,
    slots: Arc<Semaphore>,
    store: Arc<dyn Store>,
    node: String,
}

struct Shared {
    store: Arc<dyn Store>,
    net: NetGuard,
    client: reqwest::Client,
    schedule: RetrySchedule,
    node: String,
    wake: Arc<Notify>,
    stopped: Arc<AtomicBool>,
    slots: Arc<Semaphore>,
}

impl DeliveryWorker {
    /// Frees this node's stale claims (it restarted: nothing it claimed is in flight) and starts.
    pub async fn start(
        store: Arc<dyn Store>,
        net: NetGuard,
        schedule: RetrySchedule,
        node: String,
    ) -> Self {
        match store.release_claims(&node).await {
            Ok(n) if n > 0 => tracing::info!(
                deliveries = n,
                "took back deliveries claimed before a restart"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not free earlier delivery claims"),
        }
        let wake = Arc::new(Notify::new());
        let on_due = wake.clone();
        store.on_deliveries_due(Arc::new(move || on_due.notify_one()));
        let stopped = Arc::new(AtomicBool::new(false));
        let slots = Arc::new(Semaphore::new(CONCURRENCY));
        let shared = Arc::new(Shared {
            stopped: stopped.clone(),
            client: net.client(TIMEOUT),
            store: store.clone(),
            net,
            schedule,
            node: node.clone(),
            wake: wake.clone(),
            slots: slots.clone(),
        });
        tokio::spawn(run(shared));
        Self {
            wake,
            stopped,
            slots,
            store,
            node,
        }
    }

    /// Claims nothing more (at shutdown); attempts in flight finish or their lease runs out.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Stops claiming and waits (at most the attempt timeout and a second) for the attempts in
    /// flight to be recorded; what is still unrecorded then is released, so a restart delivers
    /// it again (at least once, never lost).
    pub async fn shutdown(&self) {
        self.stop();
        let all = CONCURRENCY as u32;
        let drained = tokio::time::timeout(
            TIMEOUT + Duration::from_secs(1),
            self.slots.acquire_many(all),
        )
        .await;
        if !matches!(drained, Ok(Ok(_))) {
            tracing::warn!(
                "webhook attempts still in flight at shutdown; their claims are released"
            );
        }
        if let Err(e) = self.store.release_claims(&self.node).await {
            tracing::warn!(error = %e, "could not release delivery claims at shutdown");
        }
    }

    /// Something new may be due (a retry requested, an event written by this node).
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

async fn run(shared: Arc<Shared>) {
    while !shared.stopped.load(Ordering::SeqCst) {
        let free = shared.slots.available_permits();
        let claimed = if free == 0 {
            Vec::new()
        } else {
            let claim = format!("{}:{}", shared.node, ulid::Ulid::new());
            match shared
                .store
                .claim_deliveries(&claim, Timestamp::now(), LEASE_MS, free as u32)
                .await
            {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming webhook deliveries failed");
                    Vec::new()
                }
            }
        };
        if claimed.is_empty() {
            let _ = tokio::time::timeout(POLL, shared.wake.notified()).await;
            continue;
        }
        for d in claimed {
            let Ok(permit) = shared.slots.clone().acquire_owned().await else {
                return; // the semaphore is never closed
            };
            let shared = shared.clone();
            tokio::spawn(async move {
                deliver(&shared, d).await;
                drop(permit);
                shared.wake.notify_one(); // the lane may have a next event
            });
        }
    }
}

async fn deliver(shared: &Shared, d: DueDelivery) {
    let result = post_signed(
        &shared.client,
        shared.net.policy,
        Attempt {
            url: d.url.as_ref(),
            secret: &d.secret,
            event: d.event,
            event_id: d.event_id.as_str(),
            body: &d.body,
        },
    )
    .await;
    let retry_at = if result.succeeded() || d.url.is_none() {
        None
    } else {
        shared
            .schedule
            .wait_after(d.attempts + 1)
            .map(|w| Timestamp::now().plus_millis(w.as_millis() as i64))
    };
    if let Some(e) = &result.error {
        tracing::info!(delivery = %d.id, event = %d.event_id, attempt = d.attempts + 1, error = %e, "webhook delivery failed");
    }
    if let Err(e) = shared.store.finish_attempt(&d, &result, retry_at).await {
        // The lease runs out and the delivery is attempted again: at least once, never lost.
        tracing::error!(delivery = %d.id, error = %e, "recording a webhook attempt failed");
    }
}
