//! The broker outputs of §21 against real brokers: a NATS server of the test's own (JetStream)
//! and the machine's RabbitMQ (an exchange of the test's own). A consumer of each gets every
//! event of every account, each instance's in its order, with the webhook's envelope, the event
//! id as the message id and the subject or routing key of §21. (RabbitMQ tests run on SQLite
//! only: the outage test stops the machine's RabbitMQ, and the PostgreSQL suite runs beside.)

mod common;

use std::collections::HashMap;
use std::time::Duration;

use async_nats::jetstream;
use common::sandbox::inject;
use common::sse::{Frame, SseClient};
use common::{TestServer, linked};
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wagate_server::{AmqpConfig, BrokerConfig, NatsConfig};
use wagate_testkit::brokers::{
    AMQP_URL, NatsServer, amqp_channel, amqp_consumer, bound_queue, jetstream_consumer,
    remove_exchange, unique_name,
};
use wagate_testkit::{Backend, on_both_backends};

const ME: &str = "5511900000001";
const OTHER: &str = "5511900000002";
const THEIRS: &str = "5511900000009";
const CONTACT: &str = "5511988887777";
const WITHIN: Duration = Duration::from_secs(15);
const QUIET: Duration = Duration::from_millis(1500);

/// One message as a broker consumer got it.
#[derive(Debug, Clone)]
struct Got {
    /// The subject (NATS) or routing key (RabbitMQ).
    name: String,
    /// `Nats-Msg-Id` or AMQP `message_id`.
    id: String,
    body: Value,
}

async fn take_nats(
    consumer: &jetstream::consumer::Consumer<jetstream::consumer::pull::Config>,
    n: usize,
) -> Vec<Got> {
    let mut messages = consumer.messages().await.expect("a message stream");
    let mut got = Vec::new();
    while got.len() < n {
        let Ok(Some(m)) = tokio::time::timeout(WITHIN, messages.next()).await else {
            panic!("{} of {n} messages reached JetStream", got.len());
        };
        let m = m.expect("a message");
        let id = m
            .headers
            .as_ref()
            .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
            .map(|v| v.as_str().to_owned())
            .expect("a Nats-Msg-Id");
        got.push(Got {
            name: m.subject.to_string(),
            id,
            body: serde_json::from_slice(&m.payload).expect("JSON"),
        });
    }
    got
}

async fn take_amqp(consumer: &mut lapin::Consumer, n: usize) -> Vec<Got> {
    let mut got = Vec::new();
    while got.len() < n {
        let Ok(Some(d)) = tokio::time::timeout(WITHIN, consumer.next()).await else {
            panic!("{} of {n} messages reached RabbitMQ", got.len());
        };
        let d = d.expect("a delivery");
        assert_eq!(
            d.properties.delivery_mode(),
            &Some(2),
            "published persistent"
        );
        let body: Value = serde_json::from_slice(&d.data).expect("JSON");
        assert_eq!(
            d.properties.kind().as_ref().map(|k| k.to_string()),
            body["event"].as_str().map(str::to_owned),
            "`type` is the event's name"
        );
        got.push(Got {
            name: d.routing_key.to_string(),
            id: d
                .properties
                .message_id()
                .as_ref()
                .map(|m| m.to_string())
                .expect("a message_id"),
            body,
        });
    }
    got
}

/// Waits until this node publishes to every output (`wagate_broker_holding` at 1).
async fn publishing(s: &TestServer, targets: &[&str]) {
    for _ in 0..200 {
        let text = s.metrics().await;
        if targets
            .iter()
            .all(|t| text.contains(&format!("wagate_broker_holding{{target=\"{t}\"}} 1")))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the publishers never took their outputs");
}

/// Every frame until the stream is quiet.
async fn drain(sse: &mut SseClient) -> Vec<Frame> {
    let mut frames = Vec::new();
    while let Some(f) = sse.next(QUIET).await {
        frames.push(f);
    }
    frames
}

/// What a conversation gave: every event from the streams (both accounts), and the account of
/// each instance.
struct Conversation {
    frames: Vec<Frame>,
    account_of: HashMap<String, String>,
}

impl Conversation {
    /// `<accountId>.<instanceId>.<event>` of an envelope.
    fn routing_key(&self, body: &Value) -> String {
        let inst = body["data"]["instanceId"].as_str().unwrap();
        format!(
            "{}.{inst}.{}",
            self.account_of[inst],
            body["event"].as_str().unwrap()
        )
    }
}

/// Two accounts, three instances: links, messages in, a send out (sent, delivered, read).
async fn conversation(s: &TestServer) -> Conversation {
    let k = &s.default_key;
    let my_account = s.get("/v1/account", k).await.body["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (their_account, their_key) = s.account("pro").await;
    let mut mine = SseClient::open(s, k, "", None).await;
    let mut theirs = SseClient::open(s, &their_key, "", None).await;
    let me = linked(s, k, ME, json!({})).await;
    let other = linked(s, k, OTHER, json!({})).await;
    let their = linked(s, &their_key, THEIRS, json!({})).await;
    for (to, text) in [
        (ME, "um"),
        (OTHER, "dois"),
        (THEIRS, "três"),
        (ME, "quatro"),
    ] {
        let key = if to == THEIRS { &their_key } else { k };
        inject(s, key, to, text).await;
    }
    let sent = s
        .post(
            "/v1/messages/send",
            k,
            json!({"instanceId": me, "to": CONTACT, "message": "Pedido 7 confirmado"}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    let mut frames = drain(&mut mine).await;
    let theirs_frames = drain(&mut theirs).await;
    assert!(
        frames.iter().any(|f| f.event == "message.read"),
        "the send reached read: {:?}",
        frames.iter().map(|f| &f.event).collect::<Vec<_>>()
    );
    assert!(!theirs_frames.is_empty());
    frames.extend(theirs_frames);
    let account_of = HashMap::from([
        (me, my_account.clone()),
        (other, my_account),
        (their, their_account),
    ]);
    Conversation { frames, account_of }
}

/// What a broker got is what the streams gave: the same events, each instance's in the same
/// order, the envelope unchanged, the id as the message id, and `name` as §21 says.
fn assert_matches(got: &[Got], expected: &[Frame], name: impl Fn(&Value) -> String) {
    let mut want: Vec<&str> = expected.iter().map(|f| f.id.as_str()).collect();
    let mut have: Vec<&str> = got.iter().map(|g| g.id.as_str()).collect();
    want.sort();
    have.sort();
    assert_eq!(have, want, "every event once");
    let by_id: HashMap<&str, &Frame> = expected.iter().map(|f| (f.id.as_str(), f)).collect();
    for g in got {
        let f = by_id[g.id.as_str()];
        assert_eq!(g.body, f.data, "the webhook's envelope");
        assert_eq!(g.body["id"], json!(g.id));
        assert_eq!(g.name, name(&g.body), "{g:?}");
    }
    // Per instance, the broker's order is the instance's own: its sequence numbers 1, 2, 3…
    let mut per_instance: HashMap<String, Vec<u64>> = HashMap::new();
    for g in got {
        let inst = g.body["data"]["instanceId"].as_str().unwrap().to_owned();
        per_instance
            .entry(inst)
            .or_default()
            .push(g.body["sequence"].as_u64().unwrap());
    }
    assert_eq!(per_instance.len(), 3);
    for (inst, seqs) in per_instance {
        let from_one: Vec<u64> = (1..=seqs.len() as u64).collect();
        assert_eq!(seqs, from_one, "{inst}: out of order or with a gap");
    }
}

fn with_brokers(backend: Backend, brokers: BrokerConfig) -> impl Future<Output = TestServer> {
    TestServer::start_with(backend, move |c| {
        c.sandbox = true;
        c.brokers = brokers;
    })
}

async fn every_event_reaches_jetstream_in_order(backend: Backend) {
    let nats = NatsServer::start();
    let stream = unique_name("WAGATE").replace('-', "_");
    let s = with_brokers(
        backend,
        BrokerConfig {
            nats: Some(NatsConfig {
                url: nats.url(),
                stream: stream.clone(),
            }),
            amqp: None,
        },
    )
    .await;
    publishing(&s, &["nats"]).await;
    let talk = conversation(&s).await;
    let consumer = jetstream_consumer(&nats.url(), &stream).await;
    let got = take_nats(&consumer, talk.frames.len()).await;
    assert_matches(&got, &talk.frames, |b| {
        format!("wagate.{}", talk.routing_key(b))
    });
    let mut more = consumer.messages().await.unwrap();
    assert!(
        tokio::time::timeout(QUIET, more.next()).await.is_err(),
        "a message came twice"
    );
    s.stop().await;
}

on_both_backends!(every_event_reaches_jetstream_in_order);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_reaches_rabbitmq_in_order() {
    let exchange = unique_name("wagate-test");
    let (_conn, ch) = amqp_channel().await;
    let queue = bound_queue(&ch, &exchange, None).await;
    let mut consumer = amqp_consumer(&ch, &queue).await;
    let s = with_brokers(
        Backend::Sqlite,
        BrokerConfig {
            nats: None,
            amqp: Some(AmqpConfig {
                url: AMQP_URL.into(),
                exchange: exchange.clone(),
            }),
        },
    )
    .await;
    publishing(&s, &["amqp"]).await;
    let talk = conversation(&s).await;
    let got = take_amqp(&mut consumer, talk.frames.len()).await;
    assert_matches(&got, &talk.frames, |b| talk.routing_key(b));
    assert!(
        tokio::time::timeout(QUIET, consumer.next()).await.is_err(),
        "a message came twice"
    );
    s.stop().await;
    remove_exchange(&exchange, None).await;
}
