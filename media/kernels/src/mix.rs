//! Mixing the voices of a call into one speaker signal.

/// Adds one voice to the mix.
pub fn mix_into(mix: &mut [f32], voice: &[f32]) {
    for (out, sample) in mix.iter_mut().zip(voice) {
        *out += sample;
    }
}

/// Keeps a mix of several loud speakers inside [-1, 1] without hard clipping
/// the common case: linear below 0.75, a smooth knee above.
pub fn soft_clip(mix: &mut [f32]) {
    for sample in mix {
        let magnitude = sample.abs();
        if magnitude > 0.75 {
            let over = magnitude - 0.75;
            *sample = sample.signum() * (0.75 + 0.25 * (over / (over + 0.25)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_speakers_add_up_and_stay_inside_full_scale() {
        let mut mix = vec![0.0; 4];
        mix_into(&mut mix, &[0.1, 0.5, -0.9, 0.0]);
        mix_into(&mut mix, &[0.1, 0.5, -0.9, 0.3]);
        soft_clip(&mut mix);
        assert!((mix[0] - 0.2).abs() < 1e-6, "quiet mixes are untouched");
        assert!(mix[1] > 0.75 && mix[1] < 1.0);
        assert!(mix[2] < -0.75 && mix[2] > -1.0);
        assert!((mix[3] - 0.3).abs() < 1e-6);
    }
}
