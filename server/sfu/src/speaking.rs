//! Who is speaking, for everyone (deafened or not): senders attach the RFC
//! 6464 audio level to every audio packet (`urn:ietf:params:rtp-hdrext:ssrc-audio-level`,
//! one byte: voice flag and the level in -dBov, 0 loudest, 127 silence), and
//! the SFU reads it (parsed by the transport) without decoding (LiveKit's approach and figures: a
//! packet is loud at 35 -dBov or louder; someone speaks when at least 40 %
//! of their packets in the last 500 ms were loud). A stop is announced only
//! after `hold` without speech, so a pause between words does not flicker.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The level (in -dBov) at which or louder a packet counts as speech.
pub const ACTIVE_LEVEL: u8 = 35;
/// Fraction of packets in the window that must be speech, in percent.
pub const MIN_PERCENT: usize = 40;
/// How far back packets count.
pub const WINDOW: Duration = Duration::from_millis(500);
/// How long speech must be absent before "stopped speaking".
pub const HOLD: Duration = Duration::from_millis(500);

/// One participant's speaking state.
#[derive(Debug, Clone)]
pub struct SpeakingDetector {
    /// (arrival, loud?) of the packets in the window.
    packets: VecDeque<(Instant, bool)>,
    speaking: bool,
    last_speech: Option<Instant>,
}

impl Default for SpeakingDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl SpeakingDetector {
    /// Silent, no packets seen.
    pub fn new() -> Self {
        Self { packets: VecDeque::new(), speaking: false, last_speech: None }
    }

    /// Whether they are speaking, as last announced.
    pub fn speaking(&self) -> bool {
        self.speaking
    }

    /// An audio packet with `level` (-dBov) arrived at `now`.
    pub fn observe(&mut self, now: Instant, level: u8) {
        self.packets.push_back((now, level <= ACTIVE_LEVEL));
        self.forget_before(now);
    }

    /// Re-evaluates at `now`; `Some(speaking)` when the state changed (tell the room).
    pub fn update(&mut self, now: Instant) -> Option<bool> {
        self.forget_before(now);
        let loud = self.packets.iter().filter(|(_, loud)| *loud).count();
        let speech_now = !self.packets.is_empty() && loud * 100 >= self.packets.len() * MIN_PERCENT;
        if speech_now {
            self.last_speech = Some(now);
        }
        let speaking = speech_now
            || (self.speaking && self.last_speech.is_some_and(|t| now.saturating_duration_since(t) < HOLD));
        if speaking == self.speaking {
            return None;
        }
        self.speaking = speaking;
        Some(speaking)
    }

    fn forget_before(&mut self, now: Instant) {
        while self.packets.front().is_some_and(|(t, _)| now.saturating_duration_since(*t) > WINDOW) {
            self.packets.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds one packet every 20 ms for `ms` with `level(t)`, updating after
    /// each; returns the changes as (ms since start, speaking).
    fn run(
        detector: &mut SpeakingDetector,
        start: Instant,
        from_ms: u64,
        ms: u64,
        level: impl Fn(u64) -> Option<u8>,
    ) -> Vec<(u64, bool)> {
        let mut changes = Vec::new();
        for t in (from_ms..from_ms + ms).step_by(20) {
            let now = start + Duration::from_millis(t);
            if let Some(level) = level(t) {
                detector.observe(now, level);
            }
            if let Some(change) = detector.update(now) {
                changes.push((t, change));
            }
        }
        changes
    }

    #[test]
    fn a_voice_starts_and_stops_speaking_and_quiet_noise_never_does() {
        let start = Instant::now();
        let mut voice = SpeakingDetector::new();
        // 1 s of silence, 2 s of speech at 20 -dBov, 2 s of silence.
        let level = |t: u64| Some(if (1000..3000).contains(&t) { 20 } else { 127 });
        let changes = run(&mut voice, start, 0, 5000, level);
        assert_eq!(changes.len(), 2, "{changes:?}");
        let (started, stopped) = (changes[0], changes[1]);
        assert!(
            started.1 && (1000..=1300).contains(&started.0),
            "starts within 300 ms of speech: {changes:?}"
        );
        assert!(
            !stopped.1 && (3000..=3800).contains(&stopped.0),
            "stops within 800 ms of silence: {changes:?}"
        );

        // Background noise at 50 -dBov is not speech.
        let mut noise = SpeakingDetector::new();
        assert_eq!(run(&mut noise, start, 0, 3000, |_| Some(50)), vec![]);
    }

    #[test]
    fn short_pauses_between_words_do_not_flicker() {
        let start = Instant::now();
        let mut detector = SpeakingDetector::new();
        // Words of 300 ms with 200 ms pauses, for 3 s.
        let changes = run(&mut detector, start, 0, 3000, |t| Some(if t % 500 < 300 { 15 } else { 127 }));
        assert_eq!(changes, vec![(0, true)], "one start, no stop while talking");
    }

    #[test]
    fn a_sender_that_stops_sending_stops_speaking() {
        let start = Instant::now();
        let mut detector = SpeakingDetector::new();
        run(&mut detector, start, 0, 1000, |_| Some(10));
        assert!(detector.speaking());
        // Muted: no packets at all any more.
        let changes = run(&mut detector, start, 1000, 2000, |_| None);
        assert_eq!(changes.len(), 1);
        assert!(!changes[0].1 && changes[0].0 <= 2000, "{changes:?}");
    }
}
