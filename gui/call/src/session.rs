//! One participant's media in one room's call, with no network of its own:
//! the desktop app and the headless bot host the same session. It drives
//! the call machine every build shares ([`concord_call_machine`]: what to
//! open, attach, offer and announce, when to rejoin or give up) and carries
//! out its actions on the media engine.
//!
//! Signaling goes out through a [`CommandSender`] (the client library's
//! websocket) and comes back as [`SessionInput::Net`]. What is published
//! comes from a [`LocalMedia`] (devices, or synthetic sources), and every
//! remote track goes to a [`RemoteMedia`] (the app's tiles and speaker, or
//! the bot's counters). Two peer connections to the SFU: the publishing one
//! (we offer) and the receiving one (the server offers). Mute, camera,
//! screen and deafen change as [`SessionInput::SetMedia`] asks; a lost
//! websocket, a silence removal or a failed connection rejoins by itself
//! with the same switches.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use concord_call_machine::{Action, CallMachine, ConnectionState, Input, Opened, Report};
use concord_client::{CallRequest, Command, CommandSender, NetEvent};
use concord_common::events::{
    self, CallMedia, CallSubscribeOffer, CallVideoQuality, IceServer, PublishedTrack, TileView, TrackSource,
    VideoQuality,
};
use concord_common::media::Leg;
use concord_common::{RoomId, UserId};
use concord_media::send::{AudioSender, MediaEvent, Preview, VideoSender};
use concord_media::source::{AudioSource, VideoSource};
use concord_media::transport::{
    LocalTrack, MediaPeer, PeerOptions, PeerState, RemoteTrack, TrackKind, TransportEvent,
};
use concord_media::uplink::{UplinkAllocator, VideoBudget, AUDIO_RESERVE, UPLINK_INTERVAL};
use concord_media::video_codec::{split_access_units, EncoderSettings};
use tokio::runtime::Handle;
use tokio::sync::mpsc;

use crate::report::SentReport;

pub use concord_call_machine::JOIN_DEADLINE;

/// Transport events waiting to be handled.
const EVENT_QUEUE: usize = 256;
/// Inputs a host may queue for a session ([`CallSession::run`]'s channel).
pub const INPUT_QUEUE: usize = 1024;

/// What the host hands the session.
#[derive(Debug)]
pub enum SessionInput {
    /// An event of the client library (call frames, the websocket's state).
    Net(Box<NetEvent>),
    /// What I want switched on now (mute, deafen, camera, screen).
    SetMedia(CallMedia),
    /// Which of the others' videos I show (hidden ones are not sent to me).
    SetView(Vec<TileView>),
    /// The picked devices changed: open every source again (the tracks stay).
    ReopenSources,
    /// Leave the call and end the session.
    Leave,
}

/// What the session tells its host as it goes.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    /// Media is up, after joining or joining again (or, listen-only and
    /// alone, the server has us in the call).
    Connected,
    /// What is really on now, after a source opened or failed.
    Media(CallMedia),
    /// Something went wrong, in words for a person.
    Problem(String),
    /// The connection was lost and the session is joining again.
    Rejoining,
    /// My own camera or screen is sent reduced (fewer layers, a lower
    /// bitrate) or not at all because my uplink is short, or in full again.
    Uplink {
        /// Which video.
        source: TrackSource,
        /// How it is sent now.
        quality: VideoQuality,
    },
}

/// Where a video track's pictures come from.
pub enum VideoFeed {
    /// Captured and encoded here.
    Encode {
        /// The camera, screen or test pattern.
        source: Box<dyn VideoSource>,
        /// How to encode it.
        settings: EncoderSettings,
        /// Scale to this size first (`None`: as captured).
        size: Option<(u32, u32)>,
    },
    /// A pre-encoded H.264 Annex-B file sent in a loop at `fps`.
    Replay {
        /// The file.
        path: PathBuf,
        /// Frames per second.
        fps: u32,
    },
}

/// The participant's own sources. `None`: this kind is switched off for
/// good (no device picked); `Some(Err)`: it could not be opened now.
pub trait LocalMedia: Send {
    /// The camera.
    fn open_camera(&mut self) -> Option<concord_media::Result<VideoFeed>>;
    /// The screen (or window) to share.
    fn open_screen(&mut self) -> Option<concord_media::Result<VideoFeed>>;
    /// The microphone.
    fn open_microphone(&mut self) -> Option<concord_media::Result<Box<dyn AudioSource>>>;
    /// Where my own `source` video is shown as it is sent (a self-view), if anywhere.
    fn preview(&mut self, _source: TrackSource) -> Option<Preview> {
        None
    }
    /// The RIDs of the simulcast layers `source` is published in, smallest
    /// first (each half the size of the next); none: one stream.
    fn simulcast_layers(&self, _source: TrackSource) -> &'static [&'static str] {
        &[]
    }
}

/// Where remote tracks go.
pub trait RemoteMedia: Send {
    /// `user`'s `source` track arrived.
    fn track_added(&mut self, user: UserId, source: TrackSource, track: RemoteTrack, runtime: &Handle);
    /// The receiving connection was closed (a rejoin, or the end): every
    /// track is gone.
    fn tracks_cleared(&mut self);
    /// Deafen: play nothing.
    fn set_deafened(&mut self, _deafened: bool) {}
    /// Whether [`RemoteMedia::round_trip`] is wanted (it reads the
    /// connection's stats every second, which costs the media path a lock).
    fn wants_round_trip(&self) -> bool {
        false
    }
    /// The receiving connection's round-trip time, measured again every second.
    fn round_trip(&mut self, _rtt: Duration) {}
    /// The server reported `user` speaking, for the first time in this session.
    fn first_spoke(&mut self, _user: UserId) {}
}

/// How the session went, when it has ended.
#[derive(Debug, Clone, Default)]
pub struct SessionSummary {
    /// When the join was first asked for.
    pub join_requested: Option<Instant>,
    /// From the join request to the first media connection up.
    pub joined_ms: Option<u64>,
    /// Frames sent, over every publisher the session had.
    pub sent: SentReport,
    /// Everyone the server reported speaking.
    pub speaking_seen: Vec<UserId>,
    /// What went wrong, in words.
    pub errors: Vec<String>,
    /// How many times it joined again after losing the call (its websocket,
    /// the server's silence removal, a failed connection).
    pub rejoins: u64,
    /// Why the session ended by itself (`None`: it was asked to leave).
    pub ended_because: Option<String>,
    /// What each connection's media went over, last.
    pub transport: TransportReport,
    /// Every `call_video_quality` the server sent, in order: which remote
    /// videos it reduced or paused for this participant's network, and when
    /// it sent them in full again.
    pub video_quality: Vec<CallVideoQuality>,
}

/// What ICE chose for each connection: `"udp"`, or `"tcp"` where UDP is
/// blocked (`None`: the connection never came up, or was never made).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TransportReport {
    /// The publishing connection.
    pub publish: Option<String>,
    /// The receiving connection.
    pub receive: Option<String>,
}

/// A pre-encoded H.264 file sent in a loop.
struct Replay {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
}

impl Replay {
    /// Sends `path`'s frames on `track` at `fps`, from the start again at its end.
    fn start(path: &Path, track: Arc<LocalTrack>, fps: u32, runtime: &Handle) -> std::io::Result<Replay> {
        let stream = std::fs::read(path)?;
        let units: Vec<Bytes> = split_access_units(&stream).into_iter().map(Bytes::copy_from_slice).collect();
        if units.is_empty() {
            let message = format!("{} holds no H.264 frames (Annex-B expected)", path.display());
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, message));
        }
        let (stop, sent) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
        let (task_stop, task_sent) = (Arc::clone(&stop), Arc::clone(&sent));
        let interval = Duration::from_secs(1) / fps.max(1);
        runtime.spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            for unit in units.iter().cycle() {
                ticks.tick().await;
                if task_stop.load(Ordering::Relaxed) {
                    break;
                }
                if let Ok(true) = track.write(unit.clone(), interval).await {
                    task_sent.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Ok(Replay { stop, sent })
    }
}

/// What feeds a published video track now.
enum Feed {
    Encoder(VideoSender),
    Replay(Replay),
}

impl Feed {
    fn sent(&self) -> u64 {
        match self {
            Self::Encoder(sender) => sender.stats().sent.load(Ordering::Relaxed),
            Self::Replay(replay) => replay.sent.load(Ordering::Relaxed),
        }
    }

    fn stop(&self) {
        match self {
            Self::Encoder(sender) => sender.stop(),
            Self::Replay(replay) => replay.stop.store(true, Ordering::Relaxed),
        }
    }
}

/// One published video track; its feed stops while switched off (the track
/// stays negotiated, so switching back on needs no new offer).
struct VideoOut {
    track: Arc<LocalTrack>,
    feed: Option<Feed>,
}

/// A source as [`LocalMedia`] opened it, on its way to the publishing connection.
pub enum Capture {
    /// The camera or screen.
    Video(VideoFeed),
    /// The microphone.
    Audio(Box<dyn AudioSource>),
}

/// The publishing connection and what it carries.
struct Publisher {
    peer: MediaPeer,
    tracks: Vec<PublishedTrack>,
    camera: Option<VideoOut>,
    screen: Option<VideoOut>,
    /// The microphone's track, once added (it stays when its sender stops).
    microphone_track: Option<Arc<LocalTrack>>,
    microphone: Option<AudioSender>,
}

/// One participant's call (see the module docs).
pub struct CallSession<L: LocalMedia, R: RemoteMedia> {
    commands: CommandSender,
    me: UserId,
    machine: CallMachine<Capture>,
    local: L,
    remote: R,
    on_event: Box<dyn FnMut(SessionEvent) + Send + Sync>,
    peer_options: PeerOptions,
    runtime: Handle,
    publisher: Option<Publisher>,
    subscriber: Option<MediaPeer>,
    publisher_events: (mpsc::Sender<TransportEvent>, mpsc::Receiver<TransportEvent>),
    subscriber_events: (mpsc::Sender<TransportEvent>, mpsc::Receiver<TransportEvent>),
    media_events: (mpsc::Sender<MediaEvent>, mpsc::Receiver<MediaEvent>),
    summary: SessionSummary,
    /// When the latest join was sent.
    join_requested: Instant,
    /// Shares the publishing connection's uplink among its videos.
    uplink: UplinkAllocator,
    /// Whether the encoders follow the uplink estimate.
    adapt_uplink: bool,
    /// How each of my videos was last said to be sent ([`SessionEvent::Uplink`]).
    uplink_told: Vec<(TrackSource, VideoQuality)>,
}

impl<L: LocalMedia, R: RemoteMedia> CallSession<L, R> {
    /// A session for `me` in `room`, wanting `want` switched on; call
    /// [`CallSession::run`] on a tokio runtime. `server` decides which
    /// interfaces media uses (loopback for a server on this machine).
    pub fn new(
        commands: CommandSender,
        room: RoomId,
        me: UserId,
        want: CallMedia,
        server: &str,
        local: L,
        remote: R,
    ) -> Self {
        let loopback = server.contains("://127.") || server.contains("://localhost");
        // UDP, and TCP for the SFU's passive TCP candidate where UDP is blocked.
        let any_port = if loopback { "127.0.0.1:0" } else { "0.0.0.0:0" };
        let now = Instant::now();
        Self {
            commands,
            me,
            machine: CallMachine::new(room, want, now),
            local,
            remote,
            on_event: Box::new(|_| {}),
            peer_options: PeerOptions {
                ice_servers: Vec::new(),
                udp_addrs: vec![any_port.to_owned()],
                tcp_addrs: vec![any_port.to_owned()],
            },
            runtime: Handle::current(),
            publisher: None,
            subscriber: None,
            publisher_events: mpsc::channel(EVENT_QUEUE),
            subscriber_events: mpsc::channel(EVENT_QUEUE),
            media_events: mpsc::channel(EVENT_QUEUE),
            summary: SessionSummary { join_requested: Some(now), ..SessionSummary::default() },
            join_requested: now,
            uplink: UplinkAllocator::new(),
            adapt_uplink: true,
            uplink_told: Vec::new(),
        }
    }

    /// Calls `on_event` with every [`SessionEvent`] (on the session's task).
    pub fn on_event(mut self, on_event: impl FnMut(SessionEvent) + Send + Sync + 'static) -> Self {
        self.on_event = Box::new(on_event);
        self
    }

    /// With `false`, the encoders send every layer someone watches at its
    /// own bitrate whatever the uplink estimate says (to compare).
    pub fn adapt_uplink(mut self, adapt: bool) -> Self {
        self.adapt_uplink = adapt;
        self
    }

    /// Joins, then follows `inputs` until asked to leave (or `inputs`
    /// closes, or the call cannot go on); returns how it went and the
    /// remote side, with every track cleared.
    pub async fn run(mut self, mut inputs: mpsc::Receiver<SessionInput>) -> (SessionSummary, R) {
        self.carry_out().await;
        let mut measure = tokio::time::interval(Duration::from_secs(1));
        let mut uplink = tokio::time::interval(UPLINK_INTERVAL);
        while !self.machine.is_ended() {
            let timeout = self.machine.poll_timeout().map(tokio::time::Instant::from_std);
            let mut fit_uplink = false;
            let input = tokio::select! {
                () = sleep_until(timeout), if timeout.is_some() => Some(Input::Timeout),
                _ = uplink.tick(), if self.publisher.is_some() => {
                    fit_uplink = true;
                    None
                }
                _ = measure.tick(), if self.remote.wants_round_trip() => {
                    // The field, not `&self`: a capture on its way is not `Sync`.
                    let rtt = match &self.subscriber {
                        Some(subscriber) => subscriber.round_trip_time().await,
                        None => None,
                    };
                    if let Some(rtt) = rtt {
                        self.remote.round_trip(rtt);
                    }
                    None
                }
                input = inputs.recv() => Some(match input {
                    Some(SessionInput::Net(event)) => Input::Net(event),
                    Some(SessionInput::SetMedia(want)) => Input::SetMedia(want),
                    Some(SessionInput::SetView(view)) => Input::SetView(view),
                    Some(SessionInput::ReopenSources) => Input::ReopenSources,
                    Some(SessionInput::Leave) | None => Input::Leave,
                }),
                Some(event) = self.publisher_events.1.recv() => self.on_transport_event(event, Leg::Publishing),
                Some(event) = self.subscriber_events.1.recv() => self.on_transport_event(event, Leg::Receiving),
                Some(MediaEvent::SourceEnded { track_id, reason }) = self.media_events.1.recv() => {
                    Some(Input::SourceEnded { source: source_of(&track_id), reason: Some(reason) })
                }
            };
            if fit_uplink {
                self.fit_uplink().await;
            }
            if let Some(input) = input {
                self.machine.handle(Instant::now(), input);
            }
            self.carry_out().await;
        }
        self.summary.rejoins = self.machine.rejoins();
        (self.summary, self.remote)
    }

    /// Carries out the machine's actions in order, handing back each
    /// outcome before the next.
    async fn carry_out(&mut self) {
        while let Some(action) = self.machine.poll_action() {
            let outcome = match action {
                Action::Signal(request) => {
                    if matches!(request, CallRequest::Join(_)) {
                        self.join_requested = Instant::now();
                    }
                    self.signal(request);
                    None
                }
                Action::OpenSource { source, round } => {
                    Some(Input::SourceOpened { source, round, outcome: self.open(source) })
                }
                Action::StopCapture(capture) => {
                    drop(capture);
                    None
                }
                Action::Attach { source, capture, ice_servers } => {
                    let result = self.attach(source, capture, &ice_servers).await.map_err(|e| e.to_string());
                    Some(Input::Attached { source, result })
                }
                Action::StopSource(source) => {
                    self.stop_source(source);
                    None
                }
                Action::PauseVideo { source, paused } => {
                    if let Some(Feed::Encoder(sender)) = self.video_out(source).and_then(|o| o.feed.as_ref())
                    {
                        sender.set_paused(paused);
                    }
                    None
                }
                Action::EncodeLayers { source, layers } => {
                    if let Some(Feed::Encoder(sender)) = self.video_out(source).and_then(|o| o.feed.as_ref())
                    {
                        sender.set_layers(&layers);
                    }
                    None
                }
                Action::MuteMicrophone(muted) => {
                    if let Some(microphone) = self.publisher.as_ref().and_then(|p| p.microphone.as_ref()) {
                        microphone.set_muted(muted);
                    }
                    None
                }
                Action::SetDeafened(deafened) => {
                    self.remote.set_deafened(deafened);
                    None
                }
                Action::CreateOffer => Some(Input::OfferCreated(self.create_offer().await)),
                Action::ApplyAnswer(sdp) => Some(Input::AnswerApplied(match &self.publisher {
                    Some(publisher) => publisher.peer.accept_answer(sdp).await.map_err(|e| e.to_string()),
                    None => Err("no publishing connection".to_owned()),
                })),
                Action::AnswerOffer(offer) => {
                    let offer_id = offer.offer_id;
                    let result = self.answer(offer).await.map_err(|e| e.to_string());
                    Some(Input::OfferAnswered { offer_id, result })
                }
                Action::TearDown => {
                    self.tear_down().await;
                    None
                }
                Action::Report(report) => {
                    self.report(report);
                    None
                }
            };
            if let Some(input) = outcome {
                self.machine.handle(Instant::now(), input);
            }
        }
    }

    fn report(&mut self, report: Report) {
        let event = match report {
            Report::Connected => {
                if self.summary.joined_ms.is_none() {
                    self.summary.joined_ms = Some(self.join_requested.elapsed().as_millis() as u64);
                }
                SessionEvent::Connected
            }
            Report::Media(media) => SessionEvent::Media(media),
            Report::Problem(problem) => {
                self.summary.errors.push(problem.clone());
                SessionEvent::Problem(problem)
            }
            Report::Rejoining => SessionEvent::Rejoining,
            Report::FirstSpoke(user) => {
                self.summary.speaking_seen.push(user);
                self.remote.first_spoke(user);
                return;
            }
            Report::VideoQuality(changed) => {
                tracing::info!(user = %changed.user_id, source = ?changed.source, quality = ?changed.quality,
                    size = ?changed.size, estimate_kbps = ?changed.estimate_kbps, "the server fitted a video to my network");
                self.summary.video_quality.push(changed);
                return;
            }
            Report::Ended { reason } => {
                self.summary.ended_because = reason;
                return;
            }
        };
        (self.on_event)(event);
    }

    fn signal(&self, request: CallRequest) {
        if !self.commands.send(Command::Call(request)) {
            tracing::warn!("a call frame could not be queued: the network side is gone or swamped");
        }
    }

    /// Opens `source` from [`LocalMedia`].
    fn open(&mut self, source: TrackSource) -> Opened<Capture> {
        let opened = match source {
            TrackSource::Microphone => self.local.open_microphone().map(|r| r.map(Capture::Audio)),
            TrackSource::Camera => self.local.open_camera().map(|r| r.map(Capture::Video)),
            TrackSource::Screen => self.local.open_screen().map(|r| r.map(Capture::Video)),
        };
        match opened {
            None => Opened::NotPicked,
            Some(Err(error)) => Opened::Failed(error.to_string()),
            Some(Ok(capture)) => Opened::Capture(capture),
        }
    }

    /// Sends `capture` as `source`: the publishing connection is made if
    /// there is none, the source's track added the first time.
    async fn attach(
        &mut self,
        source: TrackSource,
        capture: Capture,
        ice_servers: &[IceServer],
    ) -> concord_media::Result<()> {
        if self.publisher.is_none() {
            let options =
                PeerOptions { ice_servers: media_ice_servers(ice_servers), ..self.peer_options.clone() };
            let peer = MediaPeer::new(options, self.publisher_events.0.clone()).await?;
            self.publisher = Some(Publisher {
                peer,
                tracks: Vec::new(),
                camera: None,
                screen: None,
                microphone_track: None,
                microphone: None,
            });
        }
        let existing = match source {
            TrackSource::Microphone => self.publisher.as_ref().and_then(|p| p.microphone_track.clone()),
            _ => self.video_out(source).map(|out| Arc::clone(&out.track)),
        };
        let track = match existing {
            Some(track) => track,
            None => self.add_track(source).await?,
        };
        match capture {
            Capture::Audio(audio) => {
                let sender = AudioSender::start(
                    audio,
                    Arc::clone(&track),
                    self.runtime.clone(),
                    self.media_events.0.clone(),
                )?;
                if let Some(publisher) = &mut self.publisher {
                    publisher.microphone_track = Some(track);
                    publisher.microphone = Some(sender);
                }
            }
            Capture::Video(feed) => {
                let feed = self.start_feed(source, feed, &track)?;
                if let Some(publisher) = &mut self.publisher {
                    let slot = match source {
                        TrackSource::Screen => &mut publisher.screen,
                        _ => &mut publisher.camera,
                    };
                    *slot = Some(VideoOut { track, feed: Some(feed) });
                }
            }
        }
        Ok(())
    }

    /// Starts sending `feed` on `track` (encoding it, or replaying its file).
    fn start_feed(
        &mut self,
        source: TrackSource,
        feed: VideoFeed,
        track: &Arc<LocalTrack>,
    ) -> concord_media::Result<Feed> {
        Ok(match feed {
            VideoFeed::Encode { source: video, settings, size } => {
                let sender = VideoSender::start(
                    video,
                    Arc::clone(track),
                    settings,
                    size,
                    self.runtime.clone(),
                    self.media_events.0.clone(),
                )?;
                if let Some(preview) = self.local.preview(source) {
                    sender.set_preview(preview);
                }
                Feed::Encoder(sender)
            }
            VideoFeed::Replay { path, fps } => Feed::Replay(
                Replay::start(&path, Arc::clone(track), fps, &self.runtime)
                    .map_err(|e| concord_media::MediaError::Transport(format!("{}: {e}", path.display())))?,
            ),
        })
    }

    fn video_out(&mut self, source: TrackSource) -> Option<&mut VideoOut> {
        let publisher = self.publisher.as_mut()?;
        match source {
            TrackSource::Camera => publisher.camera.as_mut(),
            TrackSource::Screen => publisher.screen.as_mut(),
            TrackSource::Microphone => None,
        }
    }

    /// Adds a track for `source` to the publishing connection; its id is
    /// the source's name. The next offer carries it.
    async fn add_track(&mut self, source: TrackSource) -> concord_media::Result<Arc<LocalTrack>> {
        let Some(publisher) = &mut self.publisher else {
            return Err(concord_media::MediaError::Transport("no publishing connection".to_owned()));
        };
        let id = source.as_str();
        let kind = if source == TrackSource::Microphone { TrackKind::Audio } else { TrackKind::Video };
        let layers = self.local.simulcast_layers(source);
        let track = Arc::new(publisher.peer.add_layered_track(id, &self.me.to_string(), kind, layers).await?);
        publisher.tracks.push(PublishedTrack { track_id: id.to_owned(), source });
        Ok(track)
    }

    /// Shares the publishing connection's uplink estimate among its videos
    /// (screen before camera, audio first): each encodes the layers that fit.
    async fn fit_uplink(&mut self) {
        let feedback = match &self.publisher {
            Some(publisher) => publisher.peer.uplink_feedback().await,
            None => return,
        };
        let Some(publisher) = &self.publisher else { return };
        let senders: Vec<(&VideoSender, bool)> = [(&publisher.screen, true), (&publisher.camera, false)]
            .into_iter()
            .filter_map(|(out, screen)| match out.as_ref()?.feed.as_ref()? {
                Feed::Encoder(sender) => Some((sender, screen)),
                Feed::Replay(_) => None,
            })
            .collect();
        let demands: Vec<_> = senders.iter().map(|(sender, screen)| sender.uplink_demand(*screen)).collect();
        let audio = if publisher.microphone.is_some() { AUDIO_RESERVE } else { 0 };
        let budgets = self.uplink.update(Instant::now(), feedback, audio, &demands);
        let estimate = self.uplink.estimate();
        tracing::debug!(?feedback, ?estimate, ?budgets, "uplink");
        if let Some(estimate) = estimate {
            let kbps = estimate / 1000;
            let sent = &mut self.summary.sent;
            sent.uplink_kbps = Some(kbps);
            sent.uplink_lowest_kbps = Some(sent.uplink_lowest_kbps.map_or(kbps, |lowest| lowest.min(kbps)));
        }
        if !self.adapt_uplink {
            return;
        }
        let mut changes = Vec::new();
        for ((sender, screen), budget) in senders.iter().zip(budgets) {
            sender.set_uplink(budget);
            let source = if *screen { TrackSource::Screen } else { TrackSource::Camera };
            let quality = match budget {
                VideoBudget { layers: 0, .. } => VideoQuality::Paused,
                VideoBudget::UNLIMITED => VideoQuality::Full,
                _ => VideoQuality::Reduced,
            };
            let told = self.uplink_told.iter().find(|(s, _)| *s == source).map(|(_, q)| *q);
            if told.unwrap_or(VideoQuality::Full) != quality {
                changes.push((source, quality));
            }
        }
        for (source, quality) in changes {
            tracing::info!(?source, ?quality, budget = ?self.uplink.estimate(), "my video fitted to my uplink");
            self.uplink_told.retain(|(s, _)| *s != source);
            self.uplink_told.push((source, quality));
            (self.on_event)(SessionEvent::Uplink { source, quality });
        }
    }

    /// Stops `source`'s sender, counting what it sent; its track stays negotiated.
    fn stop_source(&mut self, source: TrackSource) {
        if source == TrackSource::Microphone {
            if let Some(mut microphone) = self.publisher.as_mut().and_then(|p| p.microphone.take()) {
                microphone.stop();
                self.summary.sent.audio_frames += microphone.stats().sent.load(Ordering::Relaxed);
                self.summary.sent.audio_frames_silent += microphone.stats().silent.load(Ordering::Relaxed);
            }
            return;
        }
        if let Some(feed) = self.video_out(source).and_then(|o| o.feed.take()) {
            feed.stop();
            let frames = feed.sent();
            let sent = &mut self.summary.sent;
            if let Feed::Encoder(sender) = &feed {
                sent.video_frames_unwatched += sender.stats().paused.load(Ordering::Relaxed);
                if source == TrackSource::Camera {
                    for (total, layer) in sent.camera_layer_frames.iter_mut().zip(&sender.stats().layers_sent)
                    {
                        *total += layer.load(Ordering::Relaxed);
                    }
                }
            }
            match source {
                TrackSource::Screen => sent.screen_frames += frames,
                _ => sent.video_frames += frames,
            }
        }
    }

    /// Drops both connections and what they carried (before a rejoin or at the end).
    async fn tear_down(&mut self) {
        for source in [TrackSource::Microphone, TrackSource::Camera, TrackSource::Screen] {
            self.stop_source(source);
        }
        if let Some(publisher) = &self.publisher {
            self.summary.transport.publish = publisher.peer.transport_protocol().await;
        }
        if let Some(subscriber) = &self.subscriber {
            self.summary.transport.receive = subscriber.transport_protocol().await;
        }
        if let Some(publisher) = self.publisher.take() {
            publisher.peer.close().await;
        }
        if let Some(subscriber) = self.subscriber.take() {
            subscriber.close().await;
        }
        self.remote.tracks_cleared();
    }

    /// Offers the publishing connection's tracks.
    async fn create_offer(&mut self) -> Result<(String, Vec<PublishedTrack>), String> {
        let Some(publisher) = &self.publisher else { return Err("no publishing connection".to_owned()) };
        let sdp = publisher.peer.create_offer().await.map_err(|e| e.to_string())?;
        Ok((sdp, publisher.tracks.clone()))
    }

    /// Answers the server's offer (the receiving connection made first, with
    /// the relays this offer brought: credentials issued with it).
    async fn answer(&mut self, offer: CallSubscribeOffer) -> concord_media::Result<String> {
        if self.subscriber.is_none() {
            let options = PeerOptions {
                ice_servers: media_ice_servers(&offer.ice_servers),
                ..self.peer_options.clone()
            };
            self.subscriber = Some(MediaPeer::new(options, self.subscriber_events.0.clone()).await?);
        }
        let Some(subscriber) = &self.subscriber else { unreachable!("made above") };
        subscriber.accept_offer(offer.sdp).await
    }

    /// A connection's state as the machine takes it; a remote track goes to
    /// [`RemoteMedia`], a keyframe request to the encoder.
    fn on_transport_event(&mut self, event: TransportEvent, leg: Leg) -> Option<Input<Capture>> {
        let state = match event {
            TransportEvent::State(PeerState::Connected) => ConnectionState::Connected,
            TransportEvent::State(PeerState::Failed) => ConnectionState::Failed,
            TransportEvent::State(_) => return None,
            TransportEvent::RemoteTrack(track) => {
                if let Some(offered) = self.machine.remote_track(&track.id) {
                    self.remote.track_added(offered.user_id, offered.source, track, &self.runtime);
                }
                return None;
            }
            TransportEvent::KeyframeRequested { track_id } => {
                if let Some(Feed::Encoder(sender)) =
                    self.video_out(source_of(&track_id)).and_then(|o| o.feed.as_ref())
                {
                    sender.request_keyframe();
                }
                return None;
            }
        };
        Some(Input::ConnectionState { leg, state })
    }
}

/// Sleeps until `deadline` (for ever without one).
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// The source a track id names (ours are named after their source).
fn source_of(track_id: &str) -> TrackSource {
    match track_id {
        "camera" => TrackSource::Camera,
        "screen" => TrackSource::Screen,
        _ => TrackSource::Microphone,
    }
}

/// The STUN/TURN servers the server named, as the media engine takes them.
fn media_ice_servers(servers: &[events::IceServer]) -> Vec<concord_media::transport::IceServer> {
    servers
        .iter()
        .map(|s| concord_media::transport::IceServer {
            urls: s.urls.clone(),
            username: s.username.clone(),
            credential: s.credential.clone(),
        })
        .collect()
}
