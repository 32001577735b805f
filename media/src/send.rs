//! Sending: a capture thread per source and an encoder thread per track.
//!
//! Video: `concord-capture-<track>` captures at the source's pace and converts
//! to I420 into a newest-wins slot; `concord-encode-<track>` scales, encodes
//! and writes samples to the track, so a slow encoder drops frames rather than
//! adding delay. Audio: `concord-audio-<track>` reads 20 ms frames, encodes
//! Opus and writes them (paced by interval for synthetic sources); frames
//! of silence Opus's DTX marks as not needed are not sent.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::sync::mpsc;

use crate::audio_codec::{AudioEncoder, DTX_PACKET_MAX, FRAME_SAMPLES};
use crate::convert::{to_i420_into, I420Frame};
use crate::scale::Scaler;
use crate::slot::{Closed, LatestSlot};
use crate::source::{AudioSource, VideoSource};
use crate::transport::LocalTrack;
use crate::uplink::{VideoBudget, VideoDemand};
use crate::video_codec::{EncoderSettings, VideoEncoder};
use crate::{MediaError, Result};

/// How long a video source may keep failing before its track ends.
const SOURCE_GIVE_UP: Duration = Duration::from_secs(1);

/// What the sending and receiving stages report to the application.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaEvent {
    /// A source stopped (unplugged camera, closed display, lost microphone): its track ends.
    SourceEnded {
        /// The track the source fed.
        track_id: String,
        /// Why, for the person.
        reason: String,
    },
}

/// Counters of one video send pipeline.
#[derive(Debug, Default)]
pub struct VideoSendStats {
    /// Frames captured and converted.
    pub captured: AtomicU64,
    /// Frames the encoder never saw because a newer one replaced them.
    pub dropped: AtomicU64,
    /// Frames encoded and sent.
    pub sent: AtomicU64,
    /// Frames rate control skipped (no bitstream).
    pub skipped: AtomicU64,
    /// Keyframes sent.
    pub keyframes: AtomicU64,
    /// Frames not encoded while paused (nobody watched).
    pub paused: AtomicU64,
    /// Frames encoded and sent per simulcast layer, smallest first (of a
    /// track of one layer, the first).
    pub layers_sent: [AtomicU64; MAX_LAYERS],
    /// Encoded bytes sent per simulcast layer, smallest first.
    pub layer_bytes: [AtomicU64; MAX_LAYERS],
    /// Total microseconds spent in the encoder.
    pub encode_micros: AtomicU64,
}

/// The most simulcast layers a video is sent in.
pub const MAX_LAYERS: usize = 3;

struct CapturedFrame {
    frame: I420Frame,
    captured: Instant,
}

/// Sees every frame as it is sent (the app's self-view), on the encoder thread.
pub type Preview = Box<dyn FnMut(&I420Frame) + Send>;

/// A running video send pipeline (source → I420 → H.264 → track).
pub struct VideoSender {
    stop: Arc<AtomicBool>,
    preview: Arc<Mutex<Option<Preview>>>,
    keyframe: Arc<AtomicBool>,
    paused: Arc<AtomicBool>,
    /// Bit `i` set: someone watches simulcast layer `i` (dynacast).
    layers_wanted: Arc<AtomicU32>,
    /// Bit `i` set: the uplink has room for simulcast layer `i`.
    layers_allowed: Arc<AtomicU32>,
    /// The layers the last frame was encoded in.
    layers_encoded: Arc<AtomicU32>,
    /// A cap on the top layer's bitrate for the uplink (0: none).
    bitrate_cap: Arc<AtomicU32>,
    /// The track's layers' RIDs (none: one stream).
    rids: Vec<String>,
    track_id: String,
    /// The settings asked for (each layer's derived from them).
    settings: Mutex<EncoderSettings>,
    new_settings: Arc<Mutex<Option<EncoderSettings>>>,
    size: Arc<Mutex<Option<(u32, u32)>>>,
    stats: Arc<VideoSendStats>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl VideoSender {
    /// Starts capturing from `source` and sending on `track`, scaled to
    /// `size` when given; a track published in simulcast layers gets each
    /// (smallest first) at half the size of the next.
    pub fn start(
        mut source: Box<dyn VideoSource>,
        track: Arc<LocalTrack>,
        settings: EncoderSettings,
        size: Option<(u32, u32)>,
        runtime: Handle,
        events: mpsc::Sender<MediaEvent>,
    ) -> Result<Self> {
        // One encoder per simulcast layer, smallest first (or the one).
        let rids: Vec<String> = track.rids().into_iter().take(MAX_LAYERS).map(str::to_owned).collect();
        let layer_count = rids.len().max(1);
        let layers_wanted = Arc::new(AtomicU32::new(u32::MAX));
        let layers_allowed = Arc::new(AtomicU32::new(u32::MAX));
        let layers_encoded = Arc::new(AtomicU32::new(0));
        let bitrate_cap = Arc::new(AtomicU32::new(0));
        let mut encoders = (0..layer_count)
            .map(|layer| VideoEncoder::new(layer_settings(settings, layer, layer_count)))
            .collect::<Result<Vec<_>>>()?;
        let stop = Arc::new(AtomicBool::new(false));
        let keyframe = Arc::new(AtomicBool::new(false));
        let paused = Arc::new(AtomicBool::new(false));
        let new_settings: Arc<Mutex<Option<EncoderSettings>>> = Arc::default();
        let size = Arc::new(Mutex::new(size.map(|(w, h)| (w & !1, h & !1))));
        let stats = Arc::new(VideoSendStats::default());
        let preview: Arc<Mutex<Option<Preview>>> = Arc::default();
        let slot = Arc::new(LatestSlot::<CapturedFrame>::new());
        let track_id = track.id().to_owned();

        let capture = {
            let (stop, stats, slot, track_id) = (stop.clone(), stats.clone(), slot.clone(), track_id.clone());
            spawn(format!("concord-capture-{track_id}"), move || {
                let interval = source.frame_interval();
                let mut next = Instant::now();
                let mut frame = I420Frame::black(2, 2);
                let mut failing_since: Option<Instant> = None;
                while !stop.load(Ordering::Relaxed) {
                    match source.capture() {
                        Ok(raw) => {
                            match to_i420_into(raw.format, raw.width, raw.height, &raw.data, &mut frame) {
                                Ok(()) => {
                                    stats.captured.fetch_add(1, Ordering::Relaxed);
                                    slot.put(CapturedFrame { frame: frame.clone(), captured: raw.captured });
                                }
                                Err(error) => {
                                    tracing::warn!(%error, "a captured frame could not be converted")
                                }
                            }
                        }
                        // A hiccup (one failed X request) is retried; a source that keeps
                        // failing (unplugged, display gone) ends the track.
                        Err(error) => {
                            let since = *failing_since.get_or_insert_with(Instant::now);
                            if since.elapsed() >= SOURCE_GIVE_UP {
                                let reason = error.to_string();
                                let _ = events.try_send(MediaEvent::SourceEnded { track_id, reason });
                                break;
                            }
                            pace(&mut next, interval);
                            continue;
                        }
                    }
                    failing_since = None;
                    pace(&mut next, interval);
                }
                slot.close();
            })?
        };

        let encode = {
            let (stop, stats, keyframe, paused, new_settings, size, preview) = (
                stop.clone(),
                stats.clone(),
                keyframe.clone(),
                paused.clone(),
                new_settings.clone(),
                size.clone(),
                preview.clone(),
            );
            let (layers_wanted, layers_allowed, layers_encoded, bitrate_cap) =
                (layers_wanted.clone(), layers_allowed.clone(), layers_encoded.clone(), bitrate_cap.clone());
            spawn(format!("concord-encode-{track_id}"), move || {
                let started = Instant::now();
                let mut previous: Option<Instant> = None;
                let mut scaled = I420Frame::black(2, 2);
                let mut layer_scaled = I420Frame::black(2, 2);
                let mut scaler = Scaler::new();
                let fallback = Duration::from_secs_f32(1.0 / settings.frame_rate.max(1.0));
                let mut was_paused = false;
                // What each layer's encoder is set from: the settings asked for, the uplink's cap.
                let (mut base, mut applied_cap) = (settings, 0);
                let top = layer_count - 1;
                // The layers encoded for the last frame (one left out starts again with a keyframe).
                let mut encoded_before = u32::MAX;
                while !stop.load(Ordering::Relaxed) {
                    let captured = match slot.wait(Duration::from_millis(100)) {
                        Err(Closed) => break,
                        Ok(None) => continue,
                        Ok(Some(captured)) => captured,
                    };
                    let asked = new_settings.lock().unwrap_or_else(PoisonError::into_inner).take();
                    let cap = bitrate_cap.load(Ordering::Relaxed);
                    if asked.is_some() || cap != applied_cap {
                        (base, applied_cap) = (asked.unwrap_or(base), cap);
                        for (layer, encoder) in encoders.iter_mut().enumerate() {
                            let mut settings = layer_settings(base, layer, layer_count);
                            if layer == top && cap != 0 {
                                settings.bitrate_bps = settings.bitrate_bps.min(cap);
                            }
                            if let Err(error) = encoder.set_settings(settings) {
                                tracing::warn!(%error, "encoder settings not applied");
                            }
                        }
                    }
                    if keyframe.swap(false, Ordering::Relaxed) {
                        tracing::debug!("a keyframe was asked for");
                        encoders.iter_mut().for_each(VideoEncoder::request_keyframe);
                    }
                    let size = *size.lock().unwrap_or_else(PoisonError::into_inner);
                    let frame = match size {
                        Some((w, h)) if (w, h) != (captured.frame.width, captured.frame.height) => {
                            scaler.scale_i420(&captured.frame, w, h, &mut scaled);
                            &scaled
                        }
                        _ => &captured.frame,
                    };
                    if let Some(preview) = preview.lock().unwrap_or_else(PoisonError::into_inner).as_mut() {
                        preview(frame);
                    }
                    // Nobody watches: the self-view goes on, the encoder rests; it
                    // starts again with a keyframe (the viewer has nothing to build on).
                    if paused.load(Ordering::Relaxed) {
                        stats.paused.fetch_add(1, Ordering::Relaxed);
                        was_paused = true;
                        continue;
                    }
                    if std::mem::take(&mut was_paused) {
                        // (The next sample's duration covers the pause: RTP time follows the clock.)
                        encoders.iter_mut().for_each(VideoEncoder::request_keyframe);
                    }
                    let timestamp_ms =
                        captured.captured.saturating_duration_since(started).as_millis() as u64;
                    let duration =
                        previous.map_or(fallback, |p| captured.captured.saturating_duration_since(p));
                    previous = Some(captured.captured);
                    // The layers someone watches that the uplink has room for (where
                    // none has, the smaller one it does have room for); a track of
                    // one layer always encodes it.
                    let allowed = layers_allowed.load(Ordering::Relaxed);
                    let encoding = match layers_wanted.load(Ordering::Relaxed) & allowed {
                        _ if top == 0 => 1,
                        0 => allowed,
                        both => both,
                    };
                    layers_encoded.store(encoding, Ordering::Relaxed);
                    for (layer, encoder) in encoders.iter_mut().enumerate() {
                        // Nobody receives this layer, or the uplink has no room for it: not encoded.
                        if encoding & (1 << layer) == 0 {
                            continue;
                        }
                        if encoded_before & (1 << layer) == 0 {
                            encoder.request_keyframe();
                        }
                        // Each layer below the top is half the size of the one above.
                        let divisor = 1 << (top - layer);
                        let picture = if divisor == 1 {
                            frame
                        } else {
                            let (width, height) =
                                ((frame.width / divisor) & !1, (frame.height / divisor) & !1);
                            scaler.scale_i420(frame, width.max(2), height.max(2), &mut layer_scaled);
                            &layer_scaled
                        };
                        let encode_start = Instant::now();
                        let encoded = encoder.encode(picture, timestamp_ms);
                        stats
                            .encode_micros
                            .fetch_add(encode_start.elapsed().as_micros() as u64, Ordering::Relaxed);
                        let encoded = match encoded {
                            Ok(Some(encoded)) => encoded,
                            Ok(None) => {
                                if layer == top {
                                    stats.skipped.fetch_add(1, Ordering::Relaxed);
                                }
                                continue;
                            }
                            Err(error) => {
                                tracing::warn!(%error, "a frame could not be encoded");
                                continue;
                            }
                        };
                        if encoded.keyframe && layer == top {
                            tracing::debug!(bytes = encoded.data.len(), "a keyframe is sent");
                            stats.keyframes.fetch_add(1, Ordering::Relaxed);
                        }
                        let bytes = encoded.data.len();
                        match runtime.block_on(track.write_layer(layer, encoded.data, duration)) {
                            Ok(true) => {
                                let index = layer.min(MAX_LAYERS - 1);
                                stats.layers_sent[index].fetch_add(1, Ordering::Relaxed);
                                stats.layer_bytes[index].fetch_add(bytes as u64, Ordering::Relaxed);
                                if layer == top {
                                    stats.sent.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                            // Not negotiated yet: the first frame that does go out must be a
                            // keyframe (a static screen may not send another for a long time).
                            Ok(false) => encoder.request_keyframe(),
                            Err(error) => tracing::debug!(%error, "video sample not written"),
                        }
                    }
                    encoded_before = encoding;
                }
                stats.dropped.store(slot.replaced(), Ordering::Relaxed);
            })?
        };

        Ok(Self {
            stop,
            preview,
            keyframe,
            paused,
            layers_wanted,
            layers_allowed,
            layers_encoded,
            bitrate_cap,
            rids,
            track_id,
            settings: Mutex::new(settings),
            new_settings,
            size,
            stats,
            threads: Mutex::new(vec![capture, encode]),
        })
    }

    /// Shows every frame sent to `preview` too (on the encoder thread).
    pub fn set_preview(&self, preview: Preview) {
        *self.preview.lock().unwrap_or_else(PoisonError::into_inner) = Some(preview);
    }

    /// Stops encoding (nobody watches; captured frames still reach the
    /// preview), or starts again with a keyframe.
    pub fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::Relaxed);
    }

    /// Of a track sent in simulcast layers, encodes only the layers with
    /// these RIDs (empty: every one); one encoded again starts with a keyframe.
    pub fn set_layers(&self, rids: &[String]) {
        let mask = if rids.is_empty() {
            u32::MAX
        } else {
            self.rids
                .iter()
                .enumerate()
                .filter(|(_, rid)| rids.contains(rid))
                .fold(0, |mask, (i, _)| mask | 1 << i)
        };
        self.layers_wanted.store(mask, Ordering::Relaxed);
    }

    /// What this track sent and wants, for [`crate::uplink::UplinkAllocator`].
    pub fn uplink_demand(&self, screen: bool) -> VideoDemand {
        let settings = *self.settings.lock().unwrap_or_else(PoisonError::into_inner);
        let layer_count = self.rids.len().max(1);
        VideoDemand {
            track_id: self.track_id.clone(),
            screen,
            nominal: (0..layer_count)
                .map(|layer| layer_settings(settings, layer, layer_count).bitrate_bps)
                .collect(),
            bytes_sent: self.stats.layer_bytes[..layer_count]
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect(),
            encoded: self.layers_encoded.load(Ordering::Relaxed),
            wanted: match self.layers_wanted.load(Ordering::Relaxed) {
                u32::MAX => (1 << layer_count) - 1,
                mask => mask,
            },
        }
    }

    /// Encodes what the uplink has room for: of the layers someone
    /// watches, those in `budget` (none: the video pauses), the top one's
    /// encoder capped to its bitrate cap. A layer encoded again
    /// starts with a keyframe; so does an encoder whose bitrate changed.
    pub fn set_uplink(&self, budget: VideoBudget) {
        self.layers_allowed.store(budget.layers, Ordering::Relaxed);
        self.bitrate_cap.store(budget.bitrate_cap.unwrap_or(0), Ordering::Relaxed);
    }

    /// The next frame will be a keyframe (a viewer sent a PLI).
    pub fn request_keyframe(&self) {
        self.keyframe.store(true, Ordering::Relaxed);
    }

    /// Changes bitrate / frame rate / tuning from the next frame on.
    pub fn set_settings(&self, settings: EncoderSettings) {
        *self.settings.lock().unwrap_or_else(PoisonError::into_inner) = settings;
        *self.new_settings.lock().unwrap_or_else(PoisonError::into_inner) = Some(settings);
    }

    /// Sends at this resolution from the next frame on (`None`: the source's own).
    /// The encoder restarts at the new size with a keyframe.
    pub fn set_size(&self, size: Option<(u32, u32)>) {
        *self.size.lock().unwrap_or_else(PoisonError::into_inner) = size.map(|(w, h)| (w & !1, h & !1));
    }

    /// Live counters.
    pub fn stats(&self) -> &VideoSendStats {
        &self.stats
    }

    /// Stops both threads and waits for them; the counters are final afterwards.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner));
        for thread in threads {
            let _ = thread.join();
        }
    }
}

impl Drop for VideoSender {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The settings of simulcast layer `layer` of `count` (smallest first):
/// each below the top has half the width and height, and a quarter of the
/// bitrate, of the one above (at least 100 kbit/s).
fn layer_settings(settings: EncoderSettings, layer: usize, count: usize) -> EncoderSettings {
    let divisor = 1u32 << (2 * (count - 1 - layer));
    EncoderSettings { bitrate_bps: (settings.bitrate_bps / divisor).max(100_000), ..settings }
}

/// Counters of one audio send pipeline.
#[derive(Debug, Default)]
pub struct AudioSendStats {
    /// 20 ms frames encoded and sent.
    pub sent: AtomicU64,
    /// Frames not sent while muted.
    pub muted: AtomicU64,
    /// Frames of silence not sent (Opus DTX: nothing to send but a rare update).
    pub silent: AtomicU64,
}

/// A running audio send pipeline (source → Opus → track).
pub struct AudioSender {
    stop: Arc<AtomicBool>,
    muted: Arc<AtomicBool>,
    stats: Arc<AudioSendStats>,
    thread: Option<JoinHandle<()>>,
}

impl AudioSender {
    /// Starts reading `source` and sending on `track`.
    pub fn start(
        mut source: Box<dyn AudioSource>,
        track: Arc<LocalTrack>,
        runtime: Handle,
        events: mpsc::Sender<MediaEvent>,
    ) -> Result<Self> {
        let mut encoder = AudioEncoder::new(32_000)?;
        let stop = Arc::new(AtomicBool::new(false));
        let muted = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(AudioSendStats::default());
        let track_id = track.id().to_owned();
        let thread = {
            let (stop, muted, stats) = (stop.clone(), muted.clone(), stats.clone());
            spawn(format!("concord-audio-{track_id}"), move || {
                let mut frame = vec![0.0f32; FRAME_SAMPLES];
                let mut next = Instant::now();
                let interval = Duration::from_millis(20);
                while !stop.load(Ordering::Relaxed) {
                    if !source.is_realtime() {
                        pace(&mut next, interval);
                    }
                    if let Err(error) = source.read_frame(&mut frame) {
                        let reason = error.to_string();
                        let _ = events.try_send(MediaEvent::SourceEnded { track_id, reason });
                        break;
                    }
                    if muted.load(Ordering::Relaxed) {
                        stats.muted.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let packet = match encoder.encode(&frame) {
                        Ok(packet) if packet.len() <= DTX_PACKET_MAX => {
                            stats.silent.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        Ok(packet) => packet,
                        Err(error) => {
                            tracing::warn!(%error, "an audio frame could not be encoded");
                            continue;
                        }
                    };
                    let level = Some(crate::transport::audio_level(&frame));
                    if let Ok(true) = runtime.block_on(track.write_with_level(packet, interval, level)) {
                        stats.sent.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })?
        };
        Ok(Self { stop, muted, stats, thread: Some(thread) })
    }

    /// Mutes or unmutes: while muted nothing is sent.
    pub fn set_muted(&self, muted: bool) {
        self.muted.store(muted, Ordering::Relaxed);
    }

    /// Live counters.
    pub fn stats(&self) -> &AudioSendStats {
        &self.stats
    }

    /// Stops the thread and waits for it; the counters are final afterwards.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for AudioSender {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sleeps until the next tick; after a stall it resumes from now instead of bursting to catch up.
pub(crate) fn pace(next: &mut Instant, interval: Duration) {
    *next += interval;
    let now = Instant::now();
    if *next > now {
        std::thread::sleep(*next - now);
    } else {
        *next = now;
    }
}

/// Spawns a named thread.
pub(crate) fn spawn(name: String, body: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name)
        .spawn(body)
        .map_err(|e| MediaError::Transport(format!("could not start a media thread: {e}")))
}
