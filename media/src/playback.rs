//! Playback: every 20 ms, one frame from each remote speaker's jitter buffer,
//! decoded (or concealed), measured and mixed into the output.
//!
//! One `concord-playback` thread paces the whole call's audio. Deafen keeps
//! the buffers draining (so un-deafening is instant and in sync) but plays
//! silence. Each speaker's level feeds the speaking ring in the call grid.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::audio_codec::{has_fec, AudioDecoder, FRAME_SAMPLES};
use crate::jitter::{JitterBuffer, Playout};
use crate::send::{pace, spawn};
use crate::source::AudioSink;
use crate::voice::RenderTap;
use crate::Result;
pub use concord_media_kernels::mix::{mix_into, soft_clip};

/// A level above which a speaker counts as speaking (RMS of a 20 ms frame, smoothed).
pub const SPEAKING_LEVEL: f32 = 0.02;

/// One remote speaker's current level.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeakerLevel {
    /// The speaker's id (its audio track's stream id).
    pub id: String,
    /// Smoothed RMS in [0, 1].
    pub level: f32,
    /// Whether the speaking ring should show.
    pub speaking: bool,
}

struct Speaker {
    id: String,
    jitter: Arc<Mutex<JitterBuffer>>,
    decoder: AudioDecoder,
    level: f32,
    /// My volume for this speaker (1: as sent; 0: muted for me; up to 2).
    gain: f32,
    /// Σ x² of what was mixed of this speaker since [`Mixer::heard`] last asked.
    heard_energy: f64,
    heard_samples: u64,
}

/// How the mixer filled frames whose packet was missing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LossStats {
    /// Rebuilt from the next packet's in-band FEC.
    pub recovered: u64,
    /// Guessed by Opus's packet-loss concealment (nothing to rebuild from).
    pub concealed: u64,
}

/// The pure part of playback: what one 20 ms tick plays, given the speakers'
/// jitter buffers and the time. No clock, thread or device of its own, so a
/// test drives it on a simulated clock.
pub struct Mixer {
    speakers: Vec<Speaker>,
    deafened: bool,
    voice: Vec<f32>,
    use_fec: bool,
    losses: LossStats,
}

impl Default for Mixer {
    fn default() -> Self {
        Self {
            speakers: Vec::new(),
            deafened: false,
            voice: vec![0.0; FRAME_SAMPLES],
            use_fec: true,
            losses: LossStats::default(),
        }
    }
}

impl Mixer {
    /// Adds a remote speaker whose packets arrive in `jitter`.
    pub fn add_speaker(&mut self, id: String, jitter: Arc<Mutex<JitterBuffer>>) -> Result<()> {
        self.speakers.push(Speaker {
            id,
            jitter,
            decoder: AudioDecoder::new()?,
            level: 0.0,
            gain: 1.0,
            heard_energy: 0.0,
            heard_samples: 0,
        });
        Ok(())
    }

    /// My volume for one speaker: 1 as sent, 0.5 at −6 dB, 0 muted for me,
    /// at most 2 (+6 dB). Their speaking level is measured before it.
    pub fn set_gain(&mut self, id: &str, gain: f32) {
        for speaker in self.speakers.iter_mut().filter(|s| s.id == id) {
            speaker.gain = gain.clamp(0.0, 2.0);
        }
    }

    /// Each speaker's level as mixed (after my volume for them), RMS since
    /// the last call; `None` for a speaker who played nothing since.
    pub fn heard(&mut self) -> Vec<(String, Option<f32>)> {
        self.speakers
            .iter_mut()
            .map(|s| {
                let rms =
                    (s.heard_samples > 0).then(|| (s.heard_energy / s.heard_samples as f64).sqrt() as f32);
                (s.heard_energy, s.heard_samples) = (0.0, 0);
                (s.id.clone(), rms)
            })
            .collect()
    }

    /// Removes a speaker who left.
    pub fn remove_speaker(&mut self, id: &str) {
        self.speakers.retain(|s| s.id != id);
    }

    /// Deafen: play nothing (buffers keep draining, levels keep updating).
    pub fn set_deafened(&mut self, deafened: bool) {
        self.deafened = deafened;
    }

    /// Whether a missing frame is rebuilt from the next packet's FEC when
    /// that packet is here (on by default; off only to measure what FEC saves).
    pub fn set_fec(&mut self, use_fec: bool) {
        self.use_fec = use_fec;
    }

    /// How missing frames were filled so far.
    pub fn losses(&self) -> LossStats {
        self.losses
    }

    /// Every speaker's level, for speaking indicators.
    pub fn levels(&self) -> Vec<SpeakerLevel> {
        self.speakers
            .iter()
            .map(|s| SpeakerLevel { id: s.id.clone(), level: s.level, speaking: s.level >= SPEAKING_LEVEL })
            .collect()
    }

    /// One tick at `now`: one frame from each speaker's jitter buffer,
    /// decoded or concealed, measured, mixed and soft-clipped into `mix`
    /// ([`FRAME_SAMPLES`] long); silence while deafened.
    pub fn tick(&mut self, now: Instant, mix: &mut [f32]) {
        mix.fill(0.0);
        let voice = &mut self.voice;
        for speaker in &mut self.speakers {
            let playout = speaker.jitter.lock().unwrap_or_else(PoisonError::into_inner).pop(now);
            let decoded = match playout {
                None => Ok(0),
                Some(Playout::Packet { payload, .. }) => speaker.decoder.decode(&payload, voice),
                Some(Playout::Missing { next, .. }) => {
                    let fec = next.filter(|next| self.use_fec && has_fec(next));
                    if fec.is_some() {
                        self.losses.recovered += 1;
                    } else {
                        self.losses.concealed += 1;
                    }
                    speaker.decoder.conceal(fec.as_deref(), voice)
                }
            };
            let samples = decoded.unwrap_or_else(|error| {
                tracing::debug!(%error, "an audio frame did not decode");
                0
            });
            voice[samples.min(FRAME_SAMPLES)..].fill(0.0);
            speaker.level = smooth_level(speaker.level, crate::synthetic::rms(voice));
            if speaker.gain != 1.0 {
                voice.iter_mut().for_each(|sample| *sample *= speaker.gain);
            }
            speaker.heard_energy += voice.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>();
            speaker.heard_samples += voice.len() as u64;
            mix_into(mix, voice);
        }
        if self.deafened {
            mix.fill(0.0);
        }
        soft_clip(mix);
    }
}

/// The call's audio output: a [`Mixer`] ticked every 20 ms by its own thread.
pub struct Playback {
    mixer: Arc<Mutex<Mixer>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Playback {
    /// Starts playing into `sink`. Each mixed frame also goes into `tap`
    /// (the echo canceller's reference) just before the sink gets it.
    pub fn start(mut sink: Box<dyn AudioSink>, mut tap: Option<RenderTap>) -> Result<Self> {
        let mixer: Arc<Mutex<Mixer>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (mixer, stop) = (mixer.clone(), stop.clone());
            spawn("concord-playback".into(), move || {
                let mut next = Instant::now();
                let mut mix = vec![0.0f32; FRAME_SAMPLES];
                while !stop.load(Ordering::Relaxed) {
                    pace(&mut next, Duration::from_millis(20));
                    mixer.lock().unwrap_or_else(PoisonError::into_inner).tick(Instant::now(), &mut mix);
                    if let Some(tap) = &mut tap {
                        tap.push(&mix);
                    }
                    sink.play(&mix);
                }
            })?
        };
        Ok(Self { mixer, stop, thread: Some(thread) })
    }

    fn mixer(&self) -> std::sync::MutexGuard<'_, Mixer> {
        self.mixer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a remote speaker whose packets arrive in `jitter`.
    pub fn add_speaker(&self, id: String, jitter: Arc<Mutex<JitterBuffer>>) -> Result<()> {
        self.mixer().add_speaker(id, jitter)
    }

    /// Removes a speaker who left.
    pub fn remove_speaker(&self, id: &str) {
        self.mixer().remove_speaker(id);
    }

    /// Deafen: play nothing (buffers keep draining).
    pub fn set_deafened(&self, deafened: bool) {
        self.mixer().set_deafened(deafened);
    }

    /// My volume for one speaker ([`Mixer::set_gain`]).
    pub fn set_gain(&self, id: &str, gain: f32) {
        self.mixer().set_gain(id, gain);
    }

    /// Each speaker's level as mixed since the last call ([`Mixer::heard`]).
    pub fn heard(&self) -> Vec<(String, Option<f32>)> {
        self.mixer().heard()
    }

    /// Every speaker's level, for speaking indicators.
    pub fn levels(&self) -> Vec<SpeakerLevel> {
        self.mixer().levels()
    }
}

impl Drop for Playback {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Rises at once, falls over ~100 ms, so the speaking ring does not flicker between words.
fn smooth_level(previous: f32, current: f32) -> f32 {
    if current >= previous {
        current
    } else {
        previous * 0.8 + current * 0.2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_rises_at_once_and_falls_slowly() {
        let level = smooth_level(0.0, 0.5);
        assert_eq!(level, 0.5);
        let falling = smooth_level(level, 0.0);
        assert!(falling > 0.3 && falling < 0.5);
    }
}
