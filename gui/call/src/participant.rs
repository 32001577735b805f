//! The bot's participant: log in, host a [`CallSession`] with synthetic
//! sources (or a replayed file) and counting receivers for a while, leave,
//! and report what it saw. Its tone goes through the same voice processing
//! as a microphone; with an echo path, what it receives is mixed, played
//! into a simulated room, and comes back into its "microphone".

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use concord_client::{Command, Connection, Net, NetEvent};
use concord_common::events::{CallMedia, TileSize, TileView, TrackSource};
use concord_common::{AuthResponse, ErrorCode, RoomId, ServerEvent, UserId};
use concord_media::jitter::JitterBuffer;
use concord_media::playback::Mixer;
use concord_media::receive::{AUDIO_MAX_DELAY, AUDIO_MIN_DELAY};
use concord_media::source::{AudioSource, PatternSource, SpeechLikeSource, ToneSource};
use concord_media::synthetic::ToneGenerator;
use concord_media::transport::{RemoteTrack, TrackKind};
use concord_media::video_codec::{EncoderSettings, VideoContent};
use concord_media::voice::{self, RenderFeed, RoomMicrophone, RoomSpeaker};
use tokio::runtime::Handle;
use tokio::sync::mpsc;

use crate::options::{MediaOptions, VideoChoice, SIMULCAST_RIDS};
use crate::receive::TrackWatch;
use crate::report::{ParticipantReport, RemoteReport};
use crate::session::{
    CallSession, LocalMedia, RemoteMedia, SessionInput, VideoFeed, INPUT_QUEUE, JOIN_DEADLINE,
};
use crate::until::ReceivedBoard;

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
    run_until(account, room, media, duration, std::future::pending()).await
}

/// [`run`] that also leaves as soon as `stop` completes: a test that has
/// seen what it waited for ends the call then, instead of after a fixed
/// stay (`duration` stays the upper bound).
pub async fn run_until(
    account: Account,
    room: RoomId,
    media: MediaOptions,
    duration: Duration,
    stop: impl std::future::Future<Output = ()>,
) -> ParticipantReport {
    run_with(account, room, media, Stay { duration, stop, board: None }).await
}

/// [`run`] as one of a process's participants who all leave once each has
/// received what `board` wants from the others, and `also` (when given)
/// has completed (`duration` stays the upper bound): the bot's
/// `--until-received` (with `--until-stdin-closes`).
pub async fn run_watched(
    account: Account,
    room: RoomId,
    media: MediaOptions,
    duration: Duration,
    board: Arc<ReceivedBoard>,
    also: Option<impl std::future::Future<Output = ()>>,
) -> ParticipantReport {
    let received = Arc::clone(&board).wait();
    let stop = async move {
        if let Some(also) = also {
            also.await;
        }
        received.await;
    };
    run_with(account, room, media, Stay { duration, stop, board: Some(board) }).await
}

async fn run_with(
    account: Account,
    room: RoomId,
    media: MediaOptions,
    stay: Stay<impl std::future::Future<Output = ()>>,
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
    if let Some(board) = &stay.board {
        board.member(auth.user.id);
    }
    call(net, room, auth.user.id, media, &account.server, stay, &mut report).await;
    report
}

/// The view the bot tells (`call_view`): the people it hides, the tiles
/// it sizes, and with `every_tile`, each of `others` not named otherwise
/// at that size — camera and screen alike.
fn view_of(media: &MediaOptions, others: &[UserId]) -> Vec<TileView> {
    let hidden = media.hide.iter().map(|user| (*user, true, None));
    let sized = media.tiles.iter().map(|(user, size)| (*user, false, Some(*size)));
    let named = |user: &UserId| media.hide.contains(user) || media.tiles.iter().any(|(u, _)| u == user);
    let everyone = media.every_tile.into_iter().flat_map(|size| {
        others.iter().filter(|user| !named(user)).map(move |user| (*user, false, Some(size)))
    });
    hidden
        .chain(sized)
        .chain(everyone)
        .flat_map(|(user, hidden, size)| {
            [TrackSource::Camera, TrackSource::Screen].map(|source| TileView {
                user_id: user,
                source,
                hidden,
                size: size.map(|(width, height)| TileSize { width, height }),
            })
        })
        .collect()
}

/// Who `event` says is in `room`'s call now (`call_joined`'s roster, or
/// someone joining).
fn joined_in(event: &NetEvent, room: RoomId) -> Vec<UserId> {
    match event {
        NetEvent::Server(ServerEvent::CallJoined(joined)) if joined.room_id == room => {
            joined.participants.iter().map(|p| p.user_id).collect()
        }
        NetEvent::Server(ServerEvent::CallParticipantJoined(joined)) if joined.room_id == room => {
            vec![joined.participant.user_id]
        }
        _ => Vec::new(),
    }
}

/// What the bot switches on at the start.
fn wanted(media: &MediaOptions) -> CallMedia {
    CallMedia {
        muted: media.tone_hz.is_none(),
        deafened: false,
        camera: media.video != VideoChoice::None,
        screen: media.screen && media.screen_after.is_none(),
    }
}

/// How long a participant stays in the call: `duration` at most, less if
/// `stop` completes first (with a board, when it is complete).
struct Stay<F> {
    duration: Duration,
    stop: F,
    /// Where the participant's received tracks show (`--until-received`).
    board: Option<Arc<ReceivedBoard>>,
}

/// Runs the session for its stay (sharing the screen mid-call when asked),
/// feeding it the websocket's events, then fills in `report`.
async fn call(
    mut net: Net,
    room: RoomId,
    me: UserId,
    media: MediaOptions,
    server: &str,
    stay: Stay<impl std::future::Future<Output = ()>>,
    report: &mut ParticipantReport,
) {
    let want = wanted(&media);
    let board = stay.board.map(|board| (me, board));
    let mut tracks =
        BotTracks { decode: media.decode, watches: Vec::new(), round_trips: Vec::new(), mixer: None, board };
    let mut sources = BotSources { media: media.clone(), room: None, reference: None };
    if let Some(path) = media.echo_path {
        // What the bot hears is mixed and played into its simulated room,
        // one frame per microphone frame (RoomMicrophone).
        let mixer: Arc<Mutex<Mixer>> = Arc::default();
        let (tap, reference) = voice::echo_reference();
        sources.room = Some(Arc::new(Mutex::new(RoomSpeaker::new(Arc::clone(&mixer), tap, path))));
        sources.reference = Some(reference);
        tracks.mixer = Some(mixer);
    }
    let session = CallSession::new(net.command_sender(), room, me, want, server, sources, tracks)
        .adapt_uplink(!media.fixed_uplink);
    let (inputs, input_rx) = mpsc::channel(INPUT_QUEUE);
    // Everybody else in the call, as far as the roster has said (for `every_tile`).
    let mut others: Vec<UserId> = Vec::new();
    if !media.hide.is_empty() || !media.tiles.is_empty() {
        let _ = inputs.send(SessionInput::SetView(view_of(&media, &others))).await;
    }
    let mut running = tokio::spawn(session.run(input_rx));
    let end = tokio::time::Instant::now() + stay.duration;
    let share_at =
        media.screen_after.filter(|_| media.screen).map(|after| tokio::time::Instant::now() + after);
    let mut shared = false;
    let mut stop = std::pin::pin!(stay.stop);
    let finished = loop {
        tokio::select! {
            () = tokio::time::sleep_until(end) => break None,
            () = &mut stop => break None,
            () = tokio::time::sleep_until(share_at.unwrap_or(end)), if share_at.is_some() && !shared => {
                shared = true;
                let _ = inputs.send(SessionInput::SetMedia(CallMedia { screen: true, ..want })).await;
            }
            event = net.recv() => match event {
                Some(event) => {
                    let joined = media.every_tile.map_or_else(Vec::new, |_| joined_in(&event, room));
                    let before = others.len();
                    others.extend(joined.into_iter().filter(|user| *user != me));
                    others.sort_unstable();
                    others.dedup();
                    let _ = inputs.send(SessionInput::Net(Box::new(event))).await;
                    if others.len() != before {
                        let _ = inputs.send(SessionInput::SetView(view_of(&media, &others))).await;
                    }
                }
                None => {
                    report.errors.push("the network side stopped".into());
                    break None;
                }
            },
            done = &mut running => break Some(done),
        }
    };
    let done = match finished {
        Some(done) => done,
        None => {
            let _ = inputs.send(SessionInput::Leave).await;
            // Leaving sends call_leave through `net`, which keeps running.
            running.await
        }
    };
    let (summary, tracks) = match done {
        Ok(done) => done,
        Err(error) => {
            report.errors.push(format!("the call crashed: {error}"));
            return;
        }
    };
    report.joined_ms = summary.joined_ms;
    report.sent = summary.sent;
    report.speaking_seen = summary.speaking_seen;
    report.transport = summary.transport;
    report.errors.extend(summary.errors);
    report.rejoins = summary.rejoins;
    report.video_quality = summary.video_quality;
    let join_requested = summary.join_requested.unwrap_or_else(std::time::Instant::now);
    let first_video = tracks
        .watches
        .iter()
        .filter(|(_, w)| w.kind() == TrackKind::Video)
        .filter_map(|(_, w)| w.first_frame())
        .min();
    let first_any = tracks.watches.iter().filter_map(|(_, w)| w.first_frame()).min();
    report.first_remote_frame_ms =
        first_video.or(first_any).map(|at| at.saturating_duration_since(join_requested).as_millis() as u64);
    let mut by_user: BTreeMap<UserId, RemoteReport> = BTreeMap::new();
    for (user, watch) in &tracks.watches {
        by_user
            .entry(*user)
            .or_insert_with(|| RemoteReport { user_id: *user, tracks: Vec::new() })
            .tracks
            .push(watch.report(join_requested));
    }
    report.received = by_user.into_values().collect();
    let mut round_trips = tracks.round_trips;
    round_trips.sort();
    report.round_trip_ms =
        round_trips.get(round_trips.len() / 2).map(|rtt| (rtt.as_secs_f64() * 10_000.0).round() / 10.0);
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

/// A number below `n`, spread enough to de-synchronise retries.
fn rand_below(n: u32) -> u32 {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    nanos % n.max(1)
}

/// The bot's sources: the stamped test pattern (or a replayed file) as the
/// camera, the pattern as the screen, a tone as the microphone (heard in the
/// simulated room when there is one), through the voice processing asked for.
struct BotSources {
    media: MediaOptions,
    room: Option<Arc<Mutex<RoomSpeaker>>>,
    /// What the bot plays, for the echo canceller.
    reference: Option<RenderFeed>,
}

impl BotSources {
    fn pattern(&self, content: VideoContent) -> VideoFeed {
        let (width, height, fps) = (self.media.width, self.media.height, self.media.fps);
        let settings = EncoderSettings { content, ..EncoderSettings::camera(width, height, fps as f32) };
        VideoFeed::Encode { source: Box::new(PatternSource::new(width, height, fps)), settings, size: None }
    }
}

impl LocalMedia for BotSources {
    fn simulcast_layers(&self, source: TrackSource) -> &'static [&'static str] {
        if self.media.simulcast && source == TrackSource::Camera {
            &SIMULCAST_RIDS
        } else {
            &[]
        }
    }

    fn open_camera(&mut self) -> Option<concord_media::Result<VideoFeed>> {
        match &self.media.video {
            VideoChoice::None => None,
            VideoChoice::Pattern => Some(Ok(self.pattern(VideoContent::Camera))),
            VideoChoice::File(path) => {
                Some(Ok(VideoFeed::Replay { path: path.clone(), fps: self.media.fps }))
            }
        }
    }

    fn open_screen(&mut self) -> Option<concord_media::Result<VideoFeed>> {
        self.media.screen.then(|| Ok(self.pattern(VideoContent::Screen)))
    }

    fn open_microphone(&mut self) -> Option<concord_media::Result<Box<dyn AudioSource>>> {
        let hz = self.media.tone_hz?;
        let mut source: Box<dyn AudioSource> = if self.media.speech_like {
            Box::new(SpeechLikeSource::new(hz, 0.3))
        } else {
            let amplitude = if self.media.silent { 0.0 } else { 0.3 };
            Box::new(ToneSource::new(ToneGenerator::continuous(hz, amplitude)))
        };
        if let Some(room) = &self.room {
            source = Box::new(RoomMicrophone::new(source, Arc::clone(room)));
        }
        Some(Ok(voice::process_source(source, self.media.audio_processing, self.reference.as_ref())))
    }
}

/// The bot's receivers: every remote track watched (counted or decoded)
/// and kept for the report, across rejoins too; with a simulated room, the
/// audio also mixed and played into it.
struct BotTracks {
    decode: bool,
    watches: Vec<(UserId, TrackWatch)>,
    /// The receiving connection's round-trip time, once a second.
    round_trips: Vec<std::time::Duration>,
    /// With a simulated room: what the bot hears, mixed (ticked by its microphone).
    mixer: Option<Arc<Mutex<Mixer>>>,
    /// With `--until-received`: who I am, and where my tracks' progress is shown.
    board: Option<(UserId, Arc<ReceivedBoard>)>,
}

impl RemoteMedia for BotTracks {
    fn track_added(&mut self, user: UserId, source: TrackSource, track: RemoteTrack, runtime: &Handle) {
        let playout = match (&self.mixer, track.kind) {
            (Some(mixer), TrackKind::Audio) => {
                let jitter = Arc::new(Mutex::new(JitterBuffer::adaptive(AUDIO_MIN_DELAY, AUDIO_MAX_DELAY)));
                let id = format!("{user}-{}", self.watches.len());
                let mut mixer = mixer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                mixer.add_speaker(id, Arc::clone(&jitter)).is_ok().then_some(jitter)
            }
            _ => None,
        };
        let watch = TrackWatch::start(track, source, self.decode, playout, runtime);
        if let Some((me, board)) = &self.board {
            board.watching(*me, user, source, watch.progress());
        }
        self.watches.push((user, watch));
    }

    fn tracks_cleared(&mut self) {
        if let Some(mixer) = &self.mixer {
            let mut mixer = mixer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            for (index, (user, watch)) in self.watches.iter().enumerate() {
                if watch.kind() == TrackKind::Audio {
                    mixer.remove_speaker(&format!("{user}-{index}"));
                }
            }
        }
    }

    fn wants_round_trip(&self) -> bool {
        true
    }

    fn round_trip(&mut self, rtt: std::time::Duration) {
        self.round_trips.push(rtt);
    }

    fn first_spoke(&mut self, user: UserId) {
        if let Some((me, board)) = &self.board {
            board.spoke(*me, user);
        }
    }
}
