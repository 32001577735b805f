//! Synthetic sources that go through the real pipeline: a moving video test
//! pattern carrying a machine-readable [`Stamp`], and audio tone bursts, with
//! the analysis that reads them back on the receiving side (stamp reader,
//! frequency detector, onset detector).
//!
//! The stamp is 112 bits (32-bit frame number, 64-bit capture time, CRC-16)
//! drawn as pure black/white blocks in a black band at the top of the picture;
//! blocks are at least 8 px (16 px from 1280 wide) and aligned to the block
//! grid, so they survive H.264 at low bitrates.

use crate::pixels::{luma, I420Frame};
use std::time::Duration;

/// What a synthetic frame carries, readable back from the decoded picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Frame counter of the source.
    pub frame_number: u32,
    /// When the frame was captured, in microseconds of the sender's clock.
    pub capture_micros: u64,
}

/// Bits in a stamp: 32 frame number + 64 capture micros + 16 CRC.
const STAMP_BITS: usize = 112;
const STAMP_BYTES: usize = STAMP_BITS / 8;
/// A block whose centre luma (BT.601 limited range, 16..=235) is at most this reads 0.
const DARK_MAX: u32 = 100;
/// A block whose centre luma is at least this reads 1; anything between is unreadable.
const LIGHT_MIN: u32 = 151;

/// CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF).
fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &byte in data {
        crc ^= (byte as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
        }
    }
    crc
}

fn stamp_bytes(stamp: Stamp) -> [u8; STAMP_BYTES] {
    let mut bytes = [0; STAMP_BYTES];
    bytes[..4].copy_from_slice(&stamp.frame_number.to_be_bytes());
    bytes[4..12].copy_from_slice(&stamp.capture_micros.to_be_bytes());
    let crc = crc16(&bytes[..12]);
    bytes[12..].copy_from_slice(&crc.to_be_bytes());
    bytes
}

fn stamp_from_bytes(bytes: &[u8; STAMP_BYTES]) -> Option<Stamp> {
    if crc16(&bytes[..12]).to_be_bytes() != bytes[12..] {
        return None;
    }
    let mut frame = [0; 4];
    frame.copy_from_slice(&bytes[..4]);
    let mut micros = [0; 8];
    micros.copy_from_slice(&bytes[4..12]);
    Some(Stamp { frame_number: u32::from_be_bytes(frame), capture_micros: u64::from_be_bytes(micros) })
}

/// Where the stamp's blocks go for a given picture size.
#[derive(Debug, Clone, Copy)]
struct StampLayout {
    /// Block side in pixels: the largest power of two <= max(8, width/80).
    block: usize,
    /// Blocks per row (a 1-block margin each side).
    cols: usize,
    /// Height of the black band holding the blocks and their margin.
    band: usize,
}

impl StampLayout {
    fn new(width: usize) -> Self {
        let mut block = 8;
        while block * 2 * 80 <= width {
            block *= 2;
        }
        let cols = (width / block).saturating_sub(2).max(1);
        let rows = STAMP_BITS.div_ceil(cols);
        Self { block, cols, band: (rows + 2) * block }
    }

    /// Whether the layout fits a picture of this size (the band takes at most half the height).
    fn fits(&self, width: usize, height: usize) -> bool {
        width / self.block >= 3 && self.band * 2 <= height
    }

    /// Top-left corner of bit `i`'s block.
    fn origin(&self, i: usize) -> (usize, usize) {
        ((1 + i % self.cols) * self.block, (1 + i / self.cols) * self.block)
    }

    /// Reads the bits, `centre_luma(x, y, side)` giving the mean luma of a square.
    fn read(&self, mut centre_luma: impl FnMut(usize, usize, usize) -> u32) -> Option<Stamp> {
        let mut bytes = [0; STAMP_BYTES];
        let (inset, side) = (self.block / 4, self.block / 2);
        for i in 0..STAMP_BITS {
            let (x, y) = self.origin(i);
            let level = centre_luma(x + inset, y + inset, side);
            if level >= LIGHT_MIN {
                bytes[i / 8] |= 0x80 >> (i % 8);
            } else if level > DARK_MAX {
                return None;
            }
        }
        stamp_from_bytes(&bytes)
    }
}

/// Fills a rectangle of an RGBA picture `width` pixels wide (clipped to the picture).
fn fill_rect(buf: &mut [u8], width: usize, x: usize, y: usize, w: usize, h: usize, rgba: [u8; 4]) {
    let x_end = (x + w).min(width);
    if x >= x_end {
        return;
    }
    for row in buf.chunks_exact_mut(width * 4).skip(y).take(h) {
        for px in row[x * 4..x_end * 4].chunks_exact_mut(4) {
            px.copy_from_slice(&rgba);
        }
    }
}

/// 0, 1, .., max, max-1, .., 0, 1, .. (a bouncing position).
fn triangle(t: usize, max: usize) -> usize {
    if max == 0 {
        return 0;
    }
    let p = t % (2 * max);
    if p <= max {
        p
    } else {
        2 * max - p
    }
}

/// A moving test pattern: smooth colour gradients, a moving box (so the encoder
/// sees motion) and the [`Stamp`] drawn as big black/white blocks in a band at the top.
pub struct TestPattern {
    width: u32,
    height: u32,
    layout: StampLayout,
    /// The static gradient, RGBA, precomputed once.
    background: Vec<u8>,
}

impl TestPattern {
    /// A pattern of the given size. Sizes are rounded down to even and raised to
    /// at least 320x180 (the smallest size the stamp is laid out for).
    pub fn new(width: u32, height: u32) -> Self {
        let width = (width & !1).max(320);
        let height = (height & !1).max(180);
        let (w, h) = (width as usize, height as usize);
        let mut background = Vec::with_capacity(w * h * 4);
        for y in 0..h {
            let g = (y * 255 / (h - 1)) as u8;
            for x in 0..w {
                let r = (x * 255 / (w - 1)) as u8;
                let b = 255 - ((r as u16 + g as u16) / 2) as u8;
                background.extend_from_slice(&[r, g, b, 255]);
            }
        }
        Self { width, height, layout: StampLayout::new(w), background }
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Renders the frame for `stamp` as RGBA8 into `out` (resized to `width*height*4`).
    ///
    /// The picture depends on `frame_number` (the box moves), so consecutive frames differ.
    pub fn render_rgba(&self, stamp: Stamp, out: &mut Vec<u8>) {
        let (w, h) = (self.width as usize, self.height as usize);
        let band = self.layout.band;
        out.clear();
        out.extend_from_slice(&self.background);

        // The moving box, below the stamp band, with a contrasting centre.
        let n = stamp.frame_number as usize;
        let size = h / 5;
        let speed = (w / 160).max(2);
        let x = triangle(n * speed, w - size);
        let y = band + triangle(n * speed / 2, h - band - size);
        fill_rect(out, w, x, y, size, size, [255, (n * 7 % 256) as u8, 40, 255]);
        fill_rect(out, w, x + size / 4, y + size / 4, size / 2, size / 2, [20, 20, 160, 255]);

        // The stamp: a black band, white blocks for the 1 bits.
        fill_rect(out, w, 0, 0, w, band, [0, 0, 0, 255]);
        let bytes = stamp_bytes(stamp);
        let block = self.layout.block;
        for i in 0..STAMP_BITS {
            if bytes[i / 8] & (0x80 >> (i % 8)) != 0 {
                let (bx, by) = self.layout.origin(i);
                fill_rect(out, w, bx, by, block, block, [255, 255, 255, 255]);
            }
        }
    }
}

/// Reads the stamp back from a decoded RGBA picture of the same size.
///
/// None when it is unreadable (a block neither clearly black nor clearly white,
/// a wrong buffer length) or its check bits are wrong.
pub fn read_stamp(rgba: &[u8], width: u32, height: u32) -> Option<Stamp> {
    let (w, h) = (width as usize, height as usize);
    let layout = StampLayout::new(w);
    if !layout.fits(w, h) || rgba.len() != w * h * 4 {
        return None;
    }
    layout.read(|x, y, side| {
        let mut sum = 0;
        for row in rgba.chunks_exact(w * 4).skip(y).take(side) {
            for px in row[x * 4..(x + side) * 4].chunks_exact(4) {
                sum += luma(px[0], px[1], px[2]) as u32;
            }
        }
        sum / (side * side) as u32
    })
}

/// Same as [`read_stamp`], straight from an I420 frame's Y plane (cheaper: no RGBA conversion).
pub fn read_stamp_i420(frame: &I420Frame) -> Option<Stamp> {
    let (w, h) = (frame.width as usize, frame.height as usize);
    let layout = StampLayout::new(w);
    if !layout.fits(w, h) || frame.y.len() != w * h {
        return None;
    }
    layout.read(|x, y, side| {
        let mut sum = 0;
        for row in frame.y.chunks_exact(w).skip(y).take(side) {
            sum += row[x..x + side].iter().map(|&v| v as u32).sum::<u32>();
        }
        sum / (side * side) as u32
    })
}

/// A sine tone generator at 48 kHz mono f32 in [-1, 1], optionally in bursts:
/// `on` of tone then `off` of silence, repeated. Each burst starts at phase 0;
/// its first sample is an onset (what latency is measured from).
#[derive(Debug, Clone)]
pub struct ToneGenerator {
    freq_hz: f32,
    amplitude: f32,
    /// Samples of tone per cycle.
    on: u64,
    /// Samples per on+off cycle; 0 for a continuous tone.
    period: u64,
    generated: u64,
}

impl ToneGenerator {
    /// The output sample rate.
    pub const SAMPLE_RATE: u32 = 48_000;

    /// A tone that never pauses (its only onset is sample 0).
    pub fn continuous(freq_hz: f32, amplitude: f32) -> Self {
        Self {
            freq_hz: freq_hz.max(0.0),
            amplitude: amplitude.clamp(0.0, 1.0),
            on: 0,
            period: 0,
            generated: 0,
        }
    }

    /// Bursts: `on` of tone, then `off` of silence, repeated, starting with a burst at sample 0.
    /// Durations are rounded to whole samples; a zero `off` gives a continuous tone,
    /// a zero `on` silence.
    pub fn bursts(freq_hz: f32, amplitude: f32, on: Duration, off: Duration) -> Self {
        let samples = |d: Duration| (d.as_secs_f64() * Self::SAMPLE_RATE as f64).round() as u64;
        let (on, off) = (samples(on), samples(off));
        let period = if off == 0 { 0 } else { on + off };
        Self { period, on, ..Self::continuous(freq_hz, amplitude) }
    }

    /// The tone's frequency in Hz.
    pub fn frequency(&self) -> f32 {
        self.freq_hz
    }

    /// Fills `out` with the next samples; returns the sample indices (counted from
    /// the generator's start) of every burst onset that falls in this block.
    pub fn fill(&mut self, out: &mut [f32]) -> Vec<u64> {
        let mut onsets = Vec::new();
        let cycles_per_sample = self.freq_hz as f64 / Self::SAMPLE_RATE as f64;
        let amplitude = self.amplitude as f64;
        for (n, sample) in (self.generated..).zip(out.iter_mut()) {
            let pos = if self.period == 0 { n } else { n % self.period };
            if self.period != 0 && pos >= self.on {
                *sample = 0.0;
                continue;
            }
            if pos == 0 {
                onsets.push(n);
            }
            let phase = (pos as f64 * cycles_per_sample).fract();
            *sample = (amplitude * (std::f64::consts::TAU * phase).sin()) as f32;
        }
        self.generated += out.len() as u64;
        onsets
    }

    /// Samples produced so far.
    pub fn samples_generated(&self) -> u64 {
        self.generated
    }
}

/// RMS under which a signal counts as silence.
const SILENCE_RMS: f32 = 0.01;

/// The dominant frequency of a mono signal in Hz; None for silence (no 10 ms
/// window with RMS of 0.01 or more) or too few periods to measure.
///
/// Counts upward zero crossings (with hysteresis, interpolated between samples)
/// over the loud parts only (10 ms windows at least half as loud as the loudest),
/// ignores intervals far from the median period (gaps, glitches), and averages.
pub fn detect_frequency(samples: &[f32], sample_rate: u32) -> Option<f32> {
    if sample_rate == 0 {
        return None;
    }
    let win = (sample_rate as usize / 100).max(1);
    let levels: Vec<f32> = samples.chunks(win).map(rms).collect();
    let loudest = levels.iter().copied().fold(0.0, f32::max);
    if loudest < SILENCE_RMS {
        return None;
    }
    let active = (loudest * 0.5).max(SILENCE_RMS);
    // 30% of the peak of a sine with the loudest window's RMS.
    let hysteresis = loudest * std::f32::consts::SQRT_2 * 0.3;

    let mut intervals = Vec::new();
    let mut armed = false;
    let mut last: Option<f64> = None;
    let mut prev = 0.0f32;
    for (c, (chunk, &level)) in samples.chunks(win).zip(&levels).enumerate() {
        if level < active {
            armed = false;
            last = None;
            continue;
        }
        for (i, &x) in chunk.iter().enumerate() {
            if x < -hysteresis {
                armed = true;
            } else if armed && x > 0.0 {
                // prev <= 0 < x: the crossing is between them (prev is in this chunk or
                // the previous active one, since arming happens within active windows).
                let t = (c * win + i) as f64 - 1.0 + prev as f64 / (prev as f64 - x as f64);
                if let Some(l) = last {
                    intervals.push(t - l);
                }
                last = Some(t);
                armed = false;
            }
            prev = x;
        }
    }
    if intervals.len() < 2 {
        return None;
    }
    let mut sorted = intervals.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let (count, total) = intervals
        .iter()
        .filter(|&&d| d > median * 0.75 && d < median * 1.25)
        .fold((0usize, 0.0f64), |(c, t), &d| (c + 1, t + d));
    if count == 0 || total <= 0.0 {
        return None;
    }
    Some((sample_rate as f64 * count as f64 / total) as f32)
}

/// Streaming burst-onset detector on received audio.
///
/// Feed blocks; it returns the sample index (counted from the first sample fed)
/// of each onset: the RMS over a 1 ms sliding window rising to `threshold` or
/// above after at least `min_silence` below it. The time before the first
/// sample counts as silence, so a burst at the very start is an onset.
#[derive(Debug, Clone)]
pub struct OnsetDetector {
    /// Squares of the last window's samples (a ring).
    squares: Vec<f64>,
    pos: usize,
    sum: f64,
    /// `threshold² × window length`: the sum of squares at the threshold RMS.
    loud_sum: f64,
    min_silence: u64,
    /// Consecutive quiet samples so far.
    quiet: u64,
    loud: bool,
    fed: u64,
}

impl OnsetDetector {
    /// A detector for audio at `sample_rate`, onsets at `threshold` RMS after `min_silence` of silence.
    pub fn new(sample_rate: u32, threshold: f32, min_silence: Duration) -> Self {
        let window = (sample_rate as usize / 1000).max(1);
        let min_silence = (min_silence.as_secs_f64() * sample_rate as f64).round() as u64;
        let threshold = threshold.max(0.0) as f64;
        Self {
            squares: vec![0.0; window],
            pos: 0,
            sum: 0.0,
            loud_sum: threshold * threshold * window as f64,
            min_silence,
            quiet: min_silence,
            loud: false,
            fed: 0,
        }
    }

    /// Feeds the next block; returns the indices of onsets found in it.
    pub fn feed(&mut self, block: &[f32]) -> Vec<u64> {
        let mut onsets = Vec::new();
        for (index, &x) in (self.fed..).zip(block) {
            let square = x as f64 * x as f64;
            self.sum += square - self.squares[self.pos];
            self.squares[self.pos] = square;
            self.pos += 1;
            if self.pos == self.squares.len() {
                // Recompute exactly once per window so rounding never accumulates.
                self.pos = 0;
                self.sum = self.squares.iter().sum();
            }
            if self.sum >= self.loud_sum && self.sum > 0.0 {
                if !self.loud && self.quiet >= self.min_silence {
                    onsets.push(index);
                }
                self.loud = true;
                self.quiet = 0;
            } else {
                self.loud = false;
                self.quiet = self.quiet.saturating_add(1);
            }
        }
        self.fed += block.len() as u64;
        onsets
    }
}

/// RMS level of a block, in [0, 1] (0 for an empty block).
pub fn rms(samples: &[f32]) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|&x| x as f64 * x as f64).sum();
    ((sum / samples.len() as f64).sqrt() as f32).min(1.0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::pixels::packed_to_i420;

    /// An RGBA picture as I420 (odd sizes cropped to even), as the sender converts it.
    fn rgba_to_i420(w: u32, h: u32, rgba: &[u8]) -> I420Frame {
        let mut frame = I420Frame::black(w & !1, h & !1);
        packed_to_i420::<4, 0, 1, 2>(rgba, w as usize, (w & !1) as usize, (h & !1) as usize, &mut frame);
        frame
    }

    /// A small deterministic pseudo-random generator (xorshift).
    struct Noise(u64);
    impl Noise {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        /// Uniform in [-amp, amp].
        fn int(&mut self, amp: i32) -> i32 {
            (self.next() % (2 * amp as u64 + 1)) as i32 - amp
        }
        fn float(&mut self, amp: f32) -> f32 {
            ((self.next() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32 * amp
        }
    }

    const SIZES: [(u32, u32); 4] = [(320, 180), (640, 360), (1280, 720), (1920, 1080)];

    fn stamp(n: u32) -> Stamp {
        Stamp { frame_number: n, capture_micros: 1_700_000_000_123_456 + n as u64 * 33_333 }
    }

    #[test]
    fn crc_known_value() {
        assert_eq!(crc16(b"123456789"), 0x29B1);
    }

    #[test]
    fn stamp_round_trips_at_every_size() {
        let mut rgba = Vec::new();
        for (w, h) in SIZES {
            let pattern = TestPattern::new(w, h);
            assert_eq!((pattern.width(), pattern.height()), (w, h));
            let layout = StampLayout::new(w as usize);
            assert!(layout.fits(w as usize, h as usize), "{w}x{h}");
            for s in
                [stamp(0), stamp(1), stamp(u32::MAX), Stamp { frame_number: 7, capture_micros: u64::MAX }]
            {
                pattern.render_rgba(s, &mut rgba);
                assert_eq!(rgba.len(), (w * h * 4) as usize);
                assert_eq!(read_stamp(&rgba, w, h), Some(s), "{w}x{h}");
                let i420 = rgba_to_i420(w, h, &rgba);
                assert_eq!(read_stamp_i420(&i420), Some(s), "{w}x{h}");
            }
        }
    }

    #[test]
    fn layout_uses_big_aligned_blocks() {
        assert_eq!(StampLayout::new(320).block, 8);
        assert_eq!(StampLayout::new(640).block, 8);
        assert_eq!(StampLayout::new(1280).block, 16);
        assert_eq!(StampLayout::new(1920).block, 16);
        assert_eq!(StampLayout::new(3840).block, 32);
        for (w, h) in SIZES {
            let layout = StampLayout::new(w as usize);
            let (x, y) = layout.origin(STAMP_BITS - 1);
            assert!(x + 2 * layout.block <= w as usize && y + 2 * layout.block <= layout.band);
            assert!(layout.band <= h as usize / 4, "{w}x{h}: band {}", layout.band);
        }
    }

    #[test]
    fn stamp_survives_noise() {
        let mut noise = Noise(0x1234_5678_9abc_def1);
        let mut rgba = Vec::new();
        for (w, h) in SIZES {
            let pattern = TestPattern::new(w, h);
            pattern.render_rgba(stamp(42), &mut rgba);
            for px in rgba.chunks_exact_mut(4) {
                for c in &mut px[..3] {
                    *c = (*c as i32 + noise.int(20)).clamp(0, 255) as u8;
                }
            }
            assert_eq!(read_stamp(&rgba, w, h), Some(stamp(42)), "{w}x{h}");
            let i420 = rgba_to_i420(w, h, &rgba);
            assert_eq!(read_stamp_i420(&i420), Some(stamp(42)), "{w}x{h}");
        }
    }

    #[test]
    fn a_flipped_block_reads_none() {
        let (w, h) = (640u32, 360u32);
        let pattern = TestPattern::new(w, h);
        let layout = StampLayout::new(w as usize);
        let mut clean = Vec::new();
        pattern.render_rgba(stamp(1234), &mut clean);
        assert_eq!(read_stamp(&clean, w, h), Some(stamp(1234)));
        for i in 0..STAMP_BITS {
            let mut rgba = clean.clone();
            let (x, y) = layout.origin(i);
            let bit = stamp_bytes(stamp(1234))[i / 8] & (0x80 >> (i % 8)) != 0;
            let flipped = if bit { 0 } else { 255 };
            fill_rect(
                &mut rgba,
                w as usize,
                x,
                y,
                layout.block,
                layout.block,
                [flipped, flipped, flipped, 255],
            );
            assert_eq!(read_stamp(&rgba, w, h), None, "bit {i}");
        }
        // A grey (ambiguous) block is unreadable too.
        let mut rgba = clean.clone();
        let (x, y) = layout.origin(5);
        fill_rect(&mut rgba, w as usize, x, y, layout.block, layout.block, [128, 128, 128, 255]);
        assert_eq!(read_stamp(&rgba, w, h), None);
    }

    #[test]
    fn blank_or_wrong_pictures_read_none() {
        let (w, h) = (1280u32, 720u32);
        for value in [0u8, 16, 128, 235, 255] {
            let rgba = vec![value; (w * h * 4) as usize];
            assert_eq!(read_stamp(&rgba, w, h), None, "{value}");
            let black = rgba_to_i420(w, h, &rgba);
            assert_eq!(read_stamp_i420(&black), None, "{value}");
        }
        let mut rgba = Vec::new();
        TestPattern::new(w, h).render_rgba(stamp(3), &mut rgba);
        // Wrong size claims.
        assert_eq!(read_stamp(&rgba, 640, 360), None);
        assert_eq!(read_stamp(&rgba[..rgba.len() - 4], w, h), None);
        assert_eq!(read_stamp(&[], 0, 0), None);
        assert_eq!(read_stamp_i420(&I420Frame::black(2, 2)), None);
    }

    #[test]
    fn consecutive_frames_differ() {
        let pattern = TestPattern::new(1280, 720);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let band = pattern.layout.band * 1280 * 4;
        for n in [0u32, 1, 100, 1000] {
            // Same capture time: the difference is in the picture, not just the stamp.
            pattern.render_rgba(Stamp { frame_number: n, capture_micros: 5 }, &mut a);
            pattern.render_rgba(Stamp { frame_number: n + 1, capture_micros: 5 }, &mut b);
            let changed = a[band..].chunks_exact(4).zip(b[band..].chunks_exact(4)).filter(|(p, q)| p != q);
            assert!(changed.count() > 1000, "frame {n}");
        }
    }

    #[test]
    fn small_sizes_are_raised() {
        let pattern = TestPattern::new(101, 51);
        assert_eq!((pattern.width(), pattern.height()), (320, 180));
        let pattern = TestPattern::new(641, 361);
        assert_eq!((pattern.width(), pattern.height()), (640, 360));
    }

    fn tone(freq: f32, seconds: f32) -> Vec<f32> {
        let mut gen = ToneGenerator::continuous(freq, 0.5);
        let mut out = vec![0.0; (seconds * 48_000.0) as usize];
        gen.fill(&mut out);
        out
    }

    /// A crude lossy channel: noise, 1-pole low-pass, 8-bit quantisation.
    fn degrade(samples: &mut [f32], seed: u64) {
        let mut noise = Noise(seed);
        let mut state = 0.0f32;
        for s in samples {
            state = 0.7 * (*s + noise.float(0.05)) + 0.3 * state;
            *s = (state * 128.0).round() / 128.0;
        }
    }

    #[test]
    fn detects_frequency() {
        for freq in [440.0f32, 1000.0] {
            for seconds in [1.0, 0.1] {
                let mut samples = tone(freq, seconds);
                assert!((detect_frequency(&samples, 48_000).unwrap() - freq).abs() < 0.5);
                degrade(&mut samples, 99);
                let got = detect_frequency(&samples, 48_000).unwrap();
                assert!((got - freq).abs() <= 2.0, "{freq} Hz over {seconds} s: {got}");
            }
        }
        // Bursts with silence between them.
        let mut gen =
            ToneGenerator::bursts(1000.0, 0.3, Duration::from_millis(100), Duration::from_millis(400));
        let mut samples = vec![0.0; 96_000];
        gen.fill(&mut samples);
        degrade(&mut samples, 7);
        let got = detect_frequency(&samples, 48_000).unwrap();
        assert!((got - 1000.0).abs() <= 2.0, "{got}");
    }

    #[test]
    fn silence_has_no_frequency() {
        assert_eq!(detect_frequency(&[0.0; 48_000], 48_000), None);
        assert_eq!(detect_frequency(&[], 48_000), None);
        let mut noise = Noise(5);
        let quiet: Vec<f32> = (0..48_000).map(|_| noise.float(0.01)).collect();
        assert!(rms(&quiet) < 0.01);
        assert_eq!(detect_frequency(&quiet, 48_000), None);
    }

    #[test]
    fn rms_levels() {
        assert_eq!(rms(&[]), 0.0);
        assert_eq!(rms(&[0.5, -0.5]), 0.5);
        assert!((rms(&tone(1000.0, 0.1)) - 0.5 / 2f32.sqrt()).abs() < 1e-3);
        assert_eq!(rms(&[3.0]), 1.0);
    }

    #[test]
    fn fill_reports_onsets_across_block_boundaries() {
        // 10 ms on, 15 ms off: 1200-sample cycles, not aligned with any block size below.
        let make = || ToneGenerator::bursts(440.0, 0.5, Duration::from_millis(10), Duration::from_millis(15));
        let mut reference = make();
        let mut all = vec![0.0; 48_000];
        let onsets = reference.fill(&mut all);
        assert_eq!(onsets, (0..40).map(|k| k * 1200).collect::<Vec<u64>>());
        assert_eq!(reference.samples_generated(), 48_000);
        assert_eq!(all[480..1200].iter().filter(|&&s| s != 0.0).count(), 0);
        assert!(all[1200..1680].iter().any(|&s| s > 0.4));
        for block in [1usize, 7, 960, 1199, 1200, 1201] {
            let mut gen = make();
            let mut got = Vec::new();
            let mut samples = Vec::new();
            let mut buf = vec![0.0; block];
            while samples.len() < 48_000 {
                let n = block.min(48_000 - samples.len());
                got.extend(gen.fill(&mut buf[..n]));
                samples.extend_from_slice(&buf[..n]);
            }
            assert_eq!(got, onsets, "block {block}");
            assert_eq!(samples, all, "block {block}");
        }
        let mut continuous = ToneGenerator::continuous(440.0, 0.5);
        assert_eq!(continuous.frequency(), 440.0);
        assert_eq!(continuous.fill(&mut [0.0; 100]), vec![0]);
        assert!(continuous.fill(&mut [0.0; 100_000]).is_empty());
    }

    #[test]
    fn onsets_detected_within_a_millisecond() {
        for (freq, amplitude) in [(1000.0, 0.5), (440.0, 0.1)] {
            let mut gen = ToneGenerator::bursts(
                freq,
                amplitude,
                Duration::from_millis(100),
                Duration::from_millis(300),
            );
            let mut detector = OnsetDetector::new(48_000, 0.05, Duration::from_millis(50));
            let mut sent = Vec::new();
            let mut found = Vec::new();
            let mut noise = Noise(11);
            let mut block = [0.0f32; 960];
            for _ in 0..150 {
                sent.extend(gen.fill(&mut block));
                block.iter_mut().for_each(|s| *s += noise.float(0.01));
                found.extend(detector.feed(&block));
            }
            assert_eq!(sent.len(), 8);
            assert_eq!(found.len(), sent.len(), "{freq} Hz: sent {sent:?}, found {found:?}");
            for (s, f) in sent.iter().zip(&found) {
                assert!(f.abs_diff(*s) <= 48, "{freq} Hz: sent {s}, found {f}");
            }
        }
    }

    #[test]
    fn onsets_need_the_minimum_silence() {
        // 50 ms gaps are shorter than the 100 ms of silence required: only the first burst counts.
        let mut gen =
            ToneGenerator::bursts(1000.0, 0.5, Duration::from_millis(50), Duration::from_millis(50));
        let mut detector = OnsetDetector::new(48_000, 0.05, Duration::from_millis(100));
        let mut block = [0.0f32; 960];
        let mut found = Vec::new();
        for _ in 0..50 {
            gen.fill(&mut block);
            found.extend(detector.feed(&block));
        }
        assert_eq!(found.len(), 1);
        assert!(found[0] < 48);
        // Silence in, nothing out.
        let mut quiet = OnsetDetector::new(48_000, 0.05, Duration::ZERO);
        assert!(quiet.feed(&[0.0; 48_000]).is_empty());
    }
}
