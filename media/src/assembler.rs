//! RTP packets → complete video frames (H.264 over RTP): reorders packets by
//! sequence number, releases a frame once all its packets are present, and
//! gives up on holes that NACK retransmission did not fill in time.
//!
//! There is no clock inside: every call takes the current `Instant`. Sequence
//! numbers are 16-bit and wrap; they are extended to 64 bits before comparing.

use crate::jitter::{unwrap_forward, SEQ_BASE};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Packets held at most; past it the oldest frame is given up.
const MAX_HELD: usize = 2000;
/// A packet up to this many sequence numbers behind the next expected one is late;
/// further behind, it is taken as a jump ahead (a sender that restarted its numbering).
const LATE_WINDOW: u16 = 4096;

/// One RTP packet as the assembler needs it.
#[derive(Debug, Clone)]
pub struct RtpPiece {
    /// RTP sequence number.
    pub seq: u16,
    /// RTP timestamp (the same for every packet of a frame).
    pub timestamp: u32,
    /// RTP marker bit: set on the last packet of a frame.
    pub marker: bool,
    /// The RTP payload.
    pub payload: Bytes,
}

/// A complete frame's packets in sequence order.
#[derive(Debug, Clone)]
pub struct AssembledFrame {
    /// The frame's RTP timestamp.
    pub timestamp: u32,
    /// The payloads of its packets, in sequence order.
    pub packets: Vec<Bytes>,
    /// True when packets before this frame were lost (the decoder must wait for a keyframe).
    pub after_loss: bool,
}

/// Counters of a [`FrameAssembler`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AssemblerStats {
    /// Frames released complete.
    pub frames_completed: u64,
    /// Frames given up (a hole not filled in time, or the buffer full).
    pub frames_dropped: u64,
    /// Packets ignored: late (for a frame already released or given up) or duplicate.
    pub packets_dropped: u64,
}

#[derive(Debug)]
struct Held {
    timestamp: u32,
    marker: bool,
    payload: Bytes,
    arrived: Instant,
}

/// Reorders packets and releases a frame when every packet from the previous
/// frame's end (the packet after a marker) up to its marker packet is present.
///
/// A frame also ends where, in an unbroken run of packets, the timestamp
/// changes (for senders that omit the marker). A hole that stays unfilled for
/// `max_wait` (counted from the arrival of the first packet after it) is given
/// up: everything up to the next frame boundary held (the packet after a held
/// marker, or a timestamp change between two held packets) is dropped and the
/// next frame is flagged `after_loss`. The first packet ever pushed starts the
/// stream (it is assumed to begin a frame).
#[derive(Debug)]
pub struct FrameAssembler {
    max_wait: Duration,
    /// Packets by extended sequence number, all at or after `next`.
    held: BTreeMap<u64, Held>,
    /// Extended sequence number of the next frame's first packet; None before any packet.
    next: Option<u64>,
    /// Whether the next frame released follows a loss.
    after_loss: bool,
    stats: AssemblerStats,
}

impl FrameAssembler {
    /// An empty assembler that waits up to `max_wait` for a missing packet.
    pub fn new(max_wait: Duration) -> Self {
        Self {
            max_wait,
            held: BTreeMap::new(),
            next: None,
            after_loss: false,
            stats: AssemblerStats::default(),
        }
    }

    /// Stores a packet. Duplicates and packets for frames already released or
    /// given up are ignored (and counted). At most 2000 packets are held: past
    /// that the oldest frame is given up.
    pub fn push(&mut self, now: Instant, piece: RtpPiece) {
        let next = *self.next.get_or_insert(SEQ_BASE + u64::from(piece.seq));
        let Some(ext) = unwrap_forward(piece.seq, next, LATE_WINDOW) else {
            self.stats.packets_dropped += 1;
            return;
        };
        if self.held.contains_key(&ext) {
            self.stats.packets_dropped += 1;
            return;
        }
        let RtpPiece { timestamp, marker, payload, .. } = piece;
        self.held.insert(ext, Held { timestamp, marker, payload, arrived: now });
        while self.held.len() > MAX_HELD {
            self.drop_oldest_frame();
        }
    }

    /// The next complete frame, if any (call in a loop until None).
    pub fn pop(&mut self, now: Instant) -> Option<AssembledFrame> {
        loop {
            let start = self.next?;
            // Walk the unbroken run of packets from the frame's start.
            let mut ext = start;
            let mut frame_timestamp = None;
            while let Some(packet) = self.held.get(&ext) {
                match frame_timestamp {
                    None => frame_timestamp = Some(packet.timestamp),
                    Some(ts) if ts != packet.timestamp => return Some(self.release(start, ext)),
                    Some(_) => {}
                }
                if packet.marker {
                    return Some(self.release(start, ext + 1));
                }
                ext += 1;
            }
            // `ext` is missing. With nothing held after it the frame's tail may still be
            // in flight; with packets after it, it is a hole.
            let hole = ext;
            let (_, first_after) = self.held.range(hole + 1..).next()?;
            if now.saturating_duration_since(first_after.arrived) < self.max_wait {
                return None;
            }
            // Given up: resume at the next frame boundary held, if one is known yet.
            let boundary = self.boundary_from(hole + 1)?;
            self.drop_before(boundary);
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> AssemblerStats {
        self.stats
    }

    /// Releases the packets `start..end` as a frame and moves past them.
    fn release(&mut self, start: u64, end: u64) -> AssembledFrame {
        let mut packets = Vec::with_capacity((end - start) as usize);
        let mut timestamp = 0;
        for ext in start..end {
            if let Some(packet) = self.held.remove(&ext) {
                timestamp = packet.timestamp;
                packets.push(packet.payload);
            }
        }
        self.next = Some(end);
        self.stats.frames_completed += 1;
        AssembledFrame { timestamp, packets, after_loss: std::mem::take(&mut self.after_loss) }
    }

    /// The first frame start provably at or after `from`: the packet after a held
    /// marker, or a held packet whose held predecessor has another timestamp.
    fn boundary_from(&self, from: u64) -> Option<u64> {
        let mut previous: Option<(u64, u32)> = None;
        for (&ext, packet) in self.held.range(from..) {
            if previous.is_some_and(|(p, ts)| p + 1 == ext && ts != packet.timestamp) {
                return Some(ext);
            }
            if packet.marker {
                return Some(ext + 1);
            }
            previous = Some((ext, packet.timestamp));
        }
        None
    }

    /// Gives up everything before `boundary`: the next frame is flagged after_loss.
    fn drop_before(&mut self, boundary: u64) {
        let kept = self.held.split_off(&boundary);
        let dropped = std::mem::replace(&mut self.held, kept);
        // One frame per run of equal timestamps; at least the broken one.
        let mut frames = 0;
        let mut last = None;
        for packet in dropped.values() {
            if last != Some(packet.timestamp) {
                frames += 1;
                last = Some(packet.timestamp);
            }
        }
        self.stats.frames_dropped += frames.max(1);
        self.next = Some(boundary);
        self.after_loss = true;
    }

    /// Gives up the oldest frame (the buffer is full).
    fn drop_oldest_frame(&mut self) {
        let Some(start) = self.next else { return };
        match self.boundary_from(start) {
            Some(boundary) => self.drop_before(boundary),
            None => {
                // No frame boundary anywhere: drop the oldest packet alone.
                if let Some((oldest, _)) = self.held.pop_first() {
                    self.drop_before(oldest + 1);
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_millis(100);

    fn piece(seq: u16, timestamp: u32, marker: bool) -> RtpPiece {
        RtpPiece { seq, timestamp, marker, payload: Bytes::from(seq.to_be_bytes().to_vec()) }
    }

    /// A stream of frames of the given packet counts, from `first_seq`; frame k has timestamp k*3000.
    fn frames(first_seq: u16, sizes: &[usize]) -> Vec<RtpPiece> {
        let mut seq = first_seq;
        let mut out = Vec::new();
        for (k, &n) in sizes.iter().enumerate() {
            for i in 0..n {
                out.push(piece(seq, k as u32 * 3000, i == n - 1));
                seq = seq.wrapping_add(1);
            }
        }
        out
    }

    fn seqs(frame: &AssembledFrame) -> Vec<u16> {
        frame.packets.iter().map(|p| u16::from_be_bytes([p[0], p[1]])).collect()
    }

    fn drain(fa: &mut FrameAssembler, now: Instant) -> Vec<AssembledFrame> {
        std::iter::from_fn(|| fa.pop(now)).collect()
    }

    #[test]
    fn single_packet_frames_in_order() {
        let t = Instant::now();
        let mut fa = FrameAssembler::new(WAIT);
        assert!(fa.pop(t).is_none());
        for p in frames(10, &[1, 1, 1, 1]) {
            let seq = p.seq;
            fa.push(t, p);
            let frame = fa.pop(t).unwrap();
            assert_eq!(seqs(&frame), [seq]);
            assert_eq!(frame.timestamp, (seq as u32 - 10) * 3000);
            assert!(!frame.after_loss);
            assert!(fa.pop(t).is_none());
        }
        assert_eq!(fa.stats(), AssemblerStats { frames_completed: 4, ..Default::default() });
    }

    #[test]
    fn multi_packet_frame_out_of_order() {
        let t = Instant::now();
        let mut fa = FrameAssembler::new(WAIT);
        let stream = frames(100, &[1, 4, 2]);
        fa.push(t, stream[0].clone());
        assert_eq!(seqs(&fa.pop(t).unwrap()), [100]);
        for i in [4, 2, 6, 3] {
            fa.push(t, stream[i].clone());
            assert!(fa.pop(t).is_none(), "after {i}");
        }
        fa.push(t, stream[1].clone());
        let got = drain(&mut fa, t);
        assert_eq!(got.len(), 1);
        assert_eq!(seqs(&got[0]), [101, 102, 103, 104]);
        assert_eq!(got[0].timestamp, 3000);
        fa.push(t, stream[5].clone());
        let got = drain(&mut fa, t);
        assert_eq!(seqs(&got[0]), [105, 106]);
        assert!(!got[0].after_loss);
    }

    #[test]
    fn a_hole_filled_in_time_completes_the_frame() {
        let t = Instant::now();
        let mut fa = FrameAssembler::new(WAIT);
        let stream = frames(0, &[3, 3]);
        for p in stream.iter().filter(|p| p.seq != 1) {
            fa.push(t, p.clone());
        }
        assert!(fa.pop(t + Duration::from_millis(10)).is_none());
        assert!(fa.pop(t + Duration::from_millis(99)).is_none());
        // The retransmission arrives just in time.
        fa.push(t + Duration::from_millis(99), stream[1].clone());
        let got = drain(&mut fa, t + Duration::from_millis(150));
        assert_eq!(got.iter().map(seqs).collect::<Vec<_>>(), [vec![0, 1, 2], vec![3, 4, 5]]);
        assert!(got.iter().all(|f| !f.after_loss));
        assert_eq!(fa.stats(), AssemblerStats { frames_completed: 2, ..Default::default() });
    }

    #[test]
    fn a_hole_never_filled_is_given_up() {
        let t = Instant::now();
        let mut fa = FrameAssembler::new(WAIT);
        let stream = frames(0, &[3, 3, 2]);
        // Packet 1 lost; the rest arrive over 20 ms.
        for (i, p) in stream.iter().enumerate().filter(|(_, p)| p.seq != 1) {
            fa.push(t + Duration::from_millis(i as u64 * 3), p.clone());
        }
        assert!(fa.pop(t + Duration::from_millis(50)).is_none());
        // 100 ms after packet 2 (the first after the hole) arrived at 6 ms.
        assert!(fa.pop(t + Duration::from_millis(105)).is_none());
        let got = drain(&mut fa, t + Duration::from_millis(106));
        assert_eq!(got.iter().map(seqs).collect::<Vec<_>>(), [vec![3, 4, 5], vec![6, 7]]);
        assert_eq!(got.iter().map(|f| f.after_loss).collect::<Vec<_>>(), [true, false]);
        assert_eq!(fa.stats(), AssemblerStats { frames_completed: 2, frames_dropped: 1, packets_dropped: 0 });
        // The retransmission arriving now is late.
        fa.push(t + Duration::from_millis(200), stream[1].clone());
        assert!(fa.pop(t + Duration::from_millis(200)).is_none());
        assert_eq!(fa.stats().packets_dropped, 1);
    }

    #[test]
    fn a_lost_marker_waits_for_the_next_boundary() {
        let t = Instant::now();
        let mut fa = FrameAssembler::new(WAIT);
        let stream = frames(0, &[3, 2, 2]);
        // Frame 0's marker (2) is lost, so nothing proves frame 1 (3, 4) starts at 3: the
        // next boundary held is after 4's marker, and frame 1 is given up with frame 0.
        for p in stream.iter().filter(|p| p.seq != 2 && p.seq < 5) {
            fa.push(t, p.clone());
        }
        assert!(fa.pop(t + WAIT).is_none());
        fa.push(t + WAIT, stream[5].clone());
        fa.push(t + WAIT, stream[6].clone());
        let got = drain(&mut fa, t + WAIT);
        assert_eq!(got.iter().map(seqs).collect::<Vec<_>>(), [vec![5, 6]]);
        assert!(got[0].after_loss);
        assert_eq!(fa.stats().frames_dropped, 2);
    }

    #[test]
    fn a_timestamp_change_ends_a_frame() {
        let t = Instant::now();
        let mut fa = FrameAssembler::new(WAIT);
        // No markers at all: each frame is released when the next one's first packet arrives.
        for (seq, ts) in [(0, 0), (1, 0), (2, 3000), (3, 3000), (4, 6000)] {
            fa.push(t, piece(seq, ts, false));
        }
        let got = drain(&mut fa, t);
        assert_eq!(got.iter().map(seqs).collect::<Vec<_>>(), [vec![0, 1], vec![2, 3]]);
        assert_eq!(got[1].timestamp, 3000);
    }

    #[test]
    fn wraps_around_65535() {
        let t = Instant::now();
        let mut fa = FrameAssembler::new(WAIT);
        let stream = frames(65_533, &[1, 3, 2]);
        fa.push(t, stream[0].clone());
        for i in [3, 5, 2, 4, 1] {
            fa.push(t, stream[i].clone());
        }
        let got = drain(&mut fa, t);
        assert_eq!(
            got.iter().map(seqs).collect::<Vec<_>>(),
            [vec![65_533], vec![65_534, 65_535, 0], vec![1, 2]]
        );
        assert!(got.iter().all(|f| !f.after_loss));
        // A hole right at the wrap is given up like any other.
        let mut fa = FrameAssembler::new(WAIT);
        for p in frames(65_534, &[3, 1]).into_iter().filter(|p| p.seq != 65_535) {
            fa.push(t, p);
        }
        let got = drain(&mut fa, t + WAIT);
        assert_eq!(got.iter().map(seqs).collect::<Vec<_>>(), [vec![1]]);
        assert!(got[0].after_loss);
    }

    #[test]
    fn duplicates_and_late_packets_are_ignored() {
        let t = Instant::now();
        let mut fa = FrameAssembler::new(WAIT);
        let stream = frames(50, &[2, 2]);
        fa.push(t, stream[0].clone());
        fa.push(t, stream[0].clone());
        fa.push(t, stream[1].clone());
        assert_eq!(seqs(&fa.pop(t).unwrap()), [50, 51]);
        // Late copies of the released frame.
        fa.push(t, stream[0].clone());
        fa.push(t, stream[1].clone());
        fa.push(t, stream[3].clone());
        fa.push(t, stream[3].clone());
        fa.push(t, stream[2].clone());
        assert_eq!(seqs(&fa.pop(t).unwrap()), [52, 53]);
        assert!(fa.pop(t).is_none());
        assert_eq!(fa.stats(), AssemblerStats { frames_completed: 2, frames_dropped: 0, packets_dropped: 4 });
    }

    #[test]
    fn held_packets_are_bounded() {
        let t = Instant::now();
        let mut fa = FrameAssembler::new(Duration::from_secs(3600));
        // Packet 0 lost: frames of 10 packets pile up behind the hole.
        for p in frames(0, &[10; 250]).into_iter().skip(1) {
            fa.push(t, p);
        }
        assert!(fa.held.len() <= MAX_HELD);
        let got = drain(&mut fa, t);
        assert!(got[0].after_loss);
        assert_eq!(got.len(), fa.stats().frames_completed as usize);
        assert_eq!(fa.stats().frames_completed + fa.stats().frames_dropped, 250);
        // Frames without any boundary: the oldest packets are dropped one by one.
        let mut fa = FrameAssembler::new(WAIT);
        for seq in 0..2100u16 {
            fa.push(t, piece(seq, 0, false));
        }
        assert_eq!(fa.held.len(), MAX_HELD);
    }
}
