//! Brokers for tests: a NATS server (with JetStream) of the test's own, which it can stop and
//! start again, and the machine's RabbitMQ, whose exchanges each test names for itself.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The machine's RabbitMQ (guest/guest on loopback, as `.ci/run` checks).
pub const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// A name no other test uses: `prefix-<ulid>`.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// `nats-server -js` on a free loopback port, its store in a temporary directory. Stopping and
/// starting it again keeps the port and the store (a broker outage and its end).
pub struct NatsServer {
    pub port: u16,
    store: tempfile::TempDir,
    child: Option<Child>,
}

impl NatsServer {
    pub fn start() -> NatsServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let store = tempfile::tempdir().expect("a store directory");
        let mut server = NatsServer {
            port,
            store,
            child: None,
        };
        server.resume();
        server
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts the server again after `stop` (same port, same store).
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("nats-server")
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server runs (Debian's nats-server package)");
        self.child = Some(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server (an outage: nothing of it answers until `resume`).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The machine's RabbitMQ stopped with its own command (`rabbitmqctl stop_app`) until this is
/// dropped, which starts it again (also when the test fails).
pub struct RabbitOutage(());

impl RabbitOutage {
    pub fn begin() -> RabbitOutage {
        rabbitmqctl("stop_app");
        RabbitOutage(())
    }
}

impl Drop for RabbitOutage {
    fn drop(&mut self) {
        rabbitmqctl("start_app");
        rabbitmqctl("await_startup");
    }
}

fn rabbitmqctl(command: &str) {
    let status = Command::new("rabbitmqctl")
        .args(["-q", command])
        .stdout(Stdio::null())
        .status()
        .expect("rabbitmqctl runs");
    assert!(status.success(), "rabbitmqctl {command} failed");
}

/// A channel on the machine's RabbitMQ, beside its connection (dropping that closes both).
pub async fn amqp_channel() -> (lapin::Connection, lapin::Channel) {
    let conn = lapin::Connection::connect(AMQP_URL, lapin::ConnectionProperties::default())
        .await
        .expect("RabbitMQ answers");
    let ch = conn.create_channel().await.expect("a channel");
    (conn, ch)
}

/// A queue bound to the whole of `exchange`, a durable topic exchange made here if wagate has
/// not made it yet (an exchange keeps nothing for a queue bound later). With a name, a durable
/// queue: it keeps what comes while nobody reads and outlives RabbitMQ's restart; without, a
/// queue of this connection's own. Answers the queue's name.
pub async fn bound_queue(ch: &lapin::Channel, exchange: &str, durable: Option<&str>) -> String {
    use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
    use lapin::types::FieldTable;
    ch.exchange_declare(
        exchange.into(),
        lapin::ExchangeKind::Topic,
        ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .expect("the exchange");
    let options = QueueDeclareOptions {
        durable: durable.is_some(),
        exclusive: durable.is_none(),
        ..Default::default()
    };
    let queue = ch
        .queue_declare(durable.unwrap_or("").into(), options, FieldTable::default())
        .await
        .expect("the queue");
    ch.queue_bind(
        queue.name().clone(),
        exchange.into(),
        "#".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("bound");
    queue.name().to_string()
}

/// Consumes `queue` (acknowledging each message as it is taken).
pub async fn amqp_consumer(ch: &lapin::Channel, queue: &str) -> lapin::Consumer {
    use lapin::options::BasicConsumeOptions;
    ch.basic_consume(
        queue.into(),
        "test".into(),
        BasicConsumeOptions {
            no_ack: true,
            ..Default::default()
        },
        lapin::types::FieldTable::default(),
    )
    .await
    .expect("consuming")
}

/// Removes what a test made on the machine's RabbitMQ.
pub async fn remove_exchange(exchange: &str, queue: Option<&str>) {
    let (_conn, ch) = amqp_channel().await;
    if let Some(q) = queue {
        let _ = ch.queue_delete(q.into(), Default::default()).await;
    }
    let _ = ch
        .exchange_delete(exchange.into(), Default::default())
        .await;
}

/// A durable consumer of the whole of `stream`, once wagate has made the stream.
pub async fn jetstream_consumer(
    url: &str,
    stream: &str,
) -> async_nats::jetstream::consumer::Consumer<async_nats::jetstream::consumer::pull::Config> {
    use async_nats::jetstream;
    let js = jetstream::new(async_nats::connect(url).await.expect("NATS answers"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(s) = js.get_stream(stream).await {
            return s
                .create_consumer(jetstream::consumer::pull::Config {
                    durable_name: Some("test".into()),
                    ack_policy: jetstream::consumer::AckPolicy::None,
                    ..Default::default()
                })
                .await
                .expect("a durable consumer");
        }
        assert!(
            Instant::now() < deadline,
            "wagate never made the stream {stream}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
