//! Prometheus metrics (`GET /metrics`): requests by route and status, latency, instances by status.

use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};
use wagate_core::instance::InstanceStatus;

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    instances: IntGaugeVec,
    meta_webhooks_rejected: IntCounterVec,
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
        for m in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
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
