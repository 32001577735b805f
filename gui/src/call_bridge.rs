//! Desktop only: the app's call on the media engine. A
//! [`concord_call::session::CallSession`] runs on the call runtime with the
//! devices picked in Settings as its sources; remote video is decoded on
//! its own thread straight into an egui texture (the UI thread only draws
//! it), remote audio is mixed to the chosen speaker, and every second each
//! remote track's counters become one [`TrackStats`] sample. The microphone
//! goes through the voice processing chosen in Settings, with what the mixer
//! hands the speaker as the echo canceller's reference.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use concord_call::session::{
    CallSession, LocalMedia, RemoteMedia, SessionEvent, SessionInput, VideoFeed, INPUT_QUEUE,
};
use concord_client::{CommandSender, NetEvent};
use concord_common::events::{CallMedia, TileView, TrackSource};
use concord_common::{RoomId, UserId};
use concord_media::convert::{i420_to_rgba, I420Frame};
use concord_media::devices;
use concord_media::playback::Playback;
use concord_media::receive::{receive_audio_counted, AudioReceiveStats, VideoReceiveStats, VideoReceiver};
use concord_media::send::Preview;
use concord_media::source::{AudioSink, AudioSource, PatternSource, ToneSource, VideoSource};
use concord_media::synthetic::ToneGenerator;
use concord_media::transport::{RemoteTrack, TrackKind};
use concord_media::video_codec::{EncoderSettings, VideoContent};
use concord_media::voice::{
    self, GatedSource, InputMode, NoiseFilter, RenderFeed, RenderTap, Sensitivity, VoiceControl,
    VoiceSettings,
};
use tokio::runtime::Handle;
use tokio::sync::mpsc;

use crate::media::protocol::{CallReport, CallStart, InputLevel, MediaEvent, Post, TrackStats, VideoTexture};
use crate::settings::{InputModeChoice, MediaSettings, NoiseChoice, Pick, VoiceChoices};

/// A camera is asked for this size and rate, and sent at this size.
const CAMERA: (u32, u32, u32) = (1280, 720, 30);
/// The synthetic camera (the moving test pattern).
const TEST_CAMERA: (u32, u32, u32) = (640, 360, 15);
/// Screens are sent as captured, at this rate (text stays readable at 1080p).
const SCREEN_FPS: u32 = 15;

/// The runtime every call's media tasks run on (made once).
fn runtime() -> Result<&'static tokio::runtime::Runtime, String> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("concord-call")
                .enable_all()
                .build()
                .map_err(|e| format!("the call could not start: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// The call in progress: the session's inputs.
pub struct CallHost {
    inputs: mpsc::Sender<SessionInput>,
    devices: Arc<Mutex<MediaSettings>>,
    volumes: Arc<Mutex<Volumes>>,
    control: VoiceControl,
}

/// My volume for each person, applied to their speakers in the mix as they
/// come (shared by the UI's side and the call's remote tracks).
#[derive(Default)]
struct Volumes {
    gains: std::collections::HashMap<UserId, f32>,
    playback: Option<Arc<Playback>>,
    /// Each mixed speaker's id, and whose voice it is.
    speakers: Vec<(String, UserId)>,
}

impl Volumes {
    fn gain(&self, user: UserId) -> f32 {
        self.gains.get(&user).copied().unwrap_or(1.0)
    }

    fn set(&mut self, user: UserId, gain: f32) {
        self.gains.insert(user, gain);
        if let Some(playback) = &self.playback {
            for (id, _) in self.speakers.iter().filter(|(_, whose)| *whose == user) {
                playback.set_gain(id, gain);
            }
        }
    }

    /// How loud each person was as mixed since the last call (the loudest of
    /// their speakers), in dBFS.
    fn heard_dbfs(&self) -> std::collections::HashMap<UserId, f32> {
        let mut heard = std::collections::HashMap::new();
        let Some(playback) = &self.playback else { return heard };
        for (id, rms) in playback.heard() {
            let (Some(rms), Some((_, user))) = (rms, self.speakers.iter().find(|(s, _)| *s == id)) else {
                continue;
            };
            let dbfs = 20.0 * rms.max(1e-6).log10();
            let entry = heard.entry(*user).or_insert(dbfs);
            *entry = entry.max(dbfs);
        }
        heard
    }
}

impl CallHost {
    /// Starts joining `start.room`'s call; news arrives through `post`.
    pub fn start(
        start: CallStart,
        commands: CommandSender,
        context: egui::Context,
        post: Post,
    ) -> Result<Self, String> {
        let runtime = runtime()?;
        let (inputs, input_rx) = mpsc::channel(INPUT_QUEUE);
        let CallStart { room, me, server, want, devices } = start;
        let speaker = devices.speaker.clone();
        let volumes = Arc::new(Mutex::new(Volumes {
            gains: devices.volumes.iter().map(|(user, volume)| (*user, volume.gain())).collect(),
            ..Volumes::default()
        }));
        let tile_volumes = Arc::clone(&volumes);
        let devices = Arc::new(Mutex::new(devices));
        let (tap, reference) = voice::echo_reference();
        let control = VoiceControl::default();
        apply_input_mode(&control, &devices.lock().unwrap_or_else(PoisonError::into_inner).voice);
        let sources = DeviceSources {
            picks: Arc::clone(&devices),
            self_view: (room, me, context.clone(), Arc::clone(&post)),
            reference,
            control: control.clone(),
        };
        let meter = control.clone();
        runtime.spawn(async move {
            // Opening the speaker blocks (its own thread says when it is up).
            // The speaker is opened once per call: a new pick applies to the next call.
            let tile_post = Arc::clone(&post);
            let tiles = match tokio::task::spawn_blocking(move || {
                Tiles::new(room, context, tile_post, &speaker, tap, tile_volumes)
            })
            .await
            {
                Ok(tiles) => tiles,
                Err(error) => {
                    let reason = Some(format!("the call could not start: {error}"));
                    post(MediaEvent::Call { room, report: CallReport::Ended { reason } });
                    return;
                }
            };
            let (meters, rtt_ms) = (Arc::clone(&tiles.meters), Arc::clone(&tiles.rtt_ms));
            let sampled_volumes = Arc::clone(&tiles.volumes);
            let report_post = Arc::clone(&post);
            let session = CallSession::new(commands, room, me, want, &server, sources, tiles)
                .on_event(move |event| report_post(MediaEvent::Call { room, report: report_of(event) }));
            let sampler =
                tokio::spawn(sample_stats(meters, rtt_ms, sampled_volumes, Arc::clone(&post), room));
            let input_meter = tokio::spawn(sample_input(meter, Arc::clone(&post), room));
            let (summary, _) = session.run(input_rx).await;
            sampler.abort();
            input_meter.abort();
            post(MediaEvent::Call { room, report: CallReport::Ended { reason: summary.ended_because } });
        });
        Ok(Self { inputs, devices, volumes, control })
    }

    /// The push-to-talk key went down or up.
    pub fn push_to_talk(&self, pressed: bool) {
        self.control.push_to_talk(pressed);
    }

    /// My volume for `user` (0: muted for me, up to 2), at once.
    pub fn set_volume(&self, user: UserId, gain: f32) {
        self.volumes.lock().unwrap_or_else(PoisonError::into_inner).set(user, gain);
    }

    /// New device picks: the camera, screen and microphone open again from them.
    pub fn set_devices(&self, devices: MediaSettings) {
        apply_input_mode(&self.control, &devices.voice);
        *self.devices.lock().unwrap_or_else(PoisonError::into_inner) = devices;
        self.input(SessionInput::ReopenSources);
    }

    /// Queues `input` without waiting (the UI thread calls this); a session
    /// that has ended, or fallen 1,024 inputs behind, is told nothing more.
    fn input(&self, input: SessionInput) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.inputs.try_send(input) {
            eprintln!("concord: the call is not keeping up; an event was dropped");
        }
    }

    /// Changes what is switched on.
    pub fn set_media(&self, want: CallMedia) {
        self.input(SessionInput::SetMedia(want));
    }

    /// Changes which of the others' videos are shown (hidden ones are not sent).
    pub fn set_view(&self, view: Vec<TileView>) {
        self.input(SessionInput::SetView(view));
    }

    /// Hands the call a network event it needs.
    pub fn forward(&self, event: NetEvent) {
        self.input(SessionInput::Net(Box::new(event)));
    }

    /// Leaves the call (its media stops once `call_leave` is sent).
    pub fn leave(self) {
        self.input(SessionInput::Leave);
    }
}

fn report_of(event: SessionEvent) -> CallReport {
    match event {
        SessionEvent::Connected => CallReport::Connected,
        SessionEvent::Media(media) => CallReport::Media(media),
        SessionEvent::Problem(problem) => CallReport::Problem(problem),
        SessionEvent::Rejoining => CallReport::Rejoining,
        SessionEvent::Uplink { source, quality } => CallReport::Uplink { source, quality },
    }
}

/// The devices picked in Settings (kept current by [`CallHost::set_devices`]),
/// or the synthetic sources; what they send is shown in my own tiles.
struct DeviceSources {
    picks: Arc<Mutex<MediaSettings>>,
    /// Where the self-view goes: my tile in this room's call.
    self_view: (RoomId, UserId, egui::Context, Post),
    /// What the speaker plays, for the echo canceller.
    reference: RenderFeed,
    /// Voice activity or push-to-talk, and the level meter.
    control: VoiceControl,
}

impl DeviceSources {
    fn picks(&self) -> MediaSettings {
        self.picks.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl LocalMedia for DeviceSources {
    /// The camera goes out in three simulcast layers: each viewer gets the
    /// one its tile needs, and a layer nobody receives is not encoded.
    fn simulcast_layers(&self, source: TrackSource) -> &'static [&'static str] {
        if source == TrackSource::Camera {
            &concord_call::options::SIMULCAST_RIDS
        } else {
            &[]
        }
    }

    fn open_camera(&mut self) -> Option<concord_media::Result<VideoFeed>> {
        let (source, (width, height, fps)) = match &self.picks().camera {
            Pick::Off => return None,
            Pick::Synthetic => {
                let (w, h, fps) = TEST_CAMERA;
                (Ok(Box::new(PatternSource::new(w, h, fps)) as Box<dyn VideoSource>), TEST_CAMERA)
            }
            Pick::Default => (devices::open_camera(None, CAMERA.0, CAMERA.1, CAMERA.2), CAMERA),
            Pick::Named(name) => (devices::open_camera(Some(name), CAMERA.0, CAMERA.1, CAMERA.2), CAMERA),
        };
        let settings = EncoderSettings::camera(width, height, fps as f32);
        Some(source.map(|source| VideoFeed::Encode { source, settings, size: Some((width, height)) }))
    }

    fn open_screen(&mut self) -> Option<concord_media::Result<VideoFeed>> {
        let source = match &self.picks().screen {
            Pick::Off => return None,
            Pick::Synthetic => {
                Ok(Box::new(PatternSource::new(1280, 720, SCREEN_FPS)) as Box<dyn VideoSource>)
            }
            Pick::Default => devices::open_screen(None, SCREEN_FPS),
            Pick::Named(name) => devices::open_screen(Some(name), SCREEN_FPS),
        };
        let settings = EncoderSettings {
            content: VideoContent::Screen,
            ..EncoderSettings::camera(1920, 1080, SCREEN_FPS as f32)
        };
        Some(source.map(|source| VideoFeed::Encode { source, settings, size: None }))
    }

    fn open_microphone(&mut self) -> Option<concord_media::Result<Box<dyn AudioSource>>> {
        let picks = self.picks();
        let source = open_microphone(&picks.microphone)?;
        Some(source.map(|source| {
            let processed = voice::process_source(source, processing(&picks), Some(&self.reference));
            Box::new(GatedSource::new(processed, self.control.clone())) as Box<dyn AudioSource>
        }))
    }

    fn preview(&mut self, source: TrackSource) -> Option<Preview> {
        let (room, me, context, post) = self.self_view.clone();
        Some(Box::new(frame_to_texture(room, me, source, context, post)))
    }
}

/// The picked microphone, opened (`None` when it is off).
pub(crate) fn open_microphone(pick: &Pick) -> Option<concord_media::Result<Box<dyn AudioSource>>> {
    Some(match pick {
        Pick::Off => return None,
        Pick::Synthetic => {
            Ok(Box::new(ToneSource::new(ToneGenerator::continuous(440.0, 0.2))) as Box<dyn AudioSource>)
        }
        Pick::Default => devices::open_microphone(None),
        Pick::Named(name) => devices::open_microphone(Some(name)),
    })
}

/// The picked speaker, opened (`None` when it is off). The synthetic one is
/// silent: it mixes and measures what I would hear, and plays nothing.
pub(crate) fn open_speaker(pick: &Pick) -> Option<concord_media::Result<Box<dyn AudioSink>>> {
    Some(match pick {
        Pick::Off => return None,
        Pick::Synthetic => Ok(silent_speaker()),
        Pick::Default => devices::open_speaker(None),
        Pick::Named(name) => devices::open_speaker(Some(name)),
    })
}

/// A speaker that plays nothing ([`SilentSink`]).
pub(crate) fn silent_speaker() -> Box<dyn AudioSink> {
    Box::new(SilentSink)
}

/// The processing the picked microphone goes through. The test tone checks
/// the call's path, not the voice chain: a steady tone is exactly what noise
/// suppression removes. It still goes through the input mode (voice
/// activity or push-to-talk).
pub(crate) fn processing(picks: &MediaSettings) -> VoiceSettings {
    if picks.microphone == Pick::Synthetic {
        VoiceSettings::OFF
    } else {
        voice_settings(&picks.voice)
    }
}

/// Settings → Voice's input mode and sensitivity, into the gate.
pub(crate) fn apply_input_mode(control: &VoiceControl, choices: &VoiceChoices) {
    let mode = match choices.input_mode {
        InputModeChoice::VoiceActivity => InputMode::VoiceActivity,
        InputModeChoice::PushToTalk => InputMode::PushToTalk,
    };
    let sensitivity = choices.sensitivity_db.map_or(Sensitivity::Automatic, Sensitivity::Threshold);
    control.set_mode(mode, sensitivity);
}

/// Ten times a second, my microphone's level and whether it is sent (the
/// meter in Settings → Voice).
async fn sample_input(control: VoiceControl, post: Post, room: RoomId) {
    let mut ticks = tokio::time::interval(Duration::from_millis(100));
    let mut last = None;
    loop {
        ticks.tick().await;
        let reading = input_level(&control);
        if last != Some(reading) {
            last = Some(reading);
            post(MediaEvent::Call { room, report: CallReport::InputLevel(reading) });
        }
    }
}

/// The gate's latest reading, in whole dB (the meter's steps): what a call
/// and "Let me hear myself" post when it changes.
pub(crate) fn input_level(control: &VoiceControl) -> InputLevel {
    let (level_db, threshold_db, sending) = control.reading();
    InputLevel { level_db: level_db.round(), threshold_db: threshold_db.round(), sending }
}

/// Settings → Voice, as the media engine takes it.
fn voice_settings(choices: &VoiceChoices) -> VoiceSettings {
    VoiceSettings {
        echo_cancellation: choices.echo_cancellation,
        noise: match choices.noise {
            NoiseChoice::Standard => NoiseFilter::Standard,
            NoiseChoice::Strong => NoiseFilter::Strong,
            NoiseChoice::Off => NoiseFilter::Off,
        },
        gain_control: choices.gain_control,
    }
}

/// One remote track's counters, as last sampled.
struct Meter {
    user: UserId,
    source: TrackSource,
    counters: Counters,
    /// (bytes, frames, packets, lost) at the last sample.
    last: [u64; 4],
}

enum Counters {
    Video(Arc<VideoReceiveStats>),
    Audio(Arc<AudioReceiveStats>),
}

impl Counters {
    fn read(&self) -> [u64; 4] {
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        match self {
            Self::Video(s) => [load(&s.bytes), load(&s.decoded), load(&s.packets), load(&s.lost)],
            Self::Audio(s) => [load(&s.bytes), load(&s.packets), load(&s.packets), load(&s.lost)],
        }
    }
}

/// Where remote tracks go in the app: video into textures, audio into the
/// speaker's mix.
struct Tiles {
    room: RoomId,
    context: egui::Context,
    post: Post,
    playback: Option<Arc<Playback>>,
    volumes: Arc<Mutex<Volumes>>,
    videos: Vec<VideoReceiver>,
    meters: Arc<Mutex<Vec<Meter>>>,
    /// The receiving connection's latest round-trip time, in ms.
    rtt_ms: Arc<Mutex<Option<f32>>>,
}

impl Tiles {
    fn new(
        room: RoomId,
        context: egui::Context,
        post: Post,
        speaker: &Pick,
        tap: RenderTap,
        volumes: Arc<Mutex<Volumes>>,
    ) -> Self {
        let playback =
            match open_speaker(speaker).map(|sink| sink.and_then(|sink| Playback::start(sink, Some(tap)))) {
                Some(Ok(playback)) => Some(Arc::new(playback)),
                Some(Err(error)) => {
                    let problem = format!("You will not hear the call: {error}");
                    post(MediaEvent::Call { room, report: CallReport::Problem(problem) });
                    None
                }
                None => None,
            };
        Self {
            room,
            context,
            post,
            playback: playback.clone(),
            volumes: {
                volumes.lock().unwrap_or_else(PoisonError::into_inner).playback = playback;
                volumes
            },
            videos: Vec::new(),
            meters: Arc::default(),
            rtt_ms: Arc::default(),
        }
    }

    fn meter(&self, user: UserId, source: TrackSource, counters: Counters) {
        let last = counters.read();
        self.meters.lock().unwrap_or_else(PoisonError::into_inner).push(Meter {
            user,
            source,
            counters,
            last,
        });
    }
}

impl RemoteMedia for Tiles {
    fn track_added(&mut self, user: UserId, source: TrackSource, track: RemoteTrack, runtime: &Handle) {
        match track.kind {
            TrackKind::Audio => {
                let stats = Arc::new(AudioReceiveStats::default());
                let jitter = receive_audio_counted(track, runtime, Arc::clone(&stats));
                self.meter(user, source, Counters::Audio(stats));
                if let Some(playback) = &self.playback {
                    let mut volumes = self.volumes.lock().unwrap_or_else(PoisonError::into_inner);
                    let id = format!("{user}-{}", volumes.speakers.len());
                    if playback.add_speaker(id.clone(), jitter).is_ok() {
                        playback.set_gain(&id, volumes.gain(user));
                        volumes.speakers.push((id, user));
                    }
                }
            }
            TrackKind::Video => {
                let on_frame =
                    frame_to_texture(self.room, user, source, self.context.clone(), Arc::clone(&self.post));
                match VideoReceiver::start(track, runtime, on_frame) {
                    Ok(receiver) => {
                        self.meter(user, source, Counters::Video(Arc::clone(receiver.stats_handle())));
                        self.videos.push(receiver);
                    }
                    Err(error) => {
                        let problem = format!("a video could not be decoded: {error}");
                        (self.post)(MediaEvent::Call {
                            room: self.room,
                            report: CallReport::Problem(problem),
                        });
                    }
                }
            }
        }
    }

    fn tracks_cleared(&mut self) {
        self.videos.clear();
        if let Some(playback) = &self.playback {
            let mut volumes = self.volumes.lock().unwrap_or_else(PoisonError::into_inner);
            for (id, _) in volumes.speakers.drain(..) {
                playback.remove_speaker(&id);
            }
        }
        self.meters.lock().unwrap_or_else(PoisonError::into_inner).clear();
        (self.post)(MediaEvent::Call { room: self.room, report: CallReport::VideosCleared });
    }

    fn set_deafened(&mut self, deafened: bool) {
        if let Some(playback) = &self.playback {
            playback.set_deafened(deafened);
        }
    }

    fn wants_round_trip(&self) -> bool {
        true
    }

    fn round_trip(&mut self, rtt: Duration) {
        *self.rtt_ms.lock().unwrap_or_else(PoisonError::into_inner) = Some(rtt.as_secs_f32() * 1000.0);
    }
}

/// The silent speaker ([`Pick::Synthetic`]): the mix is made and measured,
/// and goes nowhere (a machine without sound, and the tests).
struct SilentSink;

impl AudioSink for SilentSink {
    fn play(&mut self, _frame: &[f32]) {}
}

/// The decoder thread's frame callback: each picture converted to RGBA and
/// written into the track's texture (made, and announced, on the first one).
fn frame_to_texture(
    room: RoomId,
    user: UserId,
    source: TrackSource,
    context: egui::Context,
    post: Post,
) -> impl FnMut(&I420Frame) + Send + 'static {
    let mut rgba = Vec::new();
    let mut texture: Option<egui::TextureHandle> = None;
    move |frame: &I420Frame| {
        i420_to_rgba(frame, &mut rgba);
        let size = [frame.width as usize, frame.height as usize];
        let image = egui::ColorImage::from_rgba_unmultiplied(size, &rgba);
        match &mut texture {
            Some(texture) => texture.set(image, egui::TextureOptions::LINEAR),
            None => {
                let made = context.load_texture(
                    format!("call-{user}-{source:?}"),
                    image,
                    egui::TextureOptions::LINEAR,
                );
                let texture_for_ui = VideoTexture::new(made.clone());
                post(MediaEvent::Call {
                    room,
                    report: CallReport::Video { user, source, texture: texture_for_ui },
                });
                texture = Some(made);
            }
        }
        context.request_repaint();
    }
}

/// Every second, one sample per remote track.
async fn sample_stats(
    meters: Arc<Mutex<Vec<Meter>>>,
    rtt_ms: Arc<Mutex<Option<f32>>>,
    volumes: Arc<Mutex<Volumes>>,
    post: Post,
    room: RoomId,
) {
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let rtt_ms = *rtt_ms.lock().unwrap_or_else(PoisonError::into_inner);
        let heard = volumes.lock().unwrap_or_else(PoisonError::into_inner).heard_dbfs();
        let samples: Vec<TrackStats> = {
            let mut meters = meters.lock().unwrap_or_else(PoisonError::into_inner);
            meters
                .iter_mut()
                .map(|meter| {
                    let now = meter.counters.read();
                    let delta: Vec<u64> =
                        now.iter().zip(meter.last).map(|(n, l)| n.saturating_sub(l)).collect();
                    meter.last = now;
                    let (packets, lost) = (delta[2], delta[3]);
                    let expected = packets + lost;
                    TrackStats {
                        user: meter.user,
                        source: meter.source,
                        kbps: delta[0] as f32 * 8.0 / 1000.0,
                        fps: delta[1] as f32,
                        loss_percent: if expected == 0 { 0.0 } else { lost as f32 * 100.0 / expected as f32 },
                        rtt_ms,
                        heard_dbfs: (meter.source == TrackSource::Microphone)
                            .then(|| heard.get(&meter.user).copied())
                            .flatten(),
                    }
                })
                .collect()
        };
        if !samples.is_empty() {
            post(MediaEvent::Call { room, report: CallReport::Stats(samples) });
        }
    }
}
