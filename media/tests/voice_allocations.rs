//! What the voice processing chain allocates per frame, counted over 10 s
//! of frames after a warm-up on the test's own thread (`allocation-counter`
//! counts per thread: libtest's main thread goes on allocating just after
//! it spawns the test, and a process-wide count read 4 of its allocations
//! as the chain's once in CI).
//!
//! Our part allocates nothing: the reference ring, the 10 ms framing, the
//! RNNoise stage and its scaling. `sonora` itself does allocate small,
//! short-lived buffers per frame (measured with 0.2.0: AEC3 81, AGC2 24,
//! NS 2 per 20 ms frame); this runs on the microphone's thread, after the
//! lock-free ring, never in the device's real-time callback, so an
//! allocation delays a send by microseconds and cannot glitch the device.
//! docs/ARCHITECTURE.md ("Voice processing") keeps the figures.

#![allow(clippy::unwrap_used)]

use concord_media::synthetic::ToneGenerator;
use concord_media::voice::{self, NoiseFilter, VoiceProcessor, VoiceSettings};

/// Allocations while 500 frames (10 s) go through a chain with `settings`,
/// its reference ring fed as Playback feeds it, after 100 frames of warm-up
/// (a reallocation counts as an allocation).
fn allocations_per_10_s(settings: VoiceSettings) -> u64 {
    let (mut tap, reference) = voice::echo_reference();
    let mut processor = VoiceProcessor::new(settings, Some(&reference));
    let mut far = ToneGenerator::continuous(440.0, 0.3);
    let mut near = ToneGenerator::continuous(660.0, 0.1);
    let (mut played, mut mic) = (vec![0.0f32; 960], vec![0.0f32; 960]);
    let mut frames = |count: usize| {
        for _ in 0..count {
            // Continuous tones have no onsets: an empty Vec, no allocation.
            let _ = far.fill(&mut played);
            let _ = near.fill(&mut mic);
            for (m, p) in mic.iter_mut().zip(&played) {
                *m += 0.5 * p;
            }
            tap.push(&played);
            processor.process(&mut mic);
        }
    };
    frames(100);
    allocation_counter::measure(|| frames(500)).count_total
}

#[test]
fn the_chain_around_sonora_and_the_rnnoise_stage_allocate_nothing_per_frame() {
    assert_eq!(allocations_per_10_s(VoiceSettings::OFF), 0, "the chain with every stage off");
    for echo_cancellation in [false, true] {
        let standard = VoiceSettings { echo_cancellation, noise: NoiseFilter::Standard, gain_control: true };
        let strong = VoiceSettings { noise: NoiseFilter::Strong, ..standard };
        let (with_standard, with_strong) = (allocations_per_10_s(standard), allocations_per_10_s(strong));
        println!("{standard:?}: {with_standard} allocations in 10 s, with RNNoise on top {with_strong}");
        assert_eq!(with_strong, with_standard, "RNNoise on top of {standard:?} allocated per frame");
    }
}
