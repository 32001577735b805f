//! Speech and noise for the voice-processing tests and bench: sentences
//! spoken by espeak-ng (a Debian package, `.ci/setup` installs it) at test
//! time, resampled to 48 kHz, and noises like a room's (white, pink, a fan).

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use concord_media::audio_codec::SAMPLE_RATE;
use concord_media::resample::StreamResampler;
use rand::{Rng, SeedableRng};

/// `text` spoken by espeak-ng's `voice` (e.g. `en-us`, `en-gb+f3`), as 48 kHz
/// mono with its peak at `peak`.
pub fn speak(text: &str, voice: &str, peak: f32) -> Vec<f32> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let path: PathBuf = std::env::temp_dir().join(format!(
        "concord-speech-{}-{}.wav",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let status = Command::new("espeak-ng")
        .args(["-v", voice, "-s", "160", "-w"])
        .arg(&path)
        .arg(text)
        .status()
        .unwrap_or_else(|e| {
            panic!("espeak-ng could not run ({e}): install the espeak-ng package (.ci/setup)")
        });
    assert!(status.success(), "espeak-ng failed: {status}");
    let wav = std::fs::read(&path).expect("espeak-ng's WAV file");
    let _ = std::fs::remove_file(&path);
    let (rate, samples) = parse_wav(&wav);
    let mut resampler = StreamResampler::new(rate, SAMPLE_RATE).expect("a resampler");
    let mut out = Vec::new();
    resampler.push(&samples, &mut out);
    resampler.push(&vec![0.0; rate as usize / 10], &mut out);
    let loudest = out.iter().fold(0.0f32, |m, s| m.max(s.abs())).max(1e-6);
    out.iter_mut().for_each(|s| *s *= peak / loudest);
    out
}

/// A 16-bit mono PCM WAV file: its rate and samples in [-1, 1].
fn parse_wav(wav: &[u8]) -> (u32, Vec<f32>) {
    assert!(wav.len() > 44 && &wav[..4] == b"RIFF" && &wav[8..12] == b"WAVE", "not a WAV file");
    let mut rate = 0;
    let mut at = 12;
    while at + 8 <= wav.len() {
        let id = &wav[at..at + 4];
        let size = u32::from_le_bytes([wav[at + 4], wav[at + 5], wav[at + 6], wav[at + 7]]) as usize;
        let body = &wav[at + 8..(at + 8 + size).min(wav.len())];
        if id == b"fmt " {
            rate = u32::from_le_bytes([body[4], body[5], body[6], body[7]]);
            assert_eq!(u16::from_le_bytes([body[14], body[15]]), 16, "16-bit samples expected");
        } else if id == b"data" {
            let samples =
                body.chunks_exact(2).map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32_768.0);
            return (rate, samples.collect());
        }
        at += 8 + size + size % 2;
    }
    panic!("a WAV file without data");
}

/// Several sentences by one talker (about 9 s).
pub fn far_talker() -> Vec<f32> {
    speak(
        "The quick brown fox jumps over the lazy dog. We will meet at the station at nine tomorrow \
         morning. Please bring the map, the tickets and something warm to drink.",
        "en-us",
        0.5,
    )
}

/// A second talker, different voice (about 4 s).
pub fn near_talker() -> Vec<f32> {
    speak("Hello, can you hear me now? I think the sound is much better today.", "en-gb+f3", 0.5)
}

/// A noise like a room's, `seconds` long, RMS 1 before scaling.
#[derive(Debug, Clone, Copy)]
pub enum Noise {
    /// Equal power at every frequency (hiss).
    White,
    /// Power falling 3 dB per octave (rain, a busy room).
    Pink,
    /// A fan: a 100 Hz hum with harmonics over low rumble.
    Fan,
}

/// `seconds` of `noise` at RMS `rms`.
pub fn noise(kind: Noise, seconds: f32, rms: f32) -> Vec<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let n = (seconds * SAMPLE_RATE as f32) as usize;
    let mut white = || rng.random_range(-1.0f32..1.0);
    let mut out: Vec<f32> = match kind {
        Noise::White => (0..n).map(|_| white()).collect(),
        Noise::Pink => {
            // Paul Kellet's economy filter.
            let (mut b0, mut b1, mut b2) = (0.0f32, 0.0f32, 0.0f32);
            (0..n)
                .map(|_| {
                    let w = white();
                    b0 = 0.99765 * b0 + w * 0.0990460;
                    b1 = 0.96300 * b1 + w * 0.2965164;
                    b2 = 0.57000 * b2 + w * 1.0526913;
                    b0 + b1 + b2 + w * 0.1848
                })
                .collect()
        }
        Noise::Fan => {
            let mut rumble = 0.0f32;
            (0..n)
                .map(|i| {
                    let t = i as f32 / SAMPLE_RATE as f32;
                    let hum: f32 = [(100.0, 1.0), (200.0, 0.5), (300.0, 0.3), (400.0, 0.15)]
                        .iter()
                        .map(|(hz, a)| a * (2.0 * std::f32::consts::PI * hz * t).sin())
                        .sum();
                    rumble = 0.95 * rumble + 0.05 * white();
                    hum + 8.0 * rumble
                })
                .collect()
        }
    };
    let current = rms_of(&out).max(1e-9);
    out.iter_mut().for_each(|s| *s *= rms / current);
    out
}

/// RMS of samples.
pub fn rms_of(samples: &[f32]) -> f32 {
    (samples.iter().map(|s| s * s).sum::<f32>() / samples.len().max(1) as f32).sqrt()
}

/// dB of a power ratio, from two RMS values.
pub fn db(rms: f32) -> f32 {
    20.0 * rms.max(1e-9).log10()
}

/// The 20 ms frames where `speech` is talking: within 30 dB of its loudest frame.
pub fn active_frames(speech: &[f32]) -> Vec<bool> {
    frames_within(speech, 30.0)
}

/// The 20 ms frames of `signal` within `range_db` of its loudest frame.
pub fn frames_within(signal: &[f32], range_db: f32) -> Vec<bool> {
    let levels: Vec<f32> = signal.chunks(960).map(rms_of).collect();
    let loudest = levels.iter().copied().fold(0.0, f32::max);
    levels.iter().map(|&l| l > loudest * 10f32.powf(-range_db / 20.0)).collect()
}

/// RMS of `signal` over the 20 ms frames `which` marks (and `from` on).
pub fn rms_where(signal: &[f32], which: &[bool], from_frame: usize) -> f32 {
    let (mut sum, mut count) = (0.0f32, 0usize);
    for (index, frame) in signal.chunks(960).enumerate().skip(from_frame) {
        if which.get(index).copied().unwrap_or(false) {
            sum += frame.iter().map(|s| s * s).sum::<f32>();
            count += frame.len();
        }
    }
    (sum / count.max(1) as f32).sqrt()
}
