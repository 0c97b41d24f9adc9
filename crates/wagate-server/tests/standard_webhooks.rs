//! Signatures checked by an independent receiver: `scripts/standard_webhooks_receiver.py`
//! verifies `x-enviaai-signature` as the EnviaAI docs compute it and the Standard Webhooks
//! headers with the published `standardwebhooks` package. Needs python3 with that package;
//! `.ci/run` installs it and runs these with the PostgreSQL suite (`--ignored`).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::TestServer;
use common::sandbox::inject;
use common::{eventually, linked};
use serde_json::{Value, json};
use wagate_core::net::UrlPolicy;
use wagate_testkit::Backend;

const SECRET: &str = "whs_independently_checked_secret";

/// The Python receiver and the lines it printed, one per request.
struct PyReceiver {
    child: Child,
    url: String,
    seen: Arc<Mutex<Vec<Value>>>,
}

impl PyReceiver {
    fn start() -> PyReceiver {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../scripts/standard_webhooks_receiver.py"
        );
        let mut child = Command::new("python3")
            .arg(script)
            .arg(SECRET)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port = lines
            .next()
            .expect("the receiver prints its port (is `standardwebhooks` installed?)")
            .unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock()
                    .unwrap()
                    .push(serde_json::from_str(&line).unwrap());
            }
        });
        PyReceiver {
            child,
            url: format!("http://127.0.0.1:{}/hook", port.trim()),
            seen,
        }
    }

    /// The lines of the first `n` requests (each is printed just after its answer is sent).
    async fn seen(&self, n: usize) -> Vec<Value> {
        for _ in 0..100 {
            let seen = self.seen.lock().unwrap().clone();
            if seen.len() >= n {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the receiver reported fewer than {n} requests");
    }
}

impl Drop for PyReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

async fn an_independent_receiver_accepts_both_signatures(backend: Backend) {
    let py = PyReceiver::start();
    let s = TestServer::start_with(backend, |c| {
        c.sandbox = true;
        c.url_policy = UrlPolicy {
            allow_private: true,
        };
    })
    .await;
    let k = s.default_key.clone();
    let inst = linked(&s, &k, "5511900000001", json!({})).await;
    let r = s
        .post(
            "/v1/webhooks",
            &k,
            json!({"url": py.url, "instanceId": inst, "events": ["message.received"], "secret": SECRET}),
        )
        .await;
    let id = r.body["data"]["id"].as_str().unwrap().to_owned();

    inject(&s, &k, "5511900000001", "Olá, çà va? 👋").await;
    let logs = eventually(&s, &k, &format!("/v1/webhooks/{id}/logs"), |b| {
        b["data"].as_array().is_some_and(|a| !a.is_empty())
    })
    .await;
    assert_eq!(
        logs.body["data"][0]["statusCode"],
        json!(200),
        "{}",
        logs.body
    );
    let test = s
        .post(&format!("/v1/webhooks/{id}/test"), &k, json!({}))
        .await;
    assert_eq!(test.body["data"]["statusCode"], json!(200), "{}", test.body);
    let seen = py.seen(2).await;
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(
        seen.iter()
            .all(|l| l["enviaai"] == json!(true) && l["standard"] == json!(true)),
        "{seen:?}"
    );

    // After a rotation the receiver (still holding the old secret) refuses both signatures:
    // it really checks them.
    s.post(&format!("/v1/webhooks/{id}/rotate-secret"), &k, json!({}))
        .await;
    let test = s
        .post(&format!("/v1/webhooks/{id}/test"), &k, json!({}))
        .await;
    assert_eq!(test.body["data"]["statusCode"], json!(401), "{}", test.body);
    let last = py.seen(3).await.pop().unwrap();
    assert_eq!(last["enviaai"], json!(false));
    assert_eq!(last["standard"], json!(false));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python3 with `standardwebhooks`; .ci/run installs it and passes --ignored"]
async fn independent_receiver_sqlite() {
    an_independent_receiver_accepts_both_signatures(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "PostgreSQL and python3 with `standardwebhooks`: .ci/run runs it with --ignored"]
async fn independent_receiver_postgres() {
    an_independent_receiver_accepts_both_signatures(Backend::Postgres).await
}
