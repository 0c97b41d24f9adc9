//! Prometheus metrics (`GET /metrics`): requests by route and status, latency, instances by
//! status, the broker outputs' backlogs and errors.

use std::sync::Arc;
use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};
use wagate_brokers::TargetStatus;
use wagate_core::instance::InstanceStatus;

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    instances: IntGaugeVec,
    meta_webhooks_rejected: IntCounterVec,
    brokers: BrokerGauges,
}

/// The broker outputs' gauges (§21), set from their publishers' state at each scrape.
struct BrokerGauges {
    backlog: IntGaugeVec,
    published: IntGaugeVec,
    failures: IntGaugeVec,
    holding: IntGaugeVec,
    last_error: IntGaugeVec,
}

impl BrokerGauges {
    fn new() -> Self {
        let vec = |name: &str, help: &str, labels: &[&str]| {
            IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric")
        };
        Self {
            backlog: vec(
                "wagate_broker_backlog",
                "Events not yet published to the broker output (counted up to 100,000)",
                &["target"],
            ),
            published: vec(
                "wagate_broker_published",
                "Events the broker acknowledged since this node started",
                &["target"],
            ),
            failures: vec(
                "wagate_broker_failures",
                "Batches the broker failed or refused since this node started",
                &["target"],
            ),
            holding: vec(
                "wagate_broker_holding",
                "1 while this node publishes to the output (one node at a time does)",
                &["target"],
            ),
            last_error: vec(
                "wagate_broker_last_error_timestamp_seconds",
                "When the output last failed, with the error as a label",
                &["target", "error"],
            ),
        }
    }
}

fn gauge(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "wagate_http_requests_total",
                "HTTP requests by route, method and status",
            ),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "wagate_http_request_duration_seconds",
                "HTTP request latency by route",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["route", "method"],
        )
        .expect("valid metric");
        let instances = IntGaugeVec::new(
            Opts::new("wagate_instances", "Instances by status"),
            &["status"],
        )
        .expect("valid metric");
        let meta_webhooks_rejected = IntCounterVec::new(
            Opts::new(
                "wagate_meta_webhooks_rejected_total",
                "Meta webhook requests refused for their signature, by reason",
            ),
            &["reason"],
        )
        .expect("valid metric");
        let brokers = BrokerGauges::new();
        for m in [
            Box::new(brokers.backlog.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(brokers.published.clone()),
            Box::new(brokers.failures.clone()),
            Box::new(brokers.holding.clone()),
            Box::new(brokers.last_error.clone()),
            Box::new(requests.clone()),
            Box::new(latency.clone()),
            Box::new(instances.clone()),
            Box::new(meta_webhooks_rejected.clone()),
        ] {
            registry.register(m).expect("metric registered once");
        }
        Self {
            registry,
            requests,
            latency,
            instances,
            meta_webhooks_rejected,
            brokers,
        }
    }

    /// Each broker output's backlog, counts, whether this node publishes to it, and its last
    /// error (one series, its text as the `error` label, the time as the value).
    pub fn set_broker_statuses(&self, statuses: &[Arc<TargetStatus>]) {
        let g = &self.brokers;
        // Made anew from the outputs' state: one series per output, its latest error.
        g.last_error.reset();
        for status in statuses {
            let target = status.kind.as_str();
            let s = status.snapshot();
            g.backlog.with_label_values(&[target]).set(gauge(s.backlog));
            g.published
                .with_label_values(&[target])
                .set(gauge(s.published));
            g.failures
                .with_label_values(&[target])
                .set(gauge(s.failures));
            g.holding
                .with_label_values(&[target])
                .set(i64::from(s.holding));
            if let Some((error, at)) = s.last_error {
                g.last_error
                    .with_label_values(&[target, error.as_str()])
                    .set(at.unix_seconds());
            }
        }
    }

    pub fn observe_request(&self, route: &str, method: &str, status: u16, took: Duration) {
        self.requests
            .with_label_values(&[route, method, &status.to_string()])
            .inc();
        self.latency
            .with_label_values(&[route, method])
            .observe(took.as_secs_f64());
    }

    /// Sets the instance gauge; statuses with no instance read 0 rather than vanishing.
    pub fn set_instance_counts(&self, counts: &[(InstanceStatus, u64)]) {
        for s in InstanceStatus::ALL {
            let n = counts.iter().find(|(c, _)| *c == s).map_or(0, |(_, n)| *n);
            self.instances
                .with_label_values(&[s.as_str()])
                .set(n as i64);
        }
    }

    /// A Meta webhook request was refused (bad or missing signature).
    pub fn meta_webhook_rejected(&self, reason: &str) {
        self.meta_webhooks_rejected
            .with_label_values(&[reason])
            .inc();
    }

    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}
