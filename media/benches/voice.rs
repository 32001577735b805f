//! What voice processing costs per call: each stage alone and the whole
//! chain on 10 s of speech (espeak-ng) with its echo through a simulated
//! room, in microseconds per 10 ms frame and as a share of one core.
//!
//! `cargo bench -p concord-media --bench voice` (figures: docs/BENCHMARKS.md).

#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../tests/support/speech.rs"]
mod speech;

use std::time::{Duration, Instant};

use concord_media::voice::{self, EchoPath, NoiseFilter, SimulatedRoom, VoiceProcessor, VoiceSettings};

const FRAME: usize = 960;

fn main() {
    let talk = speech::far_talker();
    let far: Vec<f32> = talk.iter().chain(&talk).copied().take(10 * 48_000).collect();
    let near = speech::noise(speech::Noise::Pink, 10.0, 0.02);
    let off = VoiceSettings::OFF;
    let stages = [
        ("echo cancellation (AEC3)", VoiceSettings { echo_cancellation: true, ..off }),
        ("noise suppression (Standard)", VoiceSettings { noise: NoiseFilter::Standard, ..off }),
        (
            "noise suppression (Strong: Standard + RNNoise)",
            VoiceSettings { noise: NoiseFilter::Strong, ..off },
        ),
        ("gain control (AGC2)", VoiceSettings { gain_control: true, ..off }),
        ("all three (the default)", VoiceSettings::default()),
        (
            "all three, Strong noise filter",
            VoiceSettings { noise: NoiseFilter::Strong, ..VoiceSettings::default() },
        ),
    ];
    println!("{:<48} {:>14} {:>12}", "stage", "µs / 10 ms", "% of a core");
    for (name, settings) in stages {
        let mut best = Duration::MAX;
        for _ in 0..3 {
            best = best.min(run(&far, &near, settings));
        }
        let frames = (far.len() / 480) as f64;
        let micros = best.as_secs_f64() * 1e6 / frames;
        println!("{name:<48} {micros:>14.1} {:>11.2}%", micros / 10_000.0 * 100.0);
    }
}

/// The processor's time on the whole input (the room and the copying excluded).
fn run(far: &[f32], near: &[f32], settings: VoiceSettings) -> Duration {
    let (mut tap, reference) = voice::echo_reference();
    let mut processor = VoiceProcessor::new(settings, Some(&reference));
    let mut room = SimulatedRoom::new(EchoPath { delay: Duration::from_millis(60), gain_db: -6.0 });
    let mut spent = Duration::ZERO;
    let mut mic = vec![0.0f32; FRAME];
    for (played, spoken) in far.chunks_exact(FRAME).zip(near.chunks_exact(FRAME)) {
        room.play(played);
        mic.copy_from_slice(spoken);
        room.hear(&mut mic);
        let started = Instant::now();
        tap.push(played);
        processor.process(&mut mic);
        spent += started.elapsed();
    }
    spent
}
