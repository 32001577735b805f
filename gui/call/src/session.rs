//! One participant's media in one room's call, with no network of its own:
//! the desktop app and the headless bot host the same session.
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
use concord_client::{CallRequest, Command, CommandSender, Connection, NetEvent};
use concord_common::events::{self, CallLeftReason, CallMedia, ForwardedTrack, PublishedTrack, TrackSource};
use concord_common::media::Leg;
use concord_common::{RoomId, ServerEvent, UserId};
use concord_media::send::{AudioSender, MediaEvent, Preview, VideoSender};
use concord_media::source::{AudioSource, VideoSource};
use concord_media::transport::{
    LocalTrack, MediaPeer, PeerOptions, PeerState, RemoteTrack, TrackKind, TransportEvent,
};
use concord_media::video_codec::{split_access_units, EncoderSettings};
use tokio::runtime::Handle;
use tokio::sync::mpsc;

use crate::report::SentReport;

/// How long joining may take before the session gives up.
pub const JOIN_DEADLINE: Duration = Duration::from_secs(30);
/// Transport events waiting to be handled.
const EVENT_QUEUE: usize = 256;
/// Inputs a host may queue for a session ([`CallSession::run`]'s channel).
pub const INPUT_QUEUE: usize = 1024;

/// What the host hands the session.
#[derive(Debug)]
pub enum SessionInput {
    /// An event of the client library (call frames, the websocket's state).
    Net(NetEvent),
    /// What I want switched on now (mute, deafen, camera, screen).
    SetMedia(CallMedia),
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

/// The publishing connection and what it carries.
struct Publisher {
    peer: MediaPeer,
    tracks: Vec<PublishedTrack>,
    camera: Option<VideoOut>,
    screen: Option<VideoOut>,
    /// The microphone's track, once added (it stays when its sender stops).
    microphone_track: Option<Arc<LocalTrack>>,
    microphone: Option<AudioSender>,
    /// An offer was sent and its answer has not arrived.
    awaiting_answer: bool,
    /// A track was added since the last offer.
    needs_offer: bool,
}

/// One participant's call (see the module docs).
pub struct CallSession<L: LocalMedia, R: RemoteMedia> {
    commands: CommandSender,
    room: RoomId,
    me: UserId,
    want: CallMedia,
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
    /// Forwarded track id → whose and what, from the latest offer.
    offered: std::collections::HashMap<String, ForwardedTrack>,
    /// What the roster was last told.
    announced: Option<CallMedia>,
    summary: SessionSummary,
    join_requested: Instant,
    /// In the call (or joining) and should stay in: rejoin after a loss.
    in_call: bool,
    /// Media came up since the latest (re)join.
    media_up: bool,
    was_offline: bool,
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
        Self {
            commands,
            room,
            me,
            want,
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
            offered: std::collections::HashMap::new(),
            announced: None,
            summary: SessionSummary::default(),
            join_requested: Instant::now(),
            in_call: false,
            media_up: false,
            was_offline: false,
        }
    }

    /// Calls `on_event` with every [`SessionEvent`] (on the session's task).
    pub fn on_event(mut self, on_event: impl FnMut(SessionEvent) + Send + Sync + 'static) -> Self {
        self.on_event = Box::new(on_event);
        self
    }

    /// Joins, then follows `inputs` until asked to leave (or `inputs`
    /// closes, or the call cannot go on); returns how it went and the
    /// remote side, with every track cleared.
    pub async fn run(mut self, mut inputs: mpsc::Receiver<SessionInput>) -> (SessionSummary, R) {
        self.join();
        self.summary.join_requested = Some(self.join_requested);
        let join_deadline = tokio::time::Instant::now() + JOIN_DEADLINE;
        let mut measure = tokio::time::interval(Duration::from_secs(1));
        loop {
            if self.summary.joined_ms.is_none() && tokio::time::Instant::now() >= join_deadline {
                self.end_because(format!("the call did not connect within {JOIN_DEADLINE:?}"));
                break;
            }
            tokio::select! {
                () = tokio::time::sleep_until(join_deadline), if self.summary.joined_ms.is_none() => {}
                _ = measure.tick(), if self.remote.wants_round_trip() => {
                    if let Some(rtt) = self.measure_round_trip().await {
                        self.remote.round_trip(rtt);
                    }
                }
                input = inputs.recv() => match input {
                    Some(SessionInput::Net(event)) => {
                        if !self.on_net_event(event).await {
                            break;
                        }
                    }
                    Some(SessionInput::SetMedia(want)) => {
                        self.want = want;
                        self.apply_want().await;
                    }
                    Some(SessionInput::ReopenSources) => {
                        self.stop_sources();
                        self.apply_want().await;
                    }
                    Some(SessionInput::Leave) | None => break,
                },
                Some(event) = self.publisher_events.1.recv() => self.on_transport_event(event, Leg::Publishing).await,
                Some(event) = self.subscriber_events.1.recv() => self.on_transport_event(event, Leg::Receiving).await,
                Some(MediaEvent::SourceEnded { track_id, reason }) = self.media_events.1.recv() => {
                    self.source_ended(&track_id, &reason).await;
                }
            }
        }
        if self.in_call {
            self.signal(CallRequest::Leave(events::CallLeave { room_id: self.room }));
        }
        self.tear_down().await;
        (self.summary, self.remote)
    }

    fn emit(&mut self, event: SessionEvent) {
        (self.on_event)(event);
    }

    fn problem(&mut self, problem: String) {
        self.summary.errors.push(problem.clone());
        self.emit(SessionEvent::Problem(problem));
    }

    fn end_because(&mut self, why: String) {
        self.problem(why.clone());
        self.summary.ended_because = Some(why);
    }

    fn signal(&self, request: CallRequest) {
        if !self.commands.send(Command::Call(request)) {
            tracing::warn!("a call frame could not be queued: the network side is gone or swamped");
        }
    }

    fn join(&mut self) {
        self.join_requested = Instant::now();
        self.in_call = true;
        self.media_up = false;
        self.announced = None;
        // The roster hears what I want; an update follows if a source fails.
        let media = self.want;
        self.signal(CallRequest::Join(events::CallJoin { room_id: self.room, media }));
    }

    async fn rejoin(&mut self) {
        self.summary.rejoins += 1;
        self.emit(SessionEvent::Rejoining);
        self.tear_down().await;
        self.join();
    }

    /// Drops both connections and what they carried (before a rejoin or at the end).
    async fn tear_down(&mut self) {
        self.stop_sources();
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
        self.offered.clear();
    }

    /// Stops every source (camera, screen, microphone), counting what they
    /// sent; the tracks stay negotiated.
    fn stop_sources(&mut self) {
        let Some(publisher) = &mut self.publisher else { return };
        let mut stopped = Vec::new();
        for out in [&mut publisher.camera, &mut publisher.screen].into_iter().flatten() {
            if let Some(feed) = out.feed.take() {
                feed.stop();
                stopped.push((out.track.id().to_owned(), feed.sent()));
            }
        }
        if let Some(mut microphone) = publisher.microphone.take() {
            microphone.stop();
            self.summary.sent.audio_frames += microphone.stats().sent.load(Ordering::Relaxed);
        }
        for (track_id, frames) in stopped {
            self.count_sent(&track_id, frames);
        }
    }

    fn count_sent(&mut self, track_id: &str, frames: u64) {
        if track_id == TrackSource::Screen.as_str() {
            self.summary.sent.screen_frames += frames;
        } else {
            self.summary.sent.video_frames += frames;
        }
    }

    /// `false` ends the session.
    async fn on_net_event(&mut self, event: NetEvent) -> bool {
        match event {
            NetEvent::Connection(Connection::Reconnecting { .. }) => {
                if self.in_call && !self.was_offline {
                    // The server takes us out of the call when the websocket
                    // drops: its tiles go now, none is left frozen meanwhile.
                    self.emit(SessionEvent::Rejoining);
                    self.tear_down().await;
                }
                self.was_offline = true;
            }
            NetEvent::Connection(Connection::Online) if self.was_offline => {
                // Back in.
                self.was_offline = false;
                self.rejoin().await;
            }
            NetEvent::SessionExpired { message } => {
                self.end_because(format!("session ended: {message}"));
                return false;
            }
            NetEvent::CallRequestNotSent { .. } => {} // rejoined once back online
            NetEvent::Server(event) => return self.on_server_event(event).await,
            _ => {}
        }
        true
    }

    /// The server says `user` speaks (in the roster or as a change): noted
    /// once, and the remote side told the first time.
    fn saw_speaking(&mut self, user: UserId) {
        if !self.summary.speaking_seen.contains(&user) {
            self.summary.speaking_seen.push(user);
            self.remote.first_spoke(user);
        }
    }

    async fn on_server_event(&mut self, event: ServerEvent) -> bool {
        match event {
            ServerEvent::CallJoined(joined) if joined.room_id == self.room => {
                for speaker in joined.participants.iter().filter(|p| p.speaking) {
                    self.saw_speaking(speaker.user_id);
                }
                // The relays (fresh credentials) the publishing connection may take.
                self.peer_options.ice_servers = media_ice_servers(&joined.ice_servers);
                self.apply_want().await;
                if self.publisher.is_none() && joined.participants.len() <= 1 {
                    // Listen-only and alone: in the call already.
                    self.mark_connected();
                }
            }
            ServerEvent::CallPublishAnswer(answer) if answer.room_id == self.room => {
                let Some(publisher) = &mut self.publisher else { return true };
                publisher.awaiting_answer = false;
                if let Err(error) = publisher.peer.accept_answer(answer.sdp).await {
                    self.problem(format!("the server's answer was refused: {error}"));
                } else if publisher.needs_offer {
                    self.offer().await;
                }
            }
            ServerEvent::CallSubscribeOffer(offer) if offer.room_id == self.room => {
                if let Err(error) = self.answer(offer).await {
                    self.problem(format!("could not answer the server's offer: {error}"));
                }
            }
            ServerEvent::CallSpeaking(speaking) if speaking.room_id == self.room && speaking.speaking => {
                self.saw_speaking(speaking.user_id);
            }
            ServerEvent::CallLeft(left) if left.room_id == self.room => match left.reason {
                CallLeftReason::Left => self.in_call = false,
                // Our media went silent on the server's side: rejoin.
                CallLeftReason::Disconnected => self.rejoin().await,
                reason => {
                    self.in_call = false;
                    self.end_because(format!("taken out of the call: {}", reason.in_words()));
                    return false;
                }
            },
            ServerEvent::Error(refused) => self.problem(refused.error.message),
            _ => {}
        }
        true
    }

    /// Brings what is published in line with `want` (after joining, and
    /// whenever the switches change), offers again if a track was added,
    /// and tells the roster what is really on.
    async fn apply_want(&mut self) {
        self.remote.set_deafened(self.want.deafened);
        if !self.in_call {
            return;
        }
        if let Err(error) = self.apply_sources().await {
            self.problem(format!("could not publish: {error}"));
        }
        let needs_offer = self.publisher.as_ref().is_some_and(|p| p.needs_offer && !p.awaiting_answer);
        if needs_offer {
            self.offer().await;
        }
        let effective = self.effective();
        if let Some(update) = effective.announce(&mut self.announced, self.want) {
            if update {
                self.signal(CallRequest::Update(events::CallUpdate { room_id: self.room, media: effective }));
            }
            self.emit(SessionEvent::Media(effective));
        }
    }

    /// What is really on: a switch counts only while its source sends.
    fn effective(&self) -> CallMedia {
        let publisher = self.publisher.as_ref();
        let sending = |out: Option<&VideoOut>| out.is_some_and(|o| o.feed.is_some());
        CallMedia {
            muted: self.want.muted || self.want.deafened || publisher.is_none_or(|p| p.microphone.is_none()),
            deafened: self.want.deafened,
            camera: sending(publisher.and_then(|p| p.camera.as_ref())),
            screen: sending(publisher.and_then(|p| p.screen.as_ref())),
        }
    }

    async fn apply_sources(&mut self) -> concord_media::Result<()> {
        let muted = self.want.muted || self.want.deafened;
        let has_microphone = self.publisher.as_ref().is_some_and(|p| p.microphone.is_some());
        if !muted && !has_microphone {
            match self.local.open_microphone() {
                Some(Ok(source)) => {
                    let existing = self.publisher.as_ref().and_then(|p| p.microphone_track.clone());
                    let track = match existing {
                        Some(track) => track,
                        None => self.add_track(TrackSource::Microphone).await?,
                    };
                    let track_of_sender = Arc::clone(&track);
                    let sender =
                        AudioSender::start(source, track, self.runtime.clone(), self.media_events.0.clone())?;
                    if let Some(publisher) = &mut self.publisher {
                        publisher.microphone_track = Some(track_of_sender);
                        publisher.microphone = Some(sender);
                    }
                }
                Some(Err(error)) => self.problem(format!("The microphone could not be opened: {error}")),
                None => {}
            }
        }
        if let Some(microphone) = self.publisher.as_ref().and_then(|p| p.microphone.as_ref()) {
            microphone.set_muted(muted);
        }
        self.apply_video(TrackSource::Camera, self.want.camera).await?;
        self.apply_video(TrackSource::Screen, self.want.screen).await
    }

    async fn apply_video(&mut self, source: TrackSource, on: bool) -> concord_media::Result<()> {
        let sending = self.video_out(source).is_some_and(|o| o.feed.is_some());
        if on == sending {
            return Ok(());
        }
        if !on {
            if let Some(feed) = self.video_out(source).and_then(|o| o.feed.take()) {
                feed.stop();
                self.count_sent(source.as_str(), feed.sent());
            }
            return Ok(());
        }
        let opened = match source {
            TrackSource::Camera => self.local.open_camera(),
            _ => self.local.open_screen(),
        };
        let feed = match opened {
            None => return Ok(()),
            Some(Err(error)) => {
                let what = if source == TrackSource::Camera { "camera" } else { "screen" };
                self.problem(format!("The {what} could not be opened: {error}"));
                return Ok(());
            }
            Some(Ok(feed)) => feed,
        };
        let track = match self.video_out(source) {
            Some(out) => Arc::clone(&out.track),
            None => self.add_track(source).await?,
        };
        let feed = match feed {
            VideoFeed::Encode { source: video, settings, size } => {
                let sender = VideoSender::start(
                    video,
                    Arc::clone(&track),
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
                Replay::start(&path, Arc::clone(&track), fps, &self.runtime)
                    .map_err(|e| concord_media::MediaError::Transport(format!("{}: {e}", path.display())))?,
            ),
        };
        if let Some(publisher) = &mut self.publisher {
            let slot = match source {
                TrackSource::Camera => &mut publisher.camera,
                _ => &mut publisher.screen,
            };
            *slot = Some(VideoOut { track, feed: Some(feed) });
        }
        Ok(())
    }

    fn video_out(&mut self, source: TrackSource) -> Option<&mut VideoOut> {
        let publisher = self.publisher.as_mut()?;
        match source {
            TrackSource::Camera => publisher.camera.as_mut(),
            TrackSource::Screen => publisher.screen.as_mut(),
            TrackSource::Microphone => None,
        }
    }

    /// Adds a track for `source` to the publishing connection (made now if
    /// there is none); its id is the source's name. The next offer carries it.
    async fn add_track(&mut self, source: TrackSource) -> concord_media::Result<Arc<LocalTrack>> {
        if self.publisher.is_none() {
            let peer = MediaPeer::new(self.peer_options.clone(), self.publisher_events.0.clone()).await?;
            self.publisher = Some(Publisher {
                peer,
                tracks: Vec::new(),
                camera: None,
                screen: None,
                microphone_track: None,
                microphone: None,
                awaiting_answer: false,
                needs_offer: false,
            });
        }
        let Some(publisher) = &mut self.publisher else { unreachable!("made above") };
        let id = source.as_str();
        let kind = if source == TrackSource::Microphone { TrackKind::Audio } else { TrackKind::Video };
        let track = Arc::new(publisher.peer.add_track(id, &self.me.to_string(), kind).await?);
        publisher.tracks.push(PublishedTrack { track_id: id.to_owned(), source });
        publisher.needs_offer = true;
        Ok(track)
    }

    /// Offers the publishing connection's tracks (again, after one was added).
    async fn offer(&mut self) {
        let Some(publisher) = &mut self.publisher else { return };
        match publisher.peer.create_offer().await {
            Ok(sdp) => {
                publisher.needs_offer = false;
                publisher.awaiting_answer = true;
                let tracks = publisher.tracks.clone();
                self.signal(CallRequest::Publish(events::CallPublish { room_id: self.room, sdp, tracks }));
            }
            Err(error) => self.problem(format!("could not offer our tracks: {error}")),
        }
    }

    async fn answer(&mut self, offer: events::CallSubscribeOffer) -> concord_media::Result<()> {
        if self.subscriber.is_none() {
            // Made with the relays this offer brought (credentials issued with it).
            let options = PeerOptions {
                ice_servers: media_ice_servers(&offer.ice_servers),
                ..self.peer_options.clone()
            };
            self.subscriber = Some(MediaPeer::new(options, self.subscriber_events.0.clone()).await?);
        }
        let Some(subscriber) = &self.subscriber else { return Ok(()) };
        let sdp = subscriber.accept_offer(offer.sdp).await?;
        self.offered = offer.tracks.into_iter().map(|t| (t.track_id.clone(), t)).collect();
        let answer = events::CallSubscribeAnswer { room_id: self.room, offer_id: offer.offer_id, sdp };
        self.signal(CallRequest::SubscribeAnswer(answer));
        Ok(())
    }

    async fn on_transport_event(&mut self, event: TransportEvent, leg: Leg) {
        match event {
            TransportEvent::State(PeerState::Connected) => self.mark_connected(),
            TransportEvent::State(PeerState::Failed) => {
                self.problem(format!("the {} connection failed; rejoining", leg.as_str()));
                self.signal(CallRequest::Leave(events::CallLeave { room_id: self.room }));
                self.rejoin().await;
            }
            TransportEvent::State(_) => {}
            TransportEvent::RemoteTrack(track) => {
                let Some(offered) = self.offered.get(&track.id) else {
                    self.problem(format!("a track nobody offered arrived: {}", track.id));
                    return;
                };
                let (user, source) = (offered.user_id, offered.source);
                self.remote.track_added(user, source, track, &self.runtime);
            }
            TransportEvent::KeyframeRequested { track_id } => {
                let source = if track_id == TrackSource::Screen.as_str() {
                    TrackSource::Screen
                } else {
                    TrackSource::Camera
                };
                if let Some(Feed::Encoder(sender)) = self.video_out(source).and_then(|o| o.feed.as_ref()) {
                    sender.request_keyframe();
                }
            }
        }
    }

    /// A source stopped by itself (camera unplugged, shared window closed):
    /// its switch goes off and the roster is told.
    async fn source_ended(&mut self, track_id: &str, reason: &str) {
        self.problem(format!("{track_id} stopped: {reason}"));
        match track_id {
            "camera" => self.want.camera = false,
            "screen" => self.want.screen = false,
            _ => self.want.muted = true,
        }
        if track_id == TrackSource::Microphone.as_str() {
            if let Some(mut microphone) = self.publisher.as_mut().and_then(|p| p.microphone.take()) {
                microphone.stop();
                self.summary.sent.audio_frames += microphone.stats().sent.load(Ordering::Relaxed);
            }
        }
        self.apply_want().await;
    }

    async fn measure_round_trip(&self) -> Option<Duration> {
        self.subscriber.as_ref()?.round_trip_time().await
    }

    /// Media is up (after the first join, or a rejoin).
    fn mark_connected(&mut self) {
        if self.media_up {
            return;
        }
        self.media_up = true;
        if self.summary.joined_ms.is_none() {
            self.summary.joined_ms = Some(self.join_requested.elapsed().as_millis() as u64);
        }
        self.emit(SessionEvent::Connected);
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
