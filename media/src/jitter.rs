//! Audio jitter buffer: reorders Opus packets by RTP sequence number and
//! releases one per 20 ms playout tick after a target delay, telling the
//! player to conceal (Opus PLC) the packets that are missing or late.
//!
//! The delay is either fixed ([`JitterBuffer::new`]) or adaptive
//! ([`JitterBuffer::adaptive`]): it then follows the measured jitter, so a clean
//! network plays with little buffering and a jittery one grows the buffer
//! instead of concealing.
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
/// The audio in one packet, and the playout tick.
const FRAME: Duration = Duration::from_millis(20);
/// Adaptive: how much a late packet raises the target, and one decay step.
const TARGET_STEP: Duration = FRAME;
/// Adaptive: how long the target must stay unraised before it decays one step.
const CALM_PERIOD: Duration = Duration::from_secs(5);
/// Adaptive: the buffer shrinks once every packet of its low-water window
/// waited (arrival to playout) at least this much beyond the target: a
/// whole frame it holds for nothing.
const SHRINK_MARGIN: Duration = FRAME;
/// Adaptive: packets played in one window of the low-water mark (the last one to two windows count).
const LOW_WATER_TICKS: u32 = 25;
/// RFC 3550 jitter filter gain: J += (|D| - J) / 16.
const JITTER_GAIN: f64 = 1.0 / 16.0;

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

/// `packets` packets of audio.
fn frames(packets: u64) -> Duration {
    FRAME * u32::try_from(packets).unwrap_or(u32::MAX)
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
    ///
    /// An adaptive buffer that is growing its delay may report the same
    /// sequence number more than once: it conceals a tick while waiting for
    /// the packet instead of skipping it.
    Missing {
        /// The sequence number that is missing.
        seq: u16,
        /// The packet after it, when already here: Opus's in-band FEC in it
        /// rebuilds the missing frame (a clone of the held bytes, not a copy).
        next: Option<Bytes>,
    },
}

/// Counters of a [`JitterBuffer`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets handed to the player.
    pub played: u64,
    /// Ticks reported [`Playout::Missing`].
    pub concealed: u64,
    /// Packets that arrived after their slot was played or concealed.
    pub dropped_late: u64,
    /// Packets that were already held.
    pub dropped_duplicate: u64,
    /// Packets dropped (oldest first) because the buffer was full.
    pub dropped_overflow: u64,
    /// Packets skipped (adaptive buffer) to bring the delay back down to the target.
    pub dropped_shrink: u64,
}

/// The state of an adaptive delay.
#[derive(Debug)]
struct Adaptive {
    min: Duration,
    max: Duration,
    /// RFC 3550 interarrival jitter estimate, in seconds.
    jitter: f64,
    /// The previous arrival (sequence number, when), for the jitter estimate.
    last_arrival: Option<(u16, Instant)>,
    /// When the target last rose or decayed; None before the first call.
    last_change: Option<Instant>,
    /// Bit i set: the slot `last_played - i` was concealed and skipped.
    concealed: u64,
    /// The slot that playout waits on (concealed, but not skipped), and since when.
    waiting: Option<(u64, Instant)>,
    /// The shortest wait (arrival to playout) of the current low-water window.
    low_current: Duration,
    /// The shortest wait of the previous low-water window.
    low_previous: Duration,
    /// Packets played into the current low-water window.
    low_ticks: u32,
    /// Whether a packet is dropped every tick to shrink the delay.
    shrinking: bool,
}

impl Adaptive {
    /// The delay the jitter alone asks for: min + 2J, rounded to the nearest 20 ms.
    fn jitter_target(&self) -> Duration {
        let steps = (2.0 * self.jitter / FRAME.as_secs_f64()).round();
        (self.min + FRAME * steps as u32).min(self.max)
    }

    /// Feeds the jitter estimate with an arrival; `D` is the arrival spacing
    /// minus 20 ms per sequence number. A sequence jump restarts the estimate's
    /// reference, and a `D` longer than the largest delay is taken as a pause in
    /// sending (a muted sender), not as jitter.
    fn arrival(&mut self, now: Instant, seq: u16) {
        if let Some((last_seq, last_at)) = self.last_arrival {
            let packets = seq.wrapping_sub(last_seq) as i16;
            if packets.unsigned_abs() as usize <= CAPACITY {
                let spacing = match now.checked_duration_since(last_at) {
                    Some(after) => after.as_secs_f64(),
                    None => -last_at.saturating_duration_since(now).as_secs_f64(),
                };
                let d = (spacing - f64::from(packets) * FRAME.as_secs_f64()).abs();
                if d <= self.max.as_secs_f64() {
                    self.jitter += (d - self.jitter) * JITTER_GAIN;
                }
            }
        }
        self.last_arrival = Some((seq, now));
    }

    /// Records that `slot` was played, skipped or concealed (`concealed`), after `last`.
    fn passed(&mut self, last: Option<u64>, slot: u64, concealed: bool) {
        let shift = last.map_or(u64::BITS.into(), |last| slot.saturating_sub(last));
        self.concealed = if shift >= u64::BITS.into() { 0 } else { self.concealed << shift };
        self.concealed |= u64::from(concealed);
        self.waiting = None;
    }

    /// Whether the late packet `seq` had its slot concealed (each slot answers once).
    fn was_concealed(&mut self, seq: u16, last: Option<u64>) -> bool {
        let Some(last) = last else { return false };
        let age = last.wrapping_sub(unwrap_near(seq, last));
        if age >= u64::BITS.into() || self.concealed & (1 << age) == 0 {
            return false;
        }
        self.concealed &= !(1 << age);
        true
    }

    /// Playout (re)starts: shrinking waits for a full low-water window.
    fn start_playout(&mut self) {
        self.waiting = None;
        self.low_current = Duration::MAX;
        self.low_previous = Duration::ZERO;
        self.low_ticks = 0;
        self.shrinking = false;
    }

    /// Records how long a packet played had waited since it arrived, and
    /// decides whether to shrink: while even the shortest wait of the window
    /// is a frame over the target, one packet per tick goes.
    fn measure(&mut self, waited: Duration, target: Duration) {
        self.low_current = self.low_current.min(waited);
        self.low_ticks += 1;
        if self.low_ticks >= LOW_WATER_TICKS {
            self.low_previous = self.low_current;
            self.low_current = Duration::MAX;
            self.low_ticks = 0;
        }
        let low = self.low_current.min(self.low_previous);
        self.shrinking = low >= target + SHRINK_MARGIN;
    }

    /// One packet was dropped: the buffer's history is 20 ms lower.
    fn shrunk(&mut self) {
        self.low_current = self.low_current.saturating_sub(FRAME);
        self.low_previous = self.low_previous.saturating_sub(FRAME);
    }
}

/// Reorders Opus packets by RTP sequence number and releases one per 20 ms
/// tick after a target delay.
///
/// It starts buffering: the first packet to arrive waits the target delay, then
/// playout starts from the lowest sequence number held. After 5 consecutive
/// missing packets with nothing queued it
/// goes back to buffering and resynchronises on the next packet that arrives.
/// A sequence jump of a second or more (nothing held within 50 numbers of the
/// playout point) is followed at once rather than concealed packet by packet.
///
/// An adaptive buffer ([`JitterBuffer::adaptive`]) moves its target between a
/// minimum and a maximum:
/// - it is at least min + 2J rounded to the nearest 20 ms, J being the RFC 3550
///   interarrival jitter (J += (|D| - J) / 16, D the arrival spacing minus 20 ms
///   per sequence number);
/// - a packet arriving after its slot was concealed raises it 20 ms;
/// - after 5 s without a raise it decays 20 ms (and again every 5 s).
///
/// Playout follows the target without jumps. When the next packet is missing
/// and less than the target would stay queued, the tick is concealed without
/// skipping the packet (the delay grows by 20 ms). If at the next tick it is
/// still missing while the packet after it has come, it was lost rather than
/// late: the waiting tick stands as its concealment and the packet after it
/// plays at once, so the wait leaves no lasting delay. When every packet played
/// in the last half second or more waited (arrival to playout) at least a
/// frame longer than the target, the buffer holds a frame for nothing: one
/// packet per tick is dropped from the front (counted in
/// [`JitterStats::dropped_shrink`]) until the waits are back under it. (The
/// queue's length could not tell that one frame apart from the tick's phase.)
#[derive(Debug)]
pub struct JitterBuffer {
    target_delay: Duration,
    /// Packets by extended sequence number, with when each arrived.
    held: BTreeMap<u64, (Bytes, Instant)>,
    /// The next extended sequence number to play; None while buffering.
    next: Option<u64>,
    /// The last slot played or concealed, kept while buffering to recognise late packets.
    last_played: Option<u64>,
    /// When the first packet of this buffering period arrived.
    buffering_since: Option<Instant>,
    missing_run: u32,
    stats: JitterStats,
    /// None for a fixed delay.
    adaptive: Option<Adaptive>,
}

impl JitterBuffer {
    /// An empty buffer with a fixed delay: it holds the first packet
    /// `target_delay` (e.g. 40 ms) before playing.
    pub fn new(target_delay: Duration) -> Self {
        Self {
            target_delay,
            held: BTreeMap::new(),
            next: None,
            last_played: None,
            buffering_since: None,
            missing_run: 0,
            stats: JitterStats::default(),
            adaptive: None,
        }
    }

    /// A buffer whose delay follows the measured jitter: between `min_delay` and
    /// `max_delay` (a `max_delay` below `min_delay` is taken as `min_delay`).
    /// It starts at `min_delay`; e.g. 20 ms and 200 ms.
    pub fn adaptive(min_delay: Duration, max_delay: Duration) -> Self {
        let max = max_delay.max(min_delay);
        Self {
            adaptive: Some(Adaptive {
                min: min_delay,
                max,
                jitter: 0.0,
                last_arrival: None,
                last_change: None,
                concealed: 0,
                waiting: None,
                low_current: Duration::MAX,
                low_previous: Duration::ZERO,
                low_ticks: 0,
                shrinking: false,
            }),
            ..Self::new(min_delay)
        }
    }

    /// The delay it currently aims for: the one given to [`JitterBuffer::new`],
    /// or the adaptive one.
    pub fn target_delay(&self) -> Duration {
        self.target_delay
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
            if let Some(adaptive) = &mut self.adaptive {
                adaptive.arrival(now, seq);
                if adaptive.was_concealed(seq, self.last_played) {
                    self.raise(now);
                }
                self.follow_jitter(now);
            }
            return false;
        };
        if self.held.contains_key(&ext) {
            self.stats.dropped_duplicate += 1;
            return false;
        }
        if let Some(adaptive) = &mut self.adaptive {
            adaptive.arrival(now, seq);
            // Waited for, it is late; unless after more than the largest delay (an
            // outage, or a muted sender whose numbering goes on).
            let waited = adaptive.waiting.take_if(|(slot, _)| *slot == ext);
            if waited.is_some_and(|(_, since)| now.saturating_duration_since(since) <= adaptive.max) {
                self.raise(now);
            }
            self.follow_jitter(now);
        }
        self.held.insert(ext, (payload, now));
        if self.next.is_none() && self.buffering_since.is_none() {
            self.buffering_since = Some(now);
        }
        let mut kept = true;
        while self.held.len() > CAPACITY {
            let Some((oldest, _)) = self.held.pop_first() else { break };
            self.stats.dropped_overflow += 1;
            kept &= oldest != ext;
            if self.next.is_some_and(|next| oldest >= next) {
                self.advance(oldest, false);
            }
        }
        kept
    }

    /// Adaptive: a packet turned out late; the target rises one step.
    fn raise(&mut self, now: Instant) {
        if let Some(adaptive) = &mut self.adaptive {
            self.target_delay = (self.target_delay + TARGET_STEP).min(adaptive.max);
            adaptive.last_change = Some(now);
        }
    }

    /// Adaptive: the target rises to what the jitter asks for, or decays one
    /// step towards it after a calm period.
    fn follow_jitter(&mut self, now: Instant) {
        let Some(adaptive) = &mut self.adaptive else { return };
        let floor = adaptive.jitter_target();
        let last_change = *adaptive.last_change.get_or_insert(now);
        if self.target_delay < floor {
            self.target_delay = floor;
            adaptive.last_change = Some(now);
        } else if self.target_delay > floor && now.saturating_duration_since(last_change) >= CALM_PERIOD {
            self.target_delay = self.target_delay.saturating_sub(TARGET_STEP).max(floor);
            adaptive.last_change = Some(now);
        }
    }

    /// Called once per 20 ms playout tick.
    ///
    /// None while buffering (before the first packet has waited the target delay,
    /// or after the buffer ran dry). Otherwise the next sequence number in order:
    /// [`Playout::Packet`] if held, [`Playout::Missing`] if not.
    pub fn pop(&mut self, now: Instant) -> Option<Playout> {
        self.follow_jitter(now);
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
                if let Some(adaptive) = &mut self.adaptive {
                    adaptive.start_playout();
                }
                first
            }
        };
        // A jump in the sequence (nothing held near the playout point): follow it.
        let next = match self.held.first_key_value() {
            Some((&first, _)) if first > next && first - next >= CAPACITY as u64 => first,
            _ => next,
        };
        let next = self.skip_lost(next);
        let next = self.shrink(next);
        if let Some((payload, arrived)) = self.held.remove(&next) {
            self.advance(next, false);
            self.missing_run = 0;
            self.stats.played += 1;
            if let Some(adaptive) = &mut self.adaptive {
                adaptive.measure(now.saturating_duration_since(arrived), self.target_delay);
            }
            return Some(Playout::Packet { seq: next as u16, payload });
        }
        if self.held.is_empty() && self.missing_run >= MAX_CONCEAL_RUN {
            // Ran dry: buffer again and resynchronise on the next arrival.
            self.next = None;
            self.missing_run = 0;
            return None;
        }
        self.missing_run += 1;
        self.stats.concealed += 1;
        let following = self.held.get(&(next + 1)).map(|(payload, _)| payload.clone());
        let below_target = self.queued_after(next) < self.target_delay;
        // The packet after it is here: this one is lost, not late (waiting for
        // it would only add delay; the next packet's FEC rebuilds it).
        let lost = following.is_some();
        if let Some(adaptive) = self.adaptive.as_mut().filter(|_| below_target && !lost) {
            // Below the target: wait for the packet rather than skip it, so the delay grows.
            if adaptive.waiting.is_none_or(|(slot, _)| slot != next) {
                adaptive.waiting = Some((next, now));
            }
            self.next = Some(next);
        } else {
            self.advance(next, true);
        }
        Some(Playout::Missing { seq: next as u16, next: following })
    }

    /// Adaptive: when a tick was already concealed waiting for `next` and the
    /// packet after it is here while `next` is not, `next` is lost, not late:
    /// that tick was its concealment, and playout goes on with the packet after
    /// it now, so waiting for a lost packet adds no lasting delay. Returns the
    /// new playout point.
    fn skip_lost(&mut self, next: u64) -> u64 {
        let Some(adaptive) = &self.adaptive else { return next };
        let waited = adaptive.waiting.is_some_and(|(slot, _)| slot == next);
        if !waited || self.held.contains_key(&next) || !self.held.contains_key(&(next + 1)) {
            return next;
        }
        self.advance(next, true);
        next + 1
    }

    /// Adaptive, while shrinking: drops `next` when it and the packet after it
    /// are held, returning the new playout point.
    fn shrink(&mut self, next: u64) -> u64 {
        let Some(adaptive) = &mut self.adaptive else { return next };
        if !adaptive.shrinking || !self.held.contains_key(&(next + 1)) || self.held.remove(&next).is_none() {
            return next;
        }
        adaptive.shrunk();
        self.stats.dropped_shrink += 1;
        self.advance(next, false);
        next + 1
    }

    /// The audio queued once `slot` has been played: up to the newest packet held.
    fn queued_after(&self, slot: u64) -> Duration {
        self.held.last_key_value().map_or(Duration::ZERO, |(&newest, _)| frames(newest.saturating_sub(slot)))
    }

    /// `slot` was played, skipped or (`concealed`) concealed: playout moves past it.
    fn advance(&mut self, slot: u64, concealed: bool) {
        if let Some(adaptive) = &mut self.adaptive {
            adaptive.passed(self.last_played, slot, concealed);
        }
        self.next = Some(slot + 1);
        self.last_played = Some(slot);
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

    /// One tick of a simulation.
    #[derive(Debug)]
    struct Tick {
        /// Ms since start.
        ms: u64,
        playout: Option<Playout>,
        /// The target after the tick.
        target: Duration,
    }

    /// Runs a simulation: `arrivals` are (ms since start, seq); a pop every 20 ms
    /// from 0 for `ticks` ticks. Packets arriving at a tick's time are pushed before its pop.
    fn run(buffer: &mut JitterBuffer, start: Instant, arrivals: &[(u64, u16)], ticks: u64) -> Vec<Tick> {
        let mut arrivals = arrivals.to_vec();
        arrivals.sort_by_key(|a| a.0);
        let mut arrivals = arrivals.into_iter().peekable();
        let mut out = Vec::new();
        for tick in 0..ticks {
            let ms = tick * 20;
            let now = start + Duration::from_millis(ms);
            while let Some(&(at, seq)) = arrivals.peek() {
                if at > ms {
                    break;
                }
                buffer.push(start + Duration::from_millis(at), seq, payload(seq));
                arrivals.next();
            }
            let playout = buffer.pop(now);
            out.push(Tick { ms, playout, target: buffer.target_delay() });
        }
        out
    }

    /// [`run`], keeping only what was played out.
    fn simulate(
        buffer: &mut JitterBuffer,
        start: Instant,
        arrivals: &[(u64, u16)],
        ticks: u64,
    ) -> Vec<Playout> {
        run(buffer, start, arrivals, ticks).into_iter().filter_map(|t| t.playout).collect()
    }

    /// Playout as (seq, played) pairs, checking each payload matches its seq.
    fn summary(out: &[Playout]) -> Vec<(u16, bool)> {
        out.iter()
            .map(|p| match p {
                Playout::Packet { seq, payload: data } => {
                    assert_eq!(data, &payload(*seq));
                    (*seq, true)
                }
                Playout::Missing { seq, .. } => (*seq, false),
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

    /// [`steady`] from 0, with the packets `late` picks arriving `by_ms` later.
    fn delayed(count: u16, late: impl Fn(u16) -> bool, by_ms: u64) -> Vec<(u64, u16)> {
        steady(0, count, 0).into_iter().map(|(t, s)| if late(s) { (t + by_ms, s) } else { (t, s) }).collect()
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

        // A hole with the packet after it held: the miss carries it, for FEC.
        let mut jb = JitterBuffer::new(Duration::ZERO);
        for seq in [0u16, 2] {
            jb.push(start, seq, payload(seq));
        }
        assert!(matches!(jb.pop(start), Some(Playout::Packet { seq: 0, .. })));
        assert_eq!(jb.pop(start + TICK), Some(Playout::Missing { seq: 1, next: Some(payload(2)) }));
        assert!(matches!(jb.pop(start + TICK * 2), Some(Playout::Packet { seq: 2, .. })));

        // After a dry-out, a straggler from before is late, and playout waits the target delay again.
        let mut jb = JitterBuffer::new(Duration::ZERO);
        jb.push(start, 0, payload(0));
        assert!(matches!(jb.pop(start), Some(Playout::Packet { seq: 0, .. })));
        for k in 1..=5u32 {
            assert_eq!(jb.pop(start + TICK * k), Some(Playout::Missing { seq: k as u16, next: None }));
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

    const MS: fn(u64) -> Duration = Duration::from_millis;

    /// A seeded linear congruential generator (no rand crate needed).
    struct Lcg(u64);

    impl Lcg {
        /// Uniform in -spread..=spread.
        fn within(&mut self, spread: u64) -> i64 {
            self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((self.0 >> 33) % (2 * spread + 1)) as i64 - spread as i64
        }
    }

    /// Packet `i` of a stream starting at `first` is sent at `from_ms` + i*20 ms and arrives
    /// `spread` ms later, ± up to `spread` ms.
    fn jittery(first: u16, count: u16, from_ms: u64, spread: u64, seed: u64) -> Vec<(u64, u16)> {
        let mut lcg = Lcg(seed);
        (0..count)
            .map(|i| {
                let at = (from_ms + i as u64 * 20 + spread) as i64 + lcg.within(spread);
                (at as u64, first.wrapping_add(i))
            })
            .collect()
    }

    /// Push-to-pop delay in ms of each packet played from `ticks[from..]`.
    fn delays(ticks: &[Tick], arrivals: &[(u64, u16)], from: usize) -> Vec<u64> {
        let arrived: BTreeMap<u16, u64> = arrivals.iter().map(|&(ms, seq)| (seq, ms)).collect();
        ticks[from..]
            .iter()
            .filter_map(|t| match &t.playout {
                Some(Playout::Packet { seq, .. }) => Some(t.ms - arrived[seq]),
                _ => None,
            })
            .collect()
    }

    /// Playout up to the last packet played (what follows is the end of the stream, concealed).
    fn until_last_packet(ticks: Vec<Tick>) -> Vec<Playout> {
        let mut out: Vec<_> = ticks.into_iter().filter_map(|t| t.playout).collect();
        while matches!(out.last(), Some(Playout::Missing { .. })) {
            out.pop();
        }
        out
    }

    /// The share of concealed ticks among the ticks that played out, up to the last packet.
    fn concealment(ticks: &[Tick]) -> f64 {
        let mut out: Vec<_> = ticks.iter().filter_map(|t| t.playout.as_ref()).collect();
        while matches!(out.last(), Some(Playout::Missing { .. })) {
            out.pop();
        }
        let missing = out.iter().filter(|p| matches!(p, Playout::Missing { .. })).count();
        missing as f64 / out.len().max(1) as f64
    }

    #[test]
    fn adaptive_on_a_clean_network_stays_at_the_minimum() {
        let start = Instant::now();
        for offset in [0, 7, 19] {
            let mut jb = JitterBuffer::adaptive(MS(20), MS(200));
            assert_eq!(jb.target_delay(), MS(20));
            let arrivals = steady(0, 1000, offset);
            let ticks = run(&mut jb, start, &arrivals, 1003);
            assert!(ticks.iter().all(|t| t.target == MS(20)), "offset {offset}");
            let delays = delays(&ticks, &arrivals, 0);
            assert_eq!(delays.len(), 1000);
            assert!(delays.iter().all(|&d| (20..=40).contains(&d)), "offset {offset}: {delays:?}");
            assert_eq!(summary(&until_last_packet(ticks)), played(0..1000));
            assert_eq!(jb.stats().played, 1000);
            assert_eq!(jb.stats().dropped_shrink, 0);
        }
    }

    #[test]
    fn adaptive_grows_with_jitter_instead_of_concealing() {
        let start = Instant::now();
        for seed in 1..=20 {
            let mut jb = JitterBuffer::adaptive(MS(20), MS(200));
            let arrivals = jittery(0, 1500, 0, 15, seed);
            let ticks = run(&mut jb, start, &arrivals, 1510);
            let highest = ticks.iter().map(|t| t.target).max().unwrap();
            assert!(highest > MS(20) && highest <= MS(200), "seed {seed}: {highest:?}");
            assert!(jb.target_delay() > MS(20), "seed {seed}");
            let rate = concealment(&ticks[50..]);
            assert!(rate < 0.02, "seed {seed}: {rate} {:?}", jb.stats());
            let stats = jb.stats();
            assert_eq!(stats.played + stats.dropped_late + stats.dropped_shrink, 1500, "seed {seed}");
        }
    }

    #[test]
    fn a_fixed_buffer_does_not_adapt() {
        let start = Instant::now();
        let mut jb = JitterBuffer::new(MS(40));
        let mut arrivals = jittery(0, 500, 0, 40, 7);
        arrivals.extend(steady(500, 1000, 10_000));
        let ticks = run(&mut jb, start, &arrivals, 1510);
        assert!(ticks.iter().all(|t| t.target == MS(40)));
        assert_eq!(jb.stats().dropped_shrink, 0);
    }

    #[test]
    fn a_late_packet_raises_the_target() {
        let start = Instant::now();
        // Packets 10 and 11 arrive 30 ms late: with nothing queued, the tick of 10 is
        // concealed while waiting for it (the delay grows 20 ms), then it plays.
        let mut jb = JitterBuffer::adaptive(MS(20), MS(200));
        let arrivals = delayed(20, |s| s == 10 || s == 11, 30);
        let out = until_last_packet(run(&mut jb, start, &arrivals, 22));
        let mut want = played(0..20);
        want.insert(10, (10, false));
        assert_eq!(summary(&out), want);
        assert_eq!(jb.target_delay(), MS(40));
        assert_eq!(jb.stats(), JitterStats { played: 20, concealed: 1, ..Default::default() });

        // Only 10 is late: 11 is queued, so 10 is skipped, and dropped when it arrives.
        let mut jb = JitterBuffer::adaptive(MS(20), MS(200));
        let arrivals = delayed(20, |s| s == 10, 30);
        let out = until_last_packet(run(&mut jb, start, &arrivals, 22));
        let mut want = played(0..20);
        want[10].1 = false;
        assert_eq!(summary(&out), want);
        assert_eq!(jb.target_delay(), MS(40));
        assert_eq!(jb.stats().dropped_late, 1);
        // A late duplicate of a played packet does not raise it.
        assert!(!jb.push(start + MS(500), 12, payload(12)));
        assert_eq!(jb.target_delay(), MS(40));
    }

    #[test]
    fn a_lost_packet_costs_one_concealed_tick_and_no_lasting_delay() {
        let start = Instant::now();
        // At offsets 1-10 ms, packet 11 arrives after packet 10's tick.
        for offset in [0, 3, 7, 10, 13, 19] {
            // Packet 10 never arrives; nothing is queued behind it when its
            // tick comes, so that tick waits for it, concealed.
            let mut jb = JitterBuffer::adaptive(MS(10), MS(200));
            let arrivals: Vec<_> = steady(0, 100, offset).into_iter().filter(|&(_, s)| s != 10).collect();
            let ticks = run(&mut jb, start, &arrivals, 103);
            let delays = delays(&ticks, &arrivals, 0);
            let mut want = played(0..100);
            want[10].1 = false;
            assert_eq!(summary(&until_last_packet(ticks)), want, "offset {offset}");
            assert_eq!(jb.stats().dropped_shrink, 0, "offset {offset}");
            assert_eq!(jb.target_delay(), MS(10), "offset {offset}");
            // Every packet after it plays as soon after its arrival as before the loss.
            assert_eq!(delays.len(), 99);
            assert!(delays.iter().all(|d| *d == delays[0]), "offset {offset}: {delays:?}");
        }
    }

    #[test]
    fn a_frame_the_buffer_grew_by_is_given_back_once_the_target_falls() {
        let start = Instant::now();
        // Packets 10 and 11 arrive 30 ms late: the buffer waits (one frame
        // more delay) and the target rises to 40 ms; 5 s later it falls back
        // to 20 ms, and the frame it holds for nothing goes with one drop.
        let mut jb = JitterBuffer::adaptive(MS(20), MS(200));
        let arrivals = delayed(500, |s| s == 10 || s == 11, 30);
        let ticks = run(&mut jb, start, &arrivals, 503);
        assert!(delays(&ticks, &arrivals, 20).iter().take(50).all(|&d| (40..60).contains(&d)));
        assert_eq!(jb.target_delay(), MS(20));
        assert_eq!(jb.stats().dropped_shrink, 1, "{:?}", jb.stats());
        assert!(delays(&ticks, &arrivals, 400).iter().all(|&d| (20..40).contains(&d)), "back at the minimum");
    }

    #[test]
    fn a_stall_grows_the_buffer_instead_of_losing_packets() {
        let start = Instant::now();
        let mut jb = JitterBuffer::adaptive(MS(20), MS(200));
        // From packet 100 on, everything arrives 150 ms later.
        let arrivals = delayed(200, |s| s >= 100, 150);
        let out = until_last_packet(run(&mut jb, start, &arrivals, 215));
        let mut want = played(0..100);
        want.extend([(100, false); 5]);
        want.extend(played(100..200));
        assert_eq!(summary(&out), want);
        assert!(jb.target_delay() >= MS(40), "{:?}", jb.target_delay());
        // The fixed buffer loses the packets of the concealed slots instead.
        let mut jb = JitterBuffer::new(MS(20));
        let out = until_last_packet(run(&mut jb, start, &arrivals, 215));
        let mut want = played(0..100);
        want.extend((100..105).map(|s| (s, false)));
        want.extend(played(105..200));
        assert_eq!(summary(&out), want);
        assert_eq!(jb.stats().dropped_late, 5);
    }

    /// A steady stream of 60 s whose packets 100..106 arrive 150 ms late.
    fn late_burst() -> Vec<(u64, u16)> {
        delayed(3000, |s| (100..106).contains(&s), 150)
    }

    #[test]
    fn a_burst_of_late_packets_raises_the_target() {
        let start = Instant::now();
        let mut jb = JitterBuffer::adaptive(MS(20), MS(200));
        let ticks = run(&mut jb, start, &late_burst(), 130);
        assert_eq!(ticks[99].target, MS(20));
        assert!(jb.target_delay() >= MS(60), "{:?} {:?}", jb.target_delay(), jb.stats());
        // And it stays up while it is not calm for long.
        let mut jb = JitterBuffer::adaptive(MS(20), MS(200));
        let ticks = run(&mut jb, start, &late_burst(), 400);
        let raised = ticks[130].target;
        assert!(ticks[130..330].iter().all(|t| t.target == raised));
    }

    #[test]
    fn a_long_calm_period_lets_the_target_fall_back() {
        let start = Instant::now();
        let mut jb = JitterBuffer::adaptive(MS(20), MS(200));
        let arrivals = late_burst();
        let ticks = run(&mut jb, start, &arrivals, 3002);
        let raised = ticks[130].target;
        // Step by step, 20 ms at most every 5 s.
        for pair in ticks.windows(2) {
            assert!(pair[1].target + MS(20) >= pair[0].target);
        }
        let falls = ticks.windows(2).filter(|p| p[1].target < p[0].target).count() as u32;
        assert_eq!(MS(20) * falls, raised - MS(20));
        assert_eq!(jb.target_delay(), MS(20));
        // The buffer followed it down: the last packets play with the minimum delay.
        assert!(delays(&ticks, &arrivals, 2900).iter().all(|&d| d <= 40));
        assert!(jb.stats().dropped_shrink > 0);
    }

    #[test]
    fn the_buffer_shrinks_after_the_jitter_goes_away() {
        let start = Instant::now();
        for seed in 1..=10 {
            let mut jb = JitterBuffer::adaptive(MS(20), MS(200));
            // 10 s with 0..80 ms of queueing delay, then 30 s without.
            let mut arrivals = jittery(0, 500, 0, 40, seed);
            arrivals.extend(steady(500, 1500, 10_000));
            let ticks = run(&mut jb, start, &arrivals, 2005);
            let grown = ticks[..500].iter().map(|t| t.target).max().unwrap();
            assert!(grown >= MS(60), "seed {seed}: {grown:?}");
            let stats = jb.stats();
            assert!(stats.dropped_shrink > 0, "seed {seed}: {stats:?}");
            assert_eq!(jb.target_delay(), MS(20), "seed {seed}");
            assert!(delays(&ticks, &arrivals, 1900).iter().all(|&d| d <= 40), "seed {seed}");
            // Shrinking skips packets; it conceals nothing.
            assert_eq!(concealment(&ticks[520..]), 0.0, "seed {seed}");
            assert_eq!(stats.played + stats.dropped_late + stats.dropped_shrink, 2000, "seed {seed}");
        }
    }

    #[test]
    fn a_pause_in_sending_is_not_jitter() {
        let start = Instant::now();
        let mut jb = JitterBuffer::adaptive(MS(20), MS(200));
        // A muted sender: the numbering goes on where it stopped, 3 s later.
        let mut arrivals = steady(0, 100, 0);
        arrivals.extend(steady(100, 100, 5000));
        let ticks = run(&mut jb, start, &arrivals, 360);
        assert!(ticks.iter().all(|t| t.target == MS(20)));
        let out = until_last_packet(ticks);
        let mut want = played(0..100);
        want.extend([(100, false); 5]);
        want.extend(played(100..200));
        assert_eq!(summary(&out), want);
    }
}
