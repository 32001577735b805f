//! "Let me hear myself" (Settings → Voice): the microphone through the whole
//! chain a call sends it through — voice processing, the transmit gate, Opus
//! with DTX — and straight back out of the speaker through the jitter buffer
//! and the mixer, as the others in a call would hear it. What the speaker
//! plays is the echo canceller's reference, as in a call, so laptop speakers
//! do not howl.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{echo_reference, process_source, GatedSource, VoiceControl, VoiceSettings};
use crate::audio_codec::{AudioEncoder, DTX_PACKET_MAX, FRAME_SAMPLES};
use crate::jitter::JitterBuffer;
use crate::playback::Playback;
use crate::send::{pace, spawn};
use crate::source::{AudioSink, AudioSource};
use crate::Result;

/// The loopback's one speaker in the mix.
const ME: &str = "me";
/// The jitter buffer's range: as a call's, so the delay heard is a call's too.
const MIN_DELAY: Duration = Duration::from_millis(20);
const MAX_DELAY: Duration = Duration::from_millis(200);

/// A running microphone check; stops when dropped.
pub struct MicCheck {
    stop: Arc<AtomicBool>,
    ended: Arc<Mutex<Option<String>>>,
    thread: Option<JoinHandle<()>>,
    playback: Playback,
}

impl MicCheck {
    /// Starts playing `microphone`, processed with `settings` and gated by
    /// `control`, into `speaker`. `control` keeps reporting the level.
    pub fn start(
        microphone: Box<dyn AudioSource>,
        speaker: Box<dyn AudioSink>,
        settings: VoiceSettings,
        control: VoiceControl,
    ) -> Result<Self> {
        let (tap, reference) = echo_reference();
        let playback = Playback::start(speaker, Some(tap))?;
        let jitter = Arc::new(Mutex::new(JitterBuffer::adaptive(MIN_DELAY, MAX_DELAY)));
        playback.add_speaker(ME.to_owned(), Arc::clone(&jitter))?;
        let mut encoder = AudioEncoder::new(32_000)?;
        let mut source = GatedSource::new(process_source(microphone, settings, Some(&reference)), control);
        let stop = Arc::new(AtomicBool::new(false));
        let ended = Arc::new(Mutex::new(None));
        let thread = {
            let (stop, ended) = (Arc::clone(&stop), Arc::clone(&ended));
            spawn("concord-mic-check".into(), move || {
                let mut frame = vec![0.0f32; FRAME_SAMPLES];
                let mut next = Instant::now();
                let mut seq = 0u16;
                while !stop.load(Ordering::Relaxed) {
                    if !source.is_realtime() {
                        pace(&mut next, Duration::from_millis(20));
                    }
                    if let Err(error) = source.read_frame(&mut frame) {
                        *ended.lock().unwrap_or_else(PoisonError::into_inner) = Some(error.to_string());
                        break;
                    }
                    // As a call sends it: what DTX leaves out is not sent at
                    // all (the next packet sent takes the next number).
                    match encoder.encode(&frame) {
                        Ok(packet) if packet.len() > DTX_PACKET_MAX => {
                            jitter.lock().unwrap_or_else(PoisonError::into_inner).push(
                                Instant::now(),
                                seq,
                                packet,
                            );
                            seq = seq.wrapping_add(1);
                        }
                        Ok(_) => {}
                        Err(error) => tracing::warn!(%error, "a microphone check frame could not be encoded"),
                    }
                }
            })?
        };
        Ok(Self { stop, ended, thread: Some(thread), playback })
    }

    /// Why the microphone stopped (unplugged, failed), once it has.
    pub fn ended(&self) -> Option<String> {
        self.ended.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// How loud I was played back since the last call, in dBFS (`None`:
    /// nothing played yet).
    pub fn heard_dbfs(&self) -> Option<f32> {
        self.playback.heard().into_iter().find(|(id, _)| id == ME).and_then(|(_, level)| level)
    }
}

impl Drop for MicCheck {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::ToneSource;
    use crate::spectrum;
    use crate::synthetic::ToneGenerator;
    use crate::voice::{InputMode, Sensitivity};

    /// A speaker that keeps what it plays.
    struct Recorder(Arc<Mutex<Vec<f32>>>);

    impl AudioSink for Recorder {
        fn play(&mut self, frame: &[f32]) {
            self.0.lock().unwrap_or_else(PoisonError::into_inner).extend_from_slice(frame);
        }
    }

    /// Polls `done` on what was played until it holds (5 s at most).
    fn wait_for(played: &Mutex<Vec<f32>>, what: &str, done: impl Fn(&[f32]) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !done(&played.lock().unwrap_or_else(PoisonError::into_inner)) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The level of the last 200 ms played after `from` samples, once there.
    fn last_200_ms(played: &[f32], from: usize) -> Option<f32> {
        let window = 48_000 / 5;
        (played.len() >= from + window).then(|| spectrum::rms_dbfs(&played[played.len() - window..]))
    }

    #[test]
    fn what_i_say_comes_back_out_of_the_speaker_only_while_the_key_is_held() {
        let played = Arc::new(Mutex::new(Vec::new()));
        let control = VoiceControl::default();
        control.set_mode(InputMode::PushToTalk, Sensitivity::Automatic);
        let voice = ToneSource::new(ToneGenerator::continuous(440.0, 0.3));
        let speaker = Recorder(Arc::clone(&played));
        let check = MicCheck::start(Box::new(voice), Box::new(speaker), VoiceSettings::OFF, control.clone())
            .expect("starts");

        // The key is up: the meter shows my voice, the speaker plays nothing.
        wait_for(&played, "half a second played", |p| p.len() >= 24_000);
        let (level, _, sending) = control.reading();
        assert!(!sending && (level + 13.5).abs() < 0.5, "the meter reads the tone: {level} dBFS");
        let silent = spectrum::rms_dbfs(&played.lock().unwrap_or_else(PoisonError::into_inner));
        assert!(silent < -60.0, "the key is up, yet the speaker played {silent} dBFS");

        // Held: the tone comes back through Opus and the jitter buffer.
        control.push_to_talk(true);
        let from = played.lock().unwrap_or_else(PoisonError::into_inner).len();
        wait_for(&played, "my voice played back", |p| last_200_ms(p, from).is_some_and(|db| db > -20.0));
        let heard = played.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let peaks = spectrum::peaks(&heard[heard.len() - 9_600..], 48_000, 3, 40.0);
        assert!((peaks[0].hz - 440.0).abs() < 5.0, "{peaks:?}");
        assert!(check.heard_dbfs().is_some_and(|db| db > -30.0), "{:?}", check.heard_dbfs());

        // Let go: after the release delay, silence again.
        control.push_to_talk(false);
        let from = played.lock().unwrap_or_else(PoisonError::into_inner).len();
        wait_for(&played, "silence after letting go", |p| last_200_ms(p, from).is_some_and(|db| db < -60.0));
        assert_eq!(check.ended(), None);
    }

    #[test]
    fn a_microphone_that_fails_says_why() {
        struct Unplugged;
        impl AudioSource for Unplugged {
            fn name(&self) -> String {
                "USB headset".into()
            }
            fn read_frame(&mut self, _frame: &mut [f32]) -> Result<()> {
                Err(crate::MediaError::unavailable(crate::DeviceKind::Microphone, "the device was unplugged"))
            }
            fn is_realtime(&self) -> bool {
                false
            }
        }
        let speaker = Recorder(Arc::default());
        let check = MicCheck::start(
            Box::new(Unplugged),
            Box::new(speaker),
            VoiceSettings::default(),
            VoiceControl::default(),
        )
        .expect("starts");
        let deadline = Instant::now() + Duration::from_secs(5);
        while check.ended().is_none() {
            assert!(Instant::now() < deadline, "the failure was not reported");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(check.ended().is_some_and(|why| why.contains("unplugged")), "{:?}", check.ended());
    }
}
