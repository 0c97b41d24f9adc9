//! SIGKILL of wagate while 1,000 events wait for the brokers (§21): both brokers are down while
//! the events are written (NATS killed, RabbitMQ stopped with `rabbitmqctl stop_app`), wagate is
//! killed, the brokers come back, wagate starts again, and the consumers then hold all 1,000:
//! JetStream exactly once each (it drops a repeat by `Nats-Msg-Id`), RabbitMQ at least once,
//! a repeat with the same id. SQLite only: it stops the machine's RabbitMQ, and the PostgreSQL
//! suite runs beside.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use support::{Api, Server, messages_from_contacts};
use wagate_testkit::brokers::{
    AMQP_URL, NatsServer, RabbitOutage, amqp_channel, amqp_consumer, bound_queue,
    jetstream_consumer, remove_exchange, unique_name,
};
use wagate_testkit::{Backend, TestDb};

const EVENTS: usize = 1000;
const SENDERS: usize = 16;
const WITHIN: Duration = Duration::from_secs(60);

/// Event ids by message text, of the `message.received` events in `bodies`.
fn by_text(bodies: &[Value]) -> HashMap<String, Vec<String>> {
    let mut seen: HashMap<String, Vec<String>> = HashMap::new();
    for b in bodies
        .iter()
        .filter(|b| b["event"] == json!("message.received"))
    {
        seen.entry(b["data"]["content"].as_str().unwrap().to_owned())
            .or_default()
            .push(b["id"].as_str().unwrap().to_owned());
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_with_events_pending_for_the_brokers_loses_none() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut nats = NatsServer::start();
    let stream = unique_name("WAGATE").replace('-', "_");
    let exchange = unique_name("wagate-crash");
    let queue = unique_name("wagate-crash-queue");
    {
        // A durable queue keeps everything until it is read.
        let (_conn, ch) = amqp_channel().await;
        bound_queue(&ch, &exchange, Some(&queue)).await;
    }
    let nats_url = nats.url();
    let env = [
        ("WAGATE_NATS_URL", nats_url.as_str()),
        ("WAGATE_NATS_STREAM", stream.as_str()),
        ("WAGATE_AMQP_URL", AMQP_URL),
        ("WAGATE_AMQP_EXCHANGE", exchange.as_str()),
    ];
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &db.url, &env);
    let api = Arc::new(Api::new_account(&server).await);
    api.link("5511900000001", json!({})).await;

    nats.stop();
    let outage = RabbitOutage::begin();
    messages_from_contacts(&api, "5511900000001", EVENTS, SENDERS).await;
    server.kill();
    nats.resume();
    drop(outage);
    let server = Server::start(dir.path(), &db.url, &env);

    // JetStream: all 1,000, each once.
    let consumer = jetstream_consumer(&nats.url(), &stream).await;
    let mut messages = consumer.messages().await.unwrap();
    let mut from_nats = Vec::new();
    while by_text(&from_nats).len() < EVENTS {
        let Ok(Some(m)) = tokio::time::timeout(WITHIN, messages.next()).await else {
            panic!(
                "{} of {EVENTS} events reached JetStream",
                by_text(&from_nats).len()
            );
        };
        let m = m.unwrap();
        from_nats.push(serde_json::from_slice::<Value>(&m.payload).unwrap());
    }
    // What else the stream holds (the instance's reconnection after the restart, say), read
    // too: no `message.received` may be among it a second time.
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(2), messages.next()).await
    {
        m.ack().await.unwrap();
        from_nats.push(serde_json::from_slice::<Value>(&m.payload).unwrap());
    }
    let seen = by_text(&from_nats);
    assert!(
        seen.values().all(|ids| ids.len() == 1),
        "JetStream holds an event twice"
    );

    // RabbitMQ: all 1,000; a repeat carries the same id.
    let (_conn, ch) = amqp_channel().await;
    let mut consumer = amqp_consumer(&ch, &queue).await;
    let mut from_amqp = Vec::new();
    while by_text(&from_amqp).len() < EVENTS {
        let Ok(Some(d)) = tokio::time::timeout(WITHIN, consumer.next()).await else {
            panic!(
                "{} of {EVENTS} events reached RabbitMQ",
                by_text(&from_amqp).len()
            );
        };
        from_amqp.push(serde_json::from_slice::<Value>(&d.unwrap().data).unwrap());
    }
    for (text, ids) in by_text(&from_amqp) {
        assert!(ids.iter().all(|id| *id == ids[0]), "{text}: {ids:?}");
        assert_eq!(
            ids[0], seen[&text][0],
            "{text}: the same event on both brokers"
        );
    }
    server.kill();
    remove_exchange(&exchange, Some(&queue)).await;
}
