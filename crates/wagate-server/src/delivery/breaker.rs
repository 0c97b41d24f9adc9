//! A circuit breaker per receiver (scheme, host and port of the URL): one that stops answering
//! is not sent to for a while, so its deliveries stop holding delivery slots for the attempt
//! timeout one after another.
//!
//! Only attempts without an HTTP answer count (a timeout, a refused or failed connection): a
//! receiver that answers, even with a 500, answers fast; an address the policy refused was never
//! sent to. After `THRESHOLD` of them in a row the
//! breaker opens for a cooldown (30 s, doubling up to 5 min while it keeps failing); attempts
//! meanwhile fail at once, are logged as not attempted and follow the retry schedule. When the
//! cooldown ends, one attempt goes through as a probe: an answer closes the breaker, another
//! failure opens it again for longer. One owner: the delivery worker of this node, which passes the
//! time in (so tests need no clock).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use wagate_core::net::TargetUrl;

const THRESHOLD: u32 = 3;
const FIRST_COOLDOWN: Duration = Duration::from_secs(30);
const MAX_COOLDOWN: Duration = Duration::from_secs(300);

#[derive(Debug)]
struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
    cooldown: Duration,
    /// A probe is out: its failure opens the breaker again, for twice as long.
    probing: bool,
}

#[derive(Debug, Default)]
pub struct Breakers {
    receivers: Mutex<HashMap<String, Breaker>>,
}

/// What a breaker decided for one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Attempt,
    /// Not attempted: why, for the delivery's log.
    Refused(String),
}

/// The receiver a URL reaches: its scheme, host and port.
pub fn receiver_of(url: &TargetUrl) -> Option<String> {
    let u = url::Url::parse(url.as_str()).ok()?;
    Some(format!(
        "{}://{}:{}",
        u.scheme(),
        u.host_str()?,
        u.port_or_known_default()?
    ))
}

impl Breakers {
    pub fn verdict(&self, receiver: &str, now: Instant) -> Verdict {
        let mut all = self
            .receivers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(b) = all.get_mut(receiver) else {
            return Verdict::Attempt;
        };
        match b.open_until {
            Some(until) if now < until => Verdict::Refused(format!(
                "Not attempted: {receiver} did not answer {} attempts in a row; it is tried again \
                 in {} s.",
                b.failures,
                (until - now).as_secs().max(1)
            )),
            // The cooldown is over: this attempt is the probe, and the others wait for it.
            Some(_) => {
                b.open_until = Some(now + b.cooldown);
                b.probing = true;
                Verdict::Attempt
            }
            None => Verdict::Attempt,
        }
    }

    /// An attempt that was sent: `answered` when the receiver gave an HTTP answer.
    pub fn record(&self, receiver: &str, answered: bool, now: Instant) {
        let mut all = self
            .receivers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if answered {
            all.remove(receiver);
            return;
        }
        let b = all.entry(receiver.to_owned()).or_insert(Breaker {
            failures: 0,
            open_until: None,
            cooldown: FIRST_COOLDOWN,
            probing: false,
        });
        b.failures += 1;
        if b.probing {
            b.probing = false;
            b.cooldown = (b.cooldown * 2).min(MAX_COOLDOWN);
            b.open_until = Some(now + b.cooldown);
        } else if b.failures >= THRESHOLD && b.open_until.is_none() {
            // Attempts already in flight when it opened may fail after: they change nothing.
            b.open_until = Some(now + b.cooldown);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_unanswered_attempts_and_probes_after_the_cooldown() {
        let b = Breakers::default();
        let dead = "https://dead.example:443";
        let t0 = Instant::now();
        let answered = false; // a timeout, or no connection
        for _ in 0..THRESHOLD {
            assert_eq!(b.verdict(dead, t0), Verdict::Attempt);
            b.record(dead, answered, t0);
        }
        assert!(matches!(b.verdict(dead, t0), Verdict::Refused(_)));
        assert_eq!(b.verdict("https://alive.example:443", t0), Verdict::Attempt);

        let t1 = t0 + FIRST_COOLDOWN;
        assert_eq!(b.verdict(dead, t1), Verdict::Attempt, "the probe");
        assert!(
            matches!(b.verdict(dead, t1), Verdict::Refused(_)),
            "one probe at a time"
        );
        b.record(dead, answered, t1);
        let t2 = t1 + FIRST_COOLDOWN;
        assert!(
            matches!(b.verdict(dead, t2), Verdict::Refused(_)),
            "a failed probe doubles the cooldown"
        );
        let t3 = t1 + FIRST_COOLDOWN * 2;
        assert_eq!(b.verdict(dead, t3), Verdict::Attempt);
        b.record(dead, true, t3); // a 500 is an answer too
        assert_eq!(b.verdict(dead, t3), Verdict::Attempt, "an answer closes it");
    }

    #[test]
    fn a_receiver_is_its_origin() {
        let u = TargetUrl::from_trusted("https://hooks.example/a/b?c=1".into());
        assert_eq!(
            receiver_of(&u).as_deref(),
            Some("https://hooks.example:443")
        );
    }
}
