//! Whole calls in simulated time: a driver that carries out every action at
//! once (sources open, connections attach, offers and answers succeed
//! unless a test says otherwise) and writes each down in a few words, so a
//! test asserts the exact sequence of what the machine asked for.

use super::*;
use concord_common::events::{
    CallJoined, CallLeft, CallParticipant, CallPublishAnswer, CallSpeaking, CallSubscribeOffer,
    CallVideoWanted, CallViewAccepted, TileView,
};

const ROOM: RoomId = RoomId(7);
const ME: UserId = UserId(1);
const ANNA: UserId = UserId(2);

/// A driver that does what it is asked at once and notes it down.
struct Driver {
    machine: CallMachine<u32>,
    now: Instant,
    /// The next capture's number.
    captures: u32,
    /// Tracks on the publishing connection, as the driver made them.
    tracks: Vec<TrackSource>,
    /// Opening these fails with this error.
    failing: Vec<(TrackSource, &'static str)>,
    /// No device picked for these.
    not_picked: Vec<TrackSource>,
    /// Sources left opening (the browser's picker still open): the test hands them in.
    held: Vec<(TrackSource, u32)>,
    /// Leave these opening instead of opening them at once.
    hold: Vec<TrackSource>,
}

impl Driver {
    /// A call wanting `want`, and what it did first.
    fn start(want: CallMedia) -> (Self, Vec<String>) {
        Self::start_with(want, |_| {})
    }

    fn start_with(want: CallMedia, setup: impl FnOnce(&mut Driver)) -> (Self, Vec<String>) {
        let now = Instant::now();
        let mut driver = Driver {
            machine: CallMachine::new(ROOM, want, now),
            now,
            captures: 0,
            tracks: Vec::new(),
            failing: Vec::new(),
            not_picked: Vec::new(),
            held: Vec::new(),
            hold: Vec::new(),
        };
        setup(&mut driver);
        let done = driver.drain();
        (driver, done)
    }

    fn input(&mut self, input: Input<u32>) -> Vec<String> {
        self.machine.handle(self.now, input);
        self.drain()
    }

    fn server(&mut self, event: ServerEvent) -> Vec<String> {
        self.input(Input::Net(Box::new(NetEvent::Server(event))))
    }

    /// Moves the clock on, handing in the timeout if it passed.
    fn wait(&mut self, time: Duration) -> Vec<String> {
        self.now += time;
        match self.machine.poll_timeout() {
            Some(at) if at <= self.now => self.input(Input::Timeout),
            _ => Vec::new(),
        }
    }

    /// Carries out every action, handing back outcomes at once.
    fn drain(&mut self) -> Vec<String> {
        let mut done = Vec::new();
        while let Some(action) = self.machine.poll_action() {
            done.push(describe(&action));
            let outcome = match action {
                Action::OpenSource { source, round } => {
                    if self.hold.contains(&source) {
                        self.held.push((source, round));
                        continue;
                    }
                    let outcome = if let Some((_, error)) = self.failing.iter().find(|(s, _)| *s == source) {
                        Opened::Failed((*error).to_owned())
                    } else if self.not_picked.contains(&source) {
                        Opened::NotPicked
                    } else {
                        self.captures += 1;
                        Opened::Capture(self.captures)
                    };
                    Input::SourceOpened { source, round, outcome }
                }
                Action::Attach { source, .. } => {
                    if !self.tracks.contains(&source) {
                        self.tracks.push(source);
                    }
                    Input::Attached { source, result: Ok(()) }
                }
                Action::CreateOffer => {
                    let tracks = self
                        .tracks
                        .iter()
                        .map(|s| PublishedTrack { track_id: s.as_str().to_owned(), source: *s })
                        .collect();
                    Input::OfferCreated(Ok(("offer".to_owned(), tracks)))
                }
                Action::ApplyAnswer(_) => Input::AnswerApplied(Ok(())),
                Action::AnswerOffer(offer) => {
                    Input::OfferAnswered { offer_id: offer.offer_id, result: Ok("answer".to_owned()) }
                }
                Action::TearDown => {
                    self.tracks.clear();
                    continue;
                }
                _ => continue,
            };
            self.machine.handle(self.now, outcome);
        }
        done
    }

    /// Hands in a source left opening.
    fn open_held(&mut self, source: TrackSource, outcome: Opened<u32>) -> Vec<String> {
        let at = self.held.iter().position(|(s, _)| *s == source).expect("asked for");
        let (_, round) = self.held.remove(at);
        self.input(Input::SourceOpened { source, round, outcome })
    }
}

fn media(words: &str) -> CallMedia {
    CallMedia {
        muted: words.contains("muted"),
        deafened: words.contains("deafened"),
        camera: words.contains("camera"),
        screen: words.contains("screen"),
    }
}

fn media_words(media: CallMedia) -> String {
    let on = [
        (media.muted, "muted"),
        (media.deafened, "deafened"),
        (media.camera, "camera"),
        (media.screen, "screen"),
    ];
    let words: Vec<&str> = on.iter().filter(|(on, _)| *on).map(|(_, word)| *word).collect();
    if words.is_empty() {
        "talking".to_owned()
    } else {
        words.join("+")
    }
}

fn describe(action: &Action<u32>) -> String {
    match action {
        Action::Signal(CallRequest::Join(join)) => format!("join {}", media_words(join.media)),
        Action::Signal(CallRequest::Update(update)) => format!("update {}", media_words(update.media)),
        Action::Signal(CallRequest::Leave(_)) => "leave".to_owned(),
        Action::Signal(CallRequest::Publish(publish)) => {
            let tracks: Vec<&str> = publish.tracks.iter().map(|t| t.track_id.as_str()).collect();
            format!("publish {}", tracks.join(","))
        }
        Action::Signal(CallRequest::SubscribeAnswer(answer)) => format!("answer offer {}", answer.offer_id),
        Action::Signal(CallRequest::View(view)) => {
            let hidden: Vec<String> = view
                .tiles
                .iter()
                .filter(|t| t.hidden)
                .map(|t| format!("{}-{}", t.user_id, t.source.as_str()))
                .collect();
            format!("view hiding [{}]", hidden.join(","))
        }
        Action::OpenSource { source, .. } => format!("open {}", source.as_str()),
        Action::StopCapture(capture) => format!("stop capture {capture}"),
        Action::Attach { source, capture, .. } => format!("attach {} {capture}", source.as_str()),
        Action::StopSource(source) => format!("stop {}", source.as_str()),
        Action::PauseVideo { source, paused } => {
            format!("{} {}", if *paused { "pause" } else { "resume" }, source.as_str())
        }
        Action::EncodeLayers { source, layers } => {
            format!("encode {} layers {}", source.as_str(), layers.join(","))
        }
        Action::MuteMicrophone(muted) => format!("microphone {}", if *muted { "silent" } else { "sends" }),
        Action::SetDeafened(deafened) => format!("deafened {deafened}"),
        Action::CreateOffer => "create offer".to_owned(),
        Action::ApplyAnswer(_) => "apply answer".to_owned(),
        Action::AnswerOffer(offer) => format!("make answer {}", offer.offer_id),
        Action::TearDown => "tear down".to_owned(),
        Action::Report(Report::Connected) => "> connected".to_owned(),
        Action::Report(Report::Media(media)) => format!("> media {}", media_words(*media)),
        Action::Report(Report::Problem(problem)) => format!("> problem: {problem}"),
        Action::Report(Report::Rejoining) => "> rejoining".to_owned(),
        Action::Report(Report::FirstSpoke(user)) => format!("> first spoke {user}"),
        Action::Report(Report::VideoQuality(q)) => {
            format!("> {:?} {}'s {:?}", q.quality, q.user_id, q.source)
        }
        Action::Report(Report::Ended { reason }) => {
            format!("> ended: {}", reason.as_deref().unwrap_or("I left"))
        }
    }
}

fn joined(others: &[UserId], speaking: &[UserId]) -> ServerEvent {
    let participant = |user_id: UserId| CallParticipant {
        user_id,
        media: CallMedia::default(),
        joined_at_ms: 0,
        speaking: speaking.contains(&user_id),
    };
    let participants = std::iter::once(ME).chain(others.iter().copied()).map(participant).collect();
    ServerEvent::CallJoined(CallJoined { room_id: ROOM, participants, ice_servers: Vec::new() })
}

fn publish_answer() -> ServerEvent {
    ServerEvent::CallPublishAnswer(CallPublishAnswer { room_id: ROOM, sdp: "answer".to_owned() })
}

fn subscribe_offer(offer_id: u64, tracks: &[(UserId, TrackSource)]) -> ServerEvent {
    let tracks = tracks
        .iter()
        .map(|(user_id, source)| ForwardedTrack {
            track_id: format!("{user_id}-{}", source.as_str()),
            user_id: *user_id,
            source: *source,
        })
        .collect();
    ServerEvent::CallSubscribeOffer(CallSubscribeOffer {
        room_id: ROOM,
        offer_id,
        sdp: "offer".to_owned(),
        tracks,
        ice_servers: Vec::new(),
    })
}

fn left(reason: CallLeftReason) -> ServerEvent {
    ServerEvent::CallLeft(CallLeft { room_id: ROOM, reason })
}

fn view_accepted() -> ServerEvent {
    ServerEvent::CallViewAccepted(CallViewAccepted { room_id: ROOM })
}

fn connected(leg: Leg) -> Input<u32> {
    Input::ConnectionState { leg, state: ConnectionState::Connected }
}

#[test]
fn joining_with_microphone_and_camera_opens_both_and_offers_them_once() {
    let (mut call, started) = Driver::start(media("camera"));
    assert_eq!(started, ["deafened false", "join camera"]);
    assert_eq!(
        call.server(joined(&[ANNA], &[])),
        [
            "open microphone",
            "open camera",
            // Both opening count as the join said.
            "> media camera",
            "attach microphone 1",
            "attach camera 2",
            "microphone sends",
            // One offer carries both.
            "create offer",
            "publish microphone,camera",
        ]
    );
    assert_eq!(call.server(publish_answer()), ["apply answer"]);
    assert_eq!(
        call.server(subscribe_offer(1, &[(ANNA, TrackSource::Microphone)])),
        ["make answer 1", "answer offer 1"]
    );
    assert_eq!(call.input(connected(Leg::Publishing)), ["> connected"]);
    assert_eq!(call.input(connected(Leg::Receiving)), Vec::<String>::new(), "reported once");
    assert_eq!(call.wait(JOIN_DEADLINE * 2), Vec::<String>::new(), "connected: no deadline");
    assert_eq!(call.machine.remote_track("2-microphone").map(|t| t.user_id), Some(ANNA));
    assert_eq!(call.input(Input::Leave), ["leave", "tear down", "> ended: I left"]);
    assert!(call.machine.is_ended());
}

#[test]
fn a_camera_that_cannot_open_switches_itself_off_and_the_roster_is_told() {
    let (mut call, _) =
        Driver::start_with(media("muted+camera"), |d| d.failing.push((TrackSource::Camera, "busy")));
    assert_eq!(
        call.server(joined(&[ANNA], &[])),
        [
            "open camera",
            "> media muted+camera",
            "> problem: The camera could not be opened: busy",
            "update muted",
            "> media muted",
        ]
    );
    assert_eq!(call.machine.want(), media("muted"), "the switch shows it off");
    // Switched on again: asked for again (the person may have freed it).
    assert_eq!(
        call.input(Input::SetMedia(media("muted+camera"))),
        ["open camera", "> problem: The camera could not be opened: busy",]
    );
}

#[test]
fn listen_only_and_alone_is_in_the_call_at_once_and_the_unpicked_microphone_is_not_asked_again() {
    let (mut call, _) = Driver::start_with(media(""), |d| d.not_picked.push(TrackSource::Microphone));
    assert_eq!(
        call.server(joined(&[], &[])),
        ["open microphone", "> media talking", "update muted", "> media muted", "> connected"]
    );
    assert_eq!(
        call.input(Input::SetMedia(media("deafened"))),
        ["deafened true", "update muted+deafened", "> media muted+deafened"]
    );
    call.not_picked.clear();
    assert_eq!(
        call.input(Input::SetMedia(media(""))),
        ["deafened false", "update muted", "> media muted"],
        "still no device: not asked"
    );
    assert_eq!(
        call.input(Input::ReopenSources),
        [
            "open microphone",
            "attach microphone 1",
            "microphone sends",
            "create offer",
            "update talking",
            "> media talking",
            "publish microphone",
        ],
        "a new pick is asked for"
    );
}

#[test]
fn muting_silences_the_microphone_without_closing_it() {
    let (mut call, _) = Driver::start(media(""));
    call.server(joined(&[ANNA], &[]));
    assert_eq!(
        call.input(Input::SetMedia(media("muted"))),
        ["microphone silent", "update muted", "> media muted"]
    );
    assert_eq!(
        call.input(Input::SetMedia(media(""))),
        ["microphone sends", "update talking", "> media talking"]
    );
    assert_eq!(
        call.input(Input::SetMedia(media("deafened"))),
        ["deafened true", "microphone silent", "update muted+deafened", "> media muted+deafened"]
    );
}

#[test]
fn a_source_that_opens_after_it_was_switched_off_or_the_devices_changed_is_stopped() {
    let (mut call, _) = Driver::start_with(media("muted+screen"), |d| d.hold.push(TrackSource::Screen));
    call.server(joined(&[ANNA], &[]));
    // The person closes the picker's page... and switches screen off meanwhile.
    assert_eq!(call.input(Input::SetMedia(media("muted"))), ["update muted", "> media muted"]);
    assert_eq!(call.open_held(TrackSource::Screen, Opened::Capture(40)), ["stop capture 40"]);
    assert_eq!(call.input(Input::SetMedia(media("muted+screen"))), ["open screen"]);
    // New device picks while it is opening: asked for again, the first one is stale.
    let stale = call.held.remove(0).1;
    assert_eq!(call.input(Input::ReopenSources), ["open screen"]);
    assert_eq!(
        call.input(Input::SourceOpened {
            source: TrackSource::Screen,
            round: stale,
            outcome: Opened::Capture(41)
        }),
        ["stop capture 41"]
    );
    assert_eq!(
        call.open_held(TrackSource::Screen, Opened::Capture(42)),
        ["attach screen 42", "create offer", "update muted+screen", "> media muted+screen", "publish screen"]
    );
}

#[test]
fn a_screen_share_ended_in_the_browser_bar_switches_off_and_the_track_stays_for_next_time() {
    let (mut call, _) = Driver::start(media("muted+screen"));
    call.server(joined(&[ANNA], &[]));
    call.server(publish_answer());
    assert_eq!(
        call.input(Input::SourceEnded { source: TrackSource::Screen, reason: None }),
        ["> problem: The screen share stopped.", "stop screen", "update muted", "> media muted"]
    );
    assert_eq!(
        call.input(Input::SetMedia(media("muted+screen"))),
        ["open screen", "attach screen 2", "update muted+screen", "> media muted+screen"],
        "the same track again: no new offer"
    );
}

#[test]
fn a_track_added_while_an_offer_awaits_its_answer_is_offered_after_it() {
    let (mut call, _) = Driver::start(media("muted+camera"));
    assert_eq!(
        call.server(joined(&[ANNA], &[])),
        ["open camera", "> media muted+camera", "attach camera 1", "create offer", "publish camera"]
    );
    assert_eq!(
        call.input(Input::SetMedia(media("muted+camera+screen"))),
        ["open screen", "attach screen 2", "update muted+camera+screen", "> media muted+camera+screen"]
    );
    assert_eq!(call.server(publish_answer()), ["apply answer", "create offer", "publish camera,screen"]);
    assert_eq!(call.server(publish_answer()), ["apply answer"]);
}

#[test]
fn a_lost_websocket_clears_the_call_at_once_and_rejoins_with_the_same_switches_when_back() {
    let (mut call, _) = Driver::start(media("camera"));
    call.server(joined(&[ANNA], &[]));
    call.input(connected(Leg::Publishing));
    let reconnecting = Connection::Reconnecting { attempt: 1, retry_in_ms: 500 };
    assert_eq!(
        call.input(Input::Net(Box::new(NetEvent::Connection(reconnecting)))),
        ["> rejoining", "tear down"]
    );
    assert_eq!(call.input(Input::Net(Box::new(NetEvent::Connection(reconnecting)))), Vec::<String>::new());
    assert_eq!(call.wait(JOIN_DEADLINE * 3), Vec::<String>::new(), "no deadline while offline");
    assert_eq!(
        call.input(Input::Net(Box::new(NetEvent::Connection(Connection::Online)))),
        ["> rejoining", "tear down", "join camera"]
    );
    assert_eq!(call.machine.rejoins(), 1);
    assert_eq!(
        call.server(joined(&[ANNA], &[])),
        [
            "open microphone",
            "open camera",
            "> media camera",
            "attach microphone 3",
            "attach camera 4",
            "microphone sends",
            "create offer",
            "publish microphone,camera",
        ]
    );
}

#[test]
fn a_failed_connection_or_the_servers_silence_removal_rejoins_and_being_taken_out_ends() {
    let (mut call, _) = Driver::start(media("muted"));
    call.server(joined(&[ANNA], &[]));
    call.server(subscribe_offer(1, &[(ANNA, TrackSource::Camera)]));
    assert_eq!(
        call.input(Input::ConnectionState { leg: Leg::Receiving, state: ConnectionState::Failed }),
        [
            "> problem: the receiving connection failed; rejoining",
            "leave",
            "> rejoining",
            "tear down",
            "join muted"
        ]
    );
    assert_eq!(call.machine.offered("2-camera"), None, "the old offer's tracks are gone");
    // The server answers that leave: not about the join that follows it.
    assert_eq!(call.server(left(CallLeftReason::Left)), Vec::<String>::new());
    assert_eq!(call.server(joined(&[ANNA], &[])), ["> media muted"], "in the call again");
    assert_eq!(call.server(left(CallLeftReason::Disconnected)), ["> rejoining", "tear down", "join muted"]);
    assert_eq!(call.machine.rejoins(), 2);
    assert_eq!(
        call.server(left(CallLeftReason::JoinedElsewhere)),
        [
            "> problem: taken out of the call: you joined this call from another device",
            "tear down",
            "> ended: taken out of the call: you joined this call from another device",
        ]
    );
    assert_eq!(call.server(joined(&[ANNA], &[])), Vec::<String>::new(), "over: nothing more");
}

#[test]
fn a_join_that_never_brings_media_up_gives_up_at_the_deadline() {
    let (mut call, _) = Driver::start(media("muted"));
    assert_eq!(call.machine.poll_timeout(), Some(call.now + JOIN_DEADLINE));
    call.server(joined(&[ANNA], &[]));
    call.server(subscribe_offer(1, &[(ANNA, TrackSource::Microphone)]));
    assert_eq!(call.wait(JOIN_DEADLINE - Duration::from_millis(1)), Vec::<String>::new());
    let problem = "the call did not connect within 30 s (is the server's media port reachable?)";
    assert_eq!(
        call.wait(Duration::from_millis(1)),
        [format!("> problem: {problem}"), "leave".into(), "tear down".into(), format!("> ended: {problem}")]
    );
    assert_eq!(call.machine.poll_timeout(), None);
}

#[test]
fn sources_that_open_after_the_end_are_stopped() {
    let (mut call, _) = Driver::start_with(media("camera"), |d| {
        d.hold.extend([TrackSource::Camera, TrackSource::Microphone])
    });
    call.server(joined(&[ANNA], &[]));
    assert_eq!(
        call.input(Input::Net(Box::new(NetEvent::SessionExpired { message: "log in again".into() }))),
        [
            "> problem: session ended: log in again",
            "leave",
            "tear down",
            "> ended: session ended: log in again",
        ]
    );
    assert_eq!(call.open_held(TrackSource::Camera, Opened::Capture(9)), ["stop capture 9"]);
    assert_eq!(
        call.open_held(TrackSource::Microphone, Opened::Failed("denied".into())),
        Vec::<String>::new()
    );
}

#[test]
fn speakers_are_reported_once_and_unknown_tracks_are_a_problem() {
    let (mut call, _) = Driver::start(media("muted"));
    assert_eq!(call.server(joined(&[ANNA], &[ANNA])), ["> first spoke 2", "> media muted"]);
    let speaking =
        |speaking| ServerEvent::CallSpeaking(CallSpeaking { room_id: ROOM, user_id: ANNA, speaking });
    assert_eq!(call.server(speaking(false)), Vec::<String>::new());
    assert_eq!(call.server(speaking(true)), Vec::<String>::new());
    assert_eq!(call.machine.remote_track("3-camera"), None);
    assert_eq!(call.drain(), ["> problem: a track nobody offered arrived: 3-camera"]);
}

#[test]
fn an_attach_that_fails_switches_the_source_off_instead_of_asking_again() {
    let (mut call, _) = Driver::start_with(media("muted+camera"), |d| d.hold.push(TrackSource::Camera));
    call.server(joined(&[], &[]));
    let round = call.held.remove(0).1;
    call.machine.handle(
        call.now,
        Input::SourceOpened { source: TrackSource::Camera, round, outcome: Opened::Capture(5) },
    );
    assert_eq!(call.machine.poll_action().map(|a| describe(&a)).as_deref(), Some("attach camera 5"));
    assert_eq!(
        call.input(Input::Attached { source: TrackSource::Camera, result: Err("no peer connection".into()) }),
        [
            "> problem: could not send the camera: no peer connection",
            "update muted",
            "> media muted",
            "> connected",
        ],
        "alone with nothing to send: in the call"
    );
}

#[test]
fn the_view_reaches_the_server_once_joined_when_it_changes_and_again_after_a_rejoin() {
    let (mut call, _) = Driver::start(media("muted"));
    let hide = |sources: &[TrackSource]| {
        let tiles = sources.iter().map(|source| TileView {
            user_id: ANNA,
            source: *source,
            hidden: true,
            size: None,
        });
        Input::SetView(tiles.collect())
    };
    assert_eq!(call.input(hide(&[TrackSource::Camera])), Vec::<String>::new(), "not joined yet");
    assert_eq!(call.server(joined(&[ANNA], &[])), ["view hiding [2-camera]", "> media muted"]);
    assert_eq!(call.input(hide(&[TrackSource::Camera])), Vec::<String>::new(), "the same view");
    let both = hide(&[TrackSource::Camera, TrackSource::Screen]);
    assert_eq!(call.input(both), Vec::<String>::new(), "one at a time: the first is not answered yet");
    assert_eq!(call.server(view_accepted()), ["view hiding [2-camera,2-screen]"]);
    assert_eq!(call.server(view_accepted()), Vec::<String>::new());
    assert_eq!(call.server(left(CallLeftReason::Disconnected)), ["> rejoining", "tear down", "join muted"]);
    assert_eq!(call.input(hide(&[TrackSource::Screen])), Vec::<String>::new(), "rejoining: not yet");
    assert_eq!(call.server(joined(&[ANNA], &[])), ["view hiding [2-screen]", "> media muted"]);
    call.server(view_accepted());
    assert_eq!(call.input(Input::SetView(Vec::new())), ["view hiding []"], "all shown again");
}

#[test]
fn a_video_nobody_watches_is_paused_until_somebody_does_also_when_it_starts_again() {
    let (mut call, _) = Driver::start(media("muted+camera"));
    call.server(joined(&[], &[]));
    let wanted = |source, wanted| {
        ServerEvent::CallVideoWanted(CallVideoWanted { room_id: ROOM, source, wanted, layers: vec![] })
    };
    assert_eq!(call.server(wanted(TrackSource::Camera, false)), ["pause camera"], "alone: nobody watches");
    assert_eq!(call.server(wanted(TrackSource::Screen, false)), Vec::<String>::new(), "no screen to pause");
    assert_eq!(call.server(wanted(TrackSource::Camera, true)), ["resume camera"]);
    call.server(wanted(TrackSource::Camera, false));
    // Switched off and on while nobody watches: it starts paused.
    call.input(Input::SetMedia(media("muted")));
    assert_eq!(
        call.input(Input::SetMedia(media("muted+camera"))),
        ["open camera", "attach camera 2", "pause camera", "update muted+camera", "> media muted+camera"]
    );
    // A new join starts as wanted: the server tells again.
    assert_eq!(
        call.server(left(CallLeftReason::Disconnected)),
        ["> rejoining", "tear down", "join muted+camera"]
    );
    let rejoined = call.server(joined(&[ANNA], &[]));
    assert!(!rejoined.iter().any(|a| a.starts_with("pause")), "{rejoined:?}");
}

#[test]
fn of_a_simulcast_video_only_the_layers_somebody_receives_are_encoded_also_when_it_starts_again() {
    let (mut call, _) = Driver::start(media("muted+camera"));
    call.server(joined(&[ANNA], &[]));
    let wanted = |layers: &[&str]| {
        let layers = layers.iter().map(|rid| (*rid).to_owned()).collect();
        ServerEvent::CallVideoWanted(CallVideoWanted {
            room_id: ROOM,
            source: TrackSource::Camera,
            wanted: true,
            layers,
        })
    };
    assert_eq!(call.server(wanted(&["q"])), ["encode camera layers q", "resume camera"]);
    assert_eq!(call.server(wanted(&["q"])), ["resume camera"], "the same layers: nothing to change");
    assert_eq!(call.server(wanted(&["q", "f"])), ["encode camera layers q,f", "resume camera"]);
    // Switched off and on: it starts with the layers last wanted.
    call.input(Input::SetMedia(media("muted")));
    let again = call.input(Input::SetMedia(media("muted+camera")));
    assert!(again.contains(&"encode camera layers q,f".to_owned()), "{again:?}");
    assert_eq!(call.server(wanted(&[])), ["encode camera layers ", "resume camera"], "every layer again");
}

#[test]
fn switches_changed_before_the_join_is_answered_wait_for_it_and_the_roster_hears_the_difference() {
    let (mut call, _) = Driver::start(media("muted"));
    assert_eq!(call.input(Input::SetMedia(media("muted+camera"))), Vec::<String>::new(), "not joined yet");
    assert_eq!(
        call.server(joined(&[ANNA], &[])),
        [
            "open camera",
            // The join said no camera; it is opening.
            "> media muted",
            "attach camera 1",
            "create offer",
            "update muted+camera",
            "> media muted+camera",
            "publish camera",
        ]
    );
}

#[test]
fn what_the_server_says_of_a_video_fitted_to_my_connection_is_reported_for_my_call_only() {
    use concord_common::events::{CallVideoQuality, VideoQuality};
    let (mut call, _) = Driver::start(media("muted"));
    call.server(joined(&[ANNA], &[]));
    let told = |room_id, quality| {
        ServerEvent::CallVideoQuality(CallVideoQuality {
            room_id,
            user_id: ANNA,
            source: TrackSource::Camera,
            quality,
            size: None,
            estimate_kbps: Some(180),
        })
    };
    assert_eq!(call.server(told(ROOM, VideoQuality::Paused)), [format!("> Paused {ANNA}'s Camera")]);
    assert_eq!(call.server(told(ROOM, VideoQuality::Full)), [format!("> Full {ANNA}'s Camera")]);
    assert_eq!(
        call.server(told(RoomId(ROOM.0 + 1), VideoQuality::Paused)),
        Vec::<String>::new(),
        "another call's"
    );
}

#[test]
fn a_call_that_moved_rejoins_and_a_join_its_host_did_not_answer_is_asked_again() {
    let (mut call, _) = Driver::start(media("muted"));
    call.server(joined(&[ANNA], &[]));
    // The instance hosting the call stopped: join again, wherever it is now.
    assert_eq!(call.server(left(CallLeftReason::Moved)), ["> rejoining", "tear down", "join muted"]);
    // The host was killed and its lease has not run out: the server says
    // so after waiting; the join is asked again.
    let busy = ServerEvent::Error(concord_common::events::Refused {
        error: concord_common::ErrorBody::new(
            ErrorCode::ServerBusy,
            "The server hosting this call did not answer.",
        ),
    });
    assert_eq!(call.server(busy.clone()), ["> rejoining", "tear down", "join muted"]);
    assert_eq!(call.server(joined(&[ANNA], &[])), ["> media muted"], "in the call again");
    assert_eq!(call.machine.rejoins(), 2);
    // In the call, the same error is only a problem.
    assert_eq!(call.server(busy), ["> problem: The server hosting this call did not answer."]);
}
