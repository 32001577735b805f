//! One participant's life in a call: log in, join, publish (our offer),
//! receive (the server's offers), rejoin by itself when the websocket or
//! the media connection was lost, leave, and report what it saw.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use concord_client::{CallRequest, Command, Connection, Net, NetEvent};
use concord_common::events::{self, CallLeftReason, CallMedia, ForwardedTrack, PublishedTrack, TrackSource};
use concord_common::{AuthResponse, ErrorCode, RoomId, ServerEvent, UserId};
use concord_media::send::{AudioSender, MediaEvent, VideoSender};
use concord_media::source::{PatternSource, ToneSource};
use concord_media::synthetic::ToneGenerator;
use concord_media::transport::{LocalTrack, MediaPeer, PeerOptions, PeerState, TrackKind, TransportEvent};
use concord_media::video_codec::{split_access_units, EncoderSettings, VideoContent};
use tokio::runtime::Handle;
use tokio::sync::mpsc;

use crate::options::{MediaOptions, VideoChoice};
use crate::receive::{source_name, TrackWatch};
use crate::report::{ParticipantReport, RemoteReport, SentReport};

/// How long logging in, connecting and joining may take.
const JOIN_DEADLINE: Duration = Duration::from_secs(30);
/// Transport events waiting to be handled.
const EVENT_QUEUE: usize = 256;

/// Who the participant is, and where.
#[derive(Debug, Clone)]
pub struct Account {
    /// `http://host:port` of the Concord server.
    pub server: String,
    /// Login email.
    pub email: String,
    /// Password.
    pub password: String,
    /// Register the account first, with this username.
    pub register_as: Option<String>,
}

/// Joins `room` as `account`, sends and receives for `duration`, leaves,
/// and reports. The report's `errors` say what went wrong; `joined_ms` is
/// `None` when the call never connected.
pub async fn run(
    account: Account,
    room: RoomId,
    media: MediaOptions,
    duration: Duration,
) -> ParticipantReport {
    let mut report = ParticipantReport { room_id: Some(room), ..ParticipantReport::default() };
    let mut net = Net::start(Arc::new(|| {}));
    let auth = match log_in(&mut net, &account).await {
        Ok(auth) => auth,
        Err(error) => {
            report.errors.push(error);
            return report;
        }
    };
    report.user_id = Some(auth.user.id);
    let mut call = Call::new(net, room, auth.user.id, media, &account.server);
    call.run(duration, &mut report).await;
    report
}

async fn log_in(net: &mut Net, account: &Account) -> Result<AuthResponse, String> {
    let server = account.server.clone();
    let ask = || match &account.register_as {
        Some(username) => Command::Register {
            server: server.clone(),
            email: account.email.clone(),
            username: username.clone(),
            password: account.password.clone(),
        },
        None => Command::Login {
            server: server.clone(),
            email: account.email.clone(),
            password: account.password.clone(),
        },
    };
    net.send(ask());
    let deadline = tokio::time::Instant::now() + JOIN_DEADLINE;
    let auth = loop {
        match tokio::time::timeout_at(deadline, net.recv()).await {
            Ok(Some(NetEvent::Authenticated { auth, .. })) => break auth,
            // Many participants logging in at once: the server asks to come
            // back in a second (503 server_busy); spread the retries.
            Ok(Some(NetEvent::AuthFailed { error })) if error.code == ErrorCode::ServerBusy => {
                tokio::time::sleep(Duration::from_millis(500 + u64::from(rand_below(1000)))).await;
                net.send(ask());
            }
            Ok(Some(NetEvent::AuthFailed { error })) => {
                return Err(format!("login failed: {}", error.message))
            }
            Ok(Some(_)) => {}
            Ok(None) => return Err("the network side stopped".into()),
            Err(_) => return Err(format!("no answer from {server} within {JOIN_DEADLINE:?}")),
        }
    };
    net.send(Command::Resume { server: server.clone(), token: auth.token.clone() });
    loop {
        match tokio::time::timeout_at(deadline, net.recv()).await {
            Ok(Some(NetEvent::Connection(Connection::Online))) => return Ok(auth),
            Ok(Some(NetEvent::SessionExpired { message })) => {
                return Err(format!("session refused: {message}"))
            }
            Ok(Some(_)) => {}
            Ok(None) => return Err("the network side stopped".into()),
            Err(_) => {
                return Err(format!("the websocket to {server} did not come up within {JOIN_DEADLINE:?}"))
            }
        }
    }
}

/// A pre-encoded H.264 file sent in a loop as the camera.
struct Replay {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
}

impl Replay {
    /// Sends `path`'s frames on `track` at `fps`, from the start again at its end.
    fn start(path: &Path, track: Arc<LocalTrack>, fps: u32) -> std::io::Result<Replay> {
        let stream = std::fs::read(path)?;
        let units: Vec<Bytes> = split_access_units(&stream).into_iter().map(Bytes::copy_from_slice).collect();
        if units.is_empty() {
            let message = format!("{} holds no H.264 frames (Annex-B expected)", path.display());
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, message));
        }
        let (stop, sent) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
        let (task_stop, task_sent) = (Arc::clone(&stop), Arc::clone(&sent));
        let interval = Duration::from_secs(1) / fps.max(1);
        tokio::spawn(async move {
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

/// A number below `n`, spread enough to de-synchronise retries.
fn rand_below(n: u32) -> u32 {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    nanos % n.max(1)
}

/// What we publish, while in the call.
struct Publisher {
    peer: MediaPeer,
    tracks: Vec<PublishedTrack>,
    replay: Option<Replay>,
    camera: Option<VideoSender>,
    screen: Option<VideoSender>,
    microphone: Option<AudioSender>,
}

/// Sent-frame counts of every publisher this participant had (a rejoin
/// starts new ones).
#[derive(Default)]
struct SentTotals(SentReport);

impl SentTotals {
    fn add(&mut self, publisher: &Publisher) {
        let video =
            |s: &Option<VideoSender>| s.as_ref().map_or(0, |s| s.stats().sent.load(Ordering::Relaxed));
        self.0.video_frames += video(&publisher.camera);
        self.0.video_frames += publisher.replay.as_ref().map_or(0, |r| r.sent.load(Ordering::Relaxed));
        self.0.screen_frames += video(&publisher.screen);
        self.0.audio_frames +=
            publisher.microphone.as_ref().map_or(0, |m| m.stats().sent.load(Ordering::Relaxed));
    }
}

struct Call {
    net: Net,
    room: RoomId,
    me: UserId,
    media: MediaOptions,
    peer_options: PeerOptions,
    runtime: Handle,
    publisher: Option<Publisher>,
    subscriber: Option<MediaPeer>,
    publisher_events: (mpsc::Sender<TransportEvent>, mpsc::Receiver<TransportEvent>),
    subscriber_events: (mpsc::Sender<TransportEvent>, mpsc::Receiver<TransportEvent>),
    media_events: (mpsc::Sender<MediaEvent>, mpsc::Receiver<MediaEvent>),
    /// Forwarded track id → whose and what, from the latest offer.
    offered: HashMap<String, ForwardedTrack>,
    watches: Vec<(UserId, TrackWatch)>,
    sent: SentTotals,
    join_requested: Instant,
    joined: bool,
    /// Joined (or joining) and should stay in: rejoin after a loss.
    in_call: bool,
    was_offline: bool,
}

impl Call {
    fn new(net: Net, room: RoomId, me: UserId, media: MediaOptions, server: &str) -> Self {
        // Loopback servers get loopback candidates; anything else any interface.
        let local = server.contains("://127.") || server.contains("://localhost");
        let udp = if local { "127.0.0.1:0" } else { "0.0.0.0:0" };
        Self {
            net,
            room,
            me,
            media,
            peer_options: PeerOptions { ice_servers: Vec::new(), udp_addrs: vec![udp.to_owned()] },
            runtime: Handle::current(),
            publisher: None,
            subscriber: None,
            publisher_events: mpsc::channel(EVENT_QUEUE),
            subscriber_events: mpsc::channel(EVENT_QUEUE),
            media_events: mpsc::channel(EVENT_QUEUE),
            offered: HashMap::new(),
            watches: Vec::new(),
            sent: SentTotals::default(),
            join_requested: Instant::now(),
            joined: false,
            in_call: false,
            was_offline: false,
        }
    }

    async fn run(&mut self, duration: Duration, report: &mut ParticipantReport) {
        self.join();
        let end = tokio::time::Instant::now() + duration;
        let join_deadline = tokio::time::Instant::now() + JOIN_DEADLINE;
        let share_at = self
            .media
            .screen_after
            .filter(|_| self.media.screen)
            .map(|after| tokio::time::Instant::now() + after);
        let mut shared = false;
        loop {
            if !self.joined && tokio::time::Instant::now() >= join_deadline {
                report.errors.push(format!("the call did not connect within {JOIN_DEADLINE:?}"));
                break;
            }
            tokio::select! {
                () = tokio::time::sleep_until(end) => break,
                () = tokio::time::sleep_until(join_deadline), if !self.joined => {}
                () = tokio::time::sleep_until(share_at.unwrap_or(end)), if share_at.is_some() && !shared && self.publisher.is_some() => {
                    shared = true;
                    self.share_screen(report).await;
                }
                event = self.net.recv() => match event {
                    Some(event) => {
                        if !self.on_net_event(event, report).await {
                            break;
                        }
                    }
                    None => {
                        report.errors.push("the network side stopped".into());
                        break;
                    }
                },
                Some(event) = self.publisher_events.1.recv() => self.on_transport_event(event, true, report).await,
                Some(event) = self.subscriber_events.1.recv() => self.on_transport_event(event, false, report).await,
                Some(MediaEvent::SourceEnded { track_id, reason }) = self.media_events.1.recv() => {
                    report.errors.push(format!("{track_id} stopped: {reason}"));
                }
            }
        }
        if self.in_call {
            self.net.send(Command::Call(CallRequest::Leave(events::CallLeave { room_id: self.room })));
        }
        self.finish(report).await;
    }

    fn join(&mut self) {
        self.join_requested = Instant::now();
        self.in_call = true;
        let media = self.call_media(self.media.screen && self.media.screen_after.is_none());
        self.net.send(Command::Call(CallRequest::Join(events::CallJoin { room_id: self.room, media })));
    }

    /// Drops both connections and what they carried (before a rejoin or at the end).
    async fn tear_down(&mut self) {
        if let Some(mut publisher) = self.publisher.take() {
            stop_publisher(&mut publisher);
            self.sent.add(&publisher);
            publisher.peer.close().await;
        }
        if let Some(subscriber) = self.subscriber.take() {
            subscriber.close().await;
        }
        self.offered.clear();
    }

    /// `false` ends the run.
    async fn on_net_event(&mut self, event: NetEvent, report: &mut ParticipantReport) -> bool {
        match event {
            NetEvent::Connection(Connection::Reconnecting { .. }) => self.was_offline = true,
            NetEvent::Connection(Connection::Online) if self.was_offline => {
                // The server took us out when the websocket dropped: back in.
                self.was_offline = false;
                self.tear_down().await;
                self.join();
            }
            NetEvent::SessionExpired { message } => {
                report.errors.push(format!("session ended: {message}"));
                return false;
            }
            NetEvent::CallRequestNotSent { .. } => {} // rejoined once back online
            NetEvent::Server(event) => return self.on_server_event(event, report).await,
            _ => {}
        }
        true
    }

    async fn on_server_event(&mut self, event: ServerEvent, report: &mut ParticipantReport) -> bool {
        match event {
            ServerEvent::CallJoined(joined) if joined.room_id == self.room => {
                if self.publisher.is_none() {
                    if let Err(error) = self.publish().await {
                        report.errors.push(format!("could not publish: {error}"));
                    }
                }
                if self.publisher.is_none() && joined.participants.len() <= 1 {
                    // Listen-only and alone: in the call already.
                    self.mark_joined(report);
                }
            }
            ServerEvent::CallPublishAnswer(answer) if answer.room_id == self.room => {
                if let Some(publisher) = &self.publisher {
                    if let Err(error) = publisher.peer.accept_answer(answer.sdp).await {
                        report.errors.push(format!("the server's answer was refused: {error}"));
                    }
                }
            }
            ServerEvent::CallSubscribeOffer(offer) if offer.room_id == self.room => {
                if let Err(error) = self.answer(offer).await {
                    report.errors.push(format!("could not answer the server's offer: {error}"));
                }
            }
            ServerEvent::CallSpeaking(speaking)
                if speaking.room_id == self.room
                    && speaking.speaking
                    && !report.speaking_seen.contains(&speaking.user_id) =>
            {
                report.speaking_seen.push(speaking.user_id);
            }
            ServerEvent::CallLeft(left) if left.room_id == self.room => match left.reason {
                CallLeftReason::Left => self.in_call = false,
                // Our media went silent on the server's side: rejoin.
                CallLeftReason::Disconnected => {
                    self.tear_down().await;
                    self.join();
                }
                reason => {
                    self.in_call = false;
                    report.errors.push(format!("taken out of the call: {reason:?}"));
                    return false;
                }
            },
            ServerEvent::Error(refused) => report.errors.push(refused.error.message),
            _ => {}
        }
        true
    }

    async fn publish(&mut self) -> concord_media::Result<()> {
        let media = self.media.clone();
        if media.video == VideoChoice::None
            && media.tone_hz.is_none()
            && (!media.screen || media.screen_after.is_some())
        {
            return Ok(());
        }
        let peer = MediaPeer::new(self.peer_options.clone(), self.publisher_events.0.clone()).await?;
        let mut publisher = Publisher {
            peer,
            tracks: Vec::new(),
            replay: None,
            camera: None,
            screen: None,
            microphone: None,
        };
        if let Some(hz) = media.tone_hz {
            let track = self.add_track(&mut publisher, TrackSource::Microphone).await?;
            let source = Box::new(ToneSource::new(ToneGenerator::continuous(hz, 0.3)));
            publisher.microphone =
                Some(AudioSender::start(source, track, self.runtime.clone(), self.media_events.0.clone())?);
        }
        match &media.video {
            VideoChoice::Pattern => {
                publisher.camera = Some(self.add_pattern(&mut publisher, TrackSource::Camera).await?)
            }
            VideoChoice::File(path) => {
                let track = self.add_track(&mut publisher, TrackSource::Camera).await?;
                let replay = Replay::start(path, track, media.fps)
                    .map_err(|e| concord_media::MediaError::Transport(format!("{}: {e}", path.display())))?;
                publisher.replay = Some(replay);
            }
            VideoChoice::None => {}
        }
        if media.screen && media.screen_after.is_none() {
            publisher.screen = Some(self.add_pattern(&mut publisher, TrackSource::Screen).await?);
        }
        self.offer(publisher).await
    }

    /// Offers `publisher`'s tracks (again, after one was added) and keeps it.
    async fn offer(&mut self, publisher: Publisher) -> concord_media::Result<()> {
        let sdp = publisher.peer.create_offer().await?;
        let tracks = publisher.tracks.clone();
        self.publisher = Some(publisher);
        self.net.send(Command::Call(CallRequest::Publish(events::CallPublish {
            room_id: self.room,
            sdp,
            tracks,
        })));
        Ok(())
    }

    /// Adds a track for `source` to `publisher` (its id is the source's name).
    async fn add_track(
        &self,
        publisher: &mut Publisher,
        source: TrackSource,
    ) -> concord_media::Result<Arc<LocalTrack>> {
        let id = source_name(source);
        let kind = if source == TrackSource::Microphone { TrackKind::Audio } else { TrackKind::Video };
        let track = Arc::new(publisher.peer.add_track(id, &self.me.to_string(), kind).await?);
        publisher.tracks.push(PublishedTrack { track_id: id.to_owned(), source });
        Ok(track)
    }

    /// Adds the test pattern as the camera or the screen to `publisher`.
    async fn add_pattern(
        &self,
        publisher: &mut Publisher,
        source: TrackSource,
    ) -> concord_media::Result<VideoSender> {
        let (width, height, fps) = (self.media.width, self.media.height, self.media.fps);
        let track = self.add_track(publisher, source).await?;
        let content = if source == TrackSource::Screen { VideoContent::Screen } else { VideoContent::Camera };
        let settings = EncoderSettings { content, ..EncoderSettings::camera(width, height, fps as f32) };
        let pattern = Box::new(PatternSource::new(width, height, fps));
        VideoSender::start(pattern, track, settings, None, self.runtime.clone(), self.media_events.0.clone())
    }

    /// What I have switched on, for `call_join` and `call_update`.
    fn call_media(&self, screen: bool) -> CallMedia {
        CallMedia {
            muted: self.media.tone_hz.is_none(),
            deafened: false,
            camera: self.media.video != VideoChoice::None,
            screen,
        }
    }

    /// Starts sharing the screen mid-call: a new track on the publishing
    /// connection, a new offer, and the roster told.
    async fn share_screen(&mut self, report: &mut ParticipantReport) {
        let Some(mut publisher) = self.publisher.take() else {
            report.errors.push("nothing published to add a screen to".into());
            return;
        };
        let result = match self.add_pattern(&mut publisher, TrackSource::Screen).await {
            Ok(screen) => {
                publisher.screen = Some(screen);
                self.offer(publisher).await
            }
            Err(error) => {
                self.publisher = Some(publisher);
                Err(error)
            }
        };
        match result {
            Ok(()) => {
                let update = events::CallUpdate { room_id: self.room, media: self.call_media(true) };
                self.net.send(Command::Call(CallRequest::Update(update)));
            }
            Err(error) => report.errors.push(format!("could not share the screen: {error}")),
        }
    }

    async fn answer(&mut self, offer: events::CallSubscribeOffer) -> concord_media::Result<()> {
        if self.subscriber.is_none() {
            self.subscriber =
                Some(MediaPeer::new(self.peer_options.clone(), self.subscriber_events.0.clone()).await?);
        }
        let Some(subscriber) = &self.subscriber else { return Ok(()) };
        let sdp = subscriber.accept_offer(offer.sdp).await?;
        self.offered = offer.tracks.into_iter().map(|t| (t.track_id.clone(), t)).collect();
        let answer = events::CallSubscribeAnswer { room_id: self.room, offer_id: offer.offer_id, sdp };
        self.net.send(Command::Call(CallRequest::SubscribeAnswer(answer)));
        Ok(())
    }

    async fn on_transport_event(
        &mut self,
        event: TransportEvent,
        publishing: bool,
        report: &mut ParticipantReport,
    ) {
        match event {
            TransportEvent::State(PeerState::Connected) => self.mark_joined(report),
            TransportEvent::State(PeerState::Failed) => {
                report.errors.push(format!(
                    "the {} connection failed; rejoining",
                    if publishing { "publishing" } else { "receiving" }
                ));
                self.tear_down().await;
                self.net.send(Command::Call(CallRequest::Leave(events::CallLeave { room_id: self.room })));
                self.join();
            }
            TransportEvent::State(_) => {}
            TransportEvent::RemoteTrack(track) => {
                let Some(offered) = self.offered.get(&track.id) else {
                    report.errors.push(format!("a track nobody offered arrived: {}", track.id));
                    return;
                };
                let (user, source) = (offered.user_id, offered.source);
                let watch = TrackWatch::start(track, source, self.media.decode, &self.runtime);
                self.watches.push((user, watch));
            }
            TransportEvent::KeyframeRequested { track_id } => {
                let Some(publisher) = &self.publisher else { return };
                let sender = match track_id.as_str() {
                    "camera" => publisher.camera.as_ref(),
                    "screen" => publisher.screen.as_ref(),
                    _ => None,
                };
                if let Some(sender) = sender {
                    sender.request_keyframe();
                }
            }
        }
    }

    fn mark_joined(&mut self, report: &mut ParticipantReport) {
        if !self.joined {
            self.joined = true;
            report.joined_ms = Some(self.join_requested.elapsed().as_millis() as u64);
        }
    }

    async fn finish(&mut self, report: &mut ParticipantReport) {
        self.tear_down().await;
        report.sent = self.sent.0;
        let first_video = self
            .watches
            .iter()
            .filter(|(_, w)| w.kind() == TrackKind::Video)
            .filter_map(|(_, w)| w.first_frame())
            .min();
        let first_any = self.watches.iter().filter_map(|(_, w)| w.first_frame()).min();
        report.first_remote_frame_ms = first_video
            .or(first_any)
            .map(|at| at.saturating_duration_since(self.join_requested).as_millis() as u64);
        let mut by_user: BTreeMap<UserId, RemoteReport> = BTreeMap::new();
        for (user, watch) in &self.watches {
            by_user
                .entry(*user)
                .or_insert_with(|| RemoteReport { user_id: *user, tracks: Vec::new() })
                .tracks
                .push(watch.report());
        }
        report.received = by_user.into_values().collect();
        self.watches.clear();
    }
}

fn stop_publisher(publisher: &mut Publisher) {
    if let Some(replay) = &publisher.replay {
        replay.stop.store(true, Ordering::Relaxed);
    }
    for sender in [&publisher.camera, &publisher.screen].into_iter().flatten() {
        sender.stop();
    }
    if let Some(microphone) = &mut publisher.microphone {
        microphone.stop();
    }
}
