//! Several nodes on one PostgreSQL (§19), as real processes: every instance is driven by exactly
//! one node, a node that dies (`SIGKILL`) or stops (`SIGTERM`) has its instances connected on
//! the others, a second process under one node's name takes the name over, and SQLite, one node
//! by nature, refuses a second `serve`.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Api, BIN, Server, node_table};
use wagate_testkit::{Backend, TestDb};

/// Waits until `done` holds for what `server` reports, at most `within`; answers how long it took.
async fn wait_until<F>(within: Duration, what: &str, mut done: F) -> Duration
where
    F: AsyncFnMut() -> bool,
{
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    started.elapsed()
}

/// Whether every one of `ids` reads `connected` through `api` (any node answers for any).
async fn all_connected(api: &Api, ids: &[String]) -> bool {
    for id in ids {
        let status = api.get(&format!("/v1/instances/{id}/status")).await;
        if status["data"]["status"] != "connected" {
            return false;
        }
    }
    true
}

/// Three nodes, `n1`–`n3`, on `db`, each with its data directory.
fn three_nodes(db: &TestDb) -> (Vec<tempfile::TempDir>, Vec<Option<Server>>) {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let servers = dirs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            Some(Server::start_node(
                d.path(),
                &db.url,
                &format!("n{}", i + 1),
            ))
        })
        .collect();
    (dirs, servers)
}

/// Waits until the three nodes read `up` in the node table.
async fn all_up(servers: &[Option<Server>]) {
    wait_until(Duration::from_secs(10), "three nodes up", async || {
        let t = node_table(node(servers, 0)).await;
        t.len() == 3 && t.values().all(|(s, _)| s == "up")
    })
    .await;
}

/// The i-th node, while it runs.
fn node(servers: &[Option<Server>], i: usize) -> &Server {
    servers[i].as_ref().unwrap()
}

async fn ready(server: &Server) -> u16 {
    reqwest::get(format!("{}/readyz", server.base))
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "PostgreSQL suite: set WAGATE_TEST_POSTGRES_URL and pass --ignored (.ci/run does)"]
async fn instances_spread_over_nodes_and_fail_over() {
    const PER_NODE: usize = 10;
    let db = TestDb::new(Backend::Postgres).await;
    let (_dirs, mut servers) = three_nodes(&db);
    all_up(&servers).await;
    for s in servers.iter().flatten() {
        assert_eq!(ready(s).await, 200);
    }

    // Each node links a third of the instances: the node that links one drives it.
    let api = Api::new_account(node(&servers, 0)).await;
    let mut by_node: Vec<Vec<String>> = vec![Vec::new(); 3];
    for i in 0..3 * PER_NODE {
        let k = i % 3;
        let id = api
            .on(node(&servers, k))
            .link(&format!("55119{:08}", i + 1), json!({}))
            .await;
        by_node[k].push(id);
    }
    let everyone: Vec<String> = by_node.concat();
    for k in 0..3 {
        let on_k = api.on(node(&servers, k));
        wait_until(
            Duration::from_secs(10),
            "every instance connected, read on any node",
            async || all_connected(&on_k, &everyone).await,
        )
        .await;
    }
    let table = node_table(node(&servers, 2)).await;
    for k in 1..=3 {
        assert_eq!(
            table[&format!("n{k}")],
            ("up".to_owned(), PER_NODE as u64),
            "{table:?}"
        );
    }

    // A send accepted by n2 for an instance n1 drives goes out at once: n1 is told through
    // the database. (Its actor also looks at its queue every 5 s by itself: five sends each
    // leaving within 2 s, on a loaded CI machine too, show the notice, not that safety net,
    // which would let all five through so fast about once in a hundred runs.)
    let on_n2 = api.on(node(&servers, 1));
    for (i, instance) in by_node[0].iter().take(5).enumerate() {
        let sent = on_n2
            .post(
                "/v1/messages/send",
                json!({"instanceId": instance, "to": "5511977776666", "message": format!("via n2 {i}")}),
            )
            .await;
        let message = sent["messageId"].as_str().unwrap().to_owned();
        let took = wait_until(Duration::from_secs(10), "sent by n1", async || {
            let m = on_n2.get(&format!("/v1/messages/{message}/status")).await;
            m["data"]["status"] != "queued"
        })
        .await;
        assert!(
            took < Duration::from_secs(2),
            "send {i} waited {took:?} in n1's queue"
        );
    }

    // n1 dies: once its leases run out, n2 and n3 share its instances.
    servers[0].take().unwrap().kill();
    let killed = Instant::now();
    wait_until(
        Duration::from_secs(20),
        "n1's instances held by n2 and n3",
        async || {
            let t = node_table(node(&servers, 1)).await;
            t["n2"].1 + t["n3"].1 == 3 * PER_NODE as u64
        },
    )
    .await;
    wait_until(
        Duration::from_secs(5),
        "n1's instances connected again",
        async || all_connected(&on_n2, &by_node[0]).await,
    )
    .await;
    let failover = killed.elapsed();
    let table = node_table(node(&servers, 1)).await;
    eprintln!("SIGKILL of n1: its instances connected on the others after {failover:?}: {table:?}");
    assert!(failover < Duration::from_secs(15), "{failover:?}");
    assert_eq!(table["n1"], ("gone".to_owned(), 0));
    assert!(
        table["n2"].1.abs_diff(table["n3"].1) <= 1,
        "shared by count: {table:?}"
    );
    // An instance that moved still sends: a virtual contact acknowledges its message.
    let moved = &by_node[0][0];
    let sent = api
        .on(node(&servers, 2))
        .post(
            "/v1/messages/send",
            json!({"instanceId": moved, "to": "5511977776666", "message": "after the failover"}),
        )
        .await;
    let message = sent["messageId"].as_str().unwrap().to_owned();
    wait_until(
        Duration::from_secs(10),
        "the moved instance's message delivered",
        async || {
            let m = on_n2.get(&format!("/v1/messages/{message}/status")).await;
            ["delivered", "read"].contains(&m["data"]["status"].as_str().unwrap_or(""))
        },
    )
    .await;

    // n2 stops (SIGTERM): it hands its leases back at once, and n3 takes everything over.
    let n2 = servers[1].take().unwrap();
    let asked = Instant::now();
    let (took, status) = n2.terminate(Duration::from_secs(10)).expect("n2 exits");
    assert!(status.success(), "{status:?}");
    let on_n3 = api.on(node(&servers, 2));
    wait_until(
        Duration::from_secs(5),
        "n3 holds and connects every instance",
        async || {
            let t = node_table(node(&servers, 2)).await;
            t["n3"].1 == 3 * PER_NODE as u64 && all_connected(&on_n3, &everyone).await
        },
    )
    .await;
    let handed = asked.elapsed();
    eprintln!(
        "SIGTERM of n2: it exited in {took:?}; every instance connected on n3 after {handed:?}"
    );
    assert!(handed < Duration::from_secs(5), "{handed:?}");
    assert_eq!(
        node_table(node(&servers, 2)).await["n2"],
        ("gone".to_owned(), 0)
    );
}

/// Connect, QR code, restart, disconnect and the calls that need the connection (contacts/check,
/// presence) answer alike on every node: a node that does not hold the instance carries the
/// command or the request to the one that does, through the database, and answers with what it
/// did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "PostgreSQL suite: set WAGATE_TEST_POSTGRES_URL and pass --ignored (.ci/run does)"]
async fn lifecycle_commands_reach_the_node_that_holds_the_instance() {
    let db = TestDb::new(Backend::Postgres).await;
    let (_dirs, servers) = three_nodes(&db);
    let api = Api::new_account(node(&servers, 0)).await;
    let [on_n1, on_n2, on_n3] = [0, 1, 2].map(|k| api.on(node(&servers, k)));
    // Every command written for another node is kept aside, to look at afterwards.
    let mut pg = {
        use sqlx::Connection;
        sqlx::PgConnection::connect(&db.url).await.unwrap()
    };
    sqlx::raw_sql(
        "CREATE TABLE seen_commands (body TEXT); \
         CREATE FUNCTION keep_command() RETURNS trigger AS $$ \
           BEGIN INSERT INTO seen_commands VALUES (NEW.body); RETURN NEW; END $$ LANGUAGE plpgsql; \
         CREATE TRIGGER keep AFTER INSERT ON node_commands \
           FOR EACH ROW EXECUTE FUNCTION keep_command();",
    )
    .execute(&mut pg)
    .await
    .unwrap();
    let id = on_n1.post("/v1/instances", json!({"name": "moving"})).await["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let c = on_n2
        .post(
            &format!("/v1/instances/{id}/connect"),
            json!({"method": "qrcode"}),
        )
        .await;
    assert_eq!(c["status"], "qr_pending");
    let qr = c["qrCode"].as_str().unwrap().to_owned();
    // n2 links it; n3 and n1 show the QR code n2 shows.
    for on in [&on_n3, &on_n1] {
        let shown = on.get(&format!("/v1/instances/{id}/qrcode")).await;
        assert_eq!(shown["data"]["qrCode"], qr, "{shown}");
    }
    on_n2
        .post(
            "/sandbox/v1/scan",
            json!({"qrCode": qr, "phone": "5511900000009"}),
        )
        .await;
    wait_until(Duration::from_secs(5), "linked", async || {
        all_connected(&on_n3, std::slice::from_ref(&id)).await
    })
    .await;
    let (status, body) = on_n1
        .call(
            reqwest::Method::POST,
            &format!("/v1/instances/{id}/connect"),
            Some(json!({"method": "qrcode"})),
        )
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &json!("already_connected"))
    );
    // Calls that need its connection are carried to n2 and answered as n2 answers them.
    let checked = on_n3
        .post(
            "/v1/contacts/check",
            json!({"instanceId": id, "phones": ["5511977776666", "9995550000"]}),
        )
        .await;
    let exists: Vec<_> = checked["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["phone"].clone(), c["exists"].clone()))
        .collect();
    assert_eq!(
        exists,
        vec![
            (json!("5511977776666"), json!(true)),
            (json!("9995550000"), json!(false))
        ],
        "{checked}"
    );
    let shown = on_n1
        .post(
            &format!("/v1/instances/{id}/presence"),
            json!({"state": "available"}),
        )
        .await;
    assert_eq!(shown["success"], true, "{shown}");
    // What went through the database named the key, never its secret, and nothing stayed.
    let bodies: Vec<String> = sqlx::query_scalar("SELECT body FROM seen_commands")
        .fetch_all(&mut pg)
        .await
        .unwrap();
    assert!(bodies.len() >= 4, "{bodies:?}");
    let secret = api.key.rsplit('_').next().unwrap();
    assert!(
        bodies.iter().all(|b| !b.contains(secret)),
        "a key's secret went into node_commands"
    );
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM node_commands")
        .fetch_one(&mut pg)
        .await
        .unwrap();
    assert_eq!(left, 0, "answered commands are deleted");
    // n3 restarts it: n2 does, and still holds it.
    let restarted = on_n3
        .post(&format!("/v1/instances/{id}/restart"), json!({}))
        .await;
    assert_eq!(restarted["data"]["id"], id);
    wait_until(Duration::from_secs(5), "reconnected on n2", async || {
        all_connected(&on_n1, std::slice::from_ref(&id)).await
            && node_table(node(&servers, 0)).await["n2"].1 == 1
    })
    .await;
    // n1 disconnects it: n2 logs it out.
    on_n1
        .post(&format!("/v1/instances/{id}/disconnect"), json!({}))
        .await;
    let status = on_n3.get(&format!("/v1/instances/{id}/status")).await;
    assert_eq!(status["data"]["status"], "disconnected", "{status}");
    wait_until(Duration::from_secs(5), "the lease given back", async || {
        node_table(node(&servers, 2)).await["n2"].1 == 0
    })
    .await;
}

/// A node frozen (`SIGSTOP`) in the middle of a send until its lease runs out, then resumed
/// (`SIGCONT`), sends nothing more and writes nothing: the node that took the instance over
/// sends everything, once, and the frozen one gives the instance up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "PostgreSQL suite: set WAGATE_TEST_POSTGRES_URL and pass --ignored (.ci/run does)"]
async fn a_node_frozen_past_its_lease_writes_nothing() {
    let db = TestDb::new(Backend::Postgres).await;
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let n1 = Server::start_node(d1.path(), &db.url, "n1");
    let api = Api::new_account(&n1).await;
    // Typing makes each send slow (1–3 s), so the freeze lands in the middle of the queue.
    let a = api
        .link("5511900000001", json!({"settings": {"autoTyping": true}}))
        .await;
    let n2 = Server::start_node(d2.path(), &db.url, "n2");
    wait_until(Duration::from_secs(5), "n2 up", async || {
        node_table(&n1)
            .await
            .get("n2")
            .is_some_and(|(s, _)| s == "up")
    })
    .await;
    let mut ids = Vec::new();
    for i in 0..6 {
        let text = if i == 0 {
            "x".repeat(200)
        } else {
            format!("m{i}")
        };
        let sent = api
            .post(
                "/v1/messages/send",
                json!({"instanceId": a, "to": "5511977776666", "message": text}),
            )
            .await;
        ids.push(sent["messageId"].as_str().unwrap().to_owned());
    }
    tokio::time::sleep(Duration::from_millis(500)).await; // n1 is typing the first
    n1.signal("STOP");
    let on_n2 = api.on(&n2);
    wait_until(
        Duration::from_secs(20),
        "n2 takes the instance",
        async || node_table(&n2).await["n2"].1 == 1,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    n1.signal("CONT");
    for id in &ids {
        wait_until(
            Duration::from_secs(30),
            "every message delivered",
            async || {
                let m = on_n2.get(&format!("/v1/messages/{id}/status")).await;
                ["delivered", "read"].contains(&m["data"]["status"].as_str().unwrap_or(""))
            },
        )
        .await;
    }
    let table = node_table(&n2).await;
    assert_eq!(table["n1"], ("up".to_owned(), 0), "n1 gave the instance up");
    assert_eq!(table["n2"], ("up".to_owned(), 1));
    let logs = n1.logs();
    assert!(
        logs.iter()
            .any(|l| l.contains("the lease on the instance ran out: not sent")),
        "n1 refused to send once it woke: {logs:#?}"
    );
    assert!(
        logs.iter()
            .any(|l| l.contains("lease lost: stopping the instance here")),
        "n1 stopped the instance"
    );
    let status = on_n2.get(&format!("/v1/instances/{a}/status")).await;
    assert_eq!(
        status["data"]["status"], "connected",
        "what n2 wrote stands"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "PostgreSQL suite: set WAGATE_TEST_POSTGRES_URL and pass --ignored (.ci/run does)"]
async fn a_second_process_under_one_name_takes_it_over() {
    let db = TestDb::new(Backend::Postgres).await;
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut first = Server::start_node(d1.path(), &db.url, "same");
    let api = Api::new_account(&first).await;
    let id = api.link("5511900000001", json!({})).await;
    wait_until(Duration::from_secs(10), "linked", async || {
        all_connected(&api, std::slice::from_ref(&id)).await
    })
    .await;
    assert_eq!(ready(&first).await, 200);

    // A second process given the same --node-id (a mistake, or a restart that overlapped the
    // old process): the name is its now, and the first stops driving anything.
    let second = Server::start_node(d2.path(), &db.url, "same");
    wait_until(
        Duration::from_secs(5),
        "the first is no longer ready",
        async || ready(&first).await == 503,
    )
    .await;
    assert!(
        first.is_running(),
        "it stops driving instances, not serving"
    );
    let on_second = api.on(&second);
    wait_until(
        Duration::from_secs(10),
        "the second drives the instance",
        async || {
            all_connected(&on_second, std::slice::from_ref(&id)).await
                && node_table(&second).await["same"] == ("up".to_owned(), 1)
        },
    )
    .await;
    assert!(
        first
            .logs()
            .iter()
            .any(|l| l.contains("another process registered under this node id")),
        "the first says why it stopped"
    );
}

/// SQLite is one node: a second `serve` on the same database refuses to start, in one line, and
/// the first goes on serving.
#[tokio::test]
async fn a_second_serve_on_one_sqlite_file_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("wagate.db").display()
    );
    let first = Server::start(dir.path(), &url, &[]);
    let second = std::process::Command::new(BIN)
        .args([
            "serve",
            "--sandbox",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &url,
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .env("WAGATE_ADMIN_TOKEN", support::ADMIN)
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(1));
    let err = String::from_utf8_lossy(&second.stderr);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("wagate: another wagate serve is already using the SQLite database")
            && last.contains("use PostgreSQL to run several"),
        "{err}"
    );
    assert!(
        !String::from_utf8_lossy(&second.stdout).contains("listening"),
        "it never served"
    );
    assert_eq!(ready(&first).await, 200, "the first goes on");
    // Once the first is gone (however it ended), the file is free again.
    first.kill();
    let again = Server::start(dir.path(), &url, &[]);
    assert_eq!(ready(&again).await, 200);
}

/// Webhook deliveries are shared by the nodes (§19): a node killed with hundreds of an
/// instance's events waiting leaves them to the other, which delivers every one at least once,
/// first attempts in the order the events happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "PostgreSQL suite: set WAGATE_TEST_POSTGRES_URL and pass --ignored (.ci/run does)"]
async fn webhooks_keep_their_order_across_a_node_kill() {
    const EVENTS: usize = 300;
    let db = TestDb::new(Backend::Postgres).await;
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let env = [("WAGATE_WEBHOOK_ALLOW_PRIVATE", "true")];
    let (rx, url) = support::Receiver::start(Duration::from_millis(50)).await;
    let n1 = Server::start_node_with(d1.path(), &db.url, "n1", &env);
    let n2 = Server::start_node_with(d2.path(), &db.url, "n2", &env);
    let api = std::sync::Arc::new(Api::new_account(&n1).await);
    api.link(
        "5511900000001",
        json!({"webhookUrl": url, "webhookEvents": ["message.received"]}),
    )
    .await;
    support::messages_from_contacts(&api, "5511900000001", EVENTS, 8).await;
    let before = rx.bodies().len();
    n1.kill();
    assert!(
        before < EVENTS / 2,
        "the kill came too late: {before} delivered"
    );
    *rx.delay.lock().unwrap() = Duration::ZERO;
    let _ = &n2;
    wait_until(
        Duration::from_secs(60),
        "every event delivered",
        async || {
            let seen: std::collections::HashSet<_> =
                rx.bodies().iter().map(|b| b["id"].clone()).collect();
            seen.len() == EVENTS
        },
    )
    .await;
    // First arrivals in sequence order; a repeat (an attempt in flight at the kill) is the same
    // event again.
    let mut first = Vec::new();
    let mut ids: HashMap<u64, Value> = HashMap::new();
    for b in rx.bodies() {
        let seq = b["sequence"].as_u64().expect("a sequence");
        match ids.get(&seq) {
            Some(id) => assert_eq!(id, &b["id"], "sequence {seq} arrived as two events"),
            None => {
                ids.insert(seq, b["id"].clone());
                first.push(seq);
            }
        }
    }
    let mut sorted = first.clone();
    sorted.sort();
    assert_eq!(first, sorted, "first attempts out of order");
    eprintln!(
        "n1 killed after {before} of {EVENTS} deliveries; n2 delivered the rest, {} repeats",
        rx.bodies().len() - EVENTS
    );
}

/// A rolling restart of all three nodes, one by one (`SIGTERM`, then started again), under a
/// send load through the nodes that are up, as a load balancer following `/readyz` would send
/// it: every send is answered 200 (or 503 with `Retry-After`), and every accepted message is
/// sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "PostgreSQL suite: set WAGATE_TEST_POSTGRES_URL and pass --ignored (.ci/run does)"]
async fn a_rolling_restart_under_load_loses_nothing() {
    use std::sync::{Arc, Mutex};
    let db = TestDb::new(Backend::Postgres).await;
    let (dirs, mut servers) = three_nodes(&db);
    let api = Api::new_account(node(&servers, 0)).await;
    let mut instances = Vec::new();
    for i in 0..9 {
        let on = api.on(node(&servers, i % 3));
        instances.push(on.link(&format!("55119{:08}", i + 1), json!({})).await);
    }
    // The bases the load may use: a node is taken out before its SIGTERM, put back once up.
    let up: Arc<Mutex<Vec<Option<String>>>> = Arc::new(Mutex::new(
        servers
            .iter()
            .flatten()
            .map(|s| Some(s.base.clone()))
            .collect(),
    ));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (up, stop, key, instances) =
            (up.clone(), stop.clone(), api.key.clone(), instances.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let (mut accepted, mut unavailable, mut n) = (Vec::new(), 0, 0usize);
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let bases: Vec<String> = up.lock().unwrap().iter().flatten().cloned().collect();
                let base = &bases[n % bases.len()];
                let instance = &instances[n % instances.len()];
                n += 1;
                let res = http
                    .post(format!("{base}/v1/messages/send"))
                    .bearer_auth(&key)
                    .json(&json!({"instanceId": instance, "to": "5511977776666", "message": format!("r{n}")}))
                    .send()
                    .await
                    .expect("every node in the rotation answers");
                match res.status().as_u16() {
                    200 => accepted.push(
                        res.json::<Value>().await.unwrap()["messageId"]
                            .as_str()
                            .unwrap()
                            .to_owned(),
                    ),
                    503 => {
                        assert!(
                            res.headers().contains_key("retry-after"),
                            "503 without Retry-After"
                        );
                        unavailable += 1;
                    }
                    other => panic!("send answered {other}: {}", res.text().await.unwrap()),
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (accepted, unavailable)
        })
    };
    for k in 0..3 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        up.lock().unwrap()[k] = None;
        tokio::time::sleep(Duration::from_millis(300)).await; // what was sent to it is answered
        let old = servers[k].take().unwrap();
        let (took, status) = old.terminate(Duration::from_secs(10)).expect("drains");
        assert!(
            status.success(),
            "n{} exited {status:?} after {took:?}",
            k + 1
        );
        let again = Server::start_node(dirs[k].path(), &db.url, &format!("n{}", k + 1));
        up.lock().unwrap()[k] = Some(again.base.clone());
        servers[k] = Some(again);
        let on = api.on(node(&servers, (k + 1) % 3));
        wait_until(
            Duration::from_secs(10),
            "every instance connected again",
            async || all_connected(&on, &instances).await,
        )
        .await;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (accepted, unavailable) = load.await.unwrap();
    assert!(accepted.len() > 50, "the load ran: {}", accepted.len());
    let on = api.on(node(&servers, 0));
    let started = Instant::now();
    loop {
        let mut left: HashMap<String, Vec<&String>> = HashMap::new();
        for id in &accepted {
            let m = on.get(&format!("/v1/messages/{id}/status")).await;
            let status = m["data"]["status"].as_str().unwrap_or("?").to_owned();
            // `sent`: on the network. (A virtual contact's receipt that reached a node as it
            // drained is not recorded there, and the sandbox, unlike WhatsApp, does not
            // deliver it again, so a few stay `sent`.)
            if !["sent", "delivered", "read"].contains(&status.as_str()) {
                left.entry(status).or_default().push(id);
            }
        }
        if left.is_empty() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "accepted but not sent: {left:?}; nodes {:?}",
            node_table(node(&servers, 0)).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "rolling restart: {} sends accepted and sent, {unavailable} answered 503",
        accepted.len()
    );
}

/// How often each text arrived at `instance`, received messages only.
async fn received_texts(api: &Api, instance: &str) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for m in api.history(instance).await {
        if m["direction"] == "inbound" {
            *seen
                .entry(m["content"].as_str().unwrap_or("").to_owned())
                .or_insert(0) += 1;
        }
    }
    seen
}

/// Whether `stream_replaced` was ever recorded: as an instance's last error, or in an event.
async fn stream_replaced_recorded(db: &TestDb) -> i64 {
    use sqlx::Connection;
    let mut pg = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM instances WHERE last_error LIKE '%stream_replaced%') \
              + (SELECT COUNT(*) FROM events WHERE body LIKE '%stream_replaced%')",
    )
    .fetch_one(&mut pg)
    .await
    .unwrap()
}

/// The sandbox network spans the nodes: instances held by different nodes message each other
/// (with delivered and read receipts), a virtual contact reaches an instance through any node,
/// a QR code shown on one node is scanned through another; and when a node is killed under a
/// load of such messages, every message accepted arrives exactly once, and no second connection
/// of a session is ever seen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "PostgreSQL suite: set WAGATE_TEST_POSTGRES_URL and pass --ignored (.ci/run does)"]
async fn sandbox_instances_on_different_nodes_talk_and_lose_nothing_in_a_kill() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    const N: usize = 6;
    let db = TestDb::new(Backend::Postgres).await;
    let (_dirs, mut servers) = three_nodes(&db);
    all_up(&servers).await;
    let api = Api::new_account(node(&servers, 0)).await;
    // Instance i is linked through node i % 3, which holds it; each writes to the next, which
    // another node holds. Receivers read what arrives at once (read receipts go back).
    let phones: Vec<String> = (0..N).map(|i| format!("55118{:08}", i + 1)).collect();
    let mut ids = Vec::new();
    for (i, phone) in phones.iter().enumerate() {
        let on = api.on(node(&servers, i % 3));
        ids.push(
            on.link(
                phone,
                json!({"settings": {"autoRead": true, "autoTyping": false}}),
            )
            .await,
        );
    }
    let next = |i: usize| (i + 1) % N;
    let on_n2 = api.on(node(&servers, 1));
    wait_until(Duration::from_secs(10), "all connected", async || {
        all_connected(&on_n2, &ids).await
    })
    .await;
    assert_eq!(
        node_table(node(&servers, 0))
            .await
            .values()
            .map(|(_, n)| *n)
            .collect::<Vec<_>>(),
        vec![2, 2, 2]
    );

    // Each sends through a node that holds neither it nor the receiver.
    let mut hellos = Vec::new();
    for i in 0..N {
        let via = api.on(node(&servers, (i + 2) % 3));
        let sent = via
            .post(
                "/v1/messages/send",
                json!({"instanceId": ids[i], "to": phones[next(i)], "message": format!("hello {i}")}),
            )
            .await;
        hellos.push(sent["messageId"].as_str().unwrap().to_owned());
    }
    wait_until(
        Duration::from_secs(15),
        "every hello read by its receiver on another node",
        async || {
            for id in &hellos {
                let m = on_n2.get(&format!("/v1/messages/{id}/status")).await;
                if m["data"]["status"] != "read" {
                    return false;
                }
            }
            true
        },
    )
    .await;
    for i in 0..N {
        let seen = received_texts(&on_n2, &ids[next(i)]).await;
        assert_eq!(seen.get(&format!("hello {i}")), Some(&1), "{seen:?}");
        // Found by its text: the receiver's own hello may be newer than the one it got.
        let history = on_n2.history(&ids[next(i)]).await;
        let got = history
            .iter()
            .find(|m| m["direction"] == "inbound" && m["content"] == format!("hello {i}"))
            .unwrap_or_else(|| panic!("hello {i} is not in its receiver's history"));
        assert_eq!(got["from"], phones[i], "the sender's number: {got}");
    }

    // A virtual contact writes to instance 0 (n1's) through n2; a phone scans, through n3, the
    // QR code an instance held by n1 shows; n2 drops n1's instance's connection.
    let injected = on_n2
        .post(
            "/sandbox/v1/messages",
            json!({"to": phones[0], "from": "5511977770000", "message": "from a contact"}),
        )
        .await;
    assert_eq!(injected["data"]["instanceId"], ids[0], "{injected}");
    assert_eq!(
        received_texts(&on_n2, &ids[0]).await.get("from a contact"),
        Some(&1)
    );
    let on_n1 = api.on(node(&servers, 0));
    let late = on_n1.post("/v1/instances", json!({"name": "late"})).await["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let shown = on_n1
        .post(
            &format!("/v1/instances/{late}/connect"),
            json!({"method": "qrcode"}),
        )
        .await;
    let scanned = api
        .on(node(&servers, 2))
        .post(
            "/sandbox/v1/scan",
            json!({"qrCode": shown["qrCode"], "phone": "5511800000099"}),
        )
        .await;
    assert_eq!(scanned["data"]["instanceId"], late, "{scanned}");
    assert_eq!(
        node_table(node(&servers, 2)).await["n1"].1,
        3,
        "n1 holds what it linked"
    );
    let dropped = on_n2
        .post(&format!("/sandbox/v1/instances/{}/drop", ids[0]), json!({}))
        .await;
    assert_eq!(dropped["data"]["done"], true, "{dropped}");
    wait_until(Duration::from_secs(5), "back after the drop", async || {
        all_connected(&on_n2, &ids[..1]).await
    })
    .await;

    // A load of messages between instances, accepted by n2 and n3; n1 is killed meanwhile.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let bases = [1, 2].map(|k| node(&servers, k).base.clone());
        let (stop, key, ids, phones) = (stop.clone(), api.key.clone(), ids.clone(), phones.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut accepted: Vec<(usize, String)> = Vec::new();
            let mut n = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let i = n % N;
                let text = format!("load {n}");
                let res = http
                    .post(format!("{}/v1/messages/send", bases[n % 2]))
                    .bearer_auth(&key)
                    .json(
                        &json!({"instanceId": ids[i], "to": phones[(i + 1) % N], "message": text}),
                    )
                    .send()
                    .await
                    .expect("n2 and n3 answer");
                assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
                accepted.push(((i + 1) % N, text));
                n += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            accepted
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    servers[0].take().unwrap().kill();
    let killed = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::SeqCst);
    let accepted = load.await.unwrap();
    assert!(accepted.len() > 50, "the load ran: {}", accepted.len());
    let mut everyone = ids.clone();
    everyone.push(late);
    wait_until(
        Duration::from_secs(15).saturating_sub(killed.elapsed()),
        "n1's instances connected on the others within 15 s of its death",
        async || all_connected(&on_n2, &everyone).await,
    )
    .await;
    let mut expected: Vec<Vec<&String>> = vec![Vec::new(); N];
    for (to, text) in &accepted {
        expected[*to].push(text);
    }
    let started = Instant::now();
    loop {
        let mut missing = Vec::new();
        for (to, want) in expected.iter().enumerate() {
            let seen = received_texts(&on_n2, &ids[to]).await;
            for text in want {
                match seen.get(*text) {
                    Some(1) => {}
                    Some(n) => panic!("{text} arrived {n} times at instance {to}"),
                    None => missing.push(*text),
                }
            }
        }
        if missing.is_empty() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "accepted, never arrived: {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!(
        "{} messages between instances on different nodes, n1 killed meanwhile: each arrived once",
        accepted.len()
    );
    assert_eq!(stream_replaced_recorded(&db).await, 0);
}

/// A second live connection of one linked session is refused and shown: another node's live
/// process claims the instance's connection (as a node that never let go would), the instance's
/// own connection is refused with `stream_replaced`, messages to it wait, and once the other
/// connection is gone it connects and they arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "PostgreSQL suite: set WAGATE_TEST_POSTGRES_URL and pass --ignored (.ci/run does)"]
async fn a_second_live_connection_is_refused_as_stream_replaced() {
    use sqlx::Connection;
    let db = TestDb::new(Backend::Postgres).await;
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let n1 = Server::start_node(dirs[0].path(), &db.url, "n1");
    let n2 = Server::start_node(dirs[1].path(), &db.url, "n2");
    let api = Api::new_account(&n1).await;
    let on_n2 = api.on(&n2);
    let x = api.link("5511700000001", json!({})).await;
    let y = on_n2.link("5511700000002", json!({})).await;
    wait_until(Duration::from_secs(10), "both connected", async || {
        all_connected(&api, &[x.clone(), y.clone()]).await
    })
    .await;
    assert_eq!(stream_replaced_recorded(&db).await, 0);
    let mut pg = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query(
        "UPDATE sandbox_connections SET node_id = 'n2', \
           incarnation = (SELECT incarnation FROM nodes WHERE node_id = 'n2') \
         WHERE instance_id = $1",
    )
    .bind(&x)
    .execute(&mut pg)
    .await
    .unwrap();
    api.post(&format!("/v1/instances/{x}/restart"), json!({}))
        .await;
    wait_until(
        Duration::from_secs(5),
        "the connection refused",
        async || {
            let s = api.get(&format!("/v1/instances/{x}/status")).await;
            s["data"]["lastError"]["code"] == "stream_replaced"
        },
    )
    .await;
    let s = api.get(&format!("/v1/instances/{x}/status")).await;
    assert_ne!(s["data"]["status"], "connected", "{s}");
    let sent = on_n2
        .post(
            "/v1/messages/send",
            json!({"instanceId": y, "to": "5511700000001", "message": "wait for it"}),
        )
        .await;
    let message = sent["messageId"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        received_texts(&api, &x).await.get("wait for it"),
        None,
        "a refused connection receives nothing"
    );
    sqlx::query("DELETE FROM sandbox_connections WHERE instance_id = $1")
        .bind(&x)
        .execute(&mut pg)
        .await
        .unwrap();
    wait_until(Duration::from_secs(5), "connected once alone", async || {
        all_connected(&api, std::slice::from_ref(&x)).await
    })
    .await;
    wait_until(Duration::from_secs(10), "the message arrives", async || {
        let m = api.get(&format!("/v1/messages/{message}/status")).await;
        m["data"]["status"] == "delivered" || m["data"]["status"] == "read"
    })
    .await;
    assert_eq!(received_texts(&api, &x).await.get("wait for it"), Some(&1));
}
