//! The call self-test: the whole pipeline over a loopback peer connection.
//!
//! Two [`MediaPeer`]s in this process connect over 127.0.0.1 (optionally
//! through a [`LossyLink`]). The sender publishes a camera, a screen and a
//! microphone track — synthetic by default (stamped test patterns and a
//! bursting tone), the machine's devices when chosen — and the
//! receiver decodes and plays them. Frame numbers and capture times read back
//! from the decoded pictures give gaps, PSNR and glass-to-glass latency; tone
//! onsets found in the mixed output give mouth-to-ear latency. Times are
//! measured up to the decoded picture and to the hand-over to the speaker.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc;

use crate::audio_codec::SAMPLE_RATE;
use crate::convert::{psnr_y, to_i420, I420Frame, PixelFormat};
use crate::devices::{
    self, AudioSink, CameraSource, DeviceList, MicrophoneSource, ScreenSource, SourceChoice, SpeakerSink,
};
use crate::lossy_link::{first_candidate, route_through, LossyLink};
use crate::playback::Playback;
use crate::receive::{receive_audio, VideoReceiveStats, VideoReceiver};
use crate::send::{AudioSender, MediaEvent, VideoSender};
use crate::source::{clock_micros, AudioSource, PatternSource, ToneSource, VideoSource};
use crate::synthetic::{detect_frequency, read_stamp_i420, OnsetDetector, Stamp, TestPattern, ToneGenerator};
use crate::transport::{MediaPeer, PeerOptions, PeerState, RemoteTrack, TrackKind, TransportEvent};
use crate::video_codec::{EncoderSettings, VideoContent};
use crate::{MediaError, Result};

/// The test tone's frequency.
pub const TONE_HZ: f32 = 440.0;
const CAMERA: &str = "camera";
const SCREEN: &str = "screen";
const MICROPHONE: &str = "microphone";
/// Screens are shared at up to 15 frames per second (text needs sharpness, not motion).
const SCREEN_FPS: u32 = 15;
/// Every Nth decoded frame is kept for PSNR, computed after the run (re-rendering
/// the source costs milliseconds the decoder thread must not spend).
const PSNR_EVERY: u64 = 5;
/// At most this many frames are kept for PSNR.
const PSNR_SAMPLES: usize = 40;

/// What to run.
#[derive(Debug, Clone, PartialEq)]
pub struct SelftestOptions {
    /// How long media flows.
    pub seconds: u32,
    /// Camera resolution.
    pub width: u32,
    /// Camera resolution.
    pub height: u32,
    /// Frames per second of both video tracks.
    pub fps: u32,
    /// Share of RTP/RTCP packets dropped on the path, in percent.
    pub loss_percent: f64,
    /// Camera: synthetic by default.
    pub camera: SourceChoice,
    /// Screen: synthetic by default.
    pub screen: SourceChoice,
    /// Microphone: synthetic (a tone) by default.
    pub microphone: SourceChoice,
    /// Speaker: none by default (the output is only analysed).
    pub speaker: SourceChoice,
    /// Camera bitrate (default: 1.5 Mbps at 720p, scaled by pixels).
    pub bitrate_bps: Option<u32>,
}

impl Default for SelftestOptions {
    fn default() -> Self {
        Self {
            seconds: 5,
            width: 1280,
            height: 720,
            fps: 30,
            loss_percent: 0.0,
            camera: SourceChoice::Synthetic,
            screen: SourceChoice::Synthetic,
            microphone: SourceChoice::Synthetic,
            speaker: SourceChoice::Synthetic,
            bitrate_bps: None,
        }
    }
}

impl SelftestOptions {
    /// This machine's default camera, screen, microphone and speaker (`--devices`).
    pub fn with_devices(self) -> Self {
        Self {
            camera: SourceChoice::Default,
            screen: SourceChoice::Default,
            microphone: SourceChoice::Default,
            speaker: SourceChoice::Default,
            ..self
        }
    }
}

/// p50/p95 of a latency, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
}

/// One video track's results.
#[derive(Debug, Clone, Serialize)]
pub struct VideoReport {
    /// What produced the frames.
    pub source: String,
    /// Frames encoded and sent.
    pub frames_sent: u64,
    /// Frames the receiver decoded.
    pub frames_decoded: u64,
    /// Largest jump between consecutive decoded frame numbers (1 = none missing); synthetic sources only.
    pub max_frame_gap: Option<u32>,
    /// Longest time without a decoded frame after the first one, in ms.
    pub max_freeze_ms: f64,
    /// Mean luma PSNR of decoded frames against the source, in dB; synthetic sources only.
    pub psnr_db: Option<f64>,
    /// Capture → decoded picture; synthetic sources only.
    pub glass_to_glass_ms: Option<Percentiles>,
    /// Encoder throughput: frames per second of encoder time (one core).
    pub encode_fps: f64,
    /// Decoder throughput: frames per second of decoder time (one core).
    pub decode_fps: f64,
    /// PLIs the receiver sent.
    pub keyframe_requests: u64,
    /// Keyframes the sender produced.
    pub keyframes_sent: u64,
}

/// The audio track's results.
#[derive(Debug, Clone, Serialize)]
pub struct AudioReport {
    /// What produced the sound.
    pub source: String,
    /// The tone sent (synthetic source only).
    pub tone_hz_sent: Option<f32>,
    /// The dominant frequency heard in the played-out mix.
    pub tone_hz_detected: Option<f32>,
    /// Tone onset captured → played out; synthetic source only.
    pub mouth_to_ear_ms: Option<Percentiles>,
    /// 20 ms packets sent.
    pub packets_sent: u64,
}

/// The whole result, printed as one JSON object by `concord selftest`.
#[derive(Debug, Clone, Serialize)]
pub struct SelftestReport {
    /// Seconds media flowed.
    pub seconds: u32,
    /// Camera resolution, `WxH`.
    pub resolution: String,
    /// Loss applied on the path, percent.
    pub loss_percent: f64,
    /// Measured packet loss on the path, percent.
    pub measured_loss_percent: f64,
    /// Time to connect the two peers, ms.
    pub connect_ms: f64,
    /// Camera track: frames sent.
    pub frames_sent: u64,
    /// Camera track: frames decoded.
    pub frames_decoded: u64,
    /// Camera track: largest frame-number gap.
    pub max_frame_gap: Option<u32>,
    /// Camera track: PSNR.
    pub psnr_db: Option<f64>,
    /// Camera track: glass-to-glass latency.
    pub glass_to_glass_ms: Option<Percentiles>,
    /// Camera track: encoder frames per second.
    pub encode_fps: f64,
    /// Camera track: decoder frames per second.
    pub decode_fps: f64,
    /// The camera track in full (absent when there was no camera).
    pub camera: Option<VideoReport>,
    /// The screen track (absent when there was no screen).
    pub screen: Option<VideoReport>,
    /// The audio track (absent when there was no microphone).
    pub audio: Option<AudioReport>,
    /// Devices found on this machine.
    pub devices: Vec<DeviceList>,
    /// Sources that could not be used, and why (the test ran with what exists).
    pub unavailable: Vec<String>,
}

impl SelftestReport {
    fn nothing_to_test(
        options: &SelftestOptions,
        width: u32,
        height: u32,
        devices: Vec<DeviceList>,
        unavailable: Vec<String>,
    ) -> Self {
        Self {
            seconds: 0,
            resolution: format!("{width}x{height}"),
            loss_percent: options.loss_percent,
            measured_loss_percent: 0.0,
            connect_ms: 0.0,
            frames_sent: 0,
            frames_decoded: 0,
            max_frame_gap: None,
            psnr_db: None,
            glass_to_glass_ms: None,
            encode_fps: 0.0,
            decode_fps: 0.0,
            camera: None,
            screen: None,
            audio: None,
            devices,
            unavailable,
        }
    }
}

/// Runs the self-test on its own runtime (for the desktop binary's `selftest` subcommand).
pub fn run_blocking(options: SelftestOptions) -> Result<SelftestReport> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("concord-selftest-io")
        .enable_all()
        .build()
        .map_err(|e| MediaError::Transport(format!("no async runtime: {e}")))?;
    runtime.block_on(run(options))
}

/// Runs the self-test on the current (multi-threaded) tokio runtime.
pub async fn run(options: SelftestOptions) -> Result<SelftestReport> {
    let runtime = tokio::runtime::Handle::current();
    let (width, height) = (options.width & !1, options.height & !1);
    if width < 16 || height < 16 {
        return Err(MediaError::FrameDimensions { width, height });
    }
    let choices = [&options.camera, &options.screen, &options.microphone, &options.speaker];
    let devices = if choices.iter().any(|c| c.is_device()) { devices::list_all() } else { Vec::new() };
    let mut unavailable = Vec::new();

    // Sources first: what is missing is reported and the test runs without it.
    let camera: Option<Box<dyn VideoSource>> = match &options.camera {
        SourceChoice::Synthetic => Some(Box::new(PatternSource::new(width, height, options.fps))),
        SourceChoice::Off => None,
        choice => take_or_note(
            CameraSource::open(choice.device_name(), width, height, options.fps).map(boxed_video),
            &mut unavailable,
        ),
    };
    let screen_fps = options.fps.min(SCREEN_FPS);
    let screen: Option<Box<dyn VideoSource>> = match &options.screen {
        SourceChoice::Synthetic => Some(Box::new(PatternSource::new(width, height, screen_fps))),
        SourceChoice::Off => None,
        choice => {
            take_or_note(ScreenSource::open(choice.device_name(), screen_fps).map(boxed_video), &mut unavailable)
        }
    };
    let mut onset_log = None;
    let microphone: Option<Box<dyn AudioSource>> = match &options.microphone {
        SourceChoice::Synthetic => {
            let tone = ToneSource::new(ToneGenerator::bursts(
                TONE_HZ,
                0.5,
                Duration::from_millis(300),
                Duration::from_millis(200),
            ));
            onset_log = Some(tone.onset_log());
            Some(Box::new(tone))
        }
        SourceChoice::Off => None,
        choice => take_or_note(
            MicrophoneSource::open(choice.device_name()).map(|m| Box::new(m) as Box<dyn AudioSource>),
            &mut unavailable,
        ),
    };
    let speaker = match &options.speaker {
        SourceChoice::Synthetic | SourceChoice::Off => None,
        choice => take_or_note(
            SpeakerSink::open(choice.device_name()).map(|s| Box::new(s) as Box<dyn AudioSink>),
            &mut unavailable,
        ),
    };
    let mut patterned = Vec::new();
    if options.camera == SourceChoice::Synthetic {
        patterned.push(CAMERA.to_owned());
    }
    if options.screen == SourceChoice::Synthetic {
        patterned.push(SCREEN.to_owned());
    }

    if camera.is_none() && screen.is_none() && microphone.is_none() {
        // Nothing to send: say what is missing rather than fail.
        return Ok(SelftestReport::nothing_to_test(&options, width, height, devices, unavailable));
    }

    // The two peers, optionally with a lossy relay in front of each.
    let (sender_events_tx, mut sender_events) = mpsc::channel(64);
    let (receiver_events_tx, mut receiver_events) = mpsc::channel(64);
    let sender = MediaPeer::new(PeerOptions::loopback(), sender_events_tx).await?;
    let receiver = MediaPeer::new(PeerOptions::loopback(), receiver_events_tx).await?;
    let camera_track = match camera {
        Some(_) => Some(Arc::new(sender.add_track(CAMERA, "selftest", TrackKind::Video).await?)),
        None => None,
    };
    let screen_track = match screen {
        Some(_) => Some(Arc::new(sender.add_track(SCREEN, "selftest", TrackKind::Video).await?)),
        None => None,
    };
    let audio_track = match microphone {
        Some(_) => Some(Arc::new(sender.add_track(MICROPHONE, "selftest", TrackKind::Audio).await?)),
        None => None,
    };

    let connect_started = Instant::now();
    let mut links = Vec::new();
    let offer = sender.create_offer().await?;
    let offer = if options.loss_percent > 0.0 {
        let target = first_candidate(&offer).ok_or_else(|| MediaError::Transport("offer has no candidate".into()))?;
        let link = LossyLink::start(target, options.loss_percent, 1).await.map_err(io_error)?;
        let routed = route_through(&offer, link.address());
        links.push(link);
        routed
    } else {
        offer
    };
    let answer = receiver.accept_offer(offer).await?;
    let answer = if options.loss_percent > 0.0 {
        let target = first_candidate(&answer).ok_or_else(|| MediaError::Transport("answer has no candidate".into()))?;
        let link = LossyLink::start(target, options.loss_percent, 2).await.map_err(io_error)?;
        let routed = route_through(&answer, link.address());
        links.push(link);
        routed
    } else {
        answer
    };
    sender.accept_answer(answer).await?;

    // The receiver: video probes and playback, set up as tracks arrive.
    let probes: Arc<Mutex<HashMap<String, VideoProbe>>> = Arc::default();
    let ear = Arc::new(Mutex::new(Ear::new()));
    let playback = Arc::new(Playback::start(Box::new(EarSink { ear: Arc::clone(&ear), speaker }))?);
    let receivers: Arc<Mutex<HashMap<String, VideoReceiver>>> = Arc::default();
    let (connected_tx, mut connected) = tokio::sync::watch::channel(None::<PeerState>);
    let receiver_task = {
        let (probes, playback, receivers, runtime) =
            (Arc::clone(&probes), Arc::clone(&playback), Arc::clone(&receivers), runtime.clone());
        let size = (width, height);
        tokio::spawn(async move {
            while let Some(event) = receiver_events.recv().await {
                match event {
                    TransportEvent::State(state) => {
                        connected_tx.send_replace(Some(state));
                    }
                    TransportEvent::RemoteTrack(track) => {
                        if let Err(error) = receive_track(track, &runtime, &probes, &playback, &receivers, &patterned, size)
                        {
                            tracing::warn!(%error, "a remote track could not be received");
                        }
                    }
                    TransportEvent::KeyframeRequested { .. } => {}
                }
            }
        })
    };
    tokio::time::timeout(
        Duration::from_secs(10),
        connected.wait_for(|s| matches!(s, Some(PeerState::Connected | PeerState::Failed))),
    )
    .await
    .map_err(|_| MediaError::Transport("the loopback call did not connect within 10 s".into()))?
    .map_err(|_| MediaError::Transport("the receiver closed".into()))?;
    if *connected.borrow() == Some(PeerState::Failed) {
        return Err(MediaError::Transport("the loopback connection failed".into()));
    }
    let connect_ms = connect_started.elapsed().as_secs_f64() * 1000.0;

    // The sender: start the pipelines and answer keyframe requests.
    let (media_events_tx, mut media_events) = mpsc::channel::<MediaEvent>(16);
    let mut video_senders: HashMap<String, (Arc<VideoSender>, String)> = HashMap::new();
    let camera_settings = {
        let mut settings = EncoderSettings::camera(width, height, options.fps as f32);
        if let Some(bitrate) = options.bitrate_bps {
            settings.bitrate_bps = bitrate;
        }
        settings
    };
    if let (Some(source), Some(track)) = (camera, camera_track) {
        let name = source.name();
        let sender = VideoSender::start(
            source,
            track,
            camera_settings,
            Some((width, height)),
            runtime.clone(),
            media_events_tx.clone(),
        )?;
        video_senders.insert(CAMERA.into(), (Arc::new(sender), name));
    }
    if let (Some(source), Some(track)) = (screen, screen_track) {
        let name = source.name();
        let settings = EncoderSettings {
            content: VideoContent::Screen,
            frame_rate: options.fps.min(SCREEN_FPS) as f32,
            ..camera_settings
        };
        let sender =
            VideoSender::start(source, track, settings, Some((width, height)), runtime.clone(), media_events_tx.clone())?;
        video_senders.insert(SCREEN.into(), (Arc::new(sender), name));
    }
    let mut audio_sender = None;
    let mut audio_source_name = String::new();
    if let (Some(source), Some(track)) = (microphone, audio_track) {
        audio_source_name = source.name();
        audio_sender = Some(AudioSender::start(source, track, runtime.clone(), media_events_tx.clone())?);
    }
    let keyframe_targets: HashMap<String, Arc<VideoSender>> =
        video_senders.iter().map(|(id, (sender, _))| (id.clone(), Arc::clone(sender))).collect();
    let pli_task = tokio::spawn(async move {
        while let Some(event) = sender_events.recv().await {
            if let TransportEvent::KeyframeRequested { track_id } = event {
                if let Some(sender) = keyframe_targets.get(&track_id) {
                    sender.request_keyframe();
                }
            }
        }
    });

    let run_until = Instant::now() + Duration::from_secs(u64::from(options.seconds.max(1)));
    while Instant::now() < run_until {
        let remaining = run_until.saturating_duration_since(Instant::now());
        if let Ok(Some(MediaEvent::SourceEnded { track_id, reason })) =
            tokio::time::timeout(remaining, media_events.recv()).await
        {
            unavailable.push(format!("{track_id} ended: {reason}"));
        }
    }

    // Stop sending, let the tail arrive, then read the results.
    pli_task.abort();
    let mut sent = HashMap::new();
    for (id, (sender, name)) in video_senders {
        sender.stop();
        let stats = sender.stats();
        sent.insert(
            id,
            (
                name,
                stats.sent.load(Ordering::Relaxed),
                stats.keyframes.load(Ordering::Relaxed),
                stats.encode_micros.load(Ordering::Relaxed),
            ),
        );
        drop(sender);
    }
    if let Some(audio_sender) = &mut audio_sender {
        audio_sender.stop();
    }
    let audio_packets_sent = audio_sender.as_ref().map_or(0, |a| a.stats().sent.load(Ordering::Relaxed));
    drop(audio_sender);
    tokio::time::sleep(Duration::from_millis(300)).await;
    receiver_task.abort();
    let _ = receiver_task.await;
    drop(playback);
    let mut reports: HashMap<String, VideoReport> = HashMap::new();
    {
        let probes = probes.lock().unwrap_or_else(PoisonError::into_inner);
        let receivers = receivers.lock().unwrap_or_else(PoisonError::into_inner);
        for (id, (name, frames_sent, keyframes_sent, encode_micros)) in sent {
            let (Some(probe), Some(receiver)) = (probes.get(&id), receivers.get(&id)) else { continue };
            let sent = SentCounts { frames: frames_sent, keyframes: keyframes_sent, encode_micros };
            reports.insert(id, probe.report(name, sent, receiver.stats()));
        }
    }
    receivers.lock().unwrap_or_else(PoisonError::into_inner).clear();
    sender.close().await;
    receiver.close().await;

    let (packets, dropped) = links.iter().fold((0, 0), |(p, d), link| {
        (p + link.stats().packets.load(Ordering::Relaxed), d + link.stats().dropped.load(Ordering::Relaxed))
    });
    let ear = ear.lock().unwrap_or_else(PoisonError::into_inner);
    let audio = (audio_packets_sent > 0 || !audio_source_name.is_empty()).then(|| AudioReport {
        source: audio_source_name.clone(),
        tone_hz_sent: onset_log.is_some().then_some(TONE_HZ),
        tone_hz_detected: detect_frequency(&ear.heard, SAMPLE_RATE),
        mouth_to_ear_ms: onset_log.as_ref().and_then(|log| {
            let sent = log.lock().unwrap_or_else(PoisonError::into_inner);
            percentiles(match_onsets(&sent, &ear.onsets))
        }),
        packets_sent: audio_packets_sent,
    });
    let camera = reports.remove(CAMERA);
    let screen = reports.remove(SCREEN);
    let main = camera.as_ref().or(screen.as_ref());
    Ok(SelftestReport {
        seconds: options.seconds,
        resolution: format!("{width}x{height}"),
        loss_percent: options.loss_percent,
        measured_loss_percent: if packets == 0 { 0.0 } else { dropped as f64 * 100.0 / packets as f64 },
        connect_ms,
        frames_sent: main.map_or(0, |r| r.frames_sent),
        frames_decoded: main.map_or(0, |r| r.frames_decoded),
        max_frame_gap: main.and_then(|r| r.max_frame_gap),
        psnr_db: main.and_then(|r| r.psnr_db),
        glass_to_glass_ms: main.and_then(|r| r.glass_to_glass_ms),
        encode_fps: main.map_or(0.0, |r| r.encode_fps),
        decode_fps: main.map_or(0.0, |r| r.decode_fps),
        camera,
        screen,
        audio,
        devices,
        unavailable,
    })
}

/// Starts receiving one remote track: video into a decoder and a probe, audio into playback.
fn receive_track(
    track: RemoteTrack,
    runtime: &tokio::runtime::Handle,
    probes: &Arc<Mutex<HashMap<String, VideoProbe>>>,
    playback: &Playback,
    receivers: &Mutex<HashMap<String, VideoReceiver>>,
    patterned: &[String],
    (width, height): (u32, u32),
) -> Result<()> {
    match track.kind {
        TrackKind::Audio => playback.add_speaker(track.stream_id.clone(), receive_audio(track, runtime)),
        TrackKind::Video => {
            let id = track.id.clone();
            let pattern = patterned.contains(&id).then(|| TestPattern::new(width, height));
            probes.lock().unwrap_or_else(PoisonError::into_inner).insert(id.clone(), VideoProbe::new(pattern));
            let (probes, probe_id) = (Arc::clone(probes), id.clone());
            let receiver = VideoReceiver::start(track, runtime, move |picture| {
                if let Some(probe) = probes.lock().unwrap_or_else(PoisonError::into_inner).get_mut(&probe_id) {
                    probe.observe(picture);
                }
            })?;
            receivers.lock().unwrap_or_else(PoisonError::into_inner).insert(id, receiver);
            Ok(())
        }
    }
}

fn boxed_video<S: VideoSource + 'static>(source: S) -> Box<dyn VideoSource> {
    Box::new(source)
}

fn take_or_note<T>(result: Result<T>, unavailable: &mut Vec<String>) -> Option<T> {
    result.map_err(|e| unavailable.push(e.to_string())).ok()
}

fn io_error(error: std::io::Error) -> MediaError {
    MediaError::Transport(format!("lossy relay: {error}"))
}

/// What the receiver measured on one video track.
struct VideoProbe {
    pattern: Option<TestPattern>,
    decoded: u64,
    last_number: Option<u32>,
    max_gap: u32,
    first_at: Option<Instant>,
    last_at: Option<Instant>,
    max_freeze: Duration,
    latencies_ms: Vec<f64>,
    samples: Vec<(Stamp, I420Frame)>,
}

/// What the sending side counted for one track.
struct SentCounts {
    frames: u64,
    keyframes: u64,
    encode_micros: u64,
}

impl VideoProbe {
    fn new(pattern: Option<TestPattern>) -> Self {
        Self {
            pattern,
            decoded: 0,
            last_number: None,
            max_gap: 0,
            first_at: None,
            last_at: None,
            max_freeze: Duration::ZERO,
            latencies_ms: Vec::new(),
            samples: Vec::new(),
        }
    }

    fn observe(&mut self, picture: &I420Frame) {
        let now = Instant::now();
        let arrived_micros = clock_micros();
        self.decoded += 1;
        if let Some(last) = self.last_at {
            self.max_freeze = self.max_freeze.max(now - last);
        }
        self.first_at.get_or_insert(now);
        self.last_at = Some(now);
        if self.pattern.is_none() {
            return;
        }
        let Some(stamp) = read_stamp_i420(picture) else { return };
        self.latencies_ms.push(arrived_micros.saturating_sub(stamp.capture_micros) as f64 / 1000.0);
        if let Some(last) = self.last_number {
            self.max_gap = self.max_gap.max(stamp.frame_number.wrapping_sub(last));
        }
        self.last_number = Some(stamp.frame_number);
        if self.decoded % PSNR_EVERY == 0 && self.samples.len() < PSNR_SAMPLES {
            self.samples.push((stamp, picture.clone()));
        }
    }

    fn report(&self, source: String, sent: SentCounts, received: &VideoReceiveStats) -> VideoReport {
        let synthetic = self.pattern.is_some();
        let psnr: Vec<f64> = match &self.pattern {
            Some(pattern) => self
                .samples
                .iter()
                .filter_map(|(stamp, picture)| psnr_against_source(pattern, *stamp, picture))
                .collect(),
            None => Vec::new(),
        };
        VideoReport {
            source,
            frames_sent: sent.frames,
            frames_decoded: self.decoded,
            max_frame_gap: (synthetic && self.last_number.is_some()).then_some(self.max_gap),
            max_freeze_ms: self.max_freeze.as_secs_f64() * 1000.0,
            psnr_db: (!psnr.is_empty()).then(|| psnr.iter().sum::<f64>() / psnr.len() as f64),
            glass_to_glass_ms: percentiles(self.latencies_ms.clone()),
            encode_fps: per_second(sent.frames, sent.encode_micros),
            decode_fps: per_second(
                received.decoded.load(Ordering::Relaxed),
                received.decode_micros.load(Ordering::Relaxed),
            ),
            keyframe_requests: received.keyframe_requests.load(Ordering::Relaxed),
            keyframes_sent: sent.keyframes,
        }
    }
}

fn psnr_against_source(pattern: &TestPattern, stamp: Stamp, picture: &I420Frame) -> Option<f64> {
    if (pattern.width(), pattern.height()) != (picture.width, picture.height) {
        return None;
    }
    let mut rgba = Vec::new();
    pattern.render_rgba(stamp, &mut rgba);
    let source = to_i420(PixelFormat::Rgba32, pattern.width(), pattern.height(), &rgba).ok()?;
    Some(psnr_y(&source, picture).min(99.0))
}

fn per_second(frames: u64, micros: u64) -> f64 {
    if micros == 0 {
        0.0
    } else {
        frames as f64 * 1_000_000.0 / micros as f64
    }
}

fn percentiles(mut values: Vec<f64>) -> Option<Percentiles> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    Some(Percentiles { p50: at(0.5), p95: at(0.95) })
}

/// Pairs each onset heard with the latest onset sent before it (bursts are 500 ms apart).
fn match_onsets(sent: &[u64], heard: &[u64]) -> Vec<f64> {
    heard
        .iter()
        .filter_map(|&h| sent.iter().rev().find(|&&s| s <= h).map(|&s| (h - s) as f64 / 1000.0))
        .filter(|ms| *ms < 400.0)
        .collect()
}

/// The receiver's "ear": where the mixed output is analysed.
struct Ear {
    detector: OnsetDetector,
    /// Onsets heard, as [`clock_micros`] of the onset sample's play-out.
    onsets: Vec<u64>,
    /// Non-silent output kept for frequency detection (at most 4 s).
    heard: Vec<f32>,
    /// Samples fed to the detector so far.
    fed: u64,
}

impl Ear {
    fn new() -> Self {
        Self {
            detector: OnsetDetector::new(SAMPLE_RATE, 0.05, Duration::from_millis(100)),
            onsets: Vec::new(),
            heard: Vec::new(),
            fed: 0,
        }
    }
}

struct EarSink {
    ear: Arc<Mutex<Ear>>,
    speaker: Option<Box<dyn AudioSink>>,
}

impl AudioSink for EarSink {
    fn play(&mut self, frame: &[f32]) {
        let played_at = clock_micros();
        let mut ear = self.ear.lock().unwrap_or_else(PoisonError::into_inner);
        let fed_before = ear.fed;
        for onset in ear.detector.feed(frame) {
            let offset = onset.saturating_sub(fed_before) * 1_000_000 / u64::from(SAMPLE_RATE);
            ear.onsets.push(played_at + offset);
        }
        ear.fed += frame.len() as u64;
        if crate::synthetic::rms(frame) > 0.01 && ear.heard.len() < SAMPLE_RATE as usize * 4 {
            ear.heard.extend_from_slice(frame);
        }
        drop(ear);
        if let Some(speaker) = &mut self.speaker {
            speaker.play(frame);
        }
    }
}
