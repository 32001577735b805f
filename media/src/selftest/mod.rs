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

mod probe;
mod report;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch};

use self::probe::{match_onsets, Ear, EarSink, SentCounts, VideoProbe};
use self::report::percentiles;
pub use self::report::{AudioReport, Percentiles, PlayoutReport, SelftestReport, VideoReport};
use crate::audio_codec::SAMPLE_RATE;
use crate::devices::{self, SourceChoice};
use crate::lossy_link::{first_candidate, route_through, LossyLink};
use crate::playback::Playback;
use crate::receive::{receive_audio, VideoReceiver};
use crate::send::{AudioSender, MediaEvent, VideoSender};
use crate::source::{AudioSink, AudioSource, PatternSource, ToneSource, VideoSource};
use crate::synthetic::{detect_frequency, TestPattern, ToneGenerator};
use crate::transport::{
    LocalTrack, MediaPeer, PeerOptions, PeerState, RemoteTrack, TrackKind, TransportEvent,
};
use crate::video_codec::{EncoderSettings, VideoContent};
use crate::{MediaError, Result};

/// The test tone's frequency.
pub const TONE_HZ: f32 = 440.0;
const CAMERA: &str = "camera";
const SCREEN: &str = "screen";
const MICROPHONE: &str = "microphone";
/// Screens are shared at up to 15 frames per second (text needs sharpness, not motion).
const SCREEN_FPS: u32 = 15;
/// How long the two peers may take to connect.
/// How often the frames sent are looked at when the test ends on a count of them.
const FRAMES_CHECK: Duration = Duration::from_millis(50);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What to run.
#[derive(Debug, Clone, PartialEq)]
pub struct SelftestOptions {
    /// How long media flows; with [`SelftestOptions::frames`], the most it flows.
    pub seconds: u32,
    /// End as soon as every video track has sent this many frames (`seconds`
    /// stays the upper bound): a check that needs N frames waits for them,
    /// however slow the machine, instead of for a fixed time.
    pub frames: Option<u64>,
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
            frames: None,
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
    let (width, height) = (options.width & !1, options.height & !1);
    if width < 16 || height < 16 {
        return Err(MediaError::FrameDimensions { width, height });
    }
    let choices = [&options.camera, &options.screen, &options.microphone, &options.speaker];
    let devices = if choices.iter().any(|c| c.is_device()) { devices::list_all() } else { Vec::new() };
    let mut sources = Sources::open(&options, width, height);
    if sources.camera.is_none() && sources.screen.is_none() && sources.microphone.is_none() {
        // Nothing to send: say what is missing rather than fail.
        let mut report = SelftestReport::new(format!("{width}x{height}"), None, None, None);
        report.devices = devices;
        report.unavailable = sources.unavailable;
        return Ok(report);
    }

    let call = LoopbackCall::connect(&sources, options.loss_percent).await?;
    let receiving =
        Receiving::start(call.receiver_events, sources.speaker.take(), &sources.patterned, (width, height))?;
    let connect_ms = receiving.wait_connected(call.started).await?;
    let mut sending =
        Sending::start(&mut sources, &call.tracks, &options, (width, height), call.sender_events)?;
    let ended = sending.run_for(Duration::from_secs(u64::from(options.seconds.max(1))), options.frames).await;
    let sent = sending.stop();
    // Let the tail arrive before reading what the receiver got.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut received = receiving.finish(sent.video).await;
    call.sender.close().await;
    call.receiver.close().await;

    let audio = sources.tone_onsets.is_some() || sent.audio.is_some();
    let audio = audio.then(|| {
        let ear = received.ear.lock().unwrap_or_else(PoisonError::into_inner);
        AudioReport {
            source: sources.microphone_name.clone(),
            tone_hz_sent: sources.tone_onsets.is_some().then_some(TONE_HZ),
            tone_hz_detected: detect_frequency(&ear.heard, SAMPLE_RATE),
            mouth_to_ear_ms: sources.tone_onsets.as_ref().and_then(|log| {
                let sent = log.lock().unwrap_or_else(PoisonError::into_inner);
                percentiles(match_onsets(&sent, &ear.onsets))
            }),
            packets_sent: sent.audio.unwrap_or(0),
            playout: ear.playout.as_ref().map(|jitter| {
                let jitter = jitter.lock().unwrap_or_else(PoisonError::into_inner);
                let stats = jitter.stats();
                PlayoutReport {
                    target_ms: jitter.target_delay().as_secs_f64() * 1000.0,
                    played: stats.played,
                    concealed: stats.concealed,
                    dropped_late: stats.dropped_late,
                    dropped_shrink: stats.dropped_shrink,
                }
            }),
        }
    });
    let camera = received.reports.remove(CAMERA);
    let screen = received.reports.remove(SCREEN);
    let mut report = SelftestReport::new(format!("{width}x{height}"), camera, screen, audio);
    report.seconds = options.seconds;
    report.loss_percent = options.loss_percent;
    report.measured_loss_percent = call.links.measured_loss_percent();
    report.connect_ms = connect_ms;
    report.devices = devices;
    report.unavailable = sources.unavailable;
    report.unavailable.extend(ended);
    Ok(report)
}

/// The sources the options asked for, opened; what could not be opened is noted.
struct Sources {
    camera: Option<Box<dyn VideoSource>>,
    screen: Option<Box<dyn VideoSource>>,
    microphone: Option<Box<dyn AudioSource>>,
    microphone_name: String,
    speaker: Option<Box<dyn AudioSink>>,
    /// Onsets of the test tone (synthetic microphone only).
    tone_onsets: Option<Arc<Mutex<Vec<u64>>>>,
    /// Video tracks whose source is the test pattern.
    patterned: Vec<String>,
    unavailable: Vec<String>,
}

impl Sources {
    fn open(options: &SelftestOptions, width: u32, height: u32) -> Self {
        let mut unavailable = Vec::new();
        let mut note = |error: MediaError| unavailable.push(error.to_string());
        let screen_fps = options.fps.min(SCREEN_FPS);
        let camera: Option<Box<dyn VideoSource>> = match &options.camera {
            SourceChoice::Synthetic => Some(Box::new(PatternSource::new(width, height, options.fps))),
            SourceChoice::Off => None,
            choice => {
                devices::open_camera(choice.device_name(), width, height, options.fps).map_err(&mut note).ok()
            }
        };
        let screen: Option<Box<dyn VideoSource>> = match &options.screen {
            SourceChoice::Synthetic => Some(Box::new(PatternSource::new(width, height, screen_fps))),
            SourceChoice::Off => None,
            choice => devices::open_screen(choice.device_name(), screen_fps).map_err(&mut note).ok(),
        };
        let mut tone_onsets = None;
        let microphone: Option<Box<dyn AudioSource>> = match &options.microphone {
            SourceChoice::Synthetic => {
                let on = Duration::from_millis(300);
                let tone =
                    ToneSource::new(ToneGenerator::bursts(TONE_HZ, 0.5, on, Duration::from_millis(200)));
                tone_onsets = Some(tone.onset_log());
                Some(Box::new(tone))
            }
            SourceChoice::Off => None,
            choice => devices::open_microphone(choice.device_name()).map_err(&mut note).ok(),
        };
        let speaker = match &options.speaker {
            SourceChoice::Synthetic | SourceChoice::Off => None,
            choice => devices::open_speaker(choice.device_name()).map_err(&mut note).ok(),
        };
        let mut patterned = Vec::new();
        if options.camera == SourceChoice::Synthetic {
            patterned.push(CAMERA.to_owned());
        }
        if options.screen == SourceChoice::Synthetic {
            patterned.push(SCREEN.to_owned());
        }
        let microphone_name = microphone.as_ref().map(|m| m.name()).unwrap_or_default();
        Self { camera, screen, microphone, microphone_name, speaker, tone_onsets, patterned, unavailable }
    }
}

/// The published tracks, by role.
#[derive(Default)]
struct Tracks {
    camera: Option<Arc<LocalTrack>>,
    screen: Option<Arc<LocalTrack>>,
    microphone: Option<Arc<LocalTrack>>,
}

/// Lossy relays in front of the peers (none without `--loss`).
#[derive(Default)]
struct Links(Vec<LossyLink>);

impl Links {
    /// Puts a relay in front of the peer that wrote `sdp`, and returns the SDP pointing at the relay.
    async fn route(&mut self, sdp: String, loss_percent: f64) -> Result<String> {
        if loss_percent <= 0.0 {
            return Ok(sdp);
        }
        let target = first_candidate(&sdp).ok_or_else(|| MediaError::Transport("no ICE candidate".into()))?;
        let seed = self.0.len() as u64 + 1;
        let link = LossyLink::start(target, loss_percent, seed)
            .await
            .map_err(|e| MediaError::Transport(format!("lossy relay: {e}")))?;
        let routed = route_through(&sdp, link.address());
        self.0.push(link);
        Ok(routed)
    }

    fn measured_loss_percent(&self) -> f64 {
        let (packets, dropped) = self.0.iter().fold((0, 0), |(p, d), link| {
            (
                p + link.stats().packets.load(Ordering::Relaxed),
                d + link.stats().dropped.load(Ordering::Relaxed),
            )
        });
        if packets == 0 {
            0.0
        } else {
            dropped as f64 * 100.0 / packets as f64
        }
    }
}

/// Two peers in this process, negotiated (media may not flow yet).
struct LoopbackCall {
    sender: MediaPeer,
    receiver: MediaPeer,
    sender_events: mpsc::Receiver<TransportEvent>,
    receiver_events: mpsc::Receiver<TransportEvent>,
    tracks: Tracks,
    links: Links,
    started: Instant,
}

impl LoopbackCall {
    async fn connect(sources: &Sources, loss_percent: f64) -> Result<Self> {
        let (sender_tx, sender_events) = mpsc::channel(64);
        let (receiver_tx, receiver_events) = mpsc::channel(64);
        let sender = Box::pin(MediaPeer::new(PeerOptions::loopback(), sender_tx)).await?;
        let receiver = Box::pin(MediaPeer::new(PeerOptions::loopback(), receiver_tx)).await?;
        let mut tracks = Tracks::default();
        if sources.camera.is_some() {
            tracks.camera = Some(Arc::new(sender.add_track(CAMERA, "selftest", TrackKind::Video).await?));
        }
        if sources.screen.is_some() {
            tracks.screen = Some(Arc::new(sender.add_track(SCREEN, "selftest", TrackKind::Video).await?));
        }
        if sources.microphone.is_some() {
            tracks.microphone =
                Some(Arc::new(sender.add_track(MICROPHONE, "selftest", TrackKind::Audio).await?));
        }
        let started = Instant::now();
        let mut links = Links::default();
        let offer = links.route(sender.create_offer().await?, loss_percent).await?;
        let answer = links.route(receiver.accept_offer(offer).await?, loss_percent).await?;
        sender.accept_answer(answer).await?;
        Ok(Self { sender, receiver, sender_events, receiver_events, tracks, links, started })
    }
}

/// The receiving end: decoders with probes per video track, playback into the ear.
struct Receiving {
    probes: Arc<Mutex<HashMap<String, VideoProbe>>>,
    receivers: Arc<Mutex<HashMap<String, VideoReceiver>>>,
    playback: Arc<Playback>,
    ear: Arc<Mutex<Ear>>,
    state: watch::Receiver<Option<PeerState>>,
    task: tokio::task::JoinHandle<()>,
}

/// What the receiving end measured.
struct Received {
    reports: HashMap<String, VideoReport>,
    ear: Arc<Mutex<Ear>>,
}

impl Receiving {
    fn start(
        mut events: mpsc::Receiver<TransportEvent>,
        speaker: Option<Box<dyn AudioSink>>,
        patterned: &[String],
        size: (u32, u32),
    ) -> Result<Self> {
        let probes: Arc<Mutex<HashMap<String, VideoProbe>>> = Arc::default();
        let receivers: Arc<Mutex<HashMap<String, VideoReceiver>>> = Arc::default();
        let ear = Arc::new(Mutex::new(Ear::new()));
        let playback = Arc::new(Playback::start(Box::new(EarSink { ear: Arc::clone(&ear), speaker }), None)?);
        let (state_tx, state) = watch::channel(None);
        let task = {
            let (probes, receivers, playback, ear) =
                (Arc::clone(&probes), Arc::clone(&receivers), Arc::clone(&playback), Arc::clone(&ear));
            let (runtime, patterned) = (Handle::current(), patterned.to_vec());
            tokio::spawn(async move {
                while let Some(event) = events.recv().await {
                    match event {
                        TransportEvent::State(peer_state) => {
                            state_tx.send_replace(Some(peer_state));
                        }
                        TransportEvent::RemoteTrack(track) => {
                            let pattern =
                                patterned.contains(&track.id).then(|| TestPattern::new(size.0, size.1));
                            if let Err(error) =
                                receive_track(track, &runtime, &probes, &playback, &receivers, &ear, pattern)
                            {
                                tracing::warn!(%error, "a remote track could not be received");
                            }
                        }
                        TransportEvent::KeyframeRequested { .. } => {}
                    }
                }
            })
        };
        Ok(Self { probes, receivers, playback, ear, state, task })
    }

    /// Waits for the connection; returns how long it took since `started`, in ms.
    async fn wait_connected(&self, started: Instant) -> Result<f64> {
        let mut state = self.state.clone();
        let reached = tokio::time::timeout(
            CONNECT_TIMEOUT,
            state.wait_for(|s| matches!(s, Some(PeerState::Connected | PeerState::Failed))),
        )
        .await
        .map_err(|_| MediaError::Transport("the loopback call did not connect within 10 s".into()))?
        .map_err(|_| MediaError::Transport("the receiving peer closed".into()))?
        .to_owned();
        if reached == Some(PeerState::Failed) {
            return Err(MediaError::Transport("the loopback connection failed".into()));
        }
        Ok(started.elapsed().as_secs_f64() * 1000.0)
    }

    /// Stops receiving and turns each video track's probe into its report.
    async fn finish(self, sent: HashMap<String, SentCounts>) -> Received {
        self.task.abort();
        let _ = self.task.await;
        drop(self.playback);
        let mut reports = HashMap::new();
        let probes = self.probes.lock().unwrap_or_else(PoisonError::into_inner);
        let mut receivers = self.receivers.lock().unwrap_or_else(PoisonError::into_inner);
        for (id, counts) in sent {
            let (Some(probe), Some(receiver)) = (probes.get(&id), receivers.get(&id)) else { continue };
            reports.insert(id, probe.report(counts, receiver.stats()));
        }
        receivers.clear();
        Received { reports, ear: self.ear }
    }
}

/// Starts receiving one remote track: video into a decoder and a probe, audio into playback.
fn receive_track(
    track: RemoteTrack,
    runtime: &Handle,
    probes: &Arc<Mutex<HashMap<String, VideoProbe>>>,
    playback: &Playback,
    receivers: &Mutex<HashMap<String, VideoReceiver>>,
    ear: &Mutex<Ear>,
    pattern: Option<TestPattern>,
) -> Result<()> {
    match track.kind {
        TrackKind::Audio => {
            let id = track.stream_id.clone();
            let jitter = receive_audio(track, runtime);
            ear.lock().unwrap_or_else(PoisonError::into_inner).playout = Some(Arc::clone(&jitter));
            playback.add_speaker(id, jitter)
        }
        TrackKind::Video => {
            let id = track.id.clone();
            probes
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(id.clone(), VideoProbe::new(pattern));
            let (probes, probe_id) = (Arc::clone(probes), id.clone());
            let receiver = VideoReceiver::start(track, runtime, move |picture| {
                if let Some(probe) = probes.lock().unwrap_or_else(PoisonError::into_inner).get_mut(&probe_id)
                {
                    probe.observe(picture);
                }
            })?;
            receivers.lock().unwrap_or_else(PoisonError::into_inner).insert(id, receiver);
            Ok(())
        }
    }
}

/// The sending end: one pipeline per source, and the keyframe-request relay.
struct Sending {
    video: HashMap<String, (Arc<VideoSender>, String)>,
    audio: Option<AudioSender>,
    media_events: mpsc::Receiver<MediaEvent>,
    pli_task: tokio::task::JoinHandle<()>,
}

/// What the sending end counted.
struct Sent {
    video: HashMap<String, SentCounts>,
    audio: Option<u64>,
}

impl Sending {
    fn start(
        sources: &mut Sources,
        tracks: &Tracks,
        options: &SelftestOptions,
        (width, height): (u32, u32),
        mut sender_events: mpsc::Receiver<TransportEvent>,
    ) -> Result<Self> {
        let runtime = Handle::current();
        let (events, media_events) = mpsc::channel::<MediaEvent>(16);
        let mut camera_settings = EncoderSettings::camera(width, height, options.fps as f32);
        if let Some(bitrate) = options.bitrate_bps {
            camera_settings.bitrate_bps = bitrate;
        }
        let screen_settings = EncoderSettings {
            content: VideoContent::Screen,
            frame_rate: options.fps.min(SCREEN_FPS) as f32,
            ..camera_settings
        };
        let mut video = HashMap::new();
        for (id, source, track, settings) in [
            (CAMERA, sources.camera.take(), &tracks.camera, camera_settings),
            (SCREEN, sources.screen.take(), &tracks.screen, screen_settings),
        ] {
            let (Some(source), Some(track)) = (source, track) else { continue };
            let name = source.name();
            let size = Some((width, height));
            let sender = VideoSender::start(
                source,
                Arc::clone(track),
                settings,
                size,
                runtime.clone(),
                events.clone(),
            )?;
            video.insert(id.to_owned(), (Arc::new(sender), name));
        }
        let audio = match (sources.microphone.take(), &tracks.microphone) {
            (Some(source), Some(track)) => {
                Some(AudioSender::start(source, Arc::clone(track), runtime.clone(), events.clone())?)
            }
            _ => None,
        };
        let keyframe_targets: HashMap<String, Arc<VideoSender>> =
            video.iter().map(|(id, (sender, _))| (id.clone(), Arc::clone(sender))).collect();
        let pli_task = tokio::spawn(async move {
            while let Some(event) = sender_events.recv().await {
                if let TransportEvent::KeyframeRequested { track_id } = event {
                    if let Some(sender) = keyframe_targets.get(&track_id) {
                        sender.request_keyframe();
                    }
                }
            }
        });
        Ok(Self { video, audio, media_events, pli_task })
    }

    /// Lets media flow for `duration`, or until every video track has sent
    /// `frames` frames when given; returns the sources that ended meanwhile.
    async fn run_for(&mut self, duration: Duration, frames: Option<u64>) -> Vec<String> {
        let mut ended = Vec::new();
        let until = tokio::time::Instant::from(Instant::now() + duration);
        let mut check = tokio::time::interval(FRAMES_CHECK);
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(until) => break,
                event = self.media_events.recv() => match event {
                    Some(MediaEvent::SourceEnded { track_id, reason }) => {
                        ended.push(format!("{track_id} ended: {reason}"));
                    }
                    None => break,
                },
                _ = check.tick(), if frames.is_some() => {
                    let sent = |(sender, _): &(Arc<VideoSender>, String)| sender.stats().sent.load(Ordering::Relaxed);
                    let video = !self.video.is_empty();
                    if video && frames.is_some_and(|wanted| self.video.values().all(|track| sent(track) >= wanted)) {
                        break;
                    }
                }
            }
        }
        ended
    }

    /// Stops every pipeline; the counts are final.
    fn stop(mut self) -> Sent {
        self.pli_task.abort();
        let mut video = HashMap::new();
        for (id, (sender, name)) in self.video {
            sender.stop();
            let stats = sender.stats();
            let counts = SentCounts {
                name,
                frames: stats.sent.load(Ordering::Relaxed),
                skipped: stats.skipped.load(Ordering::Relaxed),
                keyframes: stats.keyframes.load(Ordering::Relaxed),
                encode_micros: stats.encode_micros.load(Ordering::Relaxed),
            };
            video.insert(id, counts);
        }
        let audio = self.audio.as_mut().map(|audio| {
            audio.stop();
            audio.stats().sent.load(Ordering::Relaxed)
        });
        Sent { video, audio }
    }
}
