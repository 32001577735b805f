//! Where local media comes from: the source traits and the synthetic sources.
//!
//! A capture thread owns one source and calls it at the source's pace. The
//! synthetic sources (a moving, stamped test pattern and a tone) are real
//! sources in every other respect: their frames go through conversion,
//! encoding, RTP, decoding and playback like a camera's or a microphone's.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crate::convert::PixelFormat;
use crate::synthetic::{Stamp, TestPattern, ToneGenerator};
use crate::Result;

/// Microseconds since the first call in this process: the clock stamped into
/// synthetic frames, so a receiver in the same process can measure latency.
pub fn clock_micros() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// One captured picture, before conversion.
pub struct RawVideoFrame {
    /// Layout of `data`.
    pub format: PixelFormat,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The pixels.
    pub data: Vec<u8>,
    /// When it was captured.
    pub captured: Instant,
}

/// A camera, a screen or the test pattern.
pub trait VideoSource: Send {
    /// A name a person recognises.
    fn name(&self) -> String;
    /// How often to capture.
    fn frame_interval(&self) -> Duration;
    /// Captures one frame (may block until the device has one). An error ends
    /// the track (e.g. the camera was unplugged).
    fn capture(&mut self) -> Result<RawVideoFrame>;
}

/// A microphone or the tone generator: 48 kHz mono f32.
pub trait AudioSource: Send {
    /// A name a person recognises.
    fn name(&self) -> String;
    /// Fills the next 20 ms frame, blocking until it is available. An error ends the track.
    fn read_frame(&mut self, frame: &mut [f32]) -> Result<()>;
    /// Whether the source paces itself (a device) or must be paced by the caller (synthetic).
    fn is_realtime(&self) -> bool;
}

/// Where mixed call audio goes: a speaker, or a measuring sink in the self-test.
pub trait AudioSink: Send {
    /// Plays one 20 ms mono 48 kHz frame.
    fn play(&mut self, frame: &[f32]);
}

/// The moving test pattern with its frame number and capture time drawn in.
pub struct PatternSource {
    pattern: TestPattern,
    interval: Duration,
    frame_number: u32,
}

impl PatternSource {
    /// A pattern of this size at `fps` frames per second.
    pub fn new(width: u32, height: u32, fps: u32) -> Self {
        Self {
            pattern: TestPattern::new(width, height),
            interval: Duration::from_secs(1) / fps.max(1),
            frame_number: 0,
        }
    }
}

impl VideoSource for PatternSource {
    fn name(&self) -> String {
        format!("Test pattern {}x{}", self.pattern.width(), self.pattern.height())
    }

    fn frame_interval(&self) -> Duration {
        self.interval
    }

    fn capture(&mut self) -> Result<RawVideoFrame> {
        let captured = Instant::now();
        let stamp = Stamp { frame_number: self.frame_number, capture_micros: clock_micros() };
        self.frame_number = self.frame_number.wrapping_add(1);
        let mut data = Vec::new();
        self.pattern.render_rgba(stamp, &mut data);
        Ok(RawVideoFrame {
            format: PixelFormat::Rgba32,
            width: self.pattern.width(),
            height: self.pattern.height(),
            data,
            captured,
        })
    }
}

/// A tone (continuous or in bursts), paced by the capture loop.
pub struct ToneSource {
    tone: ToneGenerator,
    onsets: Arc<Mutex<Vec<u64>>>,
}

impl ToneSource {
    /// Wraps a generator.
    pub fn new(tone: ToneGenerator) -> Self {
        Self { tone, onsets: Arc::default() }
    }

    /// The tone's frequency.
    pub fn frequency(&self) -> f32 {
        self.tone.frequency()
    }

    /// When each burst began ([`clock_micros`] of its first sample), shared
    /// with whoever measures mouth-to-ear latency.
    pub fn onset_log(&self) -> Arc<Mutex<Vec<u64>>> {
        Arc::clone(&self.onsets)
    }
}

impl AudioSource for ToneSource {
    fn name(&self) -> String {
        format!("Test tone {} Hz", self.tone.frequency())
    }

    fn read_frame(&mut self, frame: &mut [f32]) -> Result<()> {
        // Like a microphone, a frame is delivered when its last sample is in:
        // sample i of the frame was captured (len - i) samples ago.
        let now = clock_micros();
        let end = self.tone.samples_generated() + frame.len() as u64;
        let onsets = self.tone.fill(frame);
        let mut log = self.onsets.lock().unwrap_or_else(PoisonError::into_inner);
        for onset in onsets {
            let age = (end - onset) * 1_000_000 / u64::from(ToneGenerator::SAMPLE_RATE);
            log.push(now.saturating_sub(age));
        }
        Ok(())
    }

    fn is_realtime(&self) -> bool {
        false
    }
}

/// A synthetic "voice" for echo tests: the tone in syllable-length bursts
/// (120 ms on, 100 ms off) over a breath-like pink noise 3 dB below it.
/// Echo cancellers (AEC3 among them) deliberately leave a steady pure tone
/// alone (a narrow band in the far end is not adapted on, and a periodic
/// signal has no delay to find); speech has onsets and a broad spectrum, and
/// so does this, while its strongest frequency stays the tone's.
pub struct SpeechLikeSource {
    tone: ToneGenerator,
    noise: PinkNoise,
}

impl SpeechLikeSource {
    /// Bursts at `hz` of peak `amplitude`, with the breath noise under them.
    pub fn new(hz: f32, amplitude: f32) -> Self {
        let on = Duration::from_millis(120);
        let off = Duration::from_millis(100);
        Self { tone: ToneGenerator::bursts(hz, amplitude, on, off), noise: PinkNoise::new(amplitude * 0.7) }
    }
}

impl AudioSource for SpeechLikeSource {
    fn name(&self) -> String {
        format!("Speech-like test voice {} Hz", self.tone.frequency())
    }

    fn read_frame(&mut self, frame: &mut [f32]) -> Result<()> {
        let _ = self.tone.fill(frame);
        for sample in frame.iter_mut() {
            *sample += self.noise.next();
        }
        Ok(())
    }

    fn is_realtime(&self) -> bool {
        false
    }
}

/// Pink noise (Paul Kellet's economy filter over a xorshift generator), RMS about `level`.
struct PinkNoise {
    state: u32,
    filter: [f32; 3],
    scale: f32,
}

impl PinkNoise {
    fn new(level: f32) -> Self {
        // The filter turns uniform white noise in [-1, 1] into pink noise of RMS 1.71.
        Self { state: 0x9E37_79B9, filter: [0.0; 3], scale: level / 1.71 }
    }

    fn next(&mut self) -> f32 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 17;
        self.state ^= self.state << 5;
        let white = self.state as f32 / u32::MAX as f32 * 2.0 - 1.0;
        let [b0, b1, b2] = &mut self.filter;
        *b0 = 0.99765 * *b0 + white * 0.099_046;
        *b1 = 0.963 * *b1 + white * 0.296_516_4;
        *b2 = 0.57 * *b2 + white * 1.052_691_3;
        (*b0 + *b1 + *b2 + white * 0.1848) * self.scale
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use concord_media_kernels::spectrum;

    #[test]
    fn the_speech_like_voice_is_strongest_at_its_tone_with_noise_under_it() {
        let mut voice = SpeechLikeSource::new(440.0, 0.3);
        let mut samples = vec![0.0f32; 48_000 * 2];
        for frame in samples.chunks_exact_mut(960) {
            voice.read_frame(frame).expect("synthetic");
        }
        let peaks = spectrum::peaks(&samples, 48_000, 8, 60.0);
        assert!((peaks[0].hz - 440.0).abs() < 3.0, "{peaks:?}");
        let level = spectrum::rms_dbfs(&samples);
        assert!(level > -20.0 && level < -8.0, "{level}");
        // Pauses between bursts hold only the breath noise: 10 ms windows vary.
        let levels: Vec<f32> = samples.chunks(480).map(spectrum::rms_dbfs).collect();
        let (quietest, loudest) =
            levels.iter().fold((0.0f32, -200.0f32), |(lo, hi), &l| (lo.min(l), hi.max(l)));
        assert!(loudest - quietest > 6.0, "bursts and pauses: {quietest} .. {loudest}");
    }
}
