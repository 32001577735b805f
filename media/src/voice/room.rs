//! A simulated room for the headless bot and the tests: what the "speaker"
//! plays comes back into the "microphone" delayed, attenuated and with a
//! short reverberant tail, as it does from laptop speakers.
//!
//! The bot's room is a full-duplex "sound card" ([`RoomMicrophone`]): every
//! microphone frame first plays one mixed frame (the mixer ticked on the
//! microphone's thread, the echo reference tapped just before the room), as
//! one device clock drives a real card's playback and capture. Two threads
//! ticking on their own would let a stall on a busy machine shift the echo
//! path by a whole frame now and then, which no real device does.

use std::collections::VecDeque;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::RenderTap;
use crate::audio_codec::SAMPLE_RATE;
use crate::playback::Mixer;
use crate::source::AudioSource;
use crate::Result;

/// Reflections after the direct echo: (delay after it in ms, level in dB
/// below it). A small room's first few walls.
const REFLECTIONS: [(u32, f32); 4] = [(7, -9.0), (13, -13.0), (23, -18.0), (37, -24.0)];
/// The longest reflection delay, in samples.
const TAIL: usize = 37 * SAMPLE_RATE as usize / 1000;
/// The most played audio the room keeps while nobody listens (2 s).
const MAX_QUEUED: usize = 2 * SAMPLE_RATE as usize;

/// How the room carries sound from the speaker to the microphone: the bot's
/// `--echo-path DELAY_MS:GAIN_DB`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EchoPath {
    /// From the speaker to the microphone.
    pub delay: Duration,
    /// The direct echo's level against what was played, in dB (negative: quieter).
    pub gain_db: f32,
}

impl FromStr for EchoPath {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        let bad = || format!("DELAY_MS:GAIN_DB expected (e.g. 60:-6), got {text:?}");
        let (delay, gain) = text.split_once(':').ok_or_else(bad)?;
        let delay_ms: u64 = delay.trim().parse().map_err(|_| bad())?;
        let gain_db: f32 = gain.trim().parse().map_err(|_| bad())?;
        if delay_ms > 1000 || !(-60.0..=0.0).contains(&gain_db) {
            return Err(format!("{text:?}: the delay is 0 to 1000 ms and the gain -60 to 0 dB"));
        }
        Ok(Self { delay: Duration::from_millis(delay_ms), gain_db })
    }
}

/// The air between the speaker and the microphone (see the module docs).
/// The speaker side plays into it, the microphone side hears from it; the
/// microphone's first frame lines the two up so the delay is the path's.
pub struct SimulatedRoom {
    delay_samples: usize,
    gain: f32,
    /// Each reflection: how many samples after the direct echo, and its factor.
    reflections: [(usize, f32); REFLECTIONS.len()],
    /// The last [`TAIL`] samples played and the current one, for the reflections.
    history: VecDeque<f32>,
    /// What reaches the microphone, oldest first.
    arriving: VecDeque<f32>,
    listening: bool,
}

impl SimulatedRoom {
    /// A room with this echo path.
    pub fn new(path: EchoPath) -> Self {
        let delay_samples = (path.delay.as_secs_f64() * f64::from(SAMPLE_RATE)) as usize;
        Self {
            delay_samples,
            gain: 10f32.powf(path.gain_db / 20.0),
            reflections: REFLECTIONS.map(|(delay_ms, level_db)| {
                (delay_ms as usize * SAMPLE_RATE as usize / 1000, 10f32.powf(level_db / 20.0))
            }),
            history: std::iter::repeat_n(0.0, TAIL + 1).collect(),
            arriving: VecDeque::with_capacity(MAX_QUEUED + delay_samples),
            listening: false,
        }
    }

    /// One frame leaves the speaker.
    pub fn play(&mut self, frame: &[f32]) {
        for &sample in frame {
            self.history.pop_front();
            self.history.push_back(sample);
            let mut echo = sample;
            for (back, factor) in self.reflections {
                echo += self.history[TAIL - back] * factor;
            }
            self.arriving.push_back(echo * self.gain);
        }
        let excess = self.arriving.len().saturating_sub(MAX_QUEUED + self.delay_samples);
        self.arriving.drain(..excess);
    }

    /// Adds what reaches the microphone during `frame` to it.
    pub fn hear(&mut self, frame: &mut [f32]) {
        // The frame just captured ends now; what was played now arrives
        // `delay` later: keep exactly `delay` of played audio in the air.
        let wanted = self.delay_samples + frame.len();
        // A stalled thread on either side (a busy machine) leaves more or less
        // than that in the air: line up again, so the path's delay stays its
        // own instead of wandering by whole frames.
        let off_by = self.arriving.len().abs_diff(wanted);
        if !self.listening || off_by > frame.len() / 2 {
            self.listening = true;
            let excess = self.arriving.len().saturating_sub(wanted);
            self.arriving.drain(..excess);
            while self.arriving.len() < wanted {
                self.arriving.push_front(0.0);
            }
        }
        for out in frame.iter_mut() {
            *out += self.arriving.pop_front().unwrap_or(0.0);
        }
    }
}

/// A source (the bot's tone: its "voice") picked up by a microphone in a
/// simulated room whose speaker plays `mixer`'s output: per frame, one mixed
/// frame is played (and tapped as the echo reference), then the microphone
/// hears the voice with the room's echo on top (see the module docs).
pub struct RoomMicrophone {
    voice: Box<dyn AudioSource>,
    speaker: Arc<Mutex<RoomSpeaker>>,
}

/// The playing half of a [`RoomMicrophone`]: the call's mix into the room.
/// Shared, so a microphone opened again plays on where the last one stopped.
pub struct RoomSpeaker {
    mixer: Arc<Mutex<Mixer>>,
    tap: RenderTap,
    room: SimulatedRoom,
    played: Vec<f32>,
}

impl RoomSpeaker {
    /// `mixer`'s output into a room with `path`, each frame also into `tap`.
    pub fn new(mixer: Arc<Mutex<Mixer>>, tap: RenderTap, path: EchoPath) -> Self {
        Self { mixer, tap, room: SimulatedRoom::new(path), played: Vec::new() }
    }
}

impl RoomMicrophone {
    /// `voice` heard in the room `speaker` plays into.
    pub fn new(voice: Box<dyn AudioSource>, speaker: Arc<Mutex<RoomSpeaker>>) -> Self {
        Self { voice, speaker }
    }
}

impl AudioSource for RoomMicrophone {
    fn name(&self) -> String {
        format!("{} in a simulated room", self.voice.name())
    }

    fn read_frame(&mut self, frame: &mut [f32]) -> Result<()> {
        self.voice.read_frame(frame)?;
        let mut speaker = self.speaker.lock().unwrap_or_else(PoisonError::into_inner);
        let RoomSpeaker { mixer, tap, room, played } = &mut *speaker;
        played.resize(frame.len(), 0.0);
        mixer.lock().unwrap_or_else(PoisonError::into_inner).tick(Instant::now(), played);
        tap.push(played);
        room.play(played);
        room.hear(frame);
        Ok(())
    }

    fn is_realtime(&self) -> bool {
        self.voice.is_realtime()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_paths_parse_and_bad_ones_say_the_form() {
        let path: EchoPath = "60:-6".parse().expect("valid");
        assert_eq!(path, EchoPath { delay: Duration::from_millis(60), gain_db: -6.0 });
        for bad in ["60", "x:-6", "60:loud", "5000:-6", "60:+6"] {
            assert!(bad.parse::<EchoPath>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_click_comes_back_after_the_delay_at_the_gain_then_its_reflections() {
        let mut room = SimulatedRoom::new(EchoPath { delay: Duration::from_millis(60), gain_db: -6.0 });
        let frame = 960;
        let mut mic = vec![0.0f32; frame];
        room.hear(&mut mic); // lines up: the room is listened to from now on
        let mut click = vec![0.0f32; frame];
        click[0] = 1.0;
        room.play(&click);
        let mut heard = Vec::new();
        for _ in 0..6 {
            let mut mic = vec![0.0f32; frame];
            room.hear(&mut mic);
            heard.extend(mic);
            room.play(&vec![0.0; frame]);
        }
        let direct = heard.iter().position(|&s| s.abs() > 0.01).expect("an echo");
        assert_eq!(direct, 60 * 48, "60 ms after the click");
        assert!((heard[direct] - 0.501).abs() < 0.01, "-6 dB: {}", heard[direct]);
        let first_reflection = heard[direct + 7 * 48];
        assert!((first_reflection - 0.501 * 0.355).abs() < 0.01, "{first_reflection}");
    }
}
