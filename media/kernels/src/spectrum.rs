//! What a stretch of audio holds: its strongest frequencies with their
//! levels (averaged spectra, Hann windows), and its level in dBFS. The bot
//! reports received audio's peaks with these; the voice tests measure echo,
//! noise and gain with them.

use realfft::RealFftPlanner;

/// Samples per analysis window (at 48 kHz: 170 ms, bins 5.9 Hz apart).
const WINDOW: usize = 8192;
/// Bins on each side of a peak that belong to it (the Hann window's main
/// lobe is two bins either side).
const LOBE: usize = 2;
/// A peak is the strongest bin within this many bins on each side (~18 Hz).
const NEIGHBOURHOOD: usize = 3;

/// One strong frequency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Peak {
    /// Where, in Hz.
    pub hz: f32,
    /// How strong: the level of a sine of this strength, in dB relative to
    /// a full-scale sine.
    pub dbfs: f32,
}

/// The strongest frequencies of `samples`, strongest first: at most `max`
/// of them, none more than `range_db` below the strongest. Empty for
/// silence or less than one window of audio.
pub fn peaks(samples: &[f32], sample_rate: u32, max: usize, range_db: f32) -> Vec<Peak> {
    let Some(power) = average_power(samples) else { return Vec::new() };
    let window_energy: f32 = hann().iter().map(|w| w * w).sum();
    let bin_hz = sample_rate as f32 / WINDOW as f32;
    // A sine of amplitude A puts A²·N·Σw²/4 into its main lobe (one side).
    let level_of = |bin: usize| {
        let lobe: f32 = power[bin.saturating_sub(LOBE)..=(bin + LOBE).min(power.len() - 1)].iter().sum();
        let amplitude_squared = 4.0 * lobe / (WINDOW as f32 * window_energy);
        10.0 * amplitude_squared.max(1e-20).log10()
    };
    let mut found: Vec<Peak> = (1..power.len() - 1)
        .filter(|&bin| {
            let from = bin.saturating_sub(NEIGHBOURHOOD);
            let to = (bin + NEIGHBOURHOOD).min(power.len() - 1);
            power[bin] > 0.0 && (from..=to).all(|other| other == bin || power[other] < power[bin])
        })
        .map(|bin| {
            // Parabolic interpolation between the neighbours (on a log scale).
            let (left, centre, right) =
                (power[bin - 1].max(1e-30).ln(), power[bin].ln(), power[bin + 1].max(1e-30).ln());
            let denominator = left - 2.0 * centre + right;
            let offset = if denominator.abs() > 1e-12 { 0.5 * (left - right) / denominator } else { 0.0 };
            Peak { hz: (bin as f32 + offset.clamp(-0.5, 0.5)) * bin_hz, dbfs: level_of(bin) }
        })
        .collect();
    found.sort_by(|a, b| b.dbfs.total_cmp(&a.dbfs));
    let Some(strongest) = found.first().map(|p| p.dbfs) else { return found };
    found.retain(|p| p.dbfs >= strongest - range_db);
    found.truncate(max);
    found
}

/// The level near `hz` in `peaks` (within 15 Hz), if a peak is there.
pub fn peak_near(peaks: &[Peak], hz: f32) -> Option<f32> {
    peaks.iter().find(|p| (p.hz - hz).abs() <= 15.0).map(|p| p.dbfs)
}

/// The RMS level of `samples` in dBFS (a full-scale sine is −3 dBFS; silence −120).
pub fn rms_dbfs(samples: &[f32]) -> f32 {
    if samples.is_empty() {
        return -120.0;
    }
    let mean_square =
        samples.iter().map(|s| f64::from(*s) * f64::from(*s)).sum::<f64>() / samples.len() as f64;
    (10.0 * mean_square.max(1e-12).log10()) as f32
}

fn hann() -> Vec<f32> {
    (0..WINDOW).map(|i| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / WINDOW as f32).cos()).collect()
}

/// Welch's average of |X|² over half-overlapping Hann windows.
fn average_power(samples: &[f32]) -> Option<Vec<f32>> {
    if samples.len() < WINDOW {
        return None;
    }
    let fft = RealFftPlanner::<f32>::new().plan_fft_forward(WINDOW);
    let window = hann();
    let mut input = fft.make_input_vec();
    let mut output = fft.make_output_vec();
    let mut power = vec![0.0f32; output.len()];
    let mut windows = 0;
    for start in (0..=samples.len() - WINDOW).step_by(WINDOW / 2) {
        for ((x, &s), &w) in input.iter_mut().zip(&samples[start..start + WINDOW]).zip(&window) {
            *x = s * w;
        }
        fft.process(&mut input, &mut output).ok()?;
        for (p, x) in power.iter_mut().zip(&output) {
            *p += x.norm_sqr();
        }
        windows += 1;
    }
    power.iter_mut().for_each(|p| *p /= windows as f32);
    Some(power)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(hz: f32, amplitude: f32, seconds: f32) -> Vec<f32> {
        (0..(48_000.0 * seconds) as usize)
            .map(|i| amplitude * (2.0 * std::f32::consts::PI * hz * i as f32 / 48_000.0).sin())
            .collect()
    }

    #[test]
    fn two_tones_are_found_at_their_frequencies_and_levels() {
        let loud = sine(660.0, 0.5, 2.0);
        let quiet = sine(440.0, 0.05, 2.0);
        let mixed: Vec<f32> = loud.iter().zip(&quiet).map(|(a, b)| a + b).collect();
        let found = peaks(&mixed, 48_000, 8, 60.0);
        assert!(found.len() >= 2, "{found:?}");
        assert!((found[0].hz - 660.0).abs() < 2.0 && (found[0].dbfs + 6.02).abs() < 0.5, "{found:?}");
        let quiet_level = peak_near(&found, 440.0).expect("440 Hz found");
        assert!((quiet_level + 26.02).abs() < 0.5, "{found:?}");
        assert!(peak_near(&found, 1000.0).is_none());
    }

    #[test]
    fn silence_and_short_audio_have_no_peaks() {
        assert!(peaks(&[0.0; 48_000], 48_000, 8, 60.0).is_empty());
        assert!(peaks(&sine(440.0, 0.5, 0.1), 48_000, 8, 60.0).is_empty());
        assert_eq!(rms_dbfs(&[]), -120.0);
        assert!((rms_dbfs(&sine(440.0, 1.0, 1.0)) + 3.01).abs() < 0.05);
    }
}
