//! Playback of several remote speakers: Opus packets arrive in real time into
//! each speaker's jitter buffer; the playback thread decodes, mixes and hands
//! the mix to a sink. Both voices are in the mix, each speaker's level drives
//! the speaking indicator, and deafen silences the output.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use concord_media::audio_codec::{AudioEncoder, FRAME_SAMPLES, SAMPLE_RATE};
use concord_media::devices::AudioSink;
use concord_media::jitter::JitterBuffer;
use concord_media::playback::Playback;
use concord_media::synthetic::{rms, ToneGenerator};

struct Recorder(Arc<Mutex<Vec<f32>>>);

impl AudioSink for Recorder {
    fn play(&mut self, frame: &[f32]) {
        self.0.lock().unwrap().extend_from_slice(frame);
    }
}

/// Power of one frequency in a signal (Goertzel), normalised by length.
fn power_at(samples: &[f32], hz: f32) -> f32 {
    let w = 2.0 * std::f32::consts::PI * hz / SAMPLE_RATE as f32;
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &x in samples {
        let s = x + 2.0 * w.cos() * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    (s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2) / (samples.len() as f32).powi(2)
}

/// Feeds a speaker's jitter buffer one Opus packet every 20 ms, like the network would.
fn speak(buffer: Arc<Mutex<JitterBuffer>>, mut tone: ToneGenerator, amplitude: f32, stop: Arc<AtomicBool>) {
    std::thread::Builder::new()
        .name("test-speaker".into())
        .spawn(move || {
            let mut encoder = AudioEncoder::new(32_000).unwrap();
            let mut frame = vec![0.0f32; FRAME_SAMPLES];
            let mut next = Instant::now();
            let mut seq: u16 = 1000;
            while !stop.load(Ordering::Relaxed) {
                tone.fill(&mut frame);
                frame.iter_mut().for_each(|s| *s *= amplitude);
                let packet = encoder.encode(&frame).unwrap();
                buffer.lock().unwrap().push(Instant::now(), seq, packet);
                seq = seq.wrapping_add(1);
                next += Duration::from_millis(20);
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
        })
        .unwrap();
}

#[test]
fn two_speakers_are_mixed_levelled_and_deafen_silences_them() {
    let recorded = Arc::new(Mutex::new(Vec::new()));
    let playback = Playback::start(Box::new(Recorder(Arc::clone(&recorded)))).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (ada, bob) = (
        Arc::new(Mutex::new(JitterBuffer::new(Duration::from_millis(40)))),
        Arc::new(Mutex::new(JitterBuffer::new(Duration::from_millis(40)))),
    );
    playback.add_speaker("ada".into(), Arc::clone(&ada)).unwrap();
    playback.add_speaker("bob".into(), Arc::clone(&bob)).unwrap();
    speak(ada, ToneGenerator::continuous(440.0, 1.0), 0.3, Arc::clone(&stop));
    speak(bob, ToneGenerator::continuous(1000.0, 1.0), 0.0, Arc::clone(&stop));

    std::thread::sleep(Duration::from_millis(800));
    let levels = playback.levels();
    let level = |id: &str| levels.iter().find(|l| l.id == id).unwrap().clone();
    assert!(level("ada").speaking, "ada's tone should light her ring: {levels:?}");
    assert!(!level("bob").speaking, "bob is silent: {levels:?}");

    // Both voices in the mix: bob starts speaking too.
    playback.remove_speaker("bob");
    let carol = Arc::new(Mutex::new(JitterBuffer::new(Duration::from_millis(40))));
    playback.add_speaker("carol".into(), Arc::clone(&carol)).unwrap();
    speak(carol, ToneGenerator::continuous(1000.0, 1.0), 0.3, Arc::clone(&stop));
    std::thread::sleep(Duration::from_millis(600));
    let mixed: Vec<f32> = {
        let all = recorded.lock().unwrap();
        all[all.len() - SAMPLE_RATE as usize / 5..].to_vec()
    };
    let (at_440, at_1000, at_700) =
        (power_at(&mixed, 440.0), power_at(&mixed, 1000.0), power_at(&mixed, 700.0));
    assert!(
        at_440 > 50.0 * at_700 && at_1000 > 50.0 * at_700,
        "440: {at_440}, 1000: {at_1000}, 700: {at_700}"
    );
    assert_eq!(playback.levels().iter().filter(|l| l.speaking).count(), 2);

    // Deafen: nothing comes out, though both still speak.
    playback.set_deafened(true);
    std::thread::sleep(Duration::from_millis(200));
    let before = recorded.lock().unwrap().len();
    std::thread::sleep(Duration::from_millis(300));
    let deafened: Vec<f32> = recorded.lock().unwrap()[before..].to_vec();
    assert!(deafened.len() >= FRAME_SAMPLES * 10, "playback keeps ticking while deafened");
    assert_eq!(rms(&deafened), 0.0);
    assert_eq!(playback.levels().iter().filter(|l| l.speaking).count(), 2, "levels still show who speaks");
    stop.store(true, Ordering::Relaxed);
}
