//! Audio jitter buffer: reorders Opus packets by RTP sequence number and
//! releases one per 20 ms playout tick after an initial target delay, telling
//! the player to conceal (Opus PLC) the packets that are missing or late.
//!
//! There is no clock inside: every call takes the current `Instant`, so tests
//! drive it with a simulated clock. Sequence numbers are 16-bit and wrap; they
//! are extended to 64 bits (by wrapping distance) before being compared.

use bytes::Bytes;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Packets held at most (1 s of 20 ms packets); past it the oldest is dropped.
const CAPACITY: usize = 50;
/// Consecutive concealed packets after which, with nothing queued, the buffer goes back to buffering.
const MAX_CONCEAL_RUN: u32 = 5;
/// A packet up to this many sequence numbers behind the playout point is late;
/// further behind, it is taken as a jump ahead (a sender that restarted its numbering).
const LATE_WINDOW: u16 = 1000;
/// Extended sequence numbers start here, so unwrapping backwards never underflows.
pub(crate) const SEQ_BASE: u64 = 1 << 40;

/// The extended sequence number of `seq` nearest to `reference` (within ±32768).
pub(crate) fn unwrap_near(seq: u16, reference: u64) -> u64 {
    let distance = seq.wrapping_sub(reference as u16) as i16;
    reference.wrapping_add_signed(distance as i64)
}

/// The extended sequence number of `seq` at or after `reference`, or None when
/// `seq` is 1..=`late_window` numbers before it (late).
pub(crate) fn unwrap_forward(seq: u16, reference: u64, late_window: u16) -> Option<u64> {
    let ahead = seq.wrapping_sub(reference as u16);
    if ahead != 0 && u32::from(ahead) >= 65_536 - u32::from(late_window) {
        return None;
    }
    Some(reference + u64::from(ahead))
}

/// What the player gets every 20 ms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playout {
    /// The next packet's payload, in order.
    Packet {
        /// Its RTP sequence number.
        seq: u16,
        /// The Opus packet.
        payload: Bytes,
    },
    /// The next packet is missing or late: conceal it (Opus PLC).
    Missing {
        /// The sequence number that is missing.
        seq: u16,
    },
}

/// Counters of a [`JitterBuffer`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets handed to the player.
    pub played: u64,
    /// Slots reported [`Playout::Missing`].
    pub concealed: u64,
    /// Packets that arrived after their slot was played or concealed.
    pub dropped_late: u64,
    /// Packets that were already held.
    pub dropped_duplicate: u64,
    /// Packets dropped (oldest first) because the buffer was full.
    pub dropped_overflow: u64,
}

/// Reorders Opus packets by RTP sequence number and releases one per 20 ms
/// tick after an initial target delay.
///
/// It starts buffering: the first packet to arrive waits `target_delay`, then
/// playout starts from the lowest sequence number held. After 5 consecutive
/// missing packets with nothing queued it
/// goes back to buffering and resynchronises on the next packet that arrives.
/// A sequence jump of a second or more (nothing held within 50 numbers of the
/// playout point) is followed at once rather than concealed packet by packet.
#[derive(Debug)]
pub struct JitterBuffer {
    target_delay: Duration,
    /// Packets by extended sequence number.
    held: BTreeMap<u64, Bytes>,
    /// The next extended sequence number to play; None while buffering.
    next: Option<u64>,
    /// The last slot played or concealed, kept while buffering to recognise late packets.
    last_played: Option<u64>,
    /// When the first packet of this buffering period arrived.
    buffering_since: Option<Instant>,
    missing_run: u32,
    stats: JitterStats,
}

impl JitterBuffer {
    /// An empty buffer that holds the first packet `target_delay` (e.g. 40 ms) before playing.
    pub fn new(target_delay: Duration) -> Self {
        Self {
            target_delay,
            held: BTreeMap::new(),
            next: None,
            last_played: None,
            buffering_since: None,
            missing_run: 0,
            stats: JitterStats::default(),
        }
    }

    /// The extended sequence number for `seq`, None when it is late.
    fn extend(&self, seq: u16) -> Option<u64> {
        if let Some(next) = self.next {
            return unwrap_forward(seq, next, LATE_WINDOW);
        }
        let after_last = match self.last_played {
            Some(last) => Some(unwrap_forward(seq, last + 1, LATE_WINDOW)?),
            None => None,
        };
        Some(match (self.held.first_key_value(), after_last) {
            (Some((&first, _)), _) => unwrap_near(seq, first),
            (None, Some(ext)) => ext,
            (None, None) => SEQ_BASE + u64::from(seq),
        })
    }

    /// Stores a packet; false when it is dropped.
    ///
    /// Duplicates and packets older than the last one played (or concealed) are
    /// dropped. At most 50 packets are held: past that the oldest is dropped (and
    /// playout skips past it).
    pub fn push(&mut self, now: Instant, seq: u16, payload: Bytes) -> bool {
        let Some(ext) = self.extend(seq) else {
            self.stats.dropped_late += 1;
            return false;
        };
        if self.held.contains_key(&ext) {
            self.stats.dropped_duplicate += 1;
            return false;
        }
        self.held.insert(ext, payload);
        if self.next.is_none() && self.buffering_since.is_none() {
            self.buffering_since = Some(now);
        }
        let mut kept = true;
        while self.held.len() > CAPACITY {
            let Some((oldest, _)) = self.held.pop_first() else { break };
            self.stats.dropped_overflow += 1;
            kept &= oldest != ext;
            if self.next.is_some_and(|next| oldest >= next) {
                self.next = Some(oldest + 1);
                self.last_played = Some(oldest);
            }
        }
        kept
    }

    /// Called once per 20 ms playout tick.
    ///
    /// None while buffering (before the first packet has waited the target delay,
    /// or after the buffer ran dry). Otherwise the next sequence number in order:
    /// [`Playout::Packet`] if held, [`Playout::Missing`] if not.
    pub fn pop(&mut self, now: Instant) -> Option<Playout> {
        let next = match self.next {
            Some(next) => next,
            None => {
                let since = self.buffering_since?;
                if now.saturating_duration_since(since) < self.target_delay {
                    return None;
                }
                let (&first, _) = self.held.first_key_value()?;
                self.buffering_since = None;
                self.missing_run = 0;
                first
            }
        };
        // A jump in the sequence (nothing held near the playout point): follow it.
        let next = match self.held.first_key_value() {
            Some((&first, _)) if first > next && first - next >= CAPACITY as u64 => first,
            _ => next,
        };
        if let Some(payload) = self.held.remove(&next) {
            self.advance(next);
            self.missing_run = 0;
            self.stats.played += 1;
            return Some(Playout::Packet { seq: next as u16, payload });
        }
        if self.held.is_empty() && self.missing_run >= MAX_CONCEAL_RUN {
            // Ran dry: buffer again and resynchronise on the next arrival.
            self.next = None;
            self.missing_run = 0;
            return None;
        }
        self.advance(next);
        self.missing_run += 1;
        self.stats.concealed += 1;
        Some(Playout::Missing { seq: next as u16 })
    }

    fn advance(&mut self, played: u64) {
        self.next = Some(played + 1);
        self.last_played = Some(played);
    }

    /// Packets held.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Whether no packet is held.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Counters so far.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(20);

    fn payload(seq: u16) -> Bytes {
        Bytes::from(seq.to_be_bytes().to_vec())
    }

    /// Runs a simulation: `arrivals` are (ms since start, seq); a pop every 20 ms
    /// from 0 for `ticks` ticks. Packets arriving at a tick's time are pushed before its pop.
    fn simulate(
        buffer: &mut JitterBuffer,
        start: Instant,
        arrivals: &[(u64, u16)],
        ticks: u64,
    ) -> Vec<Playout> {
        let mut arrivals = arrivals.to_vec();
        arrivals.sort_by_key(|a| a.0);
        let mut arrivals = arrivals.into_iter().peekable();
        let mut out = Vec::new();
        for tick in 0..ticks {
            let now = start + TICK * tick as u32;
            while let Some(&(ms, seq)) = arrivals.peek() {
                if start + Duration::from_millis(ms) > now {
                    break;
                }
                buffer.push(start + Duration::from_millis(ms), seq, payload(seq));
                arrivals.next();
            }
            if let Some(p) = buffer.pop(now) {
                out.push(p);
            }
        }
        out
    }

    /// Playout as (seq, played) pairs, checking each payload matches its seq.
    fn summary(out: &[Playout]) -> Vec<(u16, bool)> {
        out.iter()
            .map(|p| match p {
                Playout::Packet { seq, payload: data } => {
                    assert_eq!(data, &payload(*seq));
                    (*seq, true)
                }
                Playout::Missing { seq } => (*seq, false),
            })
            .collect()
    }

    fn played(seqs: impl IntoIterator<Item = u16>) -> Vec<(u16, bool)> {
        seqs.into_iter().map(|s| (s, true)).collect()
    }

    /// Packet `i` of a stream starting at `first` arrives at i*20 ms (+ `delay`).
    fn steady(first: u16, count: u16, delay: u64) -> Vec<(u64, u16)> {
        (0..count).map(|i| (i as u64 * 20 + delay, first.wrapping_add(i))).collect()
    }

    #[test]
    fn unwrapping() {
        assert_eq!(unwrap_near(5, SEQ_BASE + 65_534), SEQ_BASE + 65_536 + 5);
        assert_eq!(unwrap_near(65_534, SEQ_BASE + 65_536 + 5), SEQ_BASE + 65_534);
        assert_eq!(unwrap_forward(0, SEQ_BASE + 65_535, 1000), Some(SEQ_BASE + 65_536));
        assert_eq!(unwrap_forward(65_535, SEQ_BASE + 65_536, 1000), None);
        assert_eq!(unwrap_forward(10, SEQ_BASE + 10, 1000), Some(SEQ_BASE + 10));
        assert_eq!(unwrap_forward(9, SEQ_BASE + 10, 1000), None);
        assert_eq!(unwrap_forward(10u16.wrapping_sub(1000), SEQ_BASE + 10, 1000), None);
        assert_eq!(
            unwrap_forward(10u16.wrapping_sub(1001), SEQ_BASE + 10, 1000),
            Some(SEQ_BASE + 10 + 64_535)
        );
        // Further behind than the late window: a jump ahead.
        assert_eq!(unwrap_forward(5000, SEQ_BASE + 7000, 1000), Some(SEQ_BASE + 7000 + 63_536));
    }

    #[test]
    fn in_order_delivery() {
        let start = Instant::now();
        let mut jb = JitterBuffer::new(Duration::from_millis(40));
        let out = simulate(&mut jb, start, &steady(100, 10, 0), 12);
        assert_eq!(summary(&out), played(100..110));
        assert_eq!(jb.stats(), JitterStats { played: 10, ..Default::default() });
        assert!(jb.is_empty());
    }

    #[test]
    fn nothing_before_the_target_delay() {
        let start = Instant::now();
        let mut jb = JitterBuffer::new(Duration::from_millis(40));
        assert_eq!(jb.pop(start), None);
        assert!(jb.push(start + Duration::from_millis(5), 1, payload(1)));
        assert_eq!(jb.len(), 1);
        assert_eq!(jb.pop(start + Duration::from_millis(20)), None);
        assert_eq!(jb.pop(start + Duration::from_millis(40)), None);
        assert_eq!(jb.pop(start + Duration::from_millis(44)), None);
        assert_eq!(
            jb.pop(start + Duration::from_millis(45)),
            Some(Playout::Packet { seq: 1, payload: payload(1) })
        );
    }

    #[test]
    fn reordered_arrival_is_played_in_order() {
        let start = Instant::now();
        let mut jb = JitterBuffer::new(Duration::from_millis(40));
        let mut arrivals = steady(0, 20, 0);
        // Swap arrival times of pairs: 1 arrives before 0, 3 before 2...
        for pair in arrivals.chunks_exact_mut(2) {
            let t = pair[0].0;
            pair[0].0 = pair[1].0 + 5;
            pair[1].0 = t;
        }
        let out = simulate(&mut jb, start, &arrivals, 22);
        assert_eq!(summary(&out), played(0..20));
        assert_eq!(jb.stats().concealed, 0);
    }

    #[test]
    fn a_lost_packet_is_missing_once() {
        let start = Instant::now();
        let mut jb = JitterBuffer::new(Duration::from_millis(40));
        let arrivals: Vec<_> = steady(0, 10, 0).into_iter().filter(|a| a.1 != 4).collect();
        let out = simulate(&mut jb, start, &arrivals, 12);
        let mut want = played(0..10);
        want[4].1 = false;
        assert_eq!(summary(&out), want);
        assert_eq!(jb.stats(), JitterStats { played: 9, concealed: 1, ..Default::default() });
    }

    #[test]
    fn a_late_packet_is_dropped_and_counted() {
        let start = Instant::now();
        let mut jb = JitterBuffer::new(Duration::from_millis(40));
        // Packet 3 arrives 100 ms late (its slot is at 100 ms).
        let arrivals: Vec<_> =
            steady(0, 10, 0).into_iter().map(|(t, s)| if s == 3 { (t + 100, s) } else { (t, s) }).collect();
        let out = simulate(&mut jb, start, &arrivals, 12);
        let mut want = played(0..10);
        want[3].1 = false;
        assert_eq!(summary(&out), want);
        assert_eq!(
            jb.stats(),
            JitterStats { played: 9, concealed: 1, dropped_late: 1, ..Default::default() }
        );
        // And pushing an already played packet again is late too.
        assert!(!jb.push(start + Duration::from_secs(1), 5, payload(5)));
        assert_eq!(jb.stats().dropped_late, 2);
    }

    #[test]
    fn duplicates_are_dropped() {
        let start = Instant::now();
        let mut jb = JitterBuffer::new(Duration::from_millis(40));
        assert!(jb.push(start, 7, payload(7)));
        assert!(!jb.push(start, 7, payload(7)));
        assert!(jb.push(start, 8, payload(8)));
        assert!(!jb.push(start, 8, payload(8)));
        assert_eq!(jb.len(), 2);
        assert_eq!(jb.stats().dropped_duplicate, 2);
        let t = start + Duration::from_millis(40);
        assert_eq!(jb.pop(t), Some(Playout::Packet { seq: 7, payload: payload(7) }));
        assert!(!jb.push(t, 8, payload(8)));
        assert_eq!(jb.stats().dropped_duplicate, 3);
        assert_eq!(jb.pop(t + TICK), Some(Playout::Packet { seq: 8, payload: payload(8) }));
    }

    #[test]
    fn wraps_around_65535() {
        let start = Instant::now();
        let mut jb = JitterBuffer::new(Duration::from_millis(40));
        let mut arrivals = steady(65_530, 12, 0);
        // 65535 and 0 swapped, and the first two too (so buffering sees the wrap reordered).
        arrivals.swap(5, 6);
        arrivals[5].0 = 100;
        arrivals[6].0 = 120;
        let out = simulate(&mut jb, start, &arrivals, 14);
        let want: Vec<u16> = (0..12).map(|i| 65_530u16.wrapping_add(i)).collect();
        assert_eq!(summary(&out), played(want));
        // Arrivals that straddle the wrap while still buffering.
        let mut jb = JitterBuffer::new(Duration::from_millis(40));
        let out = simulate(&mut jb, start, &[(0, 1), (0, 65_535), (5, 0), (10, 2)], 6);
        assert_eq!(summary(&out), played([65_535, 0, 1, 2]));
    }

    #[test]
    fn dry_out_goes_back_to_buffering_and_resyncs() {
        let start = Instant::now();
        let mut jb = JitterBuffer::new(Duration::from_millis(40));
        // 10 packets, then nothing for a while, then a new run far away at 2 s.
        let mut arrivals = steady(0, 10, 0);
        arrivals.extend(steady(500, 5, 2000));
        let out = simulate(&mut jb, start, &arrivals, 107);
        let mut want = played(0..10);
        want.extend((10..15).map(|s| (s, false)));
        want.extend(played(500..505));
        assert_eq!(summary(&out), want);
        assert_eq!(jb.stats().concealed, 5);

        // After a dry-out, a straggler from before is late, and playout waits the target delay again.
        let mut jb = JitterBuffer::new(Duration::ZERO);
        jb.push(start, 0, payload(0));
        assert!(matches!(jb.pop(start), Some(Playout::Packet { seq: 0, .. })));
        for k in 1..=5u32 {
            assert_eq!(jb.pop(start + TICK * k), Some(Playout::Missing { seq: k as u16 }));
        }
        assert_eq!(jb.pop(start + TICK * 6), None);
        assert_eq!(jb.pop(start + TICK * 7), None);
        assert!(!jb.push(start + TICK * 7, 3, payload(3)));
        assert!(jb.push(start + TICK * 7, 8, payload(8)));
        assert!(jb.push(start + TICK * 7, 7, payload(7)));
        assert_eq!(jb.pop(start + TICK * 7), Some(Playout::Packet { seq: 7, payload: payload(7) }));
        assert_eq!(jb.pop(start + TICK * 8), Some(Playout::Packet { seq: 8, payload: payload(8) }));
    }

    #[test]
    fn capacity_is_bounded() {
        let start = Instant::now();
        let mut jb = JitterBuffer::new(Duration::from_millis(40));
        for seq in 0..60u16 {
            assert!(jb.push(start, seq, payload(seq)));
        }
        assert_eq!(jb.len(), CAPACITY);
        assert_eq!(jb.stats().dropped_overflow, 10);
        assert_eq!(jb.pop(start + TICK * 2), Some(Playout::Packet { seq: 10, payload: payload(10) }));
        // While playing, an overflow skips playout past the dropped packet.
        for seq in 60..62u16 {
            jb.push(start, seq, payload(seq));
        }
        assert_eq!(jb.len(), CAPACITY);
        assert_eq!(jb.pop(start + TICK * 3), Some(Playout::Packet { seq: 12, payload: payload(12) }));
        // A packet older than everything held, into a full buffer, is the one dropped.
        let mut jb = JitterBuffer::new(Duration::from_millis(40));
        for seq in 1..=50u16 {
            jb.push(start, seq, payload(seq));
        }
        assert!(!jb.push(start, 0, payload(0)));
        assert_eq!(jb.len(), CAPACITY);
    }

    #[test]
    fn a_sequence_jump_is_followed_at_once() {
        let start = Instant::now();
        for jump_to in [30_000u16, 100] {
            let mut jb = JitterBuffer::new(Duration::from_millis(40));
            let mut arrivals = steady(5000, 5, 0);
            arrivals.extend(steady(jump_to, 5, 100));
            let out = simulate(&mut jb, start, &arrivals, 12);
            let mut want = played(5000..5005);
            want.extend(played(jump_to..jump_to + 5));
            assert_eq!(summary(&out), want, "jump to {jump_to}");
        }
    }
}
