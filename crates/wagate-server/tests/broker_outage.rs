//! Both brokers stopped for 30 s while events flow (§21): NATS killed and started again (a
//! server of the test's own), the machine's RabbitMQ stopped with `rabbitmqctl stop_app` and
//! started again. Webhooks keep flowing meanwhile, `/metrics` shows the backlog and the error,
//! and once the brokers are back every event reaches them, each instance's in order, and the
//! backlog drains. Alone in its test binary (and SQLite only): it stops the machine's RabbitMQ.

mod common;

use std::time::{Duration, Instant};

use common::receiver::{Answer, Receiver};
use common::sandbox::inject;
use common::sse::SseClient;
use common::{TestServer, linked};
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wagate_server::{AmqpConfig, BrokerConfig, NatsConfig};
use wagate_testkit::Backend;
use wagate_testkit::brokers::{
    AMQP_URL, NatsServer, RabbitOutage, amqp_channel, amqp_consumer, bound_queue,
    jetstream_consumer, remove_exchange, unique_name,
};

const ME: &str = "5511900000001";
const OUTAGE: Duration = Duration::from_secs(30);
const WITHIN: Duration = Duration::from_secs(30);

/// The value of `name{target="…"}` in the metrics text.
fn metric(text: &str, name: &str, target: &str) -> Option<i64> {
    let prefix = format!("{name}{{target=\"{target}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

/// Event ids of the instance, in the order RabbitMQ gave them, until `want` distinct ones.
async fn amqp_ids(queue: &str, want: usize) -> Vec<(String, u64)> {
    let (_conn, ch) = amqp_channel().await;
    let mut consumer = amqp_consumer(&ch, queue).await;
    let mut got = Vec::new();
    let mut distinct = std::collections::HashSet::new();
    while distinct.len() < want {
        let Ok(Some(d)) = tokio::time::timeout(WITHIN, consumer.next()).await else {
            panic!("{} of {want} events reached RabbitMQ", distinct.len());
        };
        let body: Value = serde_json::from_slice(&d.expect("a delivery").data).unwrap();
        let id = body["id"].as_str().unwrap().to_owned();
        distinct.insert(id.clone());
        got.push((id, body["sequence"].as_u64().unwrap()));
    }
    got
}

async fn nats_ids(url: &str, stream: &str, want: usize) -> Vec<(String, u64)> {
    let consumer = jetstream_consumer(url, stream).await;
    let mut messages = consumer.messages().await.unwrap();
    let mut got = Vec::new();
    while got.len() < want {
        let Ok(Some(m)) = tokio::time::timeout(WITHIN, messages.next()).await else {
            panic!("{} of {want} events reached JetStream", got.len());
        };
        let m = m.unwrap();
        let body: Value = serde_json::from_slice(&m.payload).unwrap();
        got.push((
            body["id"].as_str().unwrap().to_owned(),
            body["sequence"].as_u64().unwrap(),
        ));
    }
    assert!(
        tokio::time::timeout(Duration::from_secs(2), messages.next())
            .await
            .is_err(),
        "JetStream holds an event twice"
    );
    got
}

/// Every event of the list, the first time each came in the instance's order.
fn assert_all_in_order(got: &[(String, u64)], expected: &[String], broker: &str) {
    let mut first: Vec<(String, u64)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (id, seq) in got {
        if seen.insert(id.clone()) {
            first.push((id.clone(), *seq));
        }
    }
    let mut have: Vec<&String> = first.iter().map(|(id, _)| id).collect();
    let mut want: Vec<&String> = expected.iter().collect();
    have.sort();
    want.sort();
    assert_eq!(have, want, "{broker}: every event");
    let seqs: Vec<u64> = first.iter().map(|(_, s)| *s).collect();
    let mut sorted = seqs.clone();
    sorted.sort();
    assert_eq!(seqs, sorted, "{broker}: in the instance's order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brokers_down_for_30_s_delay_events_and_lose_none() {
    let mut nats = NatsServer::start();
    let stream = unique_name("WAGATE").replace('-', "_");
    let exchange = unique_name("wagate-outage");
    let queue = unique_name("wagate-outage-queue");
    {
        let (_conn, ch) = amqp_channel().await;
        bound_queue(&ch, &exchange, Some(&queue)).await;
    }
    let brokers = BrokerConfig {
        nats: Some(NatsConfig {
            url: nats.url(),
            stream: stream.clone(),
        }),
        amqp: Some(AmqpConfig {
            url: AMQP_URL.into(),
            exchange: exchange.clone(),
        }),
    };
    let s = TestServer::start_with(Backend::Sqlite, move |c| {
        c.sandbox = true;
        c.url_policy.allow_private = true;
        c.brokers = brokers;
    })
    .await;
    let k = &s.default_key;
    let rx = Receiver::start(Answer::Ok).await;
    // The account's stream, open from before its one instance exists: the list of every event
    // the brokers must end up with.
    let mut stream_of_all = SseClient::open(&s, k, "", None).await;
    let inst = linked(&s, k, ME, json!({})).await;
    let sub = s
        .post(
            "/v1/webhooks",
            k,
            json!({"url": rx.url, "instanceId": inst, "events": ["message.received"]}),
        )
        .await;
    assert_eq!(sub.status, StatusCode::CREATED, "{}", sub.body);
    inject(&s, k, ME, "before").await;
    rx.wait_for(1, WITHIN).await;

    nats.stop();
    let outage = RabbitOutage::begin();
    let down = Instant::now();
    let mut sent = 0;
    // Messages keep coming during the outage, and their webhooks keep arriving.
    while down.elapsed() < OUTAGE - Duration::from_secs(5) {
        inject(&s, k, ME, &format!("during {sent}")).await;
        sent += 1;
        let delivered = rx.wait_for(1 + sent, WITHIN).await.len();
        assert_eq!(
            delivered,
            1 + sent,
            "webhooks flow while the brokers are down"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let text = s.metrics().await;
    for target in ["nats", "amqp"] {
        assert!(
            metric(&text, "wagate_broker_backlog", target).unwrap_or(0) > 0,
            "{target}: the backlog shown\n{text}"
        );
        assert!(
            metric(&text, "wagate_broker_failures", target).unwrap_or(0) > 0,
            "{target}: failures shown\n{text}"
        );
        assert!(
            text.lines().any(
                |l| l.starts_with("wagate_broker_last_error_timestamp_seconds{")
                    && l.contains(&format!("target=\"{target}\""))
            ),
            "{target}: the last error shown\n{text}"
        );
    }
    tokio::time::sleep(OUTAGE.saturating_sub(down.elapsed())).await;
    nats.resume();
    drop(outage);

    let mut expected = Vec::new();
    while let Some(f) = stream_of_all.next(Duration::from_millis(1500)).await {
        expected.push(f.id);
    }
    assert!(expected.len() > sent, "{} events", expected.len());
    let from_nats = nats_ids(&nats.url(), &stream, expected.len()).await;
    assert_all_in_order(&from_nats, &expected, "JetStream");
    let from_amqp = amqp_ids(&queue, expected.len()).await;
    assert_all_in_order(&from_amqp, &expected, "RabbitMQ");
    // The backlog drained.
    let mut drained = false;
    for _ in 0..100 {
        let text = s.metrics().await;
        if ["nats", "amqp"]
            .iter()
            .all(|t| metric(&text, "wagate_broker_backlog", t) == Some(0))
        {
            drained = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(drained, "the backlog drains: {}", s.metrics().await);
    s.stop().await;
    remove_exchange(&exchange, Some(&queue)).await;
}
