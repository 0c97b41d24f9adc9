//! A sliding-window request counter: at most `limit` admissions in ANY window of the given length
//! (60 s in production), aligned or not.
//!
//! GCRA with the full quota as burst lets a key spend a burst and then its refill within one
//! minute, about twice the quota; fixed windows do the same across a boundary. Here the window is
//! split into [`SUB_BUCKETS`] sub-buckets, each holding how many requests it admitted and when it
//! admitted the newest of them. A request at `t` is admitted only while the buckets that still
//! hold a request inside the window `(t − window, t]` hold fewer than `limit` in all. A bucket
//! straddling `t − window` counts in full until its newest request has left the window: that
//! over-counts (never under-counts) the requests in the window, so the bound holds for every
//! window, and a steady stream of exactly `limit` per window is still admitted in full.
//!
//! Memory is fixed (a counter and a time per sub-bucket), whatever the limit: no per-request
//! timestamps. Nothing here reads a clock: every call takes `now`, a monotonic reading as the time
//! since any fixed epoch, so tests drive it with a fake clock. Not thread-safe by itself; callers
//! wrap it.

use std::num::NonZeroU32;
use std::time::Duration;

/// The window of the plans' "requests per minute".
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);

/// How many sub-buckets a window is split into: the granularity of the state (1 s for 60 s).
pub const SUB_BUCKETS: usize = 60;

/// The ring holds every bucket that can overlap a window: the current one and the `SUB_BUCKETS`
/// before it (the oldest of them only partly).
const RING: usize = SUB_BUCKETS + 1;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// The answer to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Counted. `remaining` more requests would be admitted right now (`limit − count`, after this
    /// one); `reset_after` is when the oldest counted requests leave the window, i.e. the next
    /// time `remaining` grows (`X-RateLimit-Reset`). It is always positive.
    Allowed {
        remaining: u32,
        reset_after: Duration,
    },
    /// Not counted. `retry_after` is when the oldest counted requests leave the window, so a
    /// request made then is admitted (unless others take the room first). Always positive, so it
    /// rounds up to at least 1 s for `Retry-After`.
    Refused { retry_after: Duration },
}

/// One key's counter for one limit. See the module documentation.
#[derive(Debug, Clone)]
pub struct SlidingWindow {
    limit: NonZeroU32,
    window: u128,
    /// Width of one sub-bucket in nanoseconds: at least 1, at most `u64::MAX` (so `newest` fits),
    /// and `SUB_BUCKETS × bucket ≥ window`, so `RING` buckets cover any window.
    bucket: u128,
    /// Requests admitted in bucket `b` (the time `[b × bucket, (b + 1) × bucket)`), at
    /// `counts[b % RING]`, for the `RING` buckets up to the one holding `last`. A bucket is zeroed
    /// once none of its requests can be inside a window again.
    counts: [u32; RING],
    /// When the newest request of a non-empty bucket was admitted, as nanoseconds from the
    /// bucket's start: the bucket stops counting once that request has left the window.
    newest: [u64; RING],
    /// Sum of `counts`, never above `limit`: spares summing the ring on every request.
    total: u32,
    /// The latest `now` seen, in nanoseconds: a reading earlier than this is taken as this.
    last: u128,
}

impl SlidingWindow {
    /// At most `limit` requests in any [`DEFAULT_WINDOW`] (60 s).
    pub fn new(limit: NonZeroU32) -> Self {
        let window = DEFAULT_WINDOW.as_nanos();
        Self::with_nanos(limit, window, window / SUB_BUCKETS as u128)
    }

    /// At most `limit` requests in any `window`. `None` for a zero window, which means nothing,
    /// and for one over about 35,000 years, whose sub-buckets would not fit the state.
    pub fn with_window(limit: NonZeroU32, window: Duration) -> Option<Self> {
        let window = window.as_nanos();
        // Rounded up, so `SUB_BUCKETS` buckets still span the whole window.
        let bucket = window.div_ceil(SUB_BUCKETS as u128);
        (bucket > 0 && bucket <= u128::from(u64::MAX))
            .then(|| Self::with_nanos(limit, window, bucket))
    }

    fn with_nanos(limit: NonZeroU32, window: u128, bucket: u128) -> Self {
        Self {
            limit,
            window,
            bucket,
            counts: [0; RING],
            newest: [0; RING],
            total: 0,
            last: 0,
        }
    }

    pub fn limit(&self) -> NonZeroU32 {
        self.limit
    }

    /// The length of the windows the limit holds over.
    pub fn window(&self) -> Duration {
        nanos_to_duration(self.window)
    }

    /// Counts a request made at `now` if the window has room for it.
    #[must_use]
    pub fn try_acquire(&mut self, now: Duration) -> Admission {
        let now = self.advance(now);
        if self.total < self.limit.get() {
            let b = self.bucket_of(now);
            let slot = slot(b);
            self.counts[slot] += 1;
            // Below `bucket ≤ u64::MAX`, so it fits.
            self.newest[slot] = u64::try_from(now - b * self.bucket).unwrap_or(u64::MAX);
            self.total += 1;
            Admission::Allowed {
                remaining: self.limit.get() - self.total,
                reset_after: self.until_oldest_leaves(now),
            }
        } else {
            Admission::Refused {
                retry_after: self.until_oldest_leaves(now),
            }
        }
    }

    /// Moves the clock to `now` (or keeps it, if `now` is earlier) and zeroes the buckets none of
    /// whose requests are inside the window ending there. Returns the time in nanoseconds.
    fn advance(&mut self, now: Duration) -> u128 {
        let now = now.as_nanos().max(self.last);
        // `now ≥ last`, so `to ≥ from`.
        let (from, to) = (self.bucket_of(self.last), self.bucket_of(now));
        // Bucket `to` reuses the slot of `to − RING`, which lies wholly before the window. After
        // a gap of a whole ring every slot is stale; stopping there keeps an idle gap of hours as
        // cheap as one of seconds.
        if to - from >= RING as u128 {
            self.counts = [0; RING];
            self.total = 0;
        } else {
            for b in from + 1..=to {
                self.clear(b);
            }
        }
        // A bucket that starts at or before the window's open edge `now − window` may straddle
        // it; once its newest request is at or before the edge, none of its requests is inside,
        // so it stops counting (this is what admits a steady `limit` per window in full).
        if let Some(edge) = now.checked_sub(self.window) {
            for b in to.saturating_sub(SUB_BUCKETS as u128)..=self.bucket_of(edge) {
                if self.newest_at(b) <= edge {
                    self.clear(b);
                }
            }
        }
        self.last = now;
        now
    }

    /// How long from `now` until the oldest non-empty bucket's newest request leaves the window,
    /// which is when `total` next drops. With the ring empty (not reached by the callers, which
    /// count at least one request) it is a whole window.
    fn until_oldest_leaves(&self, now: u128) -> Duration {
        let current = self.bucket_of(now);
        let leaves = (current.saturating_sub(SUB_BUCKETS as u128)..=current)
            .find(|&b| self.counts[slot(b)] != 0)
            .map_or(now, |b| self.newest_at(b))
            + self.window;
        // `advance` cleared every bucket whose newest request is at or before `now − window`, so
        // this lies after `now`: the wait is never zero.
        nanos_to_duration(leaves - now)
    }

    fn clear(&mut self, b: u128) {
        let slot = slot(b);
        self.total -= self.counts[slot];
        self.counts[slot] = 0;
    }

    fn newest_at(&self, b: u128) -> u128 {
        b * self.bucket + u128::from(self.newest[slot(b)])
    }

    fn bucket_of(&self, nanos: u128) -> u128 {
        nanos / self.bucket
    }
}

fn slot(bucket: u128) -> usize {
    // Below `RING`, so the cast is lossless.
    (bucket % RING as u128) as usize
}

/// `Duration` from nanoseconds, saturating (only a window near the longest allowed could exceed
/// it).
fn nanos_to_duration(nanos: u128) -> Duration {
    let secs = u64::try_from(nanos / NANOS_PER_SEC).unwrap_or(u64::MAX);
    // Below 10⁹, so the cast is lossless.
    Duration::new(secs, (nanos % NANOS_PER_SEC) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);
    const MINUTE: Duration = Duration::from_secs(60);

    fn limit(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    /// Offers a request at each time (in order) and returns the times that were admitted.
    fn admitted(w: &mut SlidingWindow, times: impl IntoIterator<Item = Duration>) -> Vec<Duration> {
        times
            .into_iter()
            .filter(|&t| matches!(w.try_acquire(t), Admission::Allowed { .. }))
            .collect()
    }

    /// The most admissions in any window `(t − window, t]`; the maximum is reached with `t` at
    /// an admission, so checking those covers every window, aligned or not.
    fn busiest_window(admitted: &[Duration], window: Duration) -> usize {
        admitted
            .iter()
            .map(|&t| {
                admitted
                    .iter()
                    .filter(|&&s| s <= t && s + window > t)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    /// `n` requests at `t`.
    fn burst(t: Duration, n: usize) -> impl Iterator<Item = Duration> {
        std::iter::repeat_n(t, n)
    }

    /// One request every `step`, from `start` (inclusive) to `end` (exclusive).
    fn every(step: Duration, start: Duration, end: Duration) -> impl Iterator<Item = Duration> {
        std::iter::successors(Some(start), move |&t| Some(t + step)).take_while(move |&t| t < end)
    }

    /// A small deterministic generator (xorshift64), for patterns without a new dependency.
    fn xorshift(mut x: u64) -> impl FnMut() -> u64 {
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    #[test]
    fn no_window_ever_holds_more_than_the_limit() {
        let s = Duration::from_secs;
        let patterns: Vec<(&str, Vec<Duration>)> = vec![
            (
                "burst at 0, then steady",
                burst(s(0), 80)
                    .chain(every(250 * MS, s(1), s(300)))
                    .collect(),
            ),
            (
                "every 100 ms for 5 minutes",
                every(100 * MS, s(0), s(300)).collect(),
            ),
            (
                "bursts either side of a minute boundary",
                burst(59_900 * MS, 60)
                    .chain(burst(60_100 * MS, 60))
                    .chain(burst(119_950 * MS, 60))
                    .chain(burst(120_050 * MS, 60))
                    .collect(),
            ),
            (
                "a trickle then a burst at the end of the window",
                every(s(2), s(0), s(50))
                    .chain(burst(59_999 * MS, 60))
                    .chain(every(10 * MS, s(60), s(200)))
                    .collect(),
            ),
            ("random gaps and bursts", {
                let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
                let mut t = Duration::ZERO;
                let mut times = Vec::new();
                while t < s(1200) {
                    t += Duration::from_millis(next() % 3000);
                    let n = if next().is_multiple_of(10) {
                        next() % 40
                    } else {
                        1
                    };
                    times.extend(burst(t, n as usize));
                }
                times
            }),
        ];
        for (name, times) in patterns {
            let mut w = SlidingWindow::new(limit(50));
            let got = admitted(&mut w, times);
            assert!(got.len() >= 50, "{name}: only {} admitted", got.len());
            assert!(busiest_window(&got, MINUTE) <= 50, "{name}");
        }

        // A window that does not divide into whole sub-buckets holds too.
        let window = Duration::from_millis(1001);
        let mut w = SlidingWindow::with_window(limit(5), window).unwrap();
        assert_eq!(w.window(), window);
        let got = admitted(&mut w, every(7 * MS, s(0), s(30)));
        assert!(busiest_window(&got, window) <= 5);
    }

    #[test]
    fn a_key_under_the_limit_is_never_refused_and_a_busy_one_gets_nearly_the_limit() {
        let ten_minutes = Duration::from_secs(600);
        let mut w = SlidingWindow::new(limit(50));
        let offered: Vec<_> = every(1200 * MS, Duration::ZERO, ten_minutes).collect();
        assert_eq!(admitted(&mut w, offered.clone()), offered);

        let mut w = SlidingWindow::new(limit(50));
        let got = admitted(&mut w, every(100 * MS, Duration::ZERO, ten_minutes));
        // A window's worth every window: 50 a minute.
        assert!(got.len() >= 48 * 10, "{} admitted", got.len());
        assert!(got.len() <= 50 * 10, "{} admitted", got.len());
    }

    #[test]
    fn remaining_counts_down_and_the_refusal_says_when_to_retry() {
        let mut w = SlidingWindow::new(limit(50));
        let t0 = Duration::from_millis(12_345);
        for expected in (0..50).rev() {
            assert_eq!(
                w.try_acquire(t0),
                Admission::Allowed {
                    remaining: expected,
                    reset_after: MINUTE,
                }
            );
        }
        let asked = t0 + Duration::from_secs(30);
        let retry_after = match w.try_acquire(asked) {
            Admission::Refused { retry_after } => retry_after,
            other => panic!("{other:?}"),
        };
        assert_eq!(retry_after, Duration::from_secs(30));
        // Just before, still full; at `retry_after`, the burst has left the window.
        let retry_at = asked + retry_after;
        assert!(matches!(
            w.try_acquire(retry_at - MS),
            Admission::Refused { retry_after } if retry_after == MS
        ));
        assert_eq!(
            w.try_acquire(retry_at),
            Admission::Allowed {
                remaining: 49,
                reset_after: MINUTE,
            }
        );
    }

    #[test]
    fn reset_after_points_at_the_oldest_counted_request() {
        let mut w = SlidingWindow::new(limit(10));
        let _ = admitted(&mut w, [200 * MS, 500 * MS, Duration::from_secs(3)]);
        // The first bucket counts until its newest request, at 0.5 s, leaves the window.
        assert_eq!(
            w.try_acquire(Duration::from_secs(20)),
            Admission::Allowed {
                remaining: 6,
                reset_after: Duration::from_millis(40_500),
            }
        );
        assert_eq!(
            w.try_acquire(Duration::from_millis(60_500)),
            Admission::Allowed {
                remaining: 7,
                reset_after: Duration::from_millis(2_500),
            }
        );
    }

    #[test]
    fn a_long_idle_gap_empties_the_window() {
        let hour = Duration::from_secs(3600);
        let mut w = SlidingWindow::new(limit(3));
        let _ = admitted(&mut w, burst(Duration::ZERO, 5));
        for gap in [5 * hour, 24 * 365 * hour] {
            let t = w.last_for_tests() + gap;
            assert!(matches!(
                w.try_acquire(t),
                Admission::Allowed { remaining: 2, .. }
            ));
            let _ = admitted(&mut w, burst(t, 5));
        }
        // The far end of the clock neither overflows nor panics.
        let _ = admitted(&mut w, burst(Duration::MAX, 5));
        assert!(matches!(
            w.try_acquire(Duration::MAX),
            Admission::Refused { retry_after } if retry_after > Duration::ZERO
        ));
        // So does the longest window allowed; a longer one, or none, is refused.
        let longest = Duration::from_nanos(u64::MAX) * SUB_BUCKETS as u32;
        let mut huge = SlidingWindow::with_window(limit(1), longest).unwrap();
        assert_eq!(
            huge.try_acquire(Duration::MAX),
            Admission::Allowed {
                remaining: 0,
                reset_after: longest,
            }
        );
        assert_eq!(
            huge.try_acquire(Duration::MAX),
            Admission::Refused {
                retry_after: longest,
            }
        );
        assert!(SlidingWindow::with_window(limit(1), longest + Duration::from_secs(1)).is_none());
        assert!(SlidingWindow::with_window(limit(1), Duration::MAX).is_none());
        assert!(SlidingWindow::with_window(limit(1), Duration::ZERO).is_none());
    }

    #[test]
    fn a_clock_going_backwards_counts_as_the_last_reading() {
        let mut w = SlidingWindow::new(limit(2));
        let t = Duration::from_secs(100);
        assert!(matches!(w.try_acquire(t), Admission::Allowed { .. }));
        // Earlier than the last reading, even before the epoch's first minute: taken as `t`.
        assert_eq!(
            w.try_acquire(Duration::from_secs(1)),
            Admission::Allowed {
                remaining: 0,
                reset_after: MINUTE,
            }
        );
        assert_eq!(
            w.try_acquire(Duration::ZERO),
            Admission::Refused {
                retry_after: MINUTE
            }
        );
        // Both were counted at `t`, so both leave together.
        assert!(matches!(
            w.try_acquire(t + MINUTE),
            Admission::Allowed { remaining: 1, .. }
        ));
    }

    impl SlidingWindow {
        fn last_for_tests(&self) -> Duration {
            nanos_to_duration(self.last)
        }
    }
}
