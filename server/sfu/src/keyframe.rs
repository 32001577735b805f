//! Keyframe requests to one publisher's video track. A subscriber that joins
//! or loses packets asks for a keyframe (PLI/FIR); with 25 subscribers those
//! asks come in storms, and every keyframe costs the publisher a burst of
//! bandwidth. The first request is forwarded at once; requests within the
//! next `interval` are coalesced into one forwarded when it ends (as
//! LiveKit does, every half second to a second) — unless the keyframe
//! asked for has not begun to arrive `retry` after the request: then the
//! request or the keyframe was lost on the way (a lossy publisher link),
//! no keyframe was spent, and the request is repeated (twice, unless a
//! subscriber asks again).

use std::time::{Duration, Instant};

/// Requests a throttle repeats by itself while no keyframe answers them
/// (a subscriber asking again also repeats one).
const UNANSWERED_REPEATS: u8 = 2;

/// The throttle for one published video track.
#[derive(Debug, Clone)]
pub struct KeyframeThrottle {
    interval: Duration,
    retry: Duration,
    last_sent: Option<Instant>,
    /// A keyframe arrived since the last request was forwarded.
    answered: bool,
    /// A subscriber asked since the last request was forwarded.
    pending: bool,
    /// Repeats of an unanswered request still to make by itself.
    repeats_left: u8,
}

impl KeyframeThrottle {
    /// At most one request per `interval` while keyframes arrive; a
    /// request not answered by a keyframe within `retry` is repeated.
    pub fn new(interval: Duration, retry: Duration) -> Self {
        Self { interval, retry, last_sent: None, answered: false, pending: false, repeats_left: 0 }
    }

    /// A subscriber asked for a keyframe at `now`: whether to forward a
    /// request to the publisher now. If not, one is owed when the interval
    /// ends ([`KeyframeThrottle::poll`]).
    pub fn request(&mut self, now: Instant) -> bool {
        if self.allowed_from().is_some_and(|from| now < from) {
            self.pending = true;
            return false;
        }
        self.sent(now);
        true
    }

    /// Whether a request is due at `now` — one owed, or one no keyframe
    /// answered — (then it counts as sent).
    pub fn poll(&mut self, now: Instant) -> bool {
        if self.next_due().is_none_or(|due| now < due) {
            return false;
        }
        let repeats_left = if self.pending { UNANSWERED_REPEATS } else { self.repeats_left - 1 };
        self.sent(now);
        self.repeats_left = repeats_left;
        true
    }

    /// When [`KeyframeThrottle::poll`] next has something to send, if ever.
    pub fn next_due(&self) -> Option<Instant> {
        let repeat = !self.answered && self.repeats_left > 0;
        self.allowed_from().filter(|_| self.pending || repeat)
    }

    /// A keyframe from the publisher began to arrive (asked for or on its
    /// own schedule): requests owed before it are answered by it.
    pub fn keyframe_arrived(&mut self) {
        self.pending = false;
        self.answered = true;
    }

    /// When the next request may be forwarded.
    fn allowed_from(&self) -> Option<Instant> {
        let last = self.last_sent?;
        Some(last + if self.answered { self.interval } else { self.retry })
    }

    fn sent(&mut self, now: Instant) {
        self.last_sent = Some(now);
        self.answered = false;
        self.pending = false;
        self.repeats_left = UNANSWERED_REPEATS;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVAL: Duration = Duration::from_millis(500);
    const RETRY: Duration = Duration::from_millis(400);

    fn at(start: Instant, ms: u64) -> Instant {
        start + Duration::from_millis(ms)
    }

    #[test]
    fn a_storm_of_requests_becomes_one_per_interval_while_keyframes_arrive() {
        let start = Instant::now();
        let mut throttle = KeyframeThrottle::new(INTERVAL, RETRY);
        let mut forwarded = Vec::new();
        // 25 subscribers each ask every 40 ms for 2 s (a bad network), the
        // publisher's keyframe arrives 50 ms after each request reaches it,
        // and the SFU polls every 10 ms.
        for tick in 0..200u64 {
            let now = at(start, tick * 10);
            if forwarded.last().is_some_and(|&sent| sent + 50 == tick * 10) {
                throttle.keyframe_arrived();
            }
            if tick % 4 == 0 {
                for _ in 0..25 {
                    if throttle.request(now) {
                        forwarded.push(tick * 10);
                    }
                }
            }
            if throttle.poll(now) {
                forwarded.push(tick * 10);
            }
        }
        assert_eq!(forwarded, vec![0, 500, 1000, 1500], "the first at once, then one per interval");
    }

    #[test]
    fn a_request_inside_the_interval_is_owed_not_lost() {
        let start = Instant::now();
        let mut throttle = KeyframeThrottle::new(INTERVAL, RETRY);
        assert!(throttle.request(start));
        throttle.keyframe_arrived();
        assert_eq!(throttle.next_due(), None, "answered: nothing owed");
        assert!(!throttle.request(at(start, 300)));
        assert_eq!(throttle.next_due(), Some(at(start, 500)));
        assert!(!throttle.poll(at(start, 499)));
        assert!(throttle.poll(at(start, 500)));
        throttle.keyframe_arrived();
        assert!(!throttle.poll(at(start, 5000)), "owed once, sent once");
        // Long after, a request goes out at once again.
        assert!(throttle.request(at(start, 5000)));
    }

    #[test]
    fn a_request_no_keyframe_answers_is_repeated_twice_by_itself() {
        let start = Instant::now();
        let mut throttle = KeyframeThrottle::new(INTERVAL, RETRY);
        assert!(throttle.request(start));
        // The request (or the keyframe) was lost on the way.
        assert_eq!(throttle.next_due(), Some(at(start, 400)));
        assert!(!throttle.poll(at(start, 399)));
        assert!(throttle.poll(at(start, 400)));
        assert!(throttle.poll(at(start, 800)));
        assert_eq!(throttle.next_due(), None, "a publisher that never answers is not asked for ever");
        // A subscriber asking again starts over; this time a keyframe answers.
        assert!(throttle.request(at(start, 1300)));
        throttle.keyframe_arrived();
        assert_eq!(throttle.next_due(), None);
        assert!(!throttle.request(at(start, 1500)), "within the interval of an answered one");
        assert_eq!(throttle.next_due(), Some(at(start, 1800)));
    }

    #[test]
    fn a_keyframe_the_publisher_sent_anyway_settles_what_was_owed() {
        let start = Instant::now();
        let mut throttle = KeyframeThrottle::new(INTERVAL, RETRY);
        assert!(throttle.request(start));
        assert!(!throttle.request(at(start, 100)));
        throttle.keyframe_arrived();
        assert_eq!(throttle.next_due(), None);
        assert!(!throttle.poll(at(start, 2000)));
    }
}
