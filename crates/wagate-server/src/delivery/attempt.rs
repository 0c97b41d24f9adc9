//! One delivery attempt: a signed `POST` of an event's body (§15.6 headers), judged a success
//! only on a 2xx within the timeout.

use std::time::{Duration, Instant};

use crate::net_guard::ResolveError;
use wagate_core::delivery::AttemptResult;
use wagate_core::net::{TargetUrl, UrlPolicy};
use wagate_core::signature::{enviaai_signature, standard_signature};
use wagate_core::webhook::WebhookSecret;
use wagate_core::webhook_event::WebhookEvent;
use wagate_core::{DeliveryLogId, Timestamp};

/// Receivers must answer within this (§9.1).
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// What to send, and where.
pub struct Attempt<'a> {
    pub url: Option<&'a TargetUrl>,
    pub secret: &'a WebhookSecret,
    pub event: WebhookEvent,
    /// The `evt_` id (`webhook-id`): the same on every retry, for deduplication.
    pub event_id: &'a str,
    pub body: &'a str,
    /// `x-enviaai-sequence`: the event's number among its instance's events.
    pub sequence: Option<u64>,
}

/// Whether an attempt's receiver answered, which the circuit breaker counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// An HTTP answer, whatever its status.
    Answered,
    /// No answer in time, or no connection: the receiver is down or hangs.
    Unanswered,
    /// Nothing was sent: the URL is gone or refused by the address policy.
    NotSent,
}

/// Makes the request and reports it; never fails itself (a failure is a result).
pub async fn post_signed(
    client: &reqwest::Client,
    policy: UrlPolicy,
    a: Attempt<'_>,
) -> AttemptResult {
    post_signed_reaching(client, policy, a).await.0
}

/// `post_signed`, telling also whether the receiver answered.
pub async fn post_signed_reaching(
    client: &reqwest::Client,
    policy: UrlPolicy,
    a: Attempt<'_>,
) -> (AttemptResult, Reach) {
    let log_id = DeliveryLogId::generate();
    let at = Timestamp::now();
    let started = Instant::now();
    let result = |status_code: Option<u16>, error: Option<String>| AttemptResult {
        log_id: log_id.clone(),
        at,
        status_code,
        response_ms: started.elapsed().as_millis() as u64,
        error,
    };
    let Some(url) = a.url else {
        return (
            result(None, Some("The target has no webhook URL any more.".into())),
            Reach::NotSent,
        );
    };
    // Checked again at every attempt: address literals never reach the resolver.
    let url = match TargetUrl::parse(url.as_str(), policy) {
        Ok(u) => u,
        Err(e) => {
            return (
                result(None, Some(format!("Refused URL: {e}."))),
                Reach::NotSent,
            );
        }
    };
    let secret = a.secret.expose();
    let body = a.body.as_bytes();
    let ts = at.unix_seconds();
    let mut request = client
        .post(url.as_str())
        .timeout(TIMEOUT)
        .header("content-type", "application/json")
        .header("x-enviaai-signature", enviaai_signature(secret, body))
        .header("x-enviaai-event", a.event.as_str())
        .header("x-enviaai-delivery", log_id.as_str())
        .header("x-enviaai-timestamp", ts.to_string())
        .header("webhook-id", a.event_id)
        .header("webhook-timestamp", ts.to_string())
        .header(
            "webhook-signature",
            standard_signature(secret, a.event_id, ts, body),
        )
        .body(a.body.to_owned());
    if let Some(n) = a.sequence {
        request = request.header("x-enviaai-sequence", n.to_string());
    }
    match request.send().await {
        Ok(res) if res.status().is_success() => {
            (result(Some(res.status().as_u16()), None), Reach::Answered)
        }
        Ok(res) => {
            let s = res.status();
            let reason = s.canonical_reason().unwrap_or("Unexpected status");
            (
                result(Some(s.as_u16()), Some(reason.to_owned())),
                Reach::Answered,
            )
        }
        Err(e) if e.is_timeout() => (
            result(
                None,
                Some(format!("No answer within {} s.", TIMEOUT.as_secs())),
            ),
            Reach::Unanswered,
        ),
        Err(e) => {
            // A name the policy refused was never sent to; anything else failed to connect.
            let reach = if refused_by_policy(&e) {
                Reach::NotSent
            } else {
                Reach::Unanswered
            };
            (result(None, Some(describe(&e))), reach)
        }
    }
}

fn refused_by_policy(e: &reqwest::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.downcast_ref::<ResolveError>().is_some() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// The innermost cause is what a user can act on ("resolves to a private address",
/// "connection refused"), not reqwest's outer "error sending request".
fn describe(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    format!("Request failed: {cause}.")
}
