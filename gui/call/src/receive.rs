//! Watching one remote track: frames counted, or decoded with their
//! test-pattern stamps read back; audio decoded, its tone and strongest
//! frequencies found (and, when the bot plays what it hears, its packets
//! handed to the mixer too); packets lost from the RTP sequence numbers.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use concord_common::events::TrackSource;
use concord_media::audio_codec::{AudioDecoder, FRAME_SAMPLES, SAMPLE_RATE};
use concord_media::jitter::JitterBuffer;
use concord_media::receive::{SequenceGaps, VideoReceiver};
use concord_media::spectrum;
use concord_media::synthetic::{detect_frequency, read_stamp_i420};
use concord_media::transport::{RemoteTrack, TrackKind};
use tokio::runtime::Handle;

use crate::report::{PeakReport, TrackReport};

/// How much of the latest audio the tone is found in.
const TONE_WINDOW: usize = SAMPLE_RATE as usize / 2;
/// Audio's strongest frequencies are measured once this much of it has
/// arrived (echo cancellers converge, gain controllers settle)...
const PEAKS_AFTER: Duration = Duration::from_secs(3);
/// ...over at most this much of the latest audio.
const PEAKS_WINDOW: usize = 5 * SAMPLE_RATE as usize;
/// The strongest frequencies reported, and how far below the strongest one they reach.
const PEAKS_REPORTED: usize = 8;
/// See [`PEAKS_REPORTED`].
const PEAKS_RANGE_DB: f32 = 60.0;

#[derive(Debug, Default)]
struct Counters {
    frames: u64,
    first_frame: Option<Instant>,
    last_frame: Option<Instant>,
    max_gap: Duration,
    /// `None` until a decoded frame was looked at.
    numbers_ok: Option<bool>,
    last_number: Option<u32>,
    lost: u64,
    /// RTP packets received.
    packets: u64,
    /// The latest decoded picture's size.
    picture: Option<(u32, u32)>,
    /// The latest decoded audio.
    audio: VecDeque<f32>,
    /// Decoded audio from [`PEAKS_AFTER`] on, the latest [`PEAKS_WINDOW`] of it.
    settled_audio: VecDeque<f32>,
}

impl Counters {
    fn frame(&mut self, now: Instant) {
        self.frames += 1;
        self.first_frame.get_or_insert(now);
        if let Some(last) = self.last_frame {
            self.max_gap = self.max_gap.max(now.saturating_duration_since(last));
        }
        self.last_frame = Some(now);
    }

    fn stamp(&mut self, number: Option<u32>) {
        let ok = match (number, self.last_number) {
            (None, _) => false,
            (Some(n), Some(last)) => n > last,
            (Some(_), None) => true,
        };
        self.numbers_ok = Some(self.numbers_ok.unwrap_or(true) && ok);
        if number.is_some() {
            self.last_number = number;
        }
    }
}

/// A look at one watched track's frame count, from elsewhere (see [`crate::until`]).
#[derive(Clone)]
pub struct TrackProgress(Arc<Mutex<Counters>>);

impl TrackProgress {
    /// Frames (audio: packets) received so far.
    pub fn frames(&self) -> u64 {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).frames
    }
}

impl std::fmt::Debug for TrackProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("TrackProgress").field(&self.frames()).finish()
    }
}

/// One remote track being watched until dropped.
pub struct TrackWatch {
    source: TrackSource,
    kind: TrackKind,
    decode: bool,
    counters: Arc<Mutex<Counters>>,
    video: Option<VideoReceiver>,
}

impl TrackWatch {
    /// Starts reading `track` (what it carries is `source`); an audio
    /// track's packets also go to `playout` when given (the bot's speaker).
    pub fn start(
        track: RemoteTrack,
        source: TrackSource,
        decode: bool,
        playout: Option<Arc<Mutex<JitterBuffer>>>,
        runtime: &Handle,
    ) -> Self {
        let counters: Arc<Mutex<Counters>> = Arc::default();
        let kind = track.kind;
        let mut video = None;
        match (kind, decode) {
            (TrackKind::Video, true) => {
                let on_frame = {
                    let counters = Arc::clone(&counters);
                    move |frame: &concord_media::convert::I420Frame| {
                        let mut counters = counters.lock().unwrap_or_else(PoisonError::into_inner);
                        counters.frame(Instant::now());
                        counters.picture = Some((frame.width, frame.height));
                        counters.stamp(read_stamp_i420(frame).map(|s| s.frame_number));
                    }
                };
                match VideoReceiver::start(track, runtime, on_frame) {
                    Ok(receiver) => video = Some(receiver),
                    Err(error) => tracing::warn!(%error, "a remote video could not be decoded"),
                }
            }
            (TrackKind::Video, false) => {
                let counters = Arc::clone(&counters);
                runtime.spawn(async move {
                    let mut gaps = SequenceGaps::default();
                    while let Some(piece) = track.next_packet().await {
                        let mut counters = counters.lock().unwrap_or_else(PoisonError::into_inner);
                        counters.lost += gaps.observe(piece.seq);
                        counters.packets += 1;
                        if piece.marker {
                            counters.frame(Instant::now());
                        }
                    }
                });
            }
            (TrackKind::Audio, _) => {
                let counters = Arc::clone(&counters);
                runtime.spawn(async move {
                    let mut gaps = SequenceGaps::default();
                    let mut decoder = if decode { AudioDecoder::new().ok() } else { None };
                    let mut pcm = vec![0.0f32; FRAME_SAMPLES * 6];
                    while let Some(piece) = track.next_packet().await {
                        let now = Instant::now();
                        if let Some(playout) = &playout {
                            playout.lock().unwrap_or_else(PoisonError::into_inner).push(
                                now,
                                piece.seq,
                                piece.payload.clone(),
                            );
                        }
                        let decoded = decoder.as_mut().and_then(|d| d.decode(&piece.payload, &mut pcm).ok());
                        let mut counters = counters.lock().unwrap_or_else(PoisonError::into_inner);
                        counters.lost += gaps.observe(piece.seq);
                        counters.packets += 1;
                        counters.frame(now);
                        if let Some(samples) = decoded {
                            let pcm = &pcm[..samples.min(pcm.len())];
                            counters.audio.extend(pcm);
                            let excess = counters.audio.len().saturating_sub(TONE_WINDOW);
                            counters.audio.drain(..excess);
                            if counters.first_frame.is_some_and(|first| now - first >= PEAKS_AFTER) {
                                counters.settled_audio.extend(pcm);
                                let excess = counters.settled_audio.len().saturating_sub(PEAKS_WINDOW);
                                counters.settled_audio.drain(..excess);
                            }
                        }
                    }
                });
            }
        }
        Self { source, kind, decode, counters, video }
    }

    /// Audio or video.
    pub fn kind(&self) -> TrackKind {
        self.kind
    }

    /// When the first frame arrived.
    pub fn first_frame(&self) -> Option<Instant> {
        self.counters.lock().unwrap_or_else(PoisonError::into_inner).first_frame
    }

    /// Frames so far.
    pub fn frames(&self) -> u64 {
        self.progress().frames()
    }

    /// A handle that reads this track's frame count.
    pub fn progress(&self) -> TrackProgress {
        TrackProgress(Arc::clone(&self.counters))
    }

    /// What arrived so far; times in milliseconds after `since`.
    pub fn report(&self, since: Instant) -> TrackReport {
        let counters = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        let (lost, packets) = match &self.video {
            Some(receiver) => (
                receiver.stats().lost.load(Ordering::Relaxed),
                receiver.stats().packets.load(Ordering::Relaxed),
            ),
            None => (counters.lost, counters.packets),
        };
        let tone_hz =
            if self.kind == TrackKind::Audio && self.decode && counters.audio.len() >= TONE_WINDOW / 2 {
                let samples: Vec<f32> = counters.audio.iter().copied().collect();
                detect_frequency(&samples, SAMPLE_RATE)
            } else {
                None
            };
        let peaks = (self.kind == TrackKind::Audio && self.decode).then(|| {
            let settled: Vec<f32> = counters.settled_audio.iter().copied().collect();
            spectrum::peaks(&settled, SAMPLE_RATE, PEAKS_REPORTED, PEAKS_RANGE_DB)
                .into_iter()
                .map(|peak| PeakReport {
                    hz: (peak.hz * 10.0).round() / 10.0,
                    dbfs: (peak.dbfs * 10.0).round() / 10.0,
                })
                .collect()
        });
        TrackReport {
            kind: self.source.as_str().to_owned(),
            peaks,
            frames: counters.frames,
            max_frame_gap: counters.max_gap.as_millis() as u64,
            first_frame_ms: counters
                .first_frame
                .map(|at| at.saturating_duration_since(since).as_millis() as u64),
            last_frame_ms: counters
                .last_frame
                .map(|at| at.saturating_duration_since(since).as_millis() as u64),
            frame_numbers_ok: if self.kind == TrackKind::Video { counters.numbers_ok } else { None },
            tone_hz,
            packets,
            packets_lost: lost,
            keyframes_asked: self.video.as_ref().map(|r| r.stats().keyframe_requests.load(Ordering::Relaxed)),
            width: counters.picture.map(|(width, _)| width),
            height: counters.picture.map(|(_, height)| height),
        }
    }
}
