//! The receiving end's measurements: what arrived on each video track (frame
//! numbers, timing, frames kept for PSNR) and what the "ear" heard in the
//! mixed output (tone onsets, frequency).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::report::{per_second, percentiles, VideoReport};
use crate::audio_codec::SAMPLE_RATE;
use crate::convert::{psnr_y, to_i420, I420Frame, PixelFormat};
use crate::receive::VideoReceiveStats;
use crate::source::clock_micros;
use crate::source::AudioSink;
use crate::synthetic::{read_stamp_i420, rms, OnsetDetector, Stamp, TestPattern};

/// Every Nth decoded frame is kept for PSNR, computed after the run (re-rendering
/// the source costs milliseconds the decoder thread must not spend).
const PSNR_EVERY: u64 = 5;
/// At most this many frames are kept for PSNR.
const PSNR_SAMPLES: usize = 40;

/// What the sending side counted for one track.
pub(crate) struct SentCounts {
    /// Source name.
    pub name: String,
    /// Frames sent.
    pub frames: u64,
    /// Frames rate control skipped.
    pub skipped: u64,
    /// Keyframes sent.
    pub keyframes: u64,
    /// Encoder busy time.
    pub encode_micros: u64,
}

/// What the receiver measured on one video track.
pub(crate) struct VideoProbe {
    /// The source's pattern, to read stamps and compute PSNR (synthetic sources only).
    pattern: Option<TestPattern>,
    decoded: u64,
    last_number: Option<u32>,
    max_gap: u32,
    last_at: Option<Instant>,
    max_freeze: Duration,
    latencies_ms: Vec<f64>,
    samples: Vec<(Stamp, I420Frame)>,
}

impl VideoProbe {
    pub(crate) fn new(pattern: Option<TestPattern>) -> Self {
        Self {
            pattern,
            decoded: 0,
            last_number: None,
            max_gap: 0,
            last_at: None,
            max_freeze: Duration::ZERO,
            latencies_ms: Vec::new(),
            samples: Vec::new(),
        }
    }

    /// Called on the decoder thread for every picture.
    pub(crate) fn observe(&mut self, picture: &I420Frame) {
        let now = Instant::now();
        let arrived_micros = clock_micros();
        self.decoded += 1;
        if let Some(last) = self.last_at {
            self.max_freeze = self.max_freeze.max(now - last);
        }
        self.last_at = Some(now);
        if self.pattern.is_none() {
            return;
        }
        let Some(stamp) = read_stamp_i420(picture) else { return };
        self.latencies_ms.push(arrived_micros.saturating_sub(stamp.capture_micros) as f64 / 1000.0);
        if let Some(last) = self.last_number {
            self.max_gap = self.max_gap.max(stamp.frame_number.wrapping_sub(last));
        }
        self.last_number = Some(stamp.frame_number);
        if self.decoded.is_multiple_of(PSNR_EVERY) && self.samples.len() < PSNR_SAMPLES {
            self.samples.push((stamp, picture.clone()));
        }
    }

    /// The track's report, with the sender's counts and the decoder's stats.
    pub(crate) fn report(&self, sent: SentCounts, received: &VideoReceiveStats) -> VideoReport {
        let psnr: Vec<f64> = match &self.pattern {
            Some(pattern) => self
                .samples
                .iter()
                .filter_map(|(stamp, picture)| psnr_against_source(pattern, *stamp, picture))
                .collect(),
            None => Vec::new(),
        };
        VideoReport {
            source: sent.name,
            frames_sent: sent.frames,
            frames_skipped: sent.skipped,
            frames_decoded: self.decoded,
            max_frame_gap: self.last_number.is_some().then_some(self.max_gap),
            max_freeze_ms: self.max_freeze.as_secs_f64() * 1000.0,
            psnr_db: (!psnr.is_empty()).then(|| psnr.iter().sum::<f64>() / psnr.len() as f64),
            glass_to_glass_ms: percentiles(self.latencies_ms.clone()),
            encode_fps: per_second(sent.frames, sent.encode_micros),
            decode_fps: per_second(
                received.decoded.load(Ordering::Relaxed),
                received.decode_micros.load(Ordering::Relaxed),
            ),
            keyframe_requests: received.keyframe_requests.load(Ordering::Relaxed),
            keyframes_sent: sent.keyframes,
        }
    }
}

/// PSNR of a decoded picture against the pattern frame its stamp names.
fn psnr_against_source(pattern: &TestPattern, stamp: Stamp, picture: &I420Frame) -> Option<f64> {
    if (pattern.width(), pattern.height()) != (picture.width, picture.height) {
        return None;
    }
    let mut rgba = Vec::new();
    pattern.render_rgba(stamp, &mut rgba);
    let source = to_i420(PixelFormat::Rgba32, pattern.width(), pattern.height(), &rgba).ok()?;
    Some(psnr_y(&source, picture).min(99.0))
}

/// Pairs each onset heard with the latest onset sent before it (bursts are
/// 500 ms apart, so anything over 400 ms is not a match); returns ms.
pub(crate) fn match_onsets(sent: &[u64], heard: &[u64]) -> Vec<f64> {
    heard
        .iter()
        .filter_map(|&h| sent.iter().rev().find(|&&s| s <= h).map(|&s| (h - s) as f64 / 1000.0))
        .filter(|ms| *ms < 400.0)
        .collect()
}

/// The receiver's "ear": where the mixed output is analysed.
pub(crate) struct Ear {
    detector: OnsetDetector,
    /// Onsets heard, as [`clock_micros`] of the onset sample's play-out.
    pub onsets: Vec<u64>,
    /// Non-silent output kept for frequency detection (at most 4 s).
    pub heard: Vec<f32>,
    /// Samples fed to the detector so far.
    fed: u64,
    /// The received audio's jitter buffer, for its figures at the end.
    pub playout: Option<Arc<Mutex<crate::jitter::JitterBuffer>>>,
}

impl Ear {
    pub(crate) fn new() -> Self {
        Self {
            detector: OnsetDetector::new(SAMPLE_RATE, 0.05, Duration::from_millis(100)),
            onsets: Vec::new(),
            heard: Vec::new(),
            fed: 0,
            playout: None,
        }
    }
}

/// The playback sink of the self-test: analyses the mix, then plays it on
/// the chosen speaker, if any.
pub(crate) struct EarSink {
    pub ear: Arc<Mutex<Ear>>,
    pub speaker: Option<Box<dyn AudioSink>>,
}

impl AudioSink for EarSink {
    fn play(&mut self, frame: &[f32]) {
        let played_at = clock_micros();
        let mut ear = self.ear.lock().unwrap_or_else(PoisonError::into_inner);
        let fed_before = ear.fed;
        for onset in ear.detector.feed(frame) {
            let offset = onset.saturating_sub(fed_before) * 1_000_000 / u64::from(SAMPLE_RATE);
            ear.onsets.push(played_at + offset);
        }
        ear.fed += frame.len() as u64;
        if rms(frame) > 0.01 && ear.heard.len() < SAMPLE_RATE as usize * 4 {
            ear.heard.extend_from_slice(frame);
        }
        drop(ear);
        if let Some(speaker) = &mut self.speaker {
            speaker.play(frame);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn onsets_pair_with_the_latest_one_sent_before() {
        let sent = [1_000_000, 1_500_000, 2_000_000];
        let heard = [1_050_000, 1_560_000, 2_900_000, 900_000];
        assert_eq!(match_onsets(&sent, &heard), vec![50.0, 60.0]);
    }
}
