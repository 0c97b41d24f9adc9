//! A webhook receiver on a loopback port that records every request and answers as told.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// How the receiver answers.
#[derive(Debug, Clone)]
pub enum Answer {
    Ok,
    /// This status for the first `n` requests, then 200.
    FailFirst(usize, u16),
    Always(u16),
    /// Never answers (the sender's timeout ends the request).
    Hang,
    /// Answers 200 after this long.
    Slow(Duration),
    /// `307 Temporary Redirect` to this URL.
    Redirect(String),
}

#[derive(Debug, Clone)]
pub struct Hit {
    pub at: Instant,
    pub headers: HeaderMap,
    pub raw: Bytes,
}

impl Hit {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.raw).expect("the body is JSON")
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("header {name} missing"))
    }

    /// `x-enviaai-signature` as the EnviaAI docs check it: `sha256=` + hex HMAC-SHA256 of the raw
    /// body keyed with the secret's bytes. Computed here with `hmac`, not with wagate's code.
    pub fn enviaai_signature_valid(&self, secret: &str) -> bool {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(&self.raw);
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        self.header("x-enviaai-signature") == expected
    }
}

#[derive(Clone)]
struct Shared {
    answer: Arc<Mutex<Answer>>,
    hits: Arc<Mutex<Vec<Hit>>>,
    /// Requests being answered now, and the most there ever were at once.
    in_flight: Arc<Mutex<(usize, usize)>>,
}

pub struct Receiver {
    pub url: String,
    shared: Shared,
}

impl Receiver {
    pub async fn start(answer: Answer) -> Receiver {
        let shared = Shared {
            answer: Arc::new(Mutex::new(answer)),
            hits: Arc::default(),
            in_flight: Arc::default(),
        };
        let app = axum::Router::new()
            .fallback(record)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, shared }
    }

    pub fn set_answer(&self, a: Answer) {
        *self.shared.answer.lock().unwrap() = a;
    }

    /// The most requests this receiver was answering at one time.
    pub fn most_at_once(&self) -> usize {
        self.shared.in_flight.lock().unwrap().1
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.shared.hits.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived (at most `within`).
    /// The `data` of the first `n` events of `kind` received (waiting up to 10 s for them).
    pub async fn events(&self, kind: &str, n: usize) -> Vec<Value> {
        let of_kind = || -> Vec<Value> {
            self.hits()
                .iter()
                .map(|h| h.json())
                .filter(|e| e["event"] == serde_json::json!(kind))
                .map(|e| e["data"].clone())
                .collect()
        };
        for _ in 0..200 {
            let found = of_kind();
            if found.len() >= n {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("fewer than {n} {kind} events: {:?}", of_kind());
    }

    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Hit> {
        let deadline = Instant::now() + within;
        loop {
            let hits = self.hits();
            if hits.len() >= n {
                return hits;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} requests arrived within {within:?}",
                hits.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn record(State(s): State<Shared>, headers: HeaderMap, raw: Bytes) -> Response {
    let seen = {
        let mut hits = s.hits.lock().unwrap();
        hits.push(Hit {
            at: Instant::now(),
            headers,
            raw,
        });
        hits.len()
    };
    let answer = s.answer.lock().unwrap().clone();
    let code = match answer {
        Answer::Ok => 200,
        Answer::FailFirst(n, code) if seen <= n => code,
        Answer::FailFirst(..) => 200,
        Answer::Always(code) => code,
        Answer::Hang => {
            std::future::pending::<()>().await;
            unreachable!()
        }
        Answer::Slow(d) => {
            {
                let mut f = s.in_flight.lock().unwrap();
                f.0 += 1;
                f.1 = f.1.max(f.0);
            }
            tokio::time::sleep(d).await;
            s.in_flight.lock().unwrap().0 -= 1;
            200
        }
        Answer::Redirect(to) => return Redirect::temporary(&to).into_response(),
    };
    StatusCode::from_u16(code).unwrap().into_response()
}
