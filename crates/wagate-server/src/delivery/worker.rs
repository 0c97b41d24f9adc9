//! The delivery worker: claims due deliveries (leased, so a crashed node's share is taken up
//! again), attempts each lane's run of them in its own task (`runs`), and records the outcome it
//! computed (done, retry at, gave up) under the claim it attempted with.
//!
//! One step of it is `run_once`: claim what is due, attempt each, record the outcomes, and report
//! them. Tests drive it directly; the worker's loop runs it again and again. The loop waits only
//! for a step's claim, never for its attempts, so a receiver that hangs holds up its own lane
//! alone, for at most the 5 s timeout per attempt, while later steps claim other lanes (up to
//! `CONCURRENCY` attempts in flight), and no account takes more than its share of them
//! (`shares`), so a tenant whose receivers hang slows only itself.
//!
//! A commit on this node that makes deliveries due wakes the worker; otherwise (deliveries
//! written by other nodes, retries coming due) it polls.
//!
//! Outcomes are recorded through one group-commit writer (`Recorder`): the outcomes of all the
//! attempts that end while a batch commits share the next transaction, so a busy node commits a
//! few times per batch of deliveries rather than once per delivery.
//!
//! Outcomes are fenced by the claim: when an attempt outlives its lease and another worker (of
//! this node or another) claims the delivery, the first worker's late outcome writes nothing: the
//! store answers `Recorded::ClaimLost` and it is logged here.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, oneshot};
use wagate_core::delivery::{
    AttemptOutcome, AttemptResult, Attempted, DueDelivery, Recorded, RetrySchedule,
};
use wagate_core::store::{Store, StoreError};
use wagate_core::{DeliveryId, DeliveryLogId, Timestamp};

use crate::delivery::attempt::{Attempt, Reach, TIMEOUT, post_signed_reaching};
use crate::delivery::breaker::{Breakers, Verdict, receiver_of};
use crate::delivery::runs::{RUN_LENGTH, runs};
use crate::delivery::shares::{ClaimPlan, Shares};
use crate::net_guard::NetGuard;
use crate::runtime::group_commit::{GroupCommit, all_failed};

/// Attempts in flight at once on one node.
const CONCURRENCY: usize = 64;
/// Attempts in flight at once for one account: a quarter of the slots, so that three accounts'
/// dead receivers still leave room for everyone else.
const ACCOUNT_SHARE: usize = CONCURRENCY / 4;
/// How often the outbox is looked at when nothing woke the worker: the delay of a retry and of
/// another node's events.
const POLL: Duration = Duration::from_millis(200);
/// At most this many outcomes share one transaction.
const RECORD_BATCH: usize = 256;
/// How long one run goes on at most (or half the lease, if shorter).
const RUN_TIME: Duration = Duration::from_secs(1);

/// An attempt's outcome on its way to the store, and what recording it answered.
type Recording = (DueDelivery, AttemptResult, AttemptOutcome);
type Recorder = GroupCommit<Recording, Result<Recorded, StoreError>>;

#[derive(Clone)]
pub struct DeliveryWorker {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    net: NetGuard,
    client: reqwest::Client,
    schedule: RetrySchedule,
    node: String,
    lease: Duration,
    wake: Arc<Notify>,
    stopped: AtomicBool,
    slots: Arc<Semaphore>,
    shares: Shares,
    breakers: Breakers,
    recorder: Recorder,
}

/// One attempt of a `run_once` step: what it found, what the worker made of it, and what
/// recording that did.
#[derive(Debug)]
pub struct Delivered {
    pub delivery: DeliveryId,
    /// The claim the attempt was made under.
    pub claim: String,
    /// The attempt's number (1-based).
    pub attempt: u32,
    pub result: AttemptResult,
    pub outcome: AttemptOutcome,
    /// `Ok(Recorded::Written)` when the outcome counts; a lost claim or a deleted delivery wrote
    /// nothing; `Err` when the store failed (the lease runs out and the delivery is attempted
    /// again: at least once, never lost).
    pub recorded: Result<Recorded, StoreError>,
}

impl DeliveryWorker {
    /// How long a claim holds a delivery: the timeout with room to record the outcome.
    pub const LEASE: Duration = Duration::from_secs(30);

    /// A worker that does nothing until `run_once` is called (tests drive it so); `start` runs
    /// one in the background. `node` starts every claim it takes; `lease` is how long each holds.
    pub fn new(
        store: Arc<dyn Store>,
        net: NetGuard,
        schedule: RetrySchedule,
        node: String,
        lease: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                client: net.client(TIMEOUT),
                recorder: start_recorder(store.clone()),
                store,
                net,
                schedule,
                node,
                lease,
                wake: Arc::new(Notify::new()),
                stopped: AtomicBool::new(false),
                slots: Arc::new(Semaphore::new(CONCURRENCY)),
                shares: Shares::new(ACCOUNT_SHARE),
                breakers: Breakers::default(),
            }),
        }
    }

    /// Frees this node's stale claims (it restarted: nothing it claimed is in flight), listens
    /// for this node's commits that make deliveries due, and runs the loop.
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
        let worker = Self::new(store, net, schedule, node, Self::LEASE);
        let on_due = worker.inner.wake.clone();
        worker
            .inner
            .store
            .on_deliveries_due(Arc::new(move || on_due.notify_one()));
        tokio::spawn(run(worker.clone()));
        worker
    }

    /// Claims nothing more (at shutdown); attempts in flight finish or their lease runs out.
    pub fn stop(&self) {
        self.inner.stopped.store(true, Ordering::SeqCst);
        self.inner.wake.notify_one();
    }

    /// Stops claiming and waits (at most the attempt timeout and a second) for the attempts in
    /// flight to be recorded; what is still unrecorded then is released, so a restart delivers
    /// it again (at least once, never lost). An attempt that ends after the release finds its
    /// claim gone and records nothing.
    pub async fn shutdown(&self) {
        self.stop();
        let all = CONCURRENCY as u32;
        let drained = tokio::time::timeout(
            TIMEOUT + Duration::from_secs(1),
            self.inner.slots.acquire_many(all),
        )
        .await;
        if !matches!(drained, Ok(Ok(_))) {
            tracing::warn!(
                "webhook attempts still in flight at shutdown; their claims are released"
            );
        }
        if let Err(e) = self.inner.store.release_claims(&self.inner.node).await {
            tracing::warn!(error = %e, "could not release delivery claims at shutdown");
        }
    }

    /// Something new may be due (a retry requested, an event written by this node).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// One step: claims what is due (as many runs as there are free slots), attempts each run
    /// in its own task, records each outcome, and returns them in delivery order once all are
    /// done. `Err` when the claim itself failed. Claims nothing once stopped.
    pub async fn run_once(&self) -> Result<Vec<Delivered>, StoreError> {
        self.step(None).await
    }

    /// `run_once`, telling `claimed` how many it claimed as soon as it knows.
    async fn step(
        &self,
        claimed: Option<oneshot::Sender<usize>>,
    ) -> Result<Vec<Delivered>, StoreError> {
        let mut slots = self.free_slots();
        let batch = match self.claim(self.inner.shares.plan(slots.len())).await {
            Ok(b) => b,
            Err(e) => {
                if let Some(tx) = claimed {
                    let _ = tx.send(0);
                }
                return Err(e);
            }
        };
        if let Some(tx) = claimed {
            let _ = tx.send(batch.len());
        }
        // One run per lane head claimed, so never more runs than slots.
        let runs = runs(batch);
        slots.truncate(runs.len());
        let tasks: Vec<_> = runs
            .into_iter()
            .zip(slots)
            .map(|(run, slot)| {
                let worker = self.clone();
                let share = self.inner.shares.hold(&run[0].account_id);
                tokio::spawn(async move {
                    let done = worker.deliver_run(run).await;
                    drop((slot, share));
                    worker.inner.wake.notify_one(); // the lane may have a next event
                    done
                })
            })
            .collect();
        let mut done = Vec::with_capacity(tasks.len());
        for t in tasks {
            match t.await {
                Ok(d) => done.extend(d),
                // A panicked attempt records nothing; its lease runs out and it is made again.
                Err(e) => tracing::error!(error = %e, "a webhook attempt panicked"),
            }
        }
        done.sort_by(|a, b| a.delivery.as_str().cmp(b.delivery.as_str()));
        Ok(done)
    }

    /// Attempts a run's deliveries one after another, each outcome handed to the recorder as
    /// soon as it is known (the next attempt does not wait for the commit). The run stops at a
    /// failed attempt (the receiver is in trouble: the rest waits for the retry schedule and
    /// the breaker, as a lone delivery would), when an outcome finds the claim lost or the
    /// delivery gone, after `RUN_TIME` (the URL, secret and status were read at the claim: a
    /// change to the target reaches a run within that time), or when the worker stops; what it
    /// did not attempt is freed at once.
    async fn deliver_run(&self, run: Vec<DueDelivery>) -> Vec<Delivered> {
        let until = std::time::Instant::now() + RUN_TIME.min(self.inner.lease / 2);
        let claim = run[0].claim.clone();
        let halted = Arc::new(AtomicBool::new(false));
        let mut recording = Vec::with_capacity(run.len());
        let mut left = run.into_iter();
        for d in left.by_ref() {
            let (result, outcome) = self.attempt(&d).await;
            let failed = !result.succeeded();
            let (worker, halted_by) = (self.clone(), halted.clone());
            recording.push(tokio::spawn(async move {
                let done = worker.deliver_recorded(d, result, outcome).await;
                if matches!(
                    done.recorded,
                    Ok(Recorded::ClaimLost { .. } | Recorded::Gone)
                ) {
                    halted_by.store(true, Ordering::SeqCst);
                }
                done
            }));
            if failed
                || std::time::Instant::now() >= until
                || halted.load(Ordering::SeqCst)
                || self.inner.stopped.load(Ordering::SeqCst)
            {
                break;
            }
        }
        let unattempted: Vec<DeliveryId> = left.map(|d| d.id).collect();
        let mut done = Vec::with_capacity(recording.len());
        for r in recording {
            match r.await {
                Ok(d) => done.push(d),
                Err(e) => tracing::error!(error = %e, "recording a webhook attempt panicked"),
            }
        }
        // After the records: a freed delivery may be claimed again at once, and must not be
        // one whose outcome is still on its way.
        if !unattempted.is_empty()
            && let Err(e) = self
                .inner
                .store
                .release_deliveries(&claim, &unattempted)
                .await
        {
            tracing::warn!(error = %e, "could not free the rest of a run; its lease frees it");
        }
        done
    }

    /// The slots free now, taken (none once stopped).
    fn free_slots(&self) -> Vec<OwnedSemaphorePermit> {
        let mut slots = Vec::new();
        if self.inner.stopped.load(Ordering::SeqCst) {
            return slots;
        }
        while let Ok(s) = self.inner.slots.clone().try_acquire_owned() {
            slots.push(s);
        }
        slots
    }

    #[tracing::instrument(
        name = "delivery.claim",
        level = "debug",
        skip_all,
        fields(node = %self.inner.node, limit = plan.limit, held = plan.room.listed.len(), claimed)
    )]
    async fn claim(&self, plan: ClaimPlan) -> Result<Vec<DueDelivery>, StoreError> {
        let limit = plan.limit;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let claim = format!("{}:{}", self.inner.node, ulid::Ulid::new());
        let lease_ms = i64::try_from(self.inner.lease.as_millis()).unwrap_or(i64::MAX);
        let due = self
            .inner
            .store
            .claim_deliveries(
                &claim,
                Timestamp::now(),
                lease_ms,
                u32::try_from(limit).unwrap_or(u32::MAX),
                &plan.room,
            )
            .await?;
        // The lanes' next events go with their heads (`runs`).
        let due = if due.iter().any(|d| d.attempts == 0) {
            match self
                .inner
                .store
                .lengthen_claim(&claim, Timestamp::now(), lease_ms, RUN_LENGTH)
                .await
            {
                Ok(all) => all,
                Err(e) => {
                    tracing::warn!(error = %e, "could not lengthen a claim into runs");
                    due
                }
            }
        } else {
            due
        };
        tracing::Span::current().record("claimed", due.len());
        Ok(due)
    }

    /// Records an attempt's outcome and reports it.
    async fn deliver_recorded(
        &self,
        d: DueDelivery,
        result: AttemptResult,
        outcome: AttemptOutcome,
    ) -> Delivered {
        let (attempt, delivery, claim) = (d.attempt(), d.id.clone(), d.claim.clone());
        let recorded = self.record(d, result.clone(), outcome).await;
        Delivered {
            attempt,
            delivery,
            claim,
            result,
            outcome,
            recorded,
        }
    }

    /// Makes the request and decides what it leads to.
    #[tracing::instrument(
        name = "delivery.attempt",
        skip_all,
        fields(delivery = %d.id, event = %d.event_id, attempt = d.attempt())
    )]
    async fn attempt(&self, d: &DueDelivery) -> (AttemptResult, AttemptOutcome) {
        let receiver = d.url.as_ref().and_then(receiver_of);
        let verdict = receiver.as_deref().map_or(Verdict::Attempt, |r| {
            self.inner.breakers.verdict(r, std::time::Instant::now())
        });
        let result = match verdict {
            Verdict::Refused(why) => AttemptResult {
                log_id: DeliveryLogId::generate(),
                at: Timestamp::now(),
                status_code: None,
                response_ms: 0,
                error: Some(why),
            },
            Verdict::Attempt => {
                let (result, reach) = post_signed_reaching(
                    &self.inner.client,
                    self.inner.net.policy,
                    Attempt {
                        url: d.url.as_ref(),
                        secret: &d.secret,
                        event: d.event,
                        event_id: d.event_id.as_str(),
                        body: &d.body,
                        sequence: d.sequence,
                    },
                )
                .await;
                if let Some(r) = &receiver
                    && reach != Reach::NotSent
                {
                    let answered = reach == Reach::Answered;
                    self.inner
                        .breakers
                        .record(r, answered, std::time::Instant::now());
                }
                result
            }
        };
        let outcome = self.inner.schedule.outcome(d, &result, Timestamp::now());
        if let Some(e) = &result.error {
            tracing::info!(error = %e, ?outcome, "webhook delivery failed");
        }
        (result, outcome)
    }

    /// Records the outcome under the attempt's claim.
    #[tracing::instrument(
        name = "delivery.record",
        skip_all,
        fields(delivery = %d.id, claim = %d.claim, ?outcome)
    )]
    async fn record(
        &self,
        d: DueDelivery,
        result: AttemptResult,
        outcome: AttemptOutcome,
    ) -> Result<Recorded, StoreError> {
        let recorded = match self.inner.recorder.submit((d, result, outcome)).await {
            Ok(answer) => answer,
            // The writer is gone (shutdown): the lease runs out and the delivery is made again.
            Err(stopped) => Err(StoreError::Unavailable(stopped.to_string())),
        };
        match &recorded {
            Ok(Recorded::Written) => {}
            Ok(Recorded::ClaimLost { held_by }) => tracing::warn!(
                held_by = held_by.as_deref().unwrap_or("nobody"),
                "the attempt outlived its claim (the lease ran out and the delivery was taken, or \
                 it was freed); its outcome is not recorded"
            ),
            Ok(Recorded::Gone) => tracing::info!(
                "the delivery is gone (its subscription was deleted); its outcome is not recorded"
            ),
            Err(e) => tracing::error!(error = %e, "recording a webhook attempt failed"),
        }
        recorded
    }
}

/// The writer the outcomes go through: each batch of them is one `record_attempts`.
fn start_recorder(store: Arc<dyn Store>) -> Recorder {
    GroupCommit::start(RECORD_BATCH, move |batch: Vec<Recording>| {
        let store = store.clone();
        async move {
            let attempted: Vec<Attempted<'_>> = batch
                .iter()
                .map(|(delivery, result, outcome)| Attempted {
                    delivery,
                    result,
                    outcome: *outcome,
                })
                .collect();
            match store.record_attempts(&attempted).await {
                Ok(answers) => answers.into_iter().map(Ok).collect(),
                // Nothing of the batch was written: every attempt is answered with the error.
                Err(e) => all_failed(batch.len(), &e),
            }
        }
    })
}

/// The loop: a step at a time, each claiming while the loop waits, then attempting on its own
/// while the loop goes on. A step that claimed something is followed at once by the next (there
/// may be more); one that claimed nothing by a wait for a wake-up or the poll interval.
async fn run(worker: DeliveryWorker) {
    while !worker.inner.stopped.load(Ordering::SeqCst) {
        let (tx, claimed) = oneshot::channel();
        let step = worker.clone();
        tokio::spawn(async move {
            if let Err(e) = step.step(Some(tx)).await {
                tracing::warn!(error = %e, "claiming webhook deliveries failed");
            }
        });
        if claimed.await.unwrap_or(0) == 0 {
            let _ = tokio::time::timeout(POLL, worker.inner.wake.notified()).await;
        }
    }
}
