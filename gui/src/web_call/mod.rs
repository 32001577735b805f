//! Browser only: the app's call through the browser's own WebRTC, against
//! the same SFU and the same signaling as the desktop's session
//! (`concord_call::session`, whose shape this follows): a publishing
//! connection we offer (microphone, camera, screen from `getUserMedia` /
//! `getDisplayMedia`, the browser's echo cancellation, noise suppression
//! and gain control on) and a receiving connection the server offers.
//! Remote video plays in hidden `<video>` elements drawn into the tiles
//! through WebGL ([`video`]); remote audio plays in `<audio>` elements
//! (muted while deafened); [`stats`] samples `getStats()` each second.
//!
//! The call's decisions (what to open, attach, offer and announce, when to
//! rejoin or give up) are the call machine's every build shares
//! ([`concord_call_machine`]); this file carries out its actions with the
//! browser's APIs. One task owns the session and takes one [`Input`] at a
//! time — the
//! app's commands and every browser callback (connection state, remote
//! track, a source opened or ended, the stats tick) arrive on the same
//! channel, so nothing runs halfway through something else. Opening a
//! source (`getUserMedia`, `getDisplayMedia`: hundreds of milliseconds, or
//! as long as the person takes to pick a screen) is not waited for in the
//! task: the sources open together beside it and each arrives as an input,
//! so the server's offer of what to receive is answered meanwhile.

pub mod devices;
pub mod stats;
pub mod video;

use concord_call_machine::{Action, CallMachine, ConnectionState, Instant, Opened, Report};
use concord_client::{CallRequest, Command, CommandSender, NetEvent};
use concord_common::events::{
    CallMedia, CallSubscribeOffer, IceServer, PublishedTrack, TileView, TrackSource,
};
use concord_common::media::Leg;
use concord_common::{RoomId, UserId};
use tokio::sync::mpsc;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast as _, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    HtmlAudioElement, MediaStream, MediaStreamTrack, RtcPeerConnection, RtcPeerConnectionState, RtcRtpSender,
    RtcRtpTransceiver, RtcRtpTransceiverDirection, RtcSdpType, RtcSessionDescriptionInit, RtcTrackEvent,
};

use crate::media::protocol::{CallReport, CallStart, InputLevel, MediaEvent, Post, VideoTexture};
use crate::settings::MediaSettings;

/// Inputs waiting for the session (as on the desktop); beyond that one is dropped, said in the console.
const INPUT_QUEUE: usize = 1024;
/// The camera is asked for this size and rate.
const CAMERA: (u32, u32, u32) = (1280, 720, 30);
/// Screens are shared at this rate (text stays readable).
const SCREEN_FPS: u32 = 15;

/// What the session's task takes, one at a time.
enum Input {
    Net(Box<NetEvent>),
    SetMedia(CallMedia),
    /// Which of the others' videos are shown.
    SetView(Vec<TileView>),
    /// The picks in Settings changed: every source opens again from them.
    SetDevices(MediaSettings),
    /// The push-to-talk key went down (`true`) or up (while the page has focus).
    PushToTalk(bool),
    /// My volume for one person (an `<audio>` element plays at most 100 %).
    SetVolume {
        user: UserId,
        gain: f32,
    },
    Leave,
    /// A connection's state changed.
    PeerState {
        leg: Leg,
    },
    Track(RtcTrackEvent),
    /// A camera or screen stopped by itself (unplugged, sharing ended in
    /// the browser's own bar).
    SourceEnded(TrackSource),
    /// A source asked for in round `round` of opening (the machine's) opened, or could not.
    Opened {
        source: TrackSource,
        round: u32,
        result: Result<MediaStreamTrack, String>,
    },
    StatsTick,
    /// Time to read my microphone's level (ten times a second).
    LevelTick,
    /// The time the machine asked to be woken at may have come.
    Timeout,
}

/// The call in progress: the session's inputs.
pub struct WebCall {
    inputs: Inputs,
}

/// Where inputs are queued (the app, and every browser callback).
#[derive(Clone)]
struct Inputs(mpsc::Sender<Input>);

impl Inputs {
    /// Queues `input` without waiting; `false` once the session has ended.
    fn send(&self, input: Input) -> bool {
        match self.0.try_send(input) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                web_sys::console::warn_1(
                    &"concord call: the call is not keeping up; an event was dropped".into(),
                );
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

impl WebCall {
    /// Starts joining `start.room`'s call; news arrives through `post`.
    pub fn start(start: CallStart, commands: CommandSender, context: egui::Context, post: Post) -> Self {
        let (sender, receiver) = mpsc::channel(INPUT_QUEUE);
        let inputs = Inputs(sender);
        let session = Session::new(start, commands, context, post, inputs.clone());
        wasm_bindgen_futures::spawn_local(session.run(receiver));
        // The stats overlay once a second, the Settings meter ten times a second.
        tick_every(1_000, inputs.clone(), || Input::StatsTick);
        tick_every(100, inputs.clone(), || Input::LevelTick);
        Self { inputs }
    }

    /// Changes what is switched on.
    pub fn set_media(&self, want: CallMedia) {
        let _ = self.inputs.send(Input::SetMedia(want));
    }

    /// Changes which of the others' videos are shown (hidden ones are not sent).
    pub fn set_view(&self, view: Vec<TileView>) {
        let _ = self.inputs.send(Input::SetView(view));
    }

    /// New device picks: the camera and microphone open again from them,
    /// and remote audio moves to the picked speaker.
    pub fn set_devices(&self, devices: MediaSettings) {
        let _ = self.inputs.send(Input::SetDevices(devices));
    }

    /// The push-to-talk key went down or up.
    pub fn push_to_talk(&self, pressed: bool) {
        let _ = self.inputs.send(Input::PushToTalk(pressed));
    }

    /// My volume for `user` (0: muted for me); the browser plays at most 100 %.
    pub fn set_volume(&self, user: UserId, gain: f32) {
        let _ = self.inputs.send(Input::SetVolume { user, gain });
    }

    /// Hands the call a network event it needs.
    pub fn forward(&self, event: NetEvent) {
        let _ = self.inputs.send(Input::Net(Box::new(event)));
    }

    /// Leaves the call.
    pub fn leave(self) {
        let _ = self.inputs.send(Input::Leave);
    }
}

/// Sends the session `tick()` every `ms` milliseconds, until it ends.
fn tick_every(ms: u32, inputs: Inputs, tick: fn() -> Input) {
    wasm_bindgen_futures::spawn_local(async move {
        loop {
            gloo_timers::future::TimeoutFuture::new(ms).await;
            if !inputs.send(tick()) {
                break;
            }
        }
    });
}

/// One of my sources on the publishing connection.
struct Outgoing {
    transceiver: RtcRtpTransceiver,
    /// The live capture; `None` while switched off (the sender sends nothing).
    track: Option<MediaStreamTrack>,
    /// My own picture of it (camera and screen), while live.
    self_view: Option<video::VideoKey>,
    _on_ended: Option<Closure<dyn FnMut()>>,
}

impl Outgoing {
    fn sender(&self) -> RtcRtpSender {
        self.transceiver.sender()
    }

    /// Stops the capture (the camera light goes off); the track stays negotiated.
    fn stop(&mut self) {
        if let Some(track) = self.track.take() {
            track.set_onended(None);
            track.stop();
        }
        if let Some(key) = self.self_view.take() {
            video::remove(key);
        }
        self._on_ended = None;
    }
}

/// A peer connection and the callbacks it holds.
struct Peer {
    pc: RtcPeerConnection,
    _on_state: Closure<dyn FnMut()>,
    _on_track: Option<Closure<dyn FnMut(RtcTrackEvent)>>,
}

impl Peer {
    fn new(ice_servers: &[IceServer], leg: Leg, inputs: &Inputs) -> Result<Self, String> {
        let config = web_sys::RtcConfiguration::new();
        let servers = serde_json::to_string(ice_servers).map_err(|e| e.to_string())?;
        config.set_ice_servers(&js_sys::JSON::parse(&servers).map_err(js_error)?);
        let pc = RtcPeerConnection::new_with_configuration(&config).map_err(js_error)?;
        let sender = inputs.clone();
        let on_state = Closure::<dyn FnMut()>::new(move || {
            let _ = sender.send(Input::PeerState { leg });
        });
        pc.set_onconnectionstatechange(Some(on_state.as_ref().unchecked_ref()));
        let on_track = (leg == Leg::Receiving).then(|| {
            let sender = inputs.clone();
            let on_track = Closure::<dyn FnMut(RtcTrackEvent)>::new(move |event: RtcTrackEvent| {
                let _ = sender.send(Input::Track(event));
            });
            pc.set_ontrack(Some(on_track.as_ref().unchecked_ref()));
            on_track
        });
        Ok(Self { pc, _on_state: on_state, _on_track: on_track })
    }

    fn close(&self) {
        self.pc.set_onconnectionstatechange(None);
        self.pc.set_ontrack(None);
        self.pc.close();
    }
}

/// What I publish.
struct Publisher {
    peer: Peer,
    microphone: Option<Outgoing>,
    camera: Option<Outgoing>,
    screen: Option<Outgoing>,
}

impl Publisher {
    fn outgoing(&mut self, source: TrackSource) -> &mut Option<Outgoing> {
        match source {
            TrackSource::Microphone => &mut self.microphone,
            TrackSource::Camera => &mut self.camera,
            TrackSource::Screen => &mut self.screen,
        }
    }

    /// The sender `source` goes out on, once it has one.
    fn sender(&mut self, source: TrackSource) -> Option<RtcRtpSender> {
        self.outgoing(source).as_ref().map(Outgoing::sender)
    }

    /// Stops `source`'s capture and sends nothing in its place (no new offer needed to start it again).
    fn switch_off(&mut self, source: TrackSource) {
        if let Some(out) = self.outgoing(source) {
            let _ = out.sender().replace_track(None);
            out.stop();
        }
    }
}

/// What I receive.
struct Subscriber {
    peer: Peer,
    /// The latest offer's SDP (which track each media section carries).
    offer_sdp: String,
    audio: Vec<(String, HtmlAudioElement)>,
    videos: Vec<(String, video::VideoKey)>,
}

struct Session {
    machine: CallMachine<MediaStreamTrack>,
    room: RoomId,
    me: UserId,
    devices: MediaSettings,
    /// The push-to-talk key is held (push-to-talk mode).
    push_to_talk_held: bool,
    /// The machine silenced the microphone (muted or deafened).
    microphone_muted: bool,
    /// Remote voices play muted.
    deafened: bool,
    /// The input level last reported (reported again only when it changes).
    last_input_level: Option<InputLevel>,
    /// The picked speaker's `deviceId` (`None`: the default output).
    speaker: Option<String>,
    commands: CommandSender,
    context: egui::Context,
    post: Post,
    inputs: Inputs,
    publisher: Option<Publisher>,
    subscriber: Option<Subscriber>,
    stats: stats::StatsSampler,
    /// The machine's timeout a timer runs for.
    timer_for: Option<Instant>,
    ended_because: Option<String>,
    /// Videos nobody watches: not encoded (`PauseVideo`).
    paused: Vec<TrackSource>,
    /// Of a simulcast video, the RIDs of the layers somebody receives
    /// (`EncodeLayers`; none listed: every layer).
    layers_wanted: Vec<(TrackSource, Vec<String>)>,
}

impl Session {
    fn new(
        start: CallStart,
        commands: CommandSender,
        context: egui::Context,
        post: Post,
        inputs: Inputs,
    ) -> Self {
        Self {
            machine: CallMachine::new(start.room, start.want, Instant::now()),
            room: start.room,
            me: start.me,
            devices: start.devices,
            push_to_talk_held: false,
            microphone_muted: false,
            deafened: false,
            last_input_level: None,
            speaker: None,
            commands,
            context,
            post,
            inputs,
            publisher: None,
            subscriber: None,
            stats: stats::StatsSampler::default(),
            timer_for: None,
            ended_because: None,
            paused: Vec::new(),
            layers_wanted: Vec::new(),
        }
    }

    async fn run(mut self, mut inputs: mpsc::Receiver<Input>) {
        // The join goes first: the speaker's lookup (enumerateDevices) is not on its way.
        self.carry_out().await;
        self.speaker = devices::speaker_id(&self.devices.speaker).await;
        while let Some(input) = inputs.recv().await {
            let handed = match input {
                Input::Leave => Some(concord_call_machine::Input::Leave),
                Input::Net(event) => Some(concord_call_machine::Input::Net(event)),
                Input::SetMedia(want) => Some(concord_call_machine::Input::SetMedia(want)),
                Input::SetView(view) => Some(concord_call_machine::Input::SetView(view)),
                Input::SetDevices(picks) => {
                    self.devices = picks;
                    self.speaker = devices::speaker_id(&self.devices.speaker).await;
                    if let Some(subscriber) = &self.subscriber {
                        for (_, audio) in &subscriber.audio {
                            devices::set_speaker(audio, self.speaker.as_deref().unwrap_or(""));
                        }
                    }
                    Some(concord_call_machine::Input::ReopenSources)
                }
                Input::PushToTalk(held) => {
                    self.push_to_talk_held = held;
                    self.enable_microphone();
                    None
                }
                Input::SetVolume { user, gain } => {
                    self.set_volume(user, gain);
                    None
                }
                Input::PeerState { leg } => self.peer_state(leg),
                Input::Track(event) => {
                    self.on_track(&event);
                    None
                }
                Input::SourceEnded(source) => {
                    Some(concord_call_machine::Input::SourceEnded { source, reason: None })
                }
                Input::Opened { source, round, result } => {
                    let outcome = match result {
                        Ok(track) => Opened::Capture(track),
                        Err(error) => Opened::Failed(error),
                    };
                    Some(concord_call_machine::Input::SourceOpened { source, round, outcome })
                }
                Input::StatsTick => {
                    self.sample_stats().await;
                    None
                }
                Input::LevelTick => {
                    self.sample_input_level().await;
                    None
                }
                Input::Timeout => {
                    // Whatever is due now gets a timer of its own (a wake-up a
                    // little early, with the page's coarse clock, finds nothing due).
                    self.timer_for = None;
                    Some(concord_call_machine::Input::Timeout)
                }
            };
            if let Some(input) = handed {
                self.machine.handle(Instant::now(), input);
            }
            self.carry_out().await;
            if self.machine.is_ended() {
                break;
            }
        }
        if !self.machine.is_ended() {
            // The app is gone: leave.
            self.machine.handle(Instant::now(), concord_call_machine::Input::Leave);
            self.carry_out().await;
        }
        // Sources that opened after the end: their capture stops (the camera light goes off).
        inputs.close();
        while let Ok(input) = inputs.try_recv() {
            if let Input::Opened { result: Ok(track), .. } = input {
                track.stop();
            }
        }
        let reason = self.ended_because.take();
        self.report(CallReport::Ended { reason });
    }

    /// Carries out the machine's actions in order, handing back each
    /// outcome before the next; then wakes the machine at its timeout.
    async fn carry_out(&mut self) {
        use concord_call_machine::Input as Outcome;
        while let Some(action) = self.machine.poll_action() {
            let outcome = match action {
                Action::Signal(request) => {
                    self.signal(request);
                    None
                }
                Action::OpenSource { source, round } => {
                    self.start_opening(source, round).await;
                    None
                }
                Action::StopCapture(track) => {
                    track.stop();
                    None
                }
                Action::Attach { source, capture, ice_servers } => Some(Outcome::Attached {
                    source,
                    result: self.attach(source, capture, &ice_servers).await,
                }),
                Action::StopSource(source) => {
                    if let Some(publisher) = &mut self.publisher {
                        publisher.switch_off(source);
                    }
                    None
                }
                Action::EncodeLayers { source, layers } => {
                    self.layers_wanted.retain(|(s, _)| *s != source);
                    self.layers_wanted.push((source, layers));
                    self.encode_what_is_wanted(source).await;
                    None
                }
                Action::PauseVideo { source, paused } => {
                    self.paused.retain(|s| *s != source);
                    if paused {
                        self.paused.push(source);
                    }
                    self.encode_what_is_wanted(source).await;
                    None
                }
                Action::MuteMicrophone(muted) => {
                    self.microphone_muted = muted;
                    self.enable_microphone();
                    None
                }
                Action::SetDeafened(deafened) => {
                    self.deafened = deafened;
                    if let Some(subscriber) = &self.subscriber {
                        for (_, audio) in &subscriber.audio {
                            audio.set_muted(deafened);
                        }
                    }
                    None
                }
                Action::CreateOffer => Some(Outcome::OfferCreated(self.offer().await)),
                Action::ApplyAnswer(sdp) => Some(Outcome::AnswerApplied(match &self.publisher {
                    Some(publisher) => set_remote(&publisher.peer.pc.clone(), RtcSdpType::Answer, &sdp).await,
                    None => Err("no publishing connection".to_owned()),
                })),
                Action::AnswerOffer(offer) => {
                    let offer_id = offer.offer_id;
                    Some(Outcome::OfferAnswered { offer_id, result: self.answer(offer).await })
                }
                Action::TearDown => {
                    self.tear_down();
                    None
                }
                Action::Report(report) => {
                    self.on_report(report);
                    None
                }
            };
            if let Some(outcome) = outcome {
                self.machine.handle(Instant::now(), outcome);
            }
        }
        self.wake_at_timeout();
    }

    /// A timer for the machine's timeout, when it changed (a stale timer's
    /// wake-up finds nothing due).
    fn wake_at_timeout(&mut self) {
        let timeout = self.machine.poll_timeout();
        if timeout == self.timer_for {
            return;
        }
        self.timer_for = timeout;
        let Some(at) = timeout else { return };
        let wait = at.saturating_duration_since(Instant::now());
        let inputs = self.inputs.clone();
        wasm_bindgen_futures::spawn_local(async move {
            // Rounded up: never before the deadline.
            let ms = (wait.as_millis() + 1).min(u128::from(u32::MAX)) as u32;
            gloo_timers::future::TimeoutFuture::new(ms).await;
            let _ = inputs.send(Input::Timeout);
        });
    }

    fn on_report(&mut self, report: Report) {
        match report {
            Report::Connected => self.report(CallReport::Connected),
            Report::Media(media) => self.report(CallReport::Media(media)),
            Report::Problem(problem) => self.problem(problem),
            Report::Rejoining => self.report(CallReport::Rejoining),
            // The page's state reads `call_video_quality` from the socket itself.
            Report::FirstSpoke(_) | Report::VideoQuality(_) => {}
            Report::Ended { reason } => self.ended_because = reason,
        }
    }

    fn report(&self, report: CallReport) {
        (self.post)(MediaEvent::Call { room: self.room, report });
    }

    fn problem(&self, problem: String) {
        web_sys::console::warn_1(&format!("concord call: {problem}").into());
        self.report(CallReport::Problem(problem));
    }

    fn signal(&self, request: CallRequest) {
        if !self.commands.send(Command::Call(request)) {
            web_sys::console::warn_1(&"concord call: a call frame could not be queued".into());
        }
    }

    /// My volume for `user` (an `<audio>` element plays at most 100 %).
    fn set_volume(&mut self, user: UserId, gain: f32) {
        let volume = &mut self.devices.volumes.entry(user).or_default();
        (volume.percent, volume.muted) = ((gain * 100.0).round() as u16, gain == 0.0);
        let Some(subscriber) = &self.subscriber else { return };
        for (track_id, audio) in &subscriber.audio {
            if self.machine.offered(track_id).is_some_and(|t| t.user_id == user) {
                audio.set_volume(f64::from(gain.min(1.0)));
            }
        }
    }

    /// Drops both connections and everything they carried.
    fn tear_down(&mut self) {
        if let Some(publisher) = self.publisher.take() {
            for mut out in [publisher.microphone, publisher.camera, publisher.screen].into_iter().flatten() {
                out.stop();
            }
            publisher.peer.close();
        }
        if let Some(subscriber) = self.subscriber.take() {
            subscriber.peer.close();
            for (_, audio) in subscriber.audio {
                audio.set_src_object(None);
            }
            for (_, key) in subscriber.videos {
                video::remove(key);
            }
        }
        self.stats.clear();
        self.report(CallReport::VideosCleared);
    }

    /// A connection's state, as the machine takes it.
    fn peer_state(&self, leg: Leg) -> Option<concord_call_machine::Input<MediaStreamTrack>> {
        let peer = match leg {
            Leg::Publishing => self.publisher.as_ref().map(|p| &p.peer),
            Leg::Receiving => self.subscriber.as_ref().map(|s| &s.peer),
        };
        let state = match peer?.pc.connection_state() {
            RtcPeerConnectionState::Connected => ConnectionState::Connected,
            RtcPeerConnectionState::Failed => ConnectionState::Failed,
            _ => return None,
        };
        Some(concord_call_machine::Input::ConnectionState { leg, state })
    }

    /// My live microphone capture, while there is one.
    fn microphone_track(&self) -> Option<&MediaStreamTrack> {
        self.publisher.as_ref().and_then(|p| p.microphone.as_ref()).and_then(|m| m.track.as_ref())
    }

    /// Whether my microphone is sent: not muted (or deafened), and in
    /// push-to-talk mode only while the key is held.
    fn microphone_sent(&self) -> bool {
        let push_to_talk = self.devices.voice.input_mode == crate::settings::InputModeChoice::PushToTalk;
        !self.microphone_muted && (!push_to_talk || self.push_to_talk_held)
    }

    /// Muted, or push-to-talk with the key up: the microphone sends silence
    /// (its level says nobody speaks).
    fn enable_microphone(&self) {
        if let Some(track) = self.microphone_track() {
            track.set_enabled(self.microphone_sent());
        }
    }

    /// Asks the browser for `source`; it arrives as [`Input::Opened`]. The
    /// device ids are looked up here, the capture itself is not waited for.
    async fn start_opening(&mut self, source: TrackSource, round: u32) {
        let asked = ask(source, &self.devices).await;
        let inputs = self.inputs.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let result = match asked {
                Ok(promise) => track_of(promise).await,
                Err(error) => Err(error),
            };
            // Nobody to take it (the call ended): its capture stops.
            use mpsc::error::TrySendError::{Closed, Full};
            if let Err(
                Full(Input::Opened { result: Ok(track), .. })
                | Closed(Input::Opened { result: Ok(track), .. }),
            ) = inputs.0.try_send(Input::Opened { source, round, result })
            {
                track.stop();
            }
        });
    }

    /// Puts an opened source on the publishing connection (made first if
    /// there is none). A source that starts again goes on the same sender
    /// (`replaceTrack`: no new offer); the first time, a new send-only
    /// transceiver is added and the next offer carries it. On failure the
    /// capture is stopped.
    async fn attach(
        &mut self,
        source: TrackSource,
        track: MediaStreamTrack,
        ice_servers: &[IceServer],
    ) -> Result<(), String> {
        if self.publisher.is_none() {
            match Peer::new(ice_servers, Leg::Publishing, &self.inputs) {
                Ok(peer) => {
                    self.publisher = Some(Publisher { peer, microphone: None, camera: None, screen: None })
                }
                Err(error) => {
                    track.stop();
                    return Err(format!("no publishing connection: {error}"));
                }
            }
        }
        let on_ended = (source != TrackSource::Microphone).then(|| {
            let inputs = self.inputs.clone();
            let closure = Closure::<dyn FnMut()>::new(move || {
                let _ = inputs.send(Input::SourceEnded(source));
            });
            track.set_onended(Some(closure.as_ref().unchecked_ref()));
            closure
        });
        // My camera in my tile; not my screen (a picture of the page inside the page
        // mirrors itself without end: the tile says I am sharing instead).
        let self_view = match source {
            TrackSource::Camera => video::show(&track, &self.context).ok(),
            _ => None,
        };
        let existing = self.publisher.as_mut().and_then(|p| p.sender(source));
        match existing {
            Some(sender) => {
                // A sender paused while nobody watched starts sending again (the
                // machine pauses it once more if nobody still does).
                if source != TrackSource::Microphone {
                    self.paused.retain(|s| *s != source);
                    self.encode_what_is_wanted(source).await;
                }
                if let Err(error) = JsFuture::from(sender.replace_track(Some(&track))).await {
                    track.stop();
                    if let Some(key) = self_view {
                        video::remove(key);
                    }
                    return Err(js_error(error));
                }
                let Some(out) = self.publisher.as_mut().and_then(|p| p.outgoing(source).as_mut()) else {
                    return Err("no publishing connection".to_owned());
                };
                out.track = Some(track);
                out.self_view = self_view;
                out._on_ended = on_ended;
            }
            None => {
                let Some(publisher) = &mut self.publisher else {
                    return Err("no publishing connection".to_owned());
                };
                let init = web_sys::RtcRtpTransceiverInit::new();
                init.set_direction(RtcRtpTransceiverDirection::Sendonly);
                // In a stream, so the SDP names the track (a=msid); the SFU renames streams by publisher.
                if let Ok(stream) = MediaStream::new_with_tracks(&js_sys::Array::of1(&track)) {
                    init.set_streams(&js_sys::Array::of1(&stream));
                }
                // The camera in three simulcast layers, a quarter, half and
                // the whole of its size: the SFU sends each viewer the one
                // that fills its tile.
                if source == TrackSource::Camera {
                    let _ = js_sys::Reflect::set(&init, &"sendEncodings".into(), &simulcast_encodings());
                }
                let transceiver =
                    publisher.peer.pc.add_transceiver_with_media_stream_track_and_init(&track, &init);
                *publisher.outgoing(source) =
                    Some(Outgoing { transceiver, track: Some(track), self_view, _on_ended: on_ended });
            }
        }
        if let Some(key) = self_view {
            let texture = VideoTexture::element(key);
            self.report(CallReport::Video { user: self.me, source, texture });
        }
        Ok(())
    }

    /// Encodes of `source` what somebody receives: nothing while it is
    /// paused, else the simulcast layers wanted (every one, if none said).
    async fn encode_what_is_wanted(&mut self, source: TrackSource) {
        let paused = self.paused.contains(&source);
        let wanted = self.layers_wanted.iter().find(|(s, _)| *s == source).map(|(_, l)| l.clone());
        let Some(sender) = self.publisher.as_mut().and_then(|p| p.sender(source)) else { return };
        let active = |rid: Option<String>| {
            !paused
                && match (&wanted, rid) {
                    (Some(layers), Some(rid)) if !layers.is_empty() => layers.contains(&rid),
                    _ => true,
                }
        };
        if let Err(error) = set_encodings_active(&sender, active).await {
            let problem =
                format!("concord call: could not change what the {} sends: {error}", source.as_str());
            web_sys::console::warn_1(&problem.into());
        }
    }

    /// Offers the publishing connection's tracks: each as the SDP names
    /// it, with the source its transceiver carries.
    async fn offer(&mut self) -> Result<(String, Vec<PublishedTrack>), String> {
        let Some(publisher) = &self.publisher else { return Err("no publishing connection".to_owned()) };
        let pc = publisher.peer.pc.clone();
        let sdp = create_and_set(&pc, RtcSdpType::Offer).await?;
        let Some(publisher) = &mut self.publisher else { return Err("no publishing connection".to_owned()) };
        let mut tracks = Vec::new();
        for source in [TrackSource::Microphone, TrackSource::Camera, TrackSource::Screen] {
            let Some(mid) = publisher.outgoing(source).as_ref().and_then(|o| o.transceiver.mid()) else {
                continue;
            };
            if let Some(track_id) = crate::sdp::track_of_mid(&sdp, &mid) {
                tracks.push(PublishedTrack { track_id, source });
            }
        }
        Ok((sdp, tracks))
    }

    /// Answers the server's offer (the receiving connection made first, with
    /// the offer's relays); players of tracks it no longer carries go.
    async fn answer(&mut self, offer: CallSubscribeOffer) -> Result<String, String> {
        if self.subscriber.is_none() {
            self.subscriber = Some(Subscriber {
                peer: Peer::new(&offer.ice_servers, Leg::Receiving, &self.inputs)?,
                offer_sdp: String::new(),
                audio: Vec::new(),
                videos: Vec::new(),
            });
        }
        let Some(subscriber) = &mut self.subscriber else { return Err("no receiving connection".to_owned()) };
        let pc = subscriber.peer.pc.clone();
        set_remote(&pc, RtcSdpType::Offer, &offer.sdp).await?;
        let sdp = create_and_set(&pc, RtcSdpType::Answer).await?;
        let Some(subscriber) = &mut self.subscriber else { return Err("no receiving connection".to_owned()) };
        subscriber.offer_sdp = offer.sdp;
        let offered = |track_id: &str| offer.tracks.iter().any(|t| t.track_id == track_id);
        subscriber.videos.retain(|(track_id, key)| {
            let kept = offered(track_id);
            if !kept {
                video::remove(*key);
            }
            kept
        });
        subscriber.audio.retain(|(track_id, audio)| {
            let kept = offered(track_id);
            if !kept {
                audio.set_src_object(None);
            }
            kept
        });
        Ok(sdp)
    }

    /// A remote track arrived: whose it is comes from the offer (its media
    /// section's track id, then the machine's record of the offer).
    fn on_track(&mut self, event: &RtcTrackEvent) {
        let Some(subscriber) = &self.subscriber else { return };
        let track = event.track();
        let track_id = event
            .transceiver()
            .mid()
            .and_then(|mid| crate::sdp::track_of_mid(&subscriber.offer_sdp, &mid))
            .unwrap_or_else(|| track.id());
        let Some(forwarded) = self.machine.remote_track(&track_id) else { return };
        if track.kind() == "audio" {
            let Ok(audio) = HtmlAudioElement::new() else { return };
            if let Ok(stream) = MediaStream::new_with_tracks(&js_sys::Array::of1(&track)) {
                audio.set_src_object(Some(&stream));
            }
            audio.set_autoplay(true);
            audio.set_muted(self.deafened);
            audio.set_volume(f64::from(self.devices.volume(forwarded.user_id).gain().min(1.0)));
            if let Some(sink) = &self.speaker {
                devices::set_speaker(&audio, sink);
            }
            let _ = audio.play();
            if let Some(subscriber) = &mut self.subscriber {
                subscriber.audio.push((track_id, audio));
            }
            return;
        }
        match video::show(&track, &self.context) {
            Ok(key) => {
                if let Some(subscriber) = &mut self.subscriber {
                    subscriber.videos.push((track_id, key));
                }
                let texture = VideoTexture::element(key);
                self.report(CallReport::Video { user: forwarded.user_id, source: forwarded.source, texture });
            }
            Err(error) => self.problem(format!("a video cannot be shown: {}", js_error(error))),
        }
    }

    /// My microphone's level as the browser measures it (the publishing
    /// connection's `media-source` stats, after the browser's own
    /// processing) and whether it is sent, when it changed.
    async fn sample_input_level(&mut self) {
        let Some(publisher) = self.publisher.as_ref().filter(|_| self.microphone_track().is_some()) else {
            return;
        };
        let pc = publisher.peer.pc.clone();
        let Ok(report) = JsFuture::from(pc.get_stats()).await else { return };
        let Some(level) = stats::microphone_level(&report) else { return };
        let reading = InputLevel {
            level_db: (20.0 * level.max(1e-5).log10()).round() as f32,
            // The browser sends whatever it hears: no sensitivity here.
            threshold_db: f32::NEG_INFINITY,
            sending: self.microphone_sent(),
        };
        if self.last_input_level != Some(reading) {
            self.last_input_level = Some(reading);
            self.report(CallReport::InputLevel(reading));
        }
    }

    async fn sample_stats(&mut self) {
        let Some(subscriber) = &self.subscriber else { return };
        let pc = subscriber.peer.pc.clone();
        let Ok(report) = JsFuture::from(pc.get_stats()).await else { return };
        let Some(subscriber) = &self.subscriber else { return };
        let machine = &self.machine;
        let whose = |mid: &str| {
            let track_id = crate::sdp::track_of_mid(&subscriber.offer_sdp, mid)?;
            machine.offered(&track_id).map(|t| (t.user_id, t.source))
        };
        let samples = self.stats.sample(&report, whose);
        if !samples.is_empty() {
            self.report(CallReport::Stats(samples));
        }
    }
}

/// Asks the browser for `source` (it asks the person, the first time)
/// from the device `picks` name, or the browser's default; the promise
/// gives the capture ([`track_of`]). The microphone comes with the
/// browser's own processing as Settings → Voice has it (echo
/// cancellation, noise suppression, gain control).
async fn ask(source: TrackSource, picks: &MediaSettings) -> Result<js_sys::Promise, String> {
    let media = devices::media_devices()?;
    let asked = match source {
        TrackSource::Microphone => {
            let constraints = web_sys::MediaStreamConstraints::new();
            let voice = &picks.voice;
            let audio = object(&[
                ("echoCancellation", voice.echo_cancellation),
                ("noiseSuppression", voice.noise != crate::settings::NoiseChoice::Off),
                ("autoGainControl", voice.gain_control),
            ]);
            if let Some(id) =
                devices::device_id(&picks.microphone, web_sys::MediaDeviceKind::Audioinput).await
            {
                let _ = js_sys::Reflect::set(&audio, &"deviceId".into(), &id);
            }
            constraints.set_audio(&audio);
            media.get_user_media_with_constraints(&constraints)
        }
        TrackSource::Camera => {
            let constraints = web_sys::MediaStreamConstraints::new();
            let (width, height, fps) = CAMERA;
            let video = js_sys::Object::new();
            for (name, value) in [("width", width), ("height", height), ("frameRate", fps)] {
                let _ = js_sys::Reflect::set(&video, &name.into(), &ideal(value));
            }
            if let Some(id) = devices::device_id(&picks.camera, web_sys::MediaDeviceKind::Videoinput).await {
                let _ = js_sys::Reflect::set(&video, &"deviceId".into(), &id);
            }
            constraints.set_video(&video);
            media.get_user_media_with_constraints(&constraints)
        }
        TrackSource::Screen => {
            let constraints = web_sys::DisplayMediaStreamConstraints::new();
            let video = js_sys::Object::new();
            let _ = js_sys::Reflect::set(&video, &"frameRate".into(), &ideal(SCREEN_FPS));
            constraints.set_video(&video);
            media.get_display_media_with_constraints(&constraints)
        }
    };
    asked.map_err(js_error)
}

/// The capture a `getUserMedia` / `getDisplayMedia` promise gives.
async fn track_of(asked: js_sys::Promise) -> Result<MediaStreamTrack, String> {
    let stream: MediaStream = JsFuture::from(asked).await.map_err(js_error)?.dyn_into().map_err(js_error)?;
    let track = stream.get_tracks().get(0);
    track.dyn_into::<MediaStreamTrack>().map_err(|_| "the browser gave no track".to_owned())
}

/// `{ideal: value}`: a constraint the browser meets as well as it can.
fn ideal(value: u32) -> JsValue {
    let constraint = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&constraint, &"ideal".into(), &value.into());
    constraint.into()
}

fn object(fields: &[(&str, bool)]) -> JsValue {
    let object = js_sys::Object::new();
    for (name, value) in fields {
        let _ = js_sys::Reflect::set(&object, &(*name).into(), &(*value).into());
    }
    object.into()
}

/// `sendEncodings` for a simulcast camera: one per RID of
/// [`SIMULCAST_RIDS`](concord_common::media::SIMULCAST_RIDS), each half the
/// size of the next.
fn simulcast_encodings() -> js_sys::Array {
    let rids = concord_common::media::SIMULCAST_RIDS;
    let encodings = js_sys::Array::new();
    for (i, rid) in rids.iter().enumerate() {
        let encoding = js_sys::Object::new();
        let scale = f64::from(1u32 << (rids.len() - 1 - i));
        let _ = js_sys::Reflect::set(&encoding, &"rid".into(), &(*rid).into());
        let _ = js_sys::Reflect::set(&encoding, &"scaleResolutionDownBy".into(), &scale.into());
        encodings.push(&encoding);
    }
    encodings
}

/// Starts or stops the browser's encoder for each of `sender`'s
/// `encodings` (its `active`), as `active` says of its RID (`None`: an
/// encoding without one, the only one), keeping the capture and the self-view.
async fn set_encodings_active(
    sender: &RtcRtpSender,
    active: impl Fn(Option<String>) -> bool,
) -> Result<(), String> {
    let method = |name: &str| -> Result<js_sys::Function, String> {
        let found = js_sys::Reflect::get(sender, &name.into()).map_err(js_error)?;
        found.dyn_into().map_err(|_| format!("this browser has no RTCRtpSender.{name}"))
    };
    let parameters = method("getParameters")?.call0(sender).map_err(js_error)?;
    let encodings = js_sys::Reflect::get(&parameters, &"encodings".into()).map_err(js_error)?;
    for encoding in js_sys::Array::from(&encodings).iter() {
        let rid = js_sys::Reflect::get(&encoding, &"rid".into()).ok().and_then(|rid| rid.as_string());
        js_sys::Reflect::set(&encoding, &"active".into(), &active(rid).into()).map_err(js_error)?;
    }
    let promise: js_sys::Promise = method("setParameters")?
        .call1(sender, &parameters)
        .map_err(js_error)?
        .dyn_into()
        .map_err(js_error)?;
    JsFuture::from(promise).await.map(|_| ()).map_err(js_error)
}

/// Sets the server's offer or answer as the remote description.
async fn set_remote(pc: &RtcPeerConnection, kind: RtcSdpType, sdp: &str) -> Result<(), String> {
    let description = RtcSessionDescriptionInit::new(kind);
    description.set_sdp(sdp);
    JsFuture::from(pc.set_remote_description(&description)).await.map(|_| ()).map_err(js_error)
}

/// Creates an offer or answer, sets it as the local description, and
/// returns its SDP.
async fn create_and_set(pc: &RtcPeerConnection, kind: RtcSdpType) -> Result<String, String> {
    let promise = if kind == RtcSdpType::Offer { pc.create_offer() } else { pc.create_answer() };
    let made = JsFuture::from(promise).await.map_err(js_error)?;
    let sdp = js_sys::Reflect::get(&made, &"sdp".into()).ok().and_then(|s| s.as_string()).ok_or("no SDP")?;
    let description = RtcSessionDescriptionInit::new(kind);
    description.set_sdp(&sdp);
    JsFuture::from(pc.set_local_description(&description)).await.map_err(js_error)?;
    Ok(sdp)
}

/// A JavaScript error in words ("NotAllowedError: Permission denied").
pub(crate) fn js_error(error: JsValue) -> String {
    let field = |name: &str| js_sys::Reflect::get(&error, &name.into()).ok().and_then(|v| v.as_string());
    match (field("name"), field("message")) {
        (Some(name), Some(message)) => format!("{name}: {message}"),
        (None, Some(message)) => message,
        _ => error.as_string().unwrap_or_else(|| format!("{error:?}")),
    }
}
