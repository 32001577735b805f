//! Voice processing on the microphone: echo cancellation (AEC3), noise
//! suppression and automatic gain control (AGC2) from `sonora`, a pure-Rust
//! port of WebRTC's audio processing, and RNNoise (`nnnoiseless`) as the
//! "Strong" noise filter on top.
//!
//! Everything runs on the audio thread's side of the lock-free rings (the
//! thread that reads the microphone's ring and encodes), in 10 ms frames at
//! 48 kHz, into buffers made once when the processor is built: nothing is
//! allocated per frame. The echo canceller's reference is the mixed call
//! audio exactly where it leaves the mixer for the speaker: `Playback` pushes
//! each mixed frame into a [`RenderTap`], and the processor drains the
//! matching [`RenderFeed`] (a lock-free ring) before every capture frame, so
//! the delay it finds is the device's own (speaker ring, driver, air,
//! microphone ring).
//!
//! After processing, the transmit gate ([`GatedSource`], [`VoiceControl`])
//! decides per frame whether the voice is sent: voice activity above the
//! input sensitivity, or push-to-talk. [`MicCheck`] plays the whole chain
//! back to the speaker ("Let me hear myself").

mod check;
mod gate;
mod room;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use nnnoiseless::DenoiseState;
use serde::{Deserialize, Serialize};
use sonora::config::{
    AdaptiveDigital, EchoCanceller, GainController2, HighPassFilter, NoiseSuppression, NoiseSuppressionLevel,
};
use sonora::{AudioProcessing, Config, StreamConfig};

pub use check::MicCheck;
pub use gate::{
    InputMode, PushToTalk, Sensitivity, TransmitGate, VoiceActivity, PUSH_TO_TALK_RELEASE, VOICE_HANGOVER,
};
pub use room::{EchoPath, RoomMicrophone, RoomSpeaker, SimulatedRoom};

use crate::audio_codec::SAMPLE_RATE;
use crate::source::AudioSource;
use crate::Result;

/// Samples in one 10 ms processing frame at 48 kHz.
pub const CHUNK: usize = 480;
/// How much mixed audio the reference ring holds (200 ms); older audio is
/// dropped when the microphone side is not reading (muted, reopening).
const REFERENCE_CAPACITY: usize = SAMPLE_RATE as usize / 5;
/// More reference than this waiting (100 ms) means the microphone side fell
/// behind; the oldest is skipped so the canceller's delay stays the device's.
const REFERENCE_BACKLOG: usize = SAMPLE_RATE as usize / 10;
/// RNNoise works on 16-bit sample values held in f32.
const I16_SCALE: f32 = 32_768.0;

/// The noise filter, as Settings → Voice offers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoiseFilter {
    /// No noise suppression.
    Off,
    /// WebRTC's noise suppressor (steady noise: fans, hum, hiss).
    #[default]
    Standard,
    /// The standard suppressor, then RNNoise (keyboards, streets, loud rooms).
    Strong,
}

impl NoiseFilter {
    /// A person's name for it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Off => "Off",
            Self::Standard => "Standard",
            Self::Strong => "Strong",
        }
    }
}

/// Which processing stages run on the microphone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VoiceSettings {
    /// Echo cancellation against what the speaker plays.
    pub echo_cancellation: bool,
    /// Noise suppression.
    pub noise: NoiseFilter,
    /// Automatic gain control (a quiet microphone brought up, a loud one down).
    pub gain_control: bool,
}

impl Default for VoiceSettings {
    fn default() -> Self {
        Self { echo_cancellation: true, noise: NoiseFilter::Standard, gain_control: true }
    }
}

impl VoiceSettings {
    /// Nothing at all: the microphone as it is.
    pub const OFF: Self = Self { echo_cancellation: false, noise: NoiseFilter::Off, gain_control: false };

    /// Parses the bot's `--audio-processing`: `off`, or a comma list of
    /// `aec`, `ns` (standard), `rnnoise` (strong noise filter) and `agc`.
    pub fn parse_stages(text: &str) -> std::result::Result<Self, String> {
        let mut settings = Self::OFF;
        if text == "off" {
            return Ok(settings);
        }
        for stage in text.split(',').map(str::trim) {
            match stage {
                "aec" => settings.echo_cancellation = true,
                "ns" if settings.noise == NoiseFilter::Off => settings.noise = NoiseFilter::Standard,
                "ns" => {}
                "rnnoise" => settings.noise = NoiseFilter::Strong,
                "agc" => settings.gain_control = true,
                other => {
                    return Err(format!(
                        "unknown stage {other:?}: off, or a comma list of aec, ns, rnnoise, agc"
                    ))
                }
            }
        }
        Ok(settings)
    }

    /// Whether any stage runs.
    pub fn any(self) -> bool {
        self != Self::OFF
    }
}

/// The playback side of the echo reference: every frame the mixer hands to
/// the speaker goes in here too (lock-free, no allocation).
pub struct RenderTap {
    ring: rtrb::Producer<f32>,
}

impl RenderTap {
    /// Copies one mixed frame in (what does not fit is dropped: the
    /// microphone side is not reading).
    pub fn push(&mut self, frame: &[f32]) {
        let _ = self.ring.push_partial_slice(frame);
    }
}

/// The microphone side of the echo reference. Cloned into every microphone
/// opened during a call; the processor that runs takes the ring and gives it
/// back when it stops (a reopened microphone then continues from it).
#[derive(Clone)]
pub struct RenderFeed {
    ring: Arc<Mutex<Option<rtrb::Consumer<f32>>>>,
}

/// A connected tap and feed: what the mixer plays, to the echo canceller.
pub fn echo_reference() -> (RenderTap, RenderFeed) {
    let (ring, consumer) = rtrb::RingBuffer::new(REFERENCE_CAPACITY);
    (RenderTap { ring }, RenderFeed { ring: Arc::new(Mutex::new(Some(consumer))) })
}

/// The ring, held by one processor at a time (given back on drop).
struct HeldFeed {
    home: RenderFeed,
    ring: Option<rtrb::Consumer<f32>>,
}

impl Drop for HeldFeed {
    fn drop(&mut self) {
        *self.home.ring.lock().unwrap_or_else(PoisonError::into_inner) = self.ring.take();
    }
}

/// One microphone's processing chain (see the module docs).
pub struct VoiceProcessor {
    settings: VoiceSettings,
    apm: Option<AudioProcessing>,
    rnnoise: Option<Box<DenoiseState<'static>>>,
    reference: Option<HeldFeed>,
    render_in: Vec<f32>,
    render_out: Vec<f32>,
    capture_out: Vec<f32>,
    scaled: Vec<f32>,
}

impl VoiceProcessor {
    /// A chain with `settings`; `reference` is what the speaker plays (no
    /// echo cancellation without it).
    pub fn new(settings: VoiceSettings, reference: Option<&RenderFeed>) -> Self {
        let apm = (settings.echo_cancellation || settings.noise != NoiseFilter::Off || settings.gain_control)
            .then(|| build_apm(settings));
        let reference = reference.filter(|_| settings.echo_cancellation).map(|home| HeldFeed {
            ring: home.ring.lock().unwrap_or_else(PoisonError::into_inner).take(),
            home: home.clone(),
        });
        Self {
            settings,
            apm,
            rnnoise: (settings.noise == NoiseFilter::Strong).then(DenoiseState::new),
            reference,
            render_in: vec![0.0; CHUNK],
            render_out: vec![0.0; CHUNK],
            capture_out: vec![0.0; CHUNK],
            scaled: vec![0.0; CHUNK],
        }
    }

    /// The stages this chain runs.
    pub fn settings(&self) -> VoiceSettings {
        self.settings
    }

    /// Processes `frame` in place: a whole number of 10 ms frames at 48 kHz
    /// (a 20 ms codec frame is two); a tail shorter than 10 ms passes as it is.
    pub fn process(&mut self, frame: &mut [f32]) {
        for chunk in frame.chunks_exact_mut(CHUNK) {
            self.drain_reference();
            if let Some(apm) = &mut self.apm {
                if apm.process_capture_f32(&[chunk], &mut [&mut self.capture_out]).is_ok() {
                    chunk.copy_from_slice(&self.capture_out);
                }
            }
            if let Some(rnnoise) = &mut self.rnnoise {
                for (scaled, &sample) in self.scaled.iter_mut().zip(chunk.iter()) {
                    *scaled = sample * I16_SCALE;
                }
                rnnoise.process_frame(&mut self.capture_out, &self.scaled);
                for (sample, &denoised) in chunk.iter_mut().zip(&self.capture_out) {
                    *sample = (denoised / I16_SCALE).clamp(-1.0, 1.0);
                }
            }
        }
    }

    /// Hands the canceller every 10 ms of reference that arrived since the
    /// last capture frame (skipping a backlog the microphone fell behind on).
    fn drain_reference(&mut self) {
        let (Some(apm), Some(ring)) = (&mut self.apm, self.reference.as_mut().and_then(|r| r.ring.as_mut()))
        else {
            return;
        };
        let backlog = ring.slots();
        if backlog > REFERENCE_BACKLOG {
            let skip = (backlog - REFERENCE_BACKLOG) / CHUNK * CHUNK;
            if let Ok(chunk) = ring.read_chunk(skip) {
                chunk.commit_all();
            }
        }
        while ring.slots() >= CHUNK {
            let Ok(chunk) = ring.read_chunk(CHUNK) else { break };
            let (first, second) = chunk.as_slices();
            self.render_in[..first.len()].copy_from_slice(first);
            self.render_in[first.len()..].copy_from_slice(second);
            chunk.commit_all();
            let _ = apm.process_render_f32(&[&self.render_in], &mut [&mut self.render_out]);
        }
        // The reference is queued, not timestamped: AEC3 finds the delay itself.
        let _ = apm.set_stream_delay_ms(0);
    }
}

fn build_apm(settings: VoiceSettings) -> AudioProcessing {
    let config = Config {
        high_pass_filter: Some(HighPassFilter::default()),
        echo_canceller: settings.echo_cancellation.then(EchoCanceller::default),
        noise_suppression: (settings.noise != NoiseFilter::Off)
            .then(|| NoiseSuppression { level: NoiseSuppressionLevel::High, ..NoiseSuppression::default() }),
        gain_controller2: settings.gain_control.then(|| GainController2 {
            adaptive_digital: Some(AdaptiveDigital::default()),
            ..GainController2::default()
        }),
        ..Config::default()
    };
    AudioProcessing::builder()
        .config(config)
        .capture_config(StreamConfig::new(SAMPLE_RATE, 1))
        .render_config(StreamConfig::new(SAMPLE_RATE, 1))
        .build()
}

/// A microphone (or any audio source) with its processing chain: each
/// 20 ms frame is processed on the thread that reads it.
pub struct ProcessedSource {
    source: Box<dyn AudioSource>,
    processor: VoiceProcessor,
}

impl ProcessedSource {
    /// `source` through `processor`.
    pub fn new(source: Box<dyn AudioSource>, processor: VoiceProcessor) -> Self {
        Self { source, processor }
    }
}

impl AudioSource for ProcessedSource {
    fn name(&self) -> String {
        self.source.name()
    }

    fn read_frame(&mut self, frame: &mut [f32]) -> Result<()> {
        self.source.read_frame(frame)?;
        self.processor.process(frame);
        Ok(())
    }

    fn is_realtime(&self) -> bool {
        self.source.is_realtime()
    }
}

/// `source` with `settings` applied (as it is when nothing is on).
pub fn process_source(
    source: Box<dyn AudioSource>,
    settings: VoiceSettings,
    reference: Option<&RenderFeed>,
) -> Box<dyn AudioSource> {
    if settings.any() {
        Box::new(ProcessedSource::new(source, VoiceProcessor::new(settings, reference)))
    } else {
        source
    }
}

/// The microphone's live controls and readings, shared between the audio
/// thread and the app: the transmit gate (voice activity or push-to-talk),
/// the latest frame's level and whether it was sent.
#[derive(Clone, Default)]
pub struct VoiceControl {
    inner: Arc<ControlInner>,
}

#[derive(Default)]
struct ControlInner {
    gate: Mutex<TransmitGate>,
    /// The latest frame's level in dBFS (f32 bits).
    level_db: AtomicU32,
    open: AtomicBool,
}

impl VoiceControl {
    fn gate(&self) -> std::sync::MutexGuard<'_, TransmitGate> {
        self.inner.gate.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How the microphone opens, and voice activity's threshold.
    pub fn set_mode(&self, mode: InputMode, sensitivity: Sensitivity) {
        let mut gate = self.gate();
        gate.mode = mode;
        gate.sensitivity = sensitivity;
    }

    /// The push-to-talk key went down (`true`) or up.
    pub fn push_to_talk(&self, pressed: bool) {
        let mut gate = self.gate();
        if pressed {
            gate.push_to_talk.press();
        } else {
            gate.push_to_talk.release(Instant::now());
        }
    }

    /// The window lost focus; `global_key`: the key is a global hotkey.
    pub fn focus_lost(&self, global_key: bool) {
        self.gate().push_to_talk.focus_lost(Instant::now(), global_key);
    }

    /// The latest frame's level (dBFS, after processing), the threshold in
    /// effect, and whether that frame was sent.
    pub fn reading(&self) -> (f32, f32, bool) {
        let level = f32::from_bits(self.inner.level_db.load(Ordering::Relaxed));
        (level, self.gate().threshold_db(), self.inner.open.load(Ordering::Relaxed))
    }
}

/// A source through the transmit gate: frames it closes on are sent as
/// silence, which Opus's DTX then does not send at all (after its 200 ms
/// hangover, a comfort-noise update every 400 ms); the speaking ring follows.
pub struct GatedSource {
    source: Box<dyn AudioSource>,
    control: VoiceControl,
}

impl GatedSource {
    /// `source` through `control`'s gate.
    pub fn new(source: Box<dyn AudioSource>, control: VoiceControl) -> Self {
        Self { source, control }
    }
}

impl AudioSource for GatedSource {
    fn name(&self) -> String {
        self.source.name()
    }

    fn read_frame(&mut self, frame: &mut [f32]) -> Result<()> {
        self.source.read_frame(frame)?;
        let level = crate::spectrum::rms_dbfs(frame);
        let open = self.control.gate().open(level, Instant::now());
        self.control.inner.level_db.store(level.to_bits(), Ordering::Relaxed);
        self.control.inner.open.store(open, Ordering::Relaxed);
        if !open {
            frame.fill(0.0);
        }
        Ok(())
    }

    fn is_realtime(&self) -> bool {
        self.source.is_realtime()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bots_stage_lists_parse_and_bad_ones_say_what_is_allowed() {
        assert_eq!(VoiceSettings::parse_stages("off"), Ok(VoiceSettings::OFF));
        assert_eq!(VoiceSettings::parse_stages("aec,ns,agc"), Ok(VoiceSettings::default()));
        let aec = VoiceSettings::parse_stages("aec").expect("aec");
        assert!(aec.echo_cancellation && aec.noise == NoiseFilter::Off && !aec.gain_control);
        assert_eq!(VoiceSettings::parse_stages("ns,rnnoise").map(|s| s.noise), Ok(NoiseFilter::Strong));
        let error = VoiceSettings::parse_stages("aec,loud").expect_err("unknown");
        assert!(error.contains("\"loud\"") && error.contains("aec, ns, rnnoise, agc"), "{error}");
    }

    #[test]
    fn a_closed_gate_sends_silence_and_the_reading_says_so() {
        use crate::source::ToneSource;
        use crate::synthetic::ToneGenerator;
        let control = VoiceControl::default();
        control.set_mode(InputMode::PushToTalk, Sensitivity::Automatic);
        let tone = ToneSource::new(ToneGenerator::continuous(440.0, 0.3));
        let mut gated = GatedSource::new(Box::new(tone), control.clone());
        let mut frame = vec![0.0f32; 960];
        gated.read_frame(&mut frame).expect("synthetic");
        assert!(frame.iter().all(|&s| s == 0.0), "the key is up: silence");
        let (level, _, open) = control.reading();
        assert!(!open && (level + 13.5).abs() < 0.5, "the meter still shows the voice: {level}");
        control.push_to_talk(true);
        gated.read_frame(&mut frame).expect("synthetic");
        assert!(frame.iter().any(|&s| s != 0.0) && control.reading().2, "held: sent");
    }

    #[test]
    fn a_feed_is_lent_to_one_processor_at_a_time_and_comes_back() {
        let (mut tap, feed) = echo_reference();
        let first = VoiceProcessor::new(VoiceSettings::default(), Some(&feed));
        assert!(first.reference.as_ref().is_some_and(|r| r.ring.is_some()));
        drop(first);
        tap.push(&[0.25; CHUNK]);
        let second = VoiceProcessor::new(VoiceSettings::default(), Some(&feed));
        let ring = second.reference.as_ref().and_then(|r| r.ring.as_ref()).expect("the ring came back");
        assert_eq!(ring.slots(), CHUNK);
    }
}
