//! The engine in simulated time: str0m peers as the clients, datagrams
//! handed across in memory, the clock moved by hand (str0m's own tests
//! work so). What takes seconds on a real network — ICE, DTLS, a silent
//! participant taken out after [`SILENCE_LIMIT`] — runs in milliseconds,
//! and every run is the same.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{Engine, Event, SILENCE_LIMIT};
use concord_common::events::{PublishedTrack, TrackSource};
use concord_common::{RoomId, UserId};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::media::{Direction, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpWrite, SeqNo};
use str0m::{Candidate, Event as RtcEvent, Input, Output, Rtc};

/// The calls service's name for a connection.
type ConnId = u64;

const ROOM: RoomId = RoomId(1);
/// Simulated time per step: one audio packet's worth.
const STEP: Duration = Duration::from_millis(20);

/// One of a participant's two peer connections, as the client holds it.
struct Leg {
    rtc: Rtc,
    /// Its address (the engine sees datagrams come from it).
    address: SocketAddr,
    /// Sequence numbers and payloads of the RTP packets it received.
    received: Vec<(u64, Vec<u8>)>,
}

impl Leg {
    fn new(now: Instant, address: SocketAddr) -> Self {
        let mut rtc = Rtc::builder().set_rtp_mode(true).build(now);
        rtc.add_local_candidate(Candidate::host(address, "udp").expect("a candidate"));
        Self { rtc, address, received: Vec::new() }
    }
}

struct Participant {
    conn: ConnId,
    user: UserId,
    publishing: Leg,
    receiving: Option<Leg>,
    /// The audio section it publishes on.
    audio: Option<Mid>,
    /// Its datagrams no longer reach the engine (a vanished peer).
    gone_silent: bool,
    next_seq: u64,
}

/// The engine and the clients around it, on one clock.
struct World {
    engine: Engine<ConnId>,
    /// What the engine emitted (offers are answered on the way).
    emitted: Vec<Event<ConnId>>,
    server: SocketAddr,
    participants: Vec<Participant>,
    now: Instant,
}

impl World {
    fn new() -> Self {
        let server = SocketAddr::from(([127, 0, 0, 1], 7882));
        let now = Instant::now();
        let engine = Engine::new(now, server, None);
        Self { engine, emitted: Vec::new(), server, participants: Vec::new(), now }
    }

    /// Someone joins the call and publishes a microphone.
    fn join(&mut self, n: u64) -> usize {
        let conn: ConnId = n;
        let user = UserId(100 + n as i64);
        self.engine.join(self.now, ROOM, conn, user);
        let mut publishing = Leg::new(self.now, SocketAddr::from(([127, 0, 0, 2], 5000 + n as u16)));
        let mut changes = publishing.rtc.sdp_api();
        let audio = changes.add_media(MediaKind::Audio, Direction::SendOnly, None, Some("mic".into()), None);
        let (offer, pending) = changes.apply().expect("an offer");
        let tracks = vec![PublishedTrack { track_id: "mic".into(), source: TrackSource::Microphone }];
        let answer = self
            .engine
            .publish(self.now, ROOM, conn, &offer.to_sdp_string(), tracks)
            .expect("the engine's answer");
        accept(&mut publishing.rtc, pending, &answer);
        self.participants.push(Participant {
            conn,
            user,
            publishing,
            receiving: None,
            audio: Some(audio),
            gone_silent: false,
            next_seq: 1,
        });
        self.participants.len() - 1
    }

    /// Moves the clock by `duration`, in steps: every publisher sends one
    /// audio packet a step (a tone: loud), datagrams cross both ways, the
    /// engine's timers run, and its offers are answered.
    fn run_for(&mut self, duration: Duration) {
        let end = self.now + duration;
        while self.now < end {
            self.now += STEP;
            let now = self.now;
            for participant in &mut self.participants {
                send_tone(now, participant);
            }
            self.exchange();
            self.engine.handle_timeout(now);
            self.exchange();
            self.answer_offers();
        }
    }

    /// Datagrams across, until none moves (bounded).
    fn exchange(&mut self) {
        let now = self.now;
        for _ in 0..50 {
            let mut moved = false;
            for participant in &mut self.participants {
                let silent = participant.gone_silent;
                for leg in std::iter::once(&mut participant.publishing).chain(participant.receiving.as_mut())
                {
                    for datagram in drain(now, leg) {
                        moved = true;
                        if !silent {
                            self.engine.receive_udp(now, leg.address, &datagram);
                        }
                    }
                }
            }
            let transmits: Vec<_> = self.engine.drain_transmits().collect();
            for transmit in transmits {
                moved = true;
                let (to, datagram) = (transmit.to, transmit.contents);
                let leg = self.participants.iter_mut().find_map(|p| {
                    std::iter::once(&mut p.publishing)
                        .chain(p.receiving.as_mut())
                        .find(|leg| leg.address == to)
                });
                if let Some(leg) = leg {
                    let receive =
                        Receive::new(Protocol::Udp, self.server, to, &datagram).expect("a datagram");
                    leg.rtc.handle_input(Input::Receive(now, receive)).expect("taken");
                }
            }
            if !moved {
                return;
            }
        }
    }

    /// The engine's offers, answered by the participant they are for.
    fn answer_offers(&mut self) {
        while let Some(event) = self.engine.poll_event() {
            if let Event::SubscribeOffer { conn, offer_id, sdp, .. } = &event {
                let (conn, offer_id) = (*conn, *offer_id);
                let now = self.now;
                let participant =
                    self.participants.iter_mut().find(|p| p.conn == conn).expect("a participant");
                let address = SocketAddr::from(([127, 0, 0, 3], participant.publishing.address.port()));
                let leg = participant.receiving.get_or_insert_with(|| Leg::new(now, address));
                let offer = SdpOffer::from_sdp_string(sdp).expect("an offer");
                let answer = leg.rtc.sdp_api().accept_offer(offer).expect("accepted").to_sdp_string();
                self.engine.subscribe_answer(now, ROOM, conn, offer_id, &answer).expect("the answer applied");
            }
            self.emitted.push(event);
        }
    }

    fn lost(&self) -> Vec<ConnId> {
        self.emitted
            .iter()
            .filter_map(|e| match e {
                Event::Lost { conn, .. } => Some(*conn),
                _ => None,
            })
            .collect()
    }
}

/// One audio packet of a tone from `participant`'s microphone.
fn send_tone(now: Instant, participant: &mut Participant) {
    let Some(mid) = participant.audio else { return };
    let seq = participant.next_seq;
    let mut api = participant.publishing.rtc.direct_api();
    let Some(stream) = api.stream_tx_by_mid(mid, None) else { return };
    let extensions =
        ExtensionValues { audio_level: Some(-20), voice_activity: Some(true), ..Default::default() };
    let payload = payload_of(participant.user, seq);
    let write =
        RtpWrite::new(111.into(), SeqNo::from(seq), (seq * 960) as u32, now, payload).ext_vals(extensions);
    stream.write_rtp(write);
    participant.next_seq += 1;
}

/// What `user`'s packet `seq` carries: who and which, so a receiver can tell.
fn payload_of(user: UserId, seq: u64) -> Vec<u8> {
    let mut payload = user.0.to_be_bytes().to_vec();
    payload.extend_from_slice(&seq.to_be_bytes());
    payload
}

/// A leg's datagrams out, and the packets it received kept.
fn drain(now: Instant, leg: &mut Leg) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    leg.rtc.handle_input(Input::Timeout(now)).expect("a timeout");
    loop {
        match leg.rtc.poll_output().expect("output") {
            Output::Transmit(transmit) => out.push(transmit.contents.to_vec()),
            Output::Event(RtcEvent::RtpPacket(packet)) => {
                leg.received.push((*packet.seq_no, packet.payload.to_vec()))
            }
            Output::Event(_) => {}
            Output::Timeout(_) => return out,
        }
    }
}

fn accept(rtc: &mut Rtc, pending: SdpPendingOffer, answer: &str) {
    let answer = SdpAnswer::from_sdp_string(answer).expect("an answer");
    rtc.sdp_api().accept_answer(pending, answer).expect("accepted");
}

#[test]
fn each_hears_the_other_in_order_and_a_silent_one_is_lost_after_seven_seconds() {
    let mut world = World::new();
    let (ada, bob) = (world.join(1), world.join(2));
    world.run_for(Duration::from_secs(2));

    for (listener, speaker) in [(ada, bob), (bob, ada)] {
        let user = world.participants[speaker].user;
        let heard = &world.participants[listener].receiving.as_ref().expect("a receiving leg").received;
        assert!(heard.len() >= 50, "{} packets in 2 s", heard.len());
        // Every packet in order, each carrying the one the speaker sent
        // (the engine renumbers: the first forwarded one need not be the first sent).
        let first_sent = u64::from_be_bytes(heard[0].1[8..16].try_into().expect("a sequence number"));
        for (i, (seq, payload)) in heard.iter().enumerate() {
            assert_eq!(*seq, heard[0].0 + i as u64, "packet {i} out of order");
            assert_eq!(payload, &payload_of(user, first_sent + i as u64), "packet {i}'s payload");
        }
        assert!(heard[0].0 < 65_536, "a downtrack starts at rollover 0 (SRTP): {}", heard[0].0);
    }
    let speaking: Vec<(UserId, bool)> = world
        .emitted
        .iter()
        .filter_map(|e| match e {
            Event::Speaking { user, speaking, .. } => Some((*user, *speaking)),
            _ => None,
        })
        .collect();
    assert!(speaking.contains(&(world.participants[ada].user, true)), "{speaking:?}");
    assert!(speaking.contains(&(world.participants[bob].user, true)), "{speaking:?}");
    assert_eq!(world.lost(), Vec::<ConnId>::new());
    // aiortc reads `a=msid` (whose track is whose) only under an `a=msid-semantic` line.
    let offers: Vec<&String> = world
        .emitted
        .iter()
        .filter_map(|e| match e {
            Event::SubscribeOffer { sdp, .. } => Some(sdp),
            _ => None,
        })
        .collect();
    assert!(!offers.is_empty() && offers.iter().all(|sdp| sdp.contains("a=msid-semantic:")), "{offers:?}");

    // Bob's machine vanishes: nothing of his arrives any more.
    world.participants[bob].gone_silent = true;
    world.run_for(SILENCE_LIMIT - Duration::from_millis(500));
    assert_eq!(world.lost(), Vec::<ConnId>::new(), "not before the silence limit");
    world.run_for(Duration::from_secs(1));
    assert_eq!(world.lost(), vec![world.participants[bob].conn], "Bob, and only Bob, is lost");
    let stats = world.engine.stats();
    assert_eq!((stats.participants, stats.peer_connections), (1, 2), "Ada's two connections stay");
}
