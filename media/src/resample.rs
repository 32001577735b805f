//! Sample-rate conversion for mono audio streams (a 44.1 kHz microphone to
//! Opus's 48 kHz and back to the speaker's rate), with rubato's FFT
//! resampler: band-limited, fixed ratio, 10 ms chunks. Equal rates pass
//! through untouched.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

use crate::{MediaError, Result};

/// Converts a continuous mono stream from one rate to another, chunk by
/// chunk; input that does not fill a chunk waits for the next push.
pub struct StreamResampler {
    fft: Option<Fft<f32>>,
    input: Vec<f32>,
    output: Vec<f32>,
}

impl StreamResampler {
    /// A converter from `from` Hz to `to` Hz.
    pub fn new(from: u32, to: u32) -> Result<Self> {
        if from == to {
            return Ok(Self { fft: None, input: Vec::new(), output: Vec::new() });
        }
        let error = |reason: String| MediaError::Resample { from, to, reason };
        if from == 0 || to == 0 {
            return Err(error("a rate of 0 Hz".into()));
        }
        let chunk = (from as usize / 100).max(1);
        let fft = Fft::<f32>::new(from as usize, to as usize, chunk, 1, FixedSync::Input)
            .map_err(|e| error(e.to_string()))?;
        let output = vec![0.0; fft.output_frames_max()];
        Ok(Self { input: Vec::with_capacity(fft.input_frames_max() * 4), output, fft: Some(fft) })
    }

    /// Whether samples go through unchanged (equal rates).
    pub fn is_passthrough(&self) -> bool {
        self.fft.is_none()
    }

    /// Feeds `input` and appends every converted sample ready so far to `out`.
    pub fn push(&mut self, input: &[f32], out: &mut impl Extend<f32>) {
        let Some(fft) = &mut self.fft else {
            out.extend(input.iter().copied());
            return;
        };
        self.input.extend_from_slice(input);
        let mut consumed = 0;
        loop {
            let needed = fft.input_frames_next();
            let available = &self.input[consumed..];
            if available.len() < needed {
                break;
            }
            let capacity = self.output.len();
            let (Ok(chunk_in), Ok(mut chunk_out)) = (
                InterleavedSlice::new(&available[..needed], 1, needed),
                InterleavedSlice::new_mut(&mut self.output, 1, capacity),
            ) else {
                break;
            };
            match fft.process_into_buffer(&chunk_in, &mut chunk_out, None) {
                Ok((read, written)) => {
                    out.extend(self.output[..written].iter().copied());
                    consumed += read.max(1);
                }
                Err(error) => {
                    tracing::warn!(%error, "resampling failed; a chunk of audio is dropped");
                    consumed += needed;
                }
            }
        }
        self.input.drain(..consumed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, hz: f32, seconds: f32) -> Vec<f32> {
        let n = (rate as f32 * seconds) as usize;
        (0..n).map(|i| (i as f32 / rate as f32 * hz * std::f32::consts::TAU).sin() * 0.5).collect()
    }

    /// Zero crossings going up, per second, over `samples` at `rate`.
    fn frequency(samples: &[f32], rate: u32) -> f32 {
        let rising = samples.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count();
        rising as f32 * rate as f32 / samples.len() as f32
    }

    #[test]
    fn equal_rates_pass_through() {
        let mut resampler = StreamResampler::new(48_000, 48_000).unwrap();
        assert!(resampler.is_passthrough());
        let mut out = Vec::new();
        resampler.push(&[0.1, 0.2, 0.3], &mut out);
        assert_eq!(out, vec![0.1, 0.2, 0.3]);
    }

    #[test]
    fn a_44100_tone_comes_out_at_48000_with_its_pitch_duration_and_level() {
        let mut resampler = StreamResampler::new(44_100, 48_000).unwrap();
        let input = sine(44_100, 1_000.0, 1.0);
        let mut out = Vec::new();
        // Odd-sized pushes, as a device delivers them.
        for piece in input.chunks(317) {
            resampler.push(piece, &mut out);
        }
        // One second in, one second out (less at most a chunk still waiting).
        assert!((47_000..=48_000).contains(&out.len()), "{}", out.len());
        let steady = &out[4_800..out.len() - 4_800];
        let hz = frequency(steady, 48_000);
        assert!((hz - 1_000.0).abs() < 5.0, "pitch {hz} Hz");
        let peak = steady.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        assert!((peak - 0.5).abs() < 0.02, "level {peak}");
    }

    #[test]
    fn downsampling_removes_tones_the_new_rate_cannot_carry() {
        // 20 kHz at 48 kHz is above 16 kHz's Nyquist (8 kHz): a linear
        // resampler folds it back as a loud 4 kHz tone; a filtered one removes it.
        let mut resampler = StreamResampler::new(48_000, 16_000).unwrap();
        let mut out = Vec::new();
        resampler.push(&sine(48_000, 20_000.0, 0.5), &mut out);
        let steady = &out[1_600..out.len() - 1_600];
        let peak = steady.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        assert!(peak < 0.05, "aliased energy left: peak {peak}");
    }

    #[test]
    fn a_zero_rate_is_a_typed_error() {
        assert!(matches!(StreamResampler::new(0, 48_000), Err(MediaError::Resample { from: 0, .. })));
    }
}
