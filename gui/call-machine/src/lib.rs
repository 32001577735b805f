//! One participant's call in one room as a sans-IO state machine, shared by
//! every build: the desktop app and the bot (`concord_call::session`) and
//! the browser (`gui/src/web_call`) are its drivers. It makes the call's
//! decisions — join, open the wanted sources, put them on the publishing
//! connection, offer, answer the server's offers, tell the roster what is
//! really on, rejoin after a loss, give up at the join deadline — and does
//! no I/O: a driver feeds it [`Input`]s with the time, carries out the
//! [`Action`]s it polls (send a frame, open a camera, create an offer), and
//! hands back each action's outcome as another input. Time moves only when
//! the driver says so, so the tests run whole calls in simulated time.
//!
//! A driver's loop:
//! 1. [`CallMachine::handle`] whatever happened (a server event, a switch,
//!    a source opened, an offer made, the deadline from
//!    [`CallMachine::poll_timeout`] passed);
//! 2. [`CallMachine::poll_action`] until it is empty, carrying each out and
//!    handing back its outcome before the next (the machine assumes one
//!    operation at a time: nothing else is handled in between);
//! 3. wait for the next input or the timeout; stop after [`Report::Ended`].
//!
//! `C` is whatever a driver opens a source as (a browser
//! `MediaStreamTrack`, the desktop's capture, a number in the tests): the
//! machine only passes it on, to be attached or stopped.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use concord_client::{CallRequest, Connection, NetEvent};
use concord_common::events::{
    self, CallLeftReason, CallMedia, CallSubscribeOffer, CallVideoQuality, ForwardedTrack, IceServer,
    PublishedTrack, TileView, TrackSource,
};
use concord_common::media::Leg;
use concord_common::{ErrorCode, RoomId, ServerEvent, UserId};
pub use web_time::Instant;

#[cfg(test)]
mod tests;

/// How long a join (or a rejoin) may take to bring media up before the call
/// gives up.
pub const JOIN_DEADLINE: Duration = Duration::from_secs(30);

/// What happened, for the machine to decide on.
#[derive(Debug)]
pub enum Input<C> {
    /// An event of the client library (the websocket's state, a server frame);
    /// boxed, for the other inputs are small.
    Net(Box<NetEvent>),
    /// What the person wants switched on now.
    SetMedia(CallMedia),
    /// How the others' videos are shown now (which are hidden): the server
    /// hears it (`call_view`) once in the call, and again after each rejoin.
    SetView(Vec<TileView>),
    /// The picked devices changed: every source opens again from them (the
    /// tracks stay negotiated).
    ReopenSources,
    /// Leave the call.
    Leave,
    /// The outcome of [`Action::OpenSource`].
    SourceOpened {
        /// Which source.
        source: TrackSource,
        /// The round the action named.
        round: u32,
        /// What opening gave.
        outcome: Opened<C>,
    },
    /// A live source stopped by itself (camera unplugged, sharing ended in
    /// the browser's own bar); `reason` in words when there is one.
    SourceEnded {
        /// Which source.
        source: TrackSource,
        /// Why, if known.
        reason: Option<String>,
    },
    /// The outcome of [`Action::Attach`] (on failure the driver has
    /// stopped the capture).
    Attached {
        /// Which source.
        source: TrackSource,
        /// `Err`: why it could not be sent.
        result: Result<(), String>,
    },
    /// The outcome of [`Action::CreateOffer`]: the offer's SDP and the
    /// tracks it carries, as it names them.
    OfferCreated(Result<(String, Vec<PublishedTrack>), String>),
    /// The outcome of [`Action::ApplyAnswer`].
    AnswerApplied(Result<(), String>),
    /// The outcome of [`Action::AnswerOffer`]: the answer's SDP.
    OfferAnswered {
        /// The offer answered.
        offer_id: u64,
        /// `Ok`: the answer's SDP.
        result: Result<String, String>,
    },
    /// A connection's state changed.
    ConnectionState {
        /// Which connection.
        leg: Leg,
        /// Its state now.
        state: ConnectionState,
    },
    /// The time [`CallMachine::poll_timeout`] named has come.
    Timeout,
}

/// What opening a source gave.
#[derive(Debug)]
pub enum Opened<C> {
    /// The capture.
    Capture(C),
    /// It could not be opened (in words for a person).
    Failed(String),
    /// No device is picked for it: not asked for again until the picks change.
    NotPicked,
}

/// A peer connection's state, as far as the call cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// Media can flow.
    Connected,
    /// It gave up: the call rejoins.
    Failed,
    /// Anything else (checking, disconnected for now, closed).
    Other,
}

/// What the driver is to do, in order.
#[derive(Debug)]
pub enum Action<C> {
    /// Send this frame on the websocket.
    Signal(CallRequest),
    /// Open `source` from the picked device; hand back [`Input::SourceOpened`]
    /// with the same `round` (whenever it opens: the browser asks the person).
    OpenSource {
        /// Which source.
        source: TrackSource,
        /// Echo this back.
        round: u32,
    },
    /// A capture that opened too late (switched off meanwhile, new picks,
    /// the call ended): stop it.
    StopCapture(C),
    /// Send `capture` as `source` on the publishing connection (made first,
    /// with `ice_servers`, if there is none yet): on the track `source` had
    /// (no new offer needed), or on a new one that the next offer carries.
    /// Hand back [`Input::Attached`].
    Attach {
        /// Which source.
        source: TrackSource,
        /// Its capture.
        capture: C,
        /// The relays, for a connection made now.
        ice_servers: Vec<IceServer>,
    },
    /// Stop `source`'s capture and send nothing in its place; its track
    /// stays negotiated.
    StopSource(TrackSource),
    /// Send silence from the live microphone (`true`), or what it hears.
    MuteMicrophone(bool),
    /// Nobody else shows `source` (`paused`): stop encoding it, keeping the
    /// capture (and the self-view); or somebody does again: encode it again,
    /// starting with a keyframe.
    PauseVideo {
        /// The camera or screen.
        source: TrackSource,
        /// Stop (`true`) or start again.
        paused: bool,
    },
    /// Of `source`, sent in simulcast layers, encode only these (their
    /// RIDs; empty: every layer): nobody receives the others. A layer
    /// encoded again starts with a keyframe.
    EncodeLayers {
        /// The camera or screen.
        source: TrackSource,
        /// The RIDs.
        layers: Vec<String>,
    },
    /// Play nothing (`true`), or every remote voice.
    SetDeafened(bool),
    /// Create an offer for the publishing connection and set it as its local
    /// description; hand back [`Input::OfferCreated`].
    CreateOffer,
    /// Set the server's answer on the publishing connection; hand back
    /// [`Input::AnswerApplied`].
    ApplyAnswer(String),
    /// Answer the server's offer on the receiving connection (made first,
    /// with the offer's relays, if there is none); tracks it no longer
    /// offers are gone. Hand back [`Input::OfferAnswered`].
    AnswerOffer(CallSubscribeOffer),
    /// Close both connections and stop every capture; every remote track is
    /// gone.
    TearDown,
    /// Tell the person (or the bot's report).
    Report(Report),
}

/// News for the host, as the call goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// Media is up after joining or joining again (or, listen-only and
    /// alone, the server has me in the call).
    Connected,
    /// What is really on now (after a source opened, failed or stopped).
    Media(CallMedia),
    /// Something went wrong, in words for a person.
    Problem(String),
    /// The connection was lost and the call is joining again.
    Rejoining,
    /// The server reported `user` speaking, for the first time in this call.
    FirstSpoke(UserId),
    /// The server sends someone's video reduced, paused, or in full again,
    /// for my network (`call_video_quality`).
    VideoQuality(CallVideoQuality),
    /// The call is over (`reason`: why it ended by itself; `None`: I left).
    /// Nothing follows.
    Ended {
        /// Why, when it was not my choice.
        reason: Option<String>,
    },
}

/// The publishing connection, as far as the machine knows it.
#[derive(Debug, Default)]
struct Publisher {
    /// Sources with a track on it (kept while switched off).
    tracks: Vec<TrackSource>,
    /// Sources whose capture it sends now.
    live: Vec<TrackSource>,
    /// An offer is out and its answer not yet applied.
    awaiting_answer: bool,
    /// A track was added since the last offer.
    needs_offer: bool,
}

/// One participant's call (see the crate docs).
#[derive(Debug)]
pub struct CallMachine<C> {
    room: RoomId,
    want: CallMedia,
    /// The relays the latest `call_joined` named.
    ice_servers: Vec<IceServer>,
    publisher: Option<Publisher>,
    /// The receiving connection exists.
    receiving: bool,
    /// Forwarded track id → whose and what, from the latest offer.
    offered: HashMap<String, ForwardedTrack>,
    /// Sources being opened, each with the round it was asked in; one that
    /// arrives from an earlier round (sources stopped since) is stopped.
    opening: HashMap<TrackSource, u32>,
    round: u32,
    /// Sources with no device picked, not asked for until the picks change.
    not_picked: Vec<TrackSource>,
    /// What the roster was last told.
    announced: Option<CallMedia>,
    /// What the latest `call_join` told the roster.
    joined_with: CallMedia,
    /// How the others' videos are shown.
    view: Vec<TileView>,
    /// The view the server has for this join (every video shown when it starts).
    view_told: Vec<TileView>,
    /// My videos nobody else shows now (`call_video_wanted`), not encoded.
    unwanted: Vec<TrackSource>,
    /// Of my simulcast videos, the layers somebody receives (`call_video_wanted`; none listed: all).
    wanted_layers: Vec<(TrackSource, Vec<String>)>,
    /// A `call_view` awaits its `call_view_accepted`: the next waits for it
    /// (requests are handled side by side: two in flight could swap).
    view_in_flight: bool,
    /// `call_join` for this attempt was answered (`call_joined`): sources
    /// open and offers go only from then on.
    joined: bool,
    /// `call_leave`s sent before joining again (a failed connection),
    /// whose `call_left` answers are not about this join.
    leaves_pending: u32,
    deafened_told: Option<bool>,
    microphone_muted_told: Option<bool>,
    /// Nobody else was in the call when I joined.
    joined_alone: bool,
    /// In the call (or joining) and should stay in: rejoin after a loss.
    in_call: bool,
    /// Media came up since the latest (re)join.
    media_up: bool,
    offline: bool,
    join_deadline: Option<Instant>,
    ended: bool,
    speaking_seen: Vec<UserId>,
    rejoins: u64,
    actions: VecDeque<Action<C>>,
}

impl<C> CallMachine<C> {
    /// A call in `room` wanting `want` switched on; its first action joins.
    pub fn new(room: RoomId, want: CallMedia, now: Instant) -> Self {
        let mut machine = Self {
            room,
            want,
            ice_servers: Vec::new(),
            publisher: None,
            receiving: false,
            offered: HashMap::new(),
            opening: HashMap::new(),
            round: 0,
            not_picked: Vec::new(),
            announced: None,
            joined_with: want,
            view: Vec::new(),
            view_told: Vec::new(),
            unwanted: Vec::new(),
            wanted_layers: Vec::new(),
            view_in_flight: false,
            joined: false,
            leaves_pending: 0,
            deafened_told: None,
            microphone_muted_told: None,
            joined_alone: false,
            in_call: false,
            media_up: false,
            offline: false,
            join_deadline: None,
            ended: false,
            speaking_seen: Vec::new(),
            rejoins: 0,
            actions: VecDeque::new(),
        };
        machine.set_deafened();
        machine.join(now);
        machine
    }

    /// The next thing to do, in order.
    pub fn poll_action(&mut self) -> Option<Action<C>> {
        self.actions.pop_front()
    }

    /// When to hand in [`Input::Timeout`] (the join's deadline), if anything waits for time.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.join_deadline.filter(|_| !self.ended)
    }

    /// Whether the call is over ([`Report::Ended`] was queued).
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// What the person wants switched on (a source that failed or stopped switched itself off).
    pub fn want(&self) -> CallMedia {
        self.want
    }

    /// How many times the call joined again after losing the call.
    pub fn rejoins(&self) -> u64 {
        self.rejoins
    }

    /// Whose `track_id` is, by the latest offer (no side effects).
    pub fn offered(&self, track_id: &str) -> Option<&ForwardedTrack> {
        self.offered.get(track_id)
    }

    /// A remote track arrived on the receiving connection: whose it is, or
    /// `None` (and a problem reported) when no offer named it.
    pub fn remote_track(&mut self, track_id: &str) -> Option<ForwardedTrack> {
        let found = self.offered.get(track_id).cloned();
        if found.is_none() {
            self.problem(format!("a track nobody offered arrived: {track_id}"));
        }
        found
    }

    /// Decides on `input`; what to do next comes from [`CallMachine::poll_action`].
    pub fn handle(&mut self, now: Instant, input: Input<C>) {
        if self.ended {
            // Only captures that opened too late still need something done.
            if let Input::SourceOpened { outcome: Opened::Capture(capture), .. } = input {
                self.actions.push_back(Action::StopCapture(capture));
            }
            return;
        }
        match input {
            Input::Net(event) => self.on_net_event(now, *event),
            Input::SetMedia(want) => {
                self.want = want;
                self.apply_want();
            }
            Input::SetView(view) => {
                self.view = view;
                self.tell_view();
            }
            Input::ReopenSources => {
                self.stop_sources();
                self.not_picked.clear();
                self.apply_want();
            }
            Input::Leave => self.finish(None),
            Input::SourceOpened { source, round, outcome } => self.source_opened(source, round, outcome),
            Input::SourceEnded { source, reason } => self.source_ended(source, reason),
            Input::Attached { source, result } => self.attached(source, result),
            Input::OfferCreated(Ok((sdp, tracks))) => {
                // Tracks attached after the offer was asked for may be in it already.
                if let Some(publisher) = &mut self.publisher {
                    let carried = |source: &TrackSource| tracks.iter().any(|t| t.source == *source);
                    publisher.needs_offer = !publisher.tracks.iter().all(carried);
                }
                self.signal(CallRequest::Publish(events::CallPublish { room_id: self.room, sdp, tracks }));
            }
            Input::OfferCreated(Err(error)) => {
                if let Some(publisher) = &mut self.publisher {
                    publisher.awaiting_answer = false;
                }
                self.problem(format!("could not offer our tracks: {error}"));
            }
            Input::AnswerApplied(result) => {
                if let Some(publisher) = &mut self.publisher {
                    publisher.awaiting_answer = false;
                }
                match result {
                    Ok(()) => self.offer(),
                    Err(error) => self.problem(format!("the server's answer was refused: {error}")),
                }
            }
            Input::OfferAnswered { offer_id, result: Ok(sdp) } => {
                let answer = events::CallSubscribeAnswer { room_id: self.room, offer_id, sdp };
                self.signal(CallRequest::SubscribeAnswer(answer));
            }
            Input::OfferAnswered { result: Err(error), .. } => {
                self.problem(format!("could not answer the server's offer: {error}"));
            }
            Input::ConnectionState { leg, state } => self.connection_state(now, leg, state),
            Input::Timeout => {
                let passed = self.join_deadline.is_some_and(|deadline| now >= deadline);
                if passed && !self.media_up {
                    let seconds = JOIN_DEADLINE.as_secs();
                    self.finish(Some(format!(
                        "the call did not connect within {seconds} s (is the server's media port reachable?)"
                    )));
                }
            }
        }
    }

    fn report(&mut self, report: Report) {
        self.actions.push_back(Action::Report(report));
    }

    fn problem(&mut self, problem: String) {
        self.report(Report::Problem(problem));
    }

    fn signal(&mut self, request: CallRequest) {
        self.actions.push_back(Action::Signal(request));
    }

    /// Ends the call: out of it, both connections closed, [`Report::Ended`].
    fn finish(&mut self, reason: Option<String>) {
        if let Some(reason) = &reason {
            self.problem(reason.clone());
        }
        if self.in_call {
            self.in_call = false;
            self.signal(CallRequest::Leave(events::CallLeave { room_id: self.room }));
        }
        self.tear_down();
        self.ended = true;
        self.join_deadline = None;
        self.report(Report::Ended { reason });
    }

    fn join(&mut self, now: Instant) {
        self.in_call = true;
        self.media_up = false;
        self.announced = None;
        self.view_in_flight = false;
        self.joined = false;
        self.unwanted.clear();
        self.wanted_layers.clear();
        self.joined_alone = false;
        self.join_deadline = Some(now + JOIN_DEADLINE);
        // The roster hears what I want; an update follows if a source fails.
        let media = self.want;
        self.joined_with = media;
        self.signal(CallRequest::Join(events::CallJoin { room_id: self.room, media }));
    }

    fn rejoin(&mut self, now: Instant) {
        self.rejoins += 1;
        self.report(Report::Rejoining);
        self.tear_down();
        self.join(now);
    }

    /// Drops both connections and everything they carried.
    fn tear_down(&mut self) {
        self.opening.clear();
        self.round += 1;
        self.publisher = None;
        self.receiving = false;
        self.offered.clear();
        self.microphone_muted_told = None;
        self.actions.push_back(Action::TearDown);
    }

    /// Stops every capture (to open them again from new picks); the tracks
    /// stay, so reopening needs no new offer.
    fn stop_sources(&mut self) {
        self.opening.clear();
        self.round += 1;
        self.microphone_muted_told = None;
        let live = self.publisher.as_mut().map(|p| std::mem::take(&mut p.live)).unwrap_or_default();
        for source in live {
            self.actions.push_back(Action::StopSource(source));
        }
    }

    fn on_net_event(&mut self, now: Instant, event: NetEvent) {
        match event {
            NetEvent::Connection(Connection::Reconnecting { .. }) => {
                if self.in_call && !self.offline {
                    // The server takes us out of the call when the websocket
                    // drops: the tiles go now, none is left frozen meanwhile.
                    // The client library reconnects for as long as it takes:
                    // no deadline runs meanwhile.
                    self.report(Report::Rejoining);
                    self.tear_down();
                    self.join_deadline = None;
                }
                self.offline = true;
            }
            NetEvent::Connection(Connection::Online) if self.offline => {
                self.offline = false;
                if self.in_call {
                    self.rejoin(now);
                }
            }
            NetEvent::SessionExpired { message } => self.finish(Some(format!("session ended: {message}"))),
            NetEvent::Server(event) => self.on_server_event(now, event),
            _ => {}
        }
    }

    fn on_server_event(&mut self, now: Instant, event: ServerEvent) {
        match event {
            ServerEvent::CallJoined(joined) if joined.room_id == self.room => {
                for speaker in joined.participants.iter().filter(|p| p.speaking) {
                    self.saw_speaking(speaker.user_id);
                }
                // The relays (fresh credentials) the publishing connection may take.
                self.ice_servers = joined.ice_servers;
                self.joined_alone = joined.participants.len() <= 1;
                self.joined = true;
                // A new join starts with every video shown.
                self.view_told = Vec::new();
                self.tell_view();
                self.apply_want();
                self.connected_if_nothing_to_connect();
            }
            ServerEvent::CallPublishAnswer(answer)
                if answer.room_id == self.room && self.publisher.is_some() =>
            {
                self.actions.push_back(Action::ApplyAnswer(answer.sdp));
            }
            ServerEvent::CallViewAccepted(accepted) if accepted.room_id == self.room => {
                self.view_in_flight = false;
                self.tell_view();
            }
            ServerEvent::CallSubscribeOffer(offer) if offer.room_id == self.room => {
                self.offered = offer.tracks.iter().map(|t| (t.track_id.clone(), t.clone())).collect();
                self.receiving = true;
                self.actions.push_back(Action::AnswerOffer(offer));
            }
            ServerEvent::CallVideoWanted(video) if video.room_id == self.room => {
                let source = video.source;
                self.unwanted.retain(|s| *s != source);
                if !video.wanted {
                    self.unwanted.push(source);
                }
                let layers_before = self.layers_wanted(source);
                self.wanted_layers.retain(|(s, _)| *s != source);
                if !video.layers.is_empty() {
                    self.wanted_layers.push((source, video.layers));
                }
                if self.live(source) {
                    // The layers first: a video watched again resumes with only those.
                    let layers = self.layers_wanted(source);
                    if layers != layers_before {
                        self.actions.push_back(Action::EncodeLayers { source, layers });
                    }
                    self.actions.push_back(Action::PauseVideo { source, paused: !video.wanted });
                }
            }
            ServerEvent::CallVideoQuality(changed) if changed.room_id == self.room => {
                self.actions.push_back(Action::Report(Report::VideoQuality(changed)));
            }
            ServerEvent::CallSpeaking(speaking) if speaking.room_id == self.room && speaking.speaking => {
                self.saw_speaking(speaking.user_id);
            }
            ServerEvent::CallLeft(left) if left.room_id == self.room => match left.reason {
                // The answer to the leave before a rejoin: not about this join.
                CallLeftReason::Left if self.leaves_pending > 0 => self.leaves_pending -= 1,
                CallLeftReason::Left => self.in_call = false,
                // My media went silent on the server's side, or the call
                // moved to another server: join again.
                CallLeftReason::Disconnected | CallLeftReason::Moved => self.rejoin(now),
                reason => {
                    self.in_call = false;
                    self.finish(Some(format!("taken out of the call: {}", reason.in_words())));
                }
            },
            // The server hosting the call did not answer the join (it is
            // being replaced): ask again.
            ServerEvent::Error(refused)
                if refused.error.code == ErrorCode::ServerBusy && self.in_call && !self.joined =>
            {
                self.rejoin(now);
            }
            ServerEvent::Error(refused) => self.problem(refused.error.message),
            _ => {}
        }
    }

    fn connection_state(&mut self, now: Instant, leg: Leg, state: ConnectionState) {
        match state {
            ConnectionState::Connected => self.mark_connected(),
            ConnectionState::Failed if self.in_call => {
                self.problem(format!("the {} connection failed; rejoining", leg.as_str()));
                self.signal(CallRequest::Leave(events::CallLeave { room_id: self.room }));
                self.leaves_pending += 1;
                self.rejoin(now);
            }
            _ => {}
        }
    }

    /// Tells the server how the videos are shown, once joined and when it
    /// changed, one `call_view` at a time.
    fn tell_view(&mut self) {
        let changed = self.joined && self.view_told != self.view;
        if self.in_call && changed && !self.view_in_flight {
            self.view_in_flight = true;
            self.view_told = self.view.clone();
            let view = events::CallView { room_id: self.room, tiles: self.view.clone() };
            self.signal(CallRequest::View(view));
        }
    }

    /// The server says `user` speaks (in the roster or as a change): the
    /// host hears of it the first time.
    fn saw_speaking(&mut self, user: UserId) {
        if !self.speaking_seen.contains(&user) {
            self.speaking_seen.push(user);
            self.report(Report::FirstSpoke(user));
        }
    }

    /// The simulcast layers of `source` somebody receives (none listed: all).
    fn layers_wanted(&self, source: TrackSource) -> Vec<String> {
        self.wanted_layers.iter().find(|(s, _)| *s == source).map(|(_, l)| l.clone()).unwrap_or_default()
    }

    fn live(&self, source: TrackSource) -> bool {
        self.publisher.as_ref().is_some_and(|p| p.live.contains(&source))
    }

    /// A source failed or stopped: its switch goes off, so the controls
    /// and the roster say so (and it is not asked for again).
    fn switch_off(&mut self, source: TrackSource) {
        match source {
            TrackSource::Microphone => self.want.muted = true,
            TrackSource::Camera => self.want.camera = false,
            TrackSource::Screen => self.want.screen = false,
        }
    }

    fn source_opened(&mut self, source: TrackSource, round: u32, outcome: Opened<C>) {
        let current = self.opening.get(&source) == Some(&round);
        if current {
            self.opening.remove(&source);
        }
        match outcome {
            Opened::Capture(capture) if current && self.in_call => {
                // Still opening (as the roster sees it) until it is attached.
                self.opening.insert(source, round);
                let ice_servers = self.ice_servers.clone();
                self.actions.push_back(Action::Attach { source, capture, ice_servers });
                return;
            }
            Opened::Capture(capture) => self.actions.push_back(Action::StopCapture(capture)),
            Opened::Failed(error) if current => {
                self.problem(format!("The {} could not be opened: {error}", source_word(source)));
                self.switch_off(source);
            }
            Opened::NotPicked if current => self.not_picked.push(source),
            Opened::Failed(_) | Opened::NotPicked => {}
        }
        self.apply_want();
        self.connected_if_nothing_to_connect();
    }

    fn attached(&mut self, source: TrackSource, result: Result<(), String>) {
        self.opening.remove(&source);
        match result {
            Ok(()) => {
                let publisher = self.publisher.get_or_insert_with(Publisher::default);
                if !publisher.tracks.contains(&source) {
                    publisher.tracks.push(source);
                    publisher.needs_offer = true;
                }
                publisher.live.push(source);
                if source == TrackSource::Microphone {
                    self.microphone_muted_told = None;
                }
                if self.unwanted.contains(&source) {
                    self.actions.push_back(Action::PauseVideo { source, paused: true });
                }
                let layers = self.layers_wanted(source);
                if !layers.is_empty() {
                    self.actions.push_back(Action::EncodeLayers { source, layers });
                }
            }
            Err(error) => {
                self.problem(format!("could not send the {}: {error}", source_word(source)));
                self.switch_off(source);
            }
        }
        self.apply_want();
        self.connected_if_nothing_to_connect();
    }

    fn source_ended(&mut self, source: TrackSource, reason: Option<String>) {
        let word = source_word(source);
        self.problem(match reason {
            Some(reason) => format!("The {word} stopped: {reason}"),
            None => format!("The {word} stopped."),
        });
        self.switch_off(source);
        if let Some(publisher) = &mut self.publisher {
            if publisher.live.contains(&source) {
                publisher.live.retain(|s| *s != source);
                self.actions.push_back(Action::StopSource(source));
            }
        }
        self.apply_want();
    }

    fn set_deafened(&mut self) {
        if self.deafened_told != Some(self.want.deafened) {
            self.deafened_told = Some(self.want.deafened);
            self.actions.push_back(Action::SetDeafened(self.want.deafened));
        }
    }

    /// Brings what is published in line with `want` (after joining, and
    /// whenever the switches or sources change), offers again if a track
    /// was added, and tells the roster what is really on.
    fn apply_want(&mut self) {
        self.set_deafened();
        // Sources open and offers go once the join is answered (a publish
        // before it may be refused with not_in_call).
        if !self.in_call || !self.joined {
            return;
        }
        let muted = self.want.muted || self.want.deafened;
        // The microphone opens when first unmuted and stays open (muting only silences it).
        for (source, on) in [
            (TrackSource::Microphone, !muted || self.live(TrackSource::Microphone)),
            (TrackSource::Camera, self.want.camera),
            (TrackSource::Screen, self.want.screen),
        ] {
            if on {
                self.start_opening(source);
            } else {
                self.opening.remove(&source);
                if let Some(publisher) = self.publisher.as_mut().filter(|p| p.live.contains(&source)) {
                    publisher.live.retain(|s| *s != source);
                    self.actions.push_back(Action::StopSource(source));
                }
            }
        }
        if self.live(TrackSource::Microphone) && self.microphone_muted_told != Some(muted) {
            self.microphone_muted_told = Some(muted);
            self.actions.push_back(Action::MuteMicrophone(muted));
        }
        self.offer();
        self.announce(muted);
    }

    /// Asks for `source` unless it is live, already asked for, or has no device.
    fn start_opening(&mut self, source: TrackSource) {
        if self.live(source) || self.opening.contains_key(&source) || self.not_picked.contains(&source) {
            return;
        }
        self.opening.insert(source, self.round);
        self.actions.push_back(Action::OpenSource { source, round: self.round });
    }

    /// Offers the publishing connection's tracks, if one was added since
    /// the last offer and no answer is awaited.
    fn offer(&mut self) {
        if let Some(publisher) = self.publisher.as_mut().filter(|p| p.needs_offer && !p.awaiting_answer) {
            publisher.needs_offer = false;
            publisher.awaiting_answer = true;
            self.actions.push_back(Action::CreateOffer);
        }
    }

    /// Tells the roster (`call_update`) and the host what is really on, when it changed.
    fn announce(&mut self, muted: bool) {
        let mut effective = CallMedia {
            muted: muted || !self.live(TrackSource::Microphone),
            deafened: self.want.deafened,
            camera: self.live(TrackSource::Camera),
            screen: self.live(TrackSource::Screen),
        };
        // A source still opening counts as the roster was last told (at
        // first: as the join asked), not as off for the moment it takes.
        let told = self.announced.unwrap_or(self.joined_with);
        for source in self.opening.keys() {
            match source {
                TrackSource::Microphone => effective.muted = told.muted,
                TrackSource::Camera => effective.camera = told.camera,
                TrackSource::Screen => effective.screen = told.screen,
            }
        }
        if let Some(update) = effective.announce(&mut self.announced, self.joined_with) {
            if update {
                self.signal(CallRequest::Update(events::CallUpdate { room_id: self.room, media: effective }));
            }
            self.report(Report::Media(effective));
        }
    }

    /// Alone, with nothing to send (listen-only, or every source failed or
    /// unpicked): no connection will come up, and I am in the call already.
    fn connected_if_nothing_to_connect(&mut self) {
        if self.in_call
            && self.joined_alone
            && self.publisher.is_none()
            && self.opening.is_empty()
            && !self.receiving
        {
            self.mark_connected();
        }
    }

    /// Media is up (after the first join, or a rejoin).
    fn mark_connected(&mut self) {
        if !self.media_up {
            self.media_up = true;
            self.join_deadline = None;
            self.report(Report::Connected);
        }
    }
}

/// A source in words: "microphone", "camera", "screen share".
fn source_word(source: TrackSource) -> &'static str {
    match source {
        TrackSource::Microphone => "microphone",
        TrackSource::Camera => "camera",
        TrackSource::Screen => "screen share",
    }
}
