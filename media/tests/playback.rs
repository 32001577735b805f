//! Playback of several remote speakers, on a simulated clock: Opus packets
//! "arrive" every 20 ms into each speaker's jitter buffer and the mixer ticks
//! every 20 ms, with no wall-clock sleep anywhere. Both voices are in the
//! mix, each speaker's level drives the speaking indicator, a speaker who
//! leaves leaves the mix, and deafen silences the output while the levels
//! keep showing who speaks. A last test checks that the real playback thread
//! delivers frames to its sink.

#![allow(clippy::unwrap_used)]

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use concord_media::audio_codec::{AudioEncoder, FRAME_SAMPLES, SAMPLE_RATE};
use concord_media::jitter::JitterBuffer;
use concord_media::playback::{Mixer, Playback};
use concord_media::source::AudioSink;
use concord_media::synthetic::{rms, ToneGenerator};

const TICK: Duration = Duration::from_millis(20);

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

/// One remote speaker: a tone, an encoder, and the jitter buffer packets land in.
struct Voice {
    jitter: Arc<Mutex<JitterBuffer>>,
    encoder: AudioEncoder,
    tone: ToneGenerator,
    amplitude: f32,
    seq: u16,
}

impl Voice {
    fn new(hz: f32, amplitude: f32) -> Self {
        Self {
            jitter: Arc::new(Mutex::new(JitterBuffer::new(Duration::from_millis(40)))),
            encoder: AudioEncoder::new(32_000).unwrap(),
            tone: ToneGenerator::continuous(hz, 1.0),
            amplitude,
            seq: 1000,
        }
    }

    /// The packet for the next 20 ms arrives at `now`.
    fn speak(&mut self, now: Instant) {
        let mut frame = vec![0.0f32; FRAME_SAMPLES];
        self.tone.fill(&mut frame);
        frame.iter_mut().for_each(|s| *s *= self.amplitude);
        let packet = self.encoder.encode(&frame).unwrap();
        self.jitter.lock().unwrap().push(now, self.seq, packet);
        self.seq = self.seq.wrapping_add(1);
    }
}

/// Runs `ticks` 20 ms steps from `clock`: every voice sends, then the mixer
/// plays one frame; returns what it played.
fn run(mixer: &mut Mixer, voices: &mut [&mut Voice], clock: &mut Instant, ticks: usize) -> Vec<f32> {
    let mut played = Vec::with_capacity(ticks * FRAME_SAMPLES);
    let mut mix = vec![0.0f32; FRAME_SAMPLES];
    for _ in 0..ticks {
        for voice in voices.iter_mut() {
            voice.speak(*clock);
        }
        mixer.tick(*clock, &mut mix);
        played.extend_from_slice(&mix);
        *clock += TICK;
    }
    played
}

#[test]
fn two_speakers_are_mixed_levelled_and_deafen_silences_them() {
    let mut clock = Instant::now();
    let mut mixer = Mixer::default();
    let (mut ada, mut bob) = (Voice::new(440.0, 0.3), Voice::new(1000.0, 0.0));
    mixer.add_speaker("ada".into(), ada.jitter.clone()).unwrap();
    mixer.add_speaker("bob".into(), bob.jitter.clone()).unwrap();

    // 0.8 s of Ada speaking and Bob silent.
    let played = run(&mut mixer, &mut [&mut ada, &mut bob], &mut clock, 40);
    let levels = mixer.levels();
    let level = |id: &str| levels.iter().find(|l| l.id == id).unwrap().clone();
    assert!(level("ada").speaking, "ada's tone should light her ring: {levels:?}");
    assert!(!level("bob").speaking, "bob is silent: {levels:?}");
    let last = &played[played.len() - SAMPLE_RATE as usize / 5..];
    assert!(power_at(last, 440.0) > 50.0 * power_at(last, 1000.0), "only ada is heard");

    // Bob leaves, Carol speaks too: both voices in the mix.
    mixer.remove_speaker("bob");
    let mut carol = Voice::new(1000.0, 0.3);
    mixer.add_speaker("carol".into(), carol.jitter.clone()).unwrap();
    let played = run(&mut mixer, &mut [&mut ada, &mut carol], &mut clock, 30);
    let mixed = &played[played.len() - SAMPLE_RATE as usize / 5..];
    let (at_440, at_1000, at_700) = (power_at(mixed, 440.0), power_at(mixed, 1000.0), power_at(mixed, 700.0));
    assert!(
        at_440 > 50.0 * at_700 && at_1000 > 50.0 * at_700,
        "440: {at_440}, 1000: {at_1000}, 700: {at_700}"
    );
    assert_eq!(mixer.levels().iter().filter(|l| l.speaking).count(), 2);
    assert!(mixer.levels().iter().all(|l| l.id != "bob"), "bob left the mix");

    // Deafen: every tick plays silence, though both still speak.
    mixer.set_deafened(true);
    let deafened = run(&mut mixer, &mut [&mut ada, &mut carol], &mut clock, 15);
    assert_eq!(deafened.len(), FRAME_SAMPLES * 15, "playback keeps ticking while deafened");
    assert_eq!(rms(&deafened), 0.0);
    assert_eq!(mixer.levels().iter().filter(|l| l.speaking).count(), 2, "levels still show who speaks");

    // Un-deafen: the voices are back on the very next ticks (buffers kept draining).
    mixer.set_deafened(false);
    let back = run(&mut mixer, &mut [&mut ada, &mut carol], &mut clock, 5);
    assert!(rms(&back) > 0.05, "rms after un-deafen: {}", rms(&back));
}

struct Frames(mpsc::Sender<usize>);

impl AudioSink for Frames {
    fn play(&mut self, frame: &[f32]) {
        let _ = self.0.send(frame.len());
    }
}

#[test]
fn the_playback_thread_hands_a_frame_to_its_sink_every_tick() {
    let (tx, frames) = mpsc::channel();
    let playback = Playback::start(Box::new(Frames(tx)), None).unwrap();
    for _ in 0..5 {
        let len = frames.recv_timeout(Duration::from_secs(5)).expect("a frame within 5 s");
        assert_eq!(len, FRAME_SAMPLES);
    }
    drop(playback);
}

/// At 5 % random loss, in-band FEC leaves at least 60 % fewer frames to
/// packet-loss concealment than playing the same packets without it: the
/// frame after a lost one usually carries it (issue #23).
#[test]
fn at_5_percent_random_loss_fec_leaves_60_percent_fewer_frames_concealed() {
    use concord_media::source::{AudioSource, SpeechLikeSource};
    use rand::{Rng, SeedableRng};

    let mut voice = SpeechLikeSource::new(440.0, 0.3);
    let mut encoder = AudioEncoder::new(32_000).unwrap();
    let mut frame = vec![0.0f32; FRAME_SAMPLES];
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let sent: Vec<(bytes::Bytes, bool)> = (0..1500)
        .map(|_| {
            voice.read_frame(&mut frame).unwrap();
            (encoder.encode(&frame).unwrap(), rng.random_range(0..100) < 5)
        })
        .collect();
    let lost = sent.iter().filter(|(_, lost)| *lost).count();
    let mut concealed = Vec::new();
    for use_fec in [true, false] {
        let jitter = Arc::new(Mutex::new(JitterBuffer::new(Duration::from_millis(40))));
        let mut mixer = Mixer::default();
        mixer.set_fec(use_fec);
        mixer.add_speaker("voice".into(), Arc::clone(&jitter)).unwrap();
        let mut clock = Instant::now();
        let mut mix = vec![0.0f32; FRAME_SAMPLES];
        for (seq, (packet, lost)) in sent.iter().enumerate() {
            if !lost {
                jitter.lock().unwrap().push(clock, seq as u16, packet.clone());
            }
            mixer.tick(clock, &mut mix);
            clock += TICK;
        }
        let losses = mixer.losses();
        println!("FEC {use_fec}: {lost} lost, {losses:?}");
        assert!(losses.recovered + losses.concealed >= lost as u64 - 2, "{losses:?}");
        concealed.push(losses.concealed);
    }
    let (with_fec, without) = (concealed[0] as f64, concealed[1] as f64);
    assert!(without >= 50.0, "5 % of 1500 frames concealed without FEC: {without}");
    assert!(with_fec <= 0.4 * without, "with FEC {with_fec} concealed, without {without}");
}

/// My volume for one speaker: at 50 % what is mixed of them is 6 dB down,
/// muted for me it is silent, while the other speaker stays as sent and
/// the muted one's speaking level still shows.
#[test]
fn a_speakers_volume_scales_only_them_and_muting_for_me_silences_them() {
    let mut mixer = Mixer::default();
    let mut a = Voice::new(440.0, 0.2);
    let mut b = Voice::new(660.0, 0.2);
    mixer.add_speaker("a".into(), Arc::clone(&a.jitter)).unwrap();
    mixer.add_speaker("b".into(), Arc::clone(&b.jitter)).unwrap();
    let mut clock = Instant::now();
    let heard = |mixer: &mut Mixer, id: &str| {
        let levels = mixer.heard();
        levels.into_iter().find(|(who, _)| who == id).and_then(|(_, level)| level).unwrap()
    };
    run(&mut mixer, &mut [&mut a, &mut b], &mut clock, 50);
    let _ = mixer.heard();
    run(&mut mixer, &mut [&mut a, &mut b], &mut clock, 50);
    let full = mixer.heard();
    let level_of = |levels: &[(String, Option<f32>)], id: &str| {
        levels.iter().find(|(who, _)| who == id).and_then(|(_, level)| *level).unwrap()
    };
    let (a_full, b_full) = (level_of(&full, "a"), level_of(&full, "b"));
    mixer.set_gain("a", 0.5);
    run(&mut mixer, &mut [&mut a, &mut b], &mut clock, 50);
    let half = mixer.heard();
    let drop_db = 20.0 * (level_of(&half, "a") / a_full).log10();
    assert!((drop_db + 6.02).abs() < 0.5, "50 %: {drop_db} dB");
    assert!((level_of(&half, "b") / b_full - 1.0).abs() < 0.05, "the other speaker is untouched");
    mixer.set_gain("a", 0.0);
    run(&mut mixer, &mut [&mut a, &mut b], &mut clock, 50);
    assert_eq!(heard(&mut mixer, "a"), 0.0, "muted for me");
    let a_level = mixer.levels().into_iter().find(|l| l.id == "a").unwrap();
    assert!(a_level.speaking, "their speaking ring still shows: {a_level:?}");
}
