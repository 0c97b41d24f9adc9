//! The pace at which a node reopens the WhatsApp Web sessions it claims (`--resume-rate`): a
//! restart with thousands of linked numbers is then a steady trickle of logins to WhatsApp, not
//! one burst of them (which WhatsApp may take for abuse). Each resume takes the next free slot,
//! one every `1 / rate` seconds; the first goes at once.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

pub struct ResumePace {
    every: Duration,
    next: Mutex<Instant>,
}

impl ResumePace {
    /// `per_second` sessions a second; 0 does not pace them.
    pub fn per_second(per_second: u32) -> Option<Self> {
        (per_second > 0).then(|| Self {
            every: Duration::from_secs(1) / per_second,
            next: Mutex::new(Instant::now()),
        })
    }

    /// Waits for this resume's slot.
    pub async fn turn(&self) {
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let slot = (*next).max(Instant::now());
            *next = slot + self.every;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn resumes_take_one_slot_each_at_the_rate() {
        let pace = std::sync::Arc::new(ResumePace::per_second(4).expect("paced"));
        let start = Instant::now();
        let mut done = Vec::new();
        let mut waiting = tokio::task::JoinSet::new();
        for _ in 0..9 {
            let pace = pace.clone();
            waiting.spawn(async move {
                pace.turn().await;
                Instant::now()
            });
        }
        while let Some(at) = waiting.join_next().await {
            done.push(at.unwrap() - start);
        }
        done.sort();
        // Nine resumes at four a second: at 0, 0.25 s, …, 2 s; never two in one slot.
        let expected: Vec<Duration> = (0..9).map(|i| Duration::from_millis(250 * i)).collect();
        assert_eq!(done, expected);
        // A resume after a quiet spell goes at once.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let before = Instant::now();
        pace.turn().await;
        assert_eq!(Instant::now(), before);
    }

    #[test]
    fn a_rate_of_zero_does_not_pace() {
        assert!(ResumePace::per_second(0).is_none());
    }
}
