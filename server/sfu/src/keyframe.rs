//! Keyframe requests to one publisher's video track. A subscriber that joins
//! or loses packets asks for a keyframe (PLI/FIR); with 25 subscribers those
//! asks come in storms, and every keyframe costs the publisher a burst of
//! bandwidth. The first request is forwarded at once; requests within the
//! next `interval` are coalesced into one forwarded when it ends (as
//! mediasoup and LiveKit do, about once a second).

use std::time::{Duration, Instant};

/// The throttle for one published video track.
#[derive(Debug, Clone)]
pub struct KeyframeThrottle {
    interval: Duration,
    last_sent: Option<Instant>,
    pending: bool,
}

impl KeyframeThrottle {
    /// At most one request per `interval`.
    pub fn new(interval: Duration) -> Self {
        Self { interval, last_sent: None, pending: false }
    }

    /// A subscriber asked for a keyframe at `now`: whether to forward a
    /// request to the publisher now. If not, one is owed when the interval
    /// ends ([`KeyframeThrottle::poll`]).
    pub fn request(&mut self, now: Instant) -> bool {
        match self.last_sent {
            Some(last) if now.saturating_duration_since(last) < self.interval => {
                self.pending = true;
                false
            }
            _ => {
                self.last_sent = Some(now);
                self.pending = false;
                true
            }
        }
    }

    /// Whether a coalesced request is due at `now` (then it counts as sent).
    pub fn poll(&mut self, now: Instant) -> bool {
        if self.pending && self.next_due().is_some_and(|due| now >= due) {
            self.pending = false;
            self.last_sent = Some(now);
            return true;
        }
        false
    }

    /// When [`KeyframeThrottle::poll`] next has something to send, if ever.
    pub fn next_due(&self) -> Option<Instant> {
        match (self.pending, self.last_sent) {
            (true, Some(last)) => Some(last + self.interval),
            _ => None,
        }
    }

    /// The publisher sent a keyframe anyway (e.g. on its own schedule):
    /// requests owed before it are answered by it.
    pub fn keyframe_sent(&mut self) {
        self.pending = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_storm_of_requests_becomes_one_per_second() {
        let start = Instant::now();
        let mut throttle = KeyframeThrottle::new(Duration::from_secs(1));
        let mut forwarded = Vec::new();
        // 25 subscribers each ask every 40 ms for 3 s (a bad network), and
        // the SFU polls every 10 ms.
        for tick in 0..300u64 {
            let now = start + Duration::from_millis(tick * 10);
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
        assert_eq!(forwarded, vec![0, 1000, 2000], "the first at once, then one per second");
    }

    #[test]
    fn a_request_inside_the_interval_is_owed_not_lost() {
        let start = Instant::now();
        let mut throttle = KeyframeThrottle::new(Duration::from_secs(1));
        assert!(throttle.request(start));
        assert_eq!(throttle.next_due(), None, "nothing owed yet");
        assert!(!throttle.request(start + Duration::from_millis(300)));
        assert_eq!(throttle.next_due(), Some(start + Duration::from_secs(1)));
        assert!(!throttle.poll(start + Duration::from_millis(999)));
        assert!(throttle.poll(start + Duration::from_secs(1)));
        assert!(!throttle.poll(start + Duration::from_secs(5)), "owed once, sent once");
        // Long after, a request goes out at once again.
        assert!(throttle.request(start + Duration::from_secs(5)));
    }

    #[test]
    fn a_keyframe_the_publisher_sent_anyway_settles_what_was_owed() {
        let start = Instant::now();
        let mut throttle = KeyframeThrottle::new(Duration::from_secs(1));
        assert!(throttle.request(start));
        assert!(!throttle.request(start + Duration::from_millis(100)));
        throttle.keyframe_sent();
        assert_eq!(throttle.next_due(), None);
        assert!(!throttle.poll(start + Duration::from_secs(2)));
    }
}
