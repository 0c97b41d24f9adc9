//! A webhook receiver on a loopback port that records every request and answers as told.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// How the receiver answers.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    Ok,
    /// This status for the first `n` requests, then 200.
    FailFirst(usize, u16),
    Always(u16),
    /// Never answers (the sender's timeout ends the request).
    Hang,
    /// Answers 200 after this long.
    Slow(Duration),
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

    pub fn hits(&self) -> Vec<Hit> {
        self.shared.hits.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived (at most `within`).
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

async fn record(State(s): State<Shared>, headers: HeaderMap, raw: Bytes) -> StatusCode {
    let seen = {
        let mut hits = s.hits.lock().unwrap();
        hits.push(Hit {
            at: Instant::now(),
            headers,
            raw,
        });
        hits.len()
    };
    let answer = *s.answer.lock().unwrap();
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
            tokio::time::sleep(d).await;
            200
        }
    };
    StatusCode::from_u16(code).unwrap()
}
