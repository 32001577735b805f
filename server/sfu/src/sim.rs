//! A call in simulated time, for the engine's tests and its benchmark:
//! str0m peers as the clients (each participant's publishing and receiving
//! legs), datagrams handed across in memory, the clock moved by hand
//! (str0m's own tests work so). What takes seconds on a real network —
//! ICE, DTLS, a silent participant taken out after
//! [`SILENCE_LIMIT`](crate::engine::SILENCE_LIMIT) — runs in milliseconds,
//! and every run is the same. The time spent inside the engine's calls is
//! kept apart from the clients' ([`World::engine_time`]). A participant's
//! downlink can be narrowed ([`World::shape_downlink`]): a token bucket
//! with a queue, as `tc tbf` shapes a real one.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use concord_common::events::{PublishedTrack, TrackSource};
use concord_common::media::{H264_PAYLOAD_TYPE, OPUS_PAYLOAD_TYPE};
use concord_common::{RoomId, UserId};
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::media::{Direction, MediaKind, Mid, Rid, Simulcast, SimulcastLayer};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpWrite, SeqNo};
use str0m::{Candidate, Event as RtcEvent, Input, Output, Rtc};

use crate::engine::{Engine, Event};
use crate::peer::with_concord_codecs;

/// The room every simulated participant is in.
pub const ROOM: RoomId = RoomId(1);
/// Simulated time per step: one audio packet's worth.
pub const STEP: Duration = Duration::from_millis(20);
/// Video packets a camera sends per step (100 a second, ~800 kbit/s at
/// [`VIDEO_PAYLOAD`]: a 640×360 camera).
pub const VIDEO_PACKETS_PER_STEP: u64 = 2;
/// Bytes of each video packet's payload (of a simulcast camera's largest
/// layer; the others' are a half and a quarter of it).
pub const VIDEO_PAYLOAD: usize = 1000;
/// The first byte of a video payload: an H.264 NAL header, of an IDR slice
/// on a keyframe's first packet (sent when the engine asks), else of a P slice.
pub const KEYFRAME_NAL: u8 = 0x65;
/// The NAL header of every other video packet.
pub const DELTA_NAL: u8 = 0x41;
/// A simulcast camera's layers, smallest first: RID and picture size.
pub const SIMULCAST_LAYERS: [(&str, (u32, u32)); 3] =
    [("q", (320, 180)), ("h", (640, 360)), ("f", (1280, 720))];

/// One of a participant's two peer connections, as the client holds it.
pub struct Leg {
    rtc: Rtc,
    /// Its address (the engine sees datagrams come from it).
    pub address: SocketAddr,
    /// Sequence numbers and payloads of the RTP packets it received
    /// (with [`World::keep_payloads`]).
    pub received: Vec<(u64, Vec<u8>)>,
    /// RTP packets it received.
    pub packets: u64,
    /// Keyframe requests (PLI/FIR) it received.
    pub keyframe_requests: u64,
    /// Of those, for each simulcast layer (by RID).
    pub keyframe_requests_by_rid: Vec<(Rid, u64)>,
    /// The RTP timestamp of each packet in `received`.
    pub received_timestamps: Vec<u32>,
}

impl Leg {
    fn new(now: Instant, address: SocketAddr) -> Self {
        let mut rtc = with_concord_codecs(Rtc::builder().set_rtp_mode(true)).build(now);
        rtc.add_local_candidate(Candidate::host(address, "udp").expect("a candidate"));
        Self {
            rtc,
            address,
            received: Vec::new(),
            packets: 0,
            keyframe_requests: 0,
            keyframe_requests_by_rid: Vec::new(),
            received_timestamps: Vec::new(),
        }
    }
}

/// A simulated participant.
pub struct Participant {
    /// Its connection (the calls service's key).
    pub conn: u64,
    /// Who it is.
    pub user: UserId,
    /// What it publishes on.
    pub publishing: Leg,
    /// What it receives on, once the engine offered it.
    pub receiving: Option<Leg>,
    audio: Mid,
    video: Option<Mid>,
    /// Its datagrams no longer reach the engine (a vanished peer).
    pub gone_silent: bool,
    next_seq: u64,
    /// Keyframes it sent (one per request, as an encoder answers).
    pub keyframes_sent: u64,
    /// Its camera's simulcast layers, when it sends them instead of one stream.
    simulcast: Vec<SimulcastSender>,
    /// Its receiving leg's link, when narrowed.
    downlink: Option<Link>,
}

/// A narrowed link: datagrams leave one after another at `bitrate`, wait
/// in a queue at most `queue_limit` (later ones are dropped), and arrive
/// when they have left.
struct Link {
    bitrate: u64,
    queue_limit: Duration,
    /// When the last datagram queued has left.
    free_at: Instant,
    /// (arrival, datagram), oldest first.
    in_flight: std::collections::VecDeque<(Instant, Vec<u8>)>,
}

impl Link {
    /// Queues `datagram` at `now`; `false` when the queue is full (dropped).
    fn send(&mut self, now: Instant, datagram: &[u8]) -> bool {
        let start = self.free_at.max(now);
        if start.saturating_duration_since(now) > self.queue_limit {
            return false;
        }
        let bits = (datagram.len() as u64 + 28) * 8; // with the IP and UDP headers
        self.free_at = start + Duration::from_micros(bits * 1_000_000 / self.bitrate.max(1));
        self.in_flight.push_back((self.free_at, datagram.to_vec()));
        true
    }
}

/// One simulcast layer of a simulated camera.
struct SimulcastSender {
    rid: Rid,
    size: (u32, u32),
    next_seq: u64,
    keyframes_sent: u64,
}

/// The engine and the clients around it, on one clock.
pub struct World {
    /// The engine under test.
    pub engine: Engine<u64>,
    /// What the engine emitted (offers are answered on the way).
    pub emitted: Vec<Event<u64>>,
    /// The participants, in the order they joined.
    pub participants: Vec<Participant>,
    /// The simulated time.
    pub now: Instant,
    /// Real time spent inside the engine's calls.
    pub engine_time: Duration,
    /// Whether receivers keep each packet's payload (tests) or only count (benchmarks).
    pub keep_payloads: bool,
    server: SocketAddr,
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

impl World {
    /// An engine with nobody in its call yet.
    pub fn new() -> Self {
        Self::with_bandwidth_estimation(false)
    }

    /// As [`World::new`], the engine's receiving connections estimating
    /// their bandwidth with `on` ([`Engine::with_bandwidth_estimation`]).
    pub fn with_bandwidth_estimation(on: bool) -> Self {
        let server = SocketAddr::from(([127, 0, 0, 1], 7882));
        let now = Instant::now();
        let engine = Engine::new(now, server, None).with_bandwidth_estimation(on);
        Self {
            engine,
            emitted: Vec::new(),
            participants: Vec::new(),
            now,
            engine_time: Duration::ZERO,
            keep_payloads: true,
            server,
        }
    }

    /// Participant `n` joins the call and publishes a microphone (a loud
    /// tone, one packet a step) and, with `camera`, video
    /// ([`VIDEO_PACKETS_PER_STEP`] packets of [`VIDEO_PAYLOAD`] bytes a step);
    /// returns its index.
    pub fn join(&mut self, n: u16, camera: bool) -> usize {
        self.join_with(n, camera, false)
    }

    /// As [`World::join`] with a camera sent in the three
    /// [`SIMULCAST_LAYERS`], each a stream of its own: a step's packets
    /// per layer, each payload's byte after the sequence number its
    /// layer's index; a keyframe (asked for per layer, and sent at the
    /// start) is a packet with the layer's SPS, then an IDR slice.
    pub fn join_simulcast(&mut self, n: u16) -> usize {
        self.join_with(n, true, true)
    }

    fn join_with(&mut self, n: u16, camera: bool, simulcast: bool) -> usize {
        let (conn, user) = (u64::from(n), UserId(100 + i64::from(n)));
        self.timed(|engine, now| engine.join(now, ROOM, conn, user));
        let address = SocketAddr::from(([127, 0, 0, 2], 5000 + n));
        let mut publishing = Leg::new(self.now, address);
        let mut changes = publishing.rtc.sdp_api();
        let audio = changes.add_media(MediaKind::Audio, Direction::SendOnly, None, Some("mic".into()), None);
        let layers = simulcast.then(|| {
            let mut layers = Simulcast::new();
            for (rid, _) in SIMULCAST_LAYERS {
                layers.add_send_layer(SimulcastLayer::new(rid));
            }
            layers
        });
        let video = camera.then(|| {
            changes.add_media(MediaKind::Video, Direction::SendOnly, None, Some("cam".into()), layers)
        });
        let (offer, pending) = changes.apply().expect("an offer");
        let mut tracks = vec![PublishedTrack { track_id: "mic".into(), source: TrackSource::Microphone }];
        if camera {
            tracks.push(PublishedTrack { track_id: "cam".into(), source: TrackSource::Camera });
        }
        let offer = offer.to_sdp_string();
        let answer = self.timed(|engine, now| engine.publish(now, ROOM, conn, &offer, tracks));
        let answer = SdpAnswer::from_sdp_string(&answer.expect("the engine's answer")).expect("an answer");
        publishing.rtc.sdp_api().accept_answer(pending, answer).expect("accepted");
        self.participants.push(Participant {
            conn,
            user,
            publishing,
            receiving: None,
            audio,
            video,
            gone_silent: false,
            next_seq: 1,
            keyframes_sent: 0,
            simulcast: if simulcast {
                SIMULCAST_LAYERS
                    .iter()
                    .map(|(rid, size)| SimulcastSender {
                        rid: Rid::from(*rid),
                        size: *size,
                        next_seq: 1,
                        keyframes_sent: 0,
                    })
                    .collect()
            } else {
                Vec::new()
            },
            downlink: None,
        });
        self.participants.len() - 1
    }

    /// From now on, what participant `index` receives crosses a link of
    /// `bitrate` bits a second with a 200 ms queue.
    pub fn shape_downlink(&mut self, index: usize, bitrate: u64) {
        let now = self.now;
        let link = self.participants[index].downlink.get_or_insert_with(|| Link {
            bitrate,
            queue_limit: Duration::from_millis(200),
            free_at: now,
            in_flight: std::collections::VecDeque::new(),
        });
        link.bitrate = bitrate;
    }

    /// When the next datagram on a narrowed link arrives, if any is on its way.
    fn next_arrival(&self) -> Option<Instant> {
        self.participants
            .iter()
            .filter_map(|p| p.downlink.as_ref()?.in_flight.front().map(|(at, _)| *at))
            .min()
    }

    /// Hands every datagram whose time has come on a narrowed link to its
    /// receiving leg; returns what the legs sent back.
    fn deliver_arrived(&mut self) -> Vec<(SocketAddr, Vec<u8>)> {
        let (now, keep, server) = (self.now, self.keep_payloads, self.server);
        let mut replies = Vec::new();
        for participant in &mut self.participants {
            let (Some(link), Some(leg)) = (&mut participant.downlink, &mut participant.receiving) else {
                continue;
            };
            while link.in_flight.front().is_some_and(|(at, _)| *at <= now) {
                let Some((_, datagram)) = link.in_flight.pop_front() else { break };
                let receive =
                    Receive::new(Protocol::Udp, server, leg.address, &datagram).expect("a datagram");
                leg.rtc.handle_input(Input::Receive(now, receive)).expect("taken");
                let address = leg.address;
                replies.extend(drain(now, leg, keep).into_iter().map(|d| (address, d)));
            }
        }
        replies
    }

    /// Moves the clock by `duration`: every [`STEP`] each publisher sends a
    /// step's packets and datagrams cross both ways; between steps the clock
    /// stops wherever the engine asked for the time, as the server's driver
    /// wakes it; its offers are answered as they come.
    pub fn run_for(&mut self, duration: Duration) {
        let end = self.now + duration;
        let mut next_media = self.now + STEP;
        let mut stuck = 0u32;
        while self.now < end {
            let before = self.now;
            let wake = self.next_arrival().map_or(next_media, |at| at.min(next_media));
            self.now = self.engine.next_timeout().clamp(self.now, wake);
            let arrived = self.deliver_arrived();
            self.exchange(arrived);
            if self.now == next_media {
                let now = self.now;
                for participant in &mut self.participants {
                    send_media(now, participant);
                }
                self.exchange(Vec::new());
                next_media += STEP;
            }
            self.timed(|engine, now| engine.handle_timeout(now));
            self.exchange(Vec::new());
            self.answer_offers();
            stuck = if self.now == before { stuck + 1 } else { 0 };
            assert!(stuck < 100_000, "the clock stopped at {:?}", self.now);
        }
    }

    /// Who the engine reported lost, in order.
    pub fn lost(&self) -> Vec<u64> {
        self.emitted
            .iter()
            .filter_map(|e| match e {
                Event::Lost { conn, .. } => Some(*conn),
                _ => None,
            })
            .collect()
    }

    /// RTP packets every receiving leg got, together.
    pub fn delivered(&self) -> u64 {
        self.participants.iter().filter_map(|p| p.receiving.as_ref()).map(|leg| leg.packets).sum()
    }

    /// Runs `call` on the engine at the simulated time, its real duration counted.
    fn timed<T>(&mut self, call: impl FnOnce(&mut Engine<u64>, Instant) -> T) -> T {
        let started = Instant::now();
        let result = call(&mut self.engine, self.now);
        self.engine_time += started.elapsed();
        result
    }

    /// Datagrams across (`inbound` first, to the engine), until none moves
    /// (bounded); what goes to a narrowed link waits on it. A client's leg
    /// is polled after each datagram it takes, as str0m requires (in RTP
    /// mode a packet not polled is overwritten by the next).
    fn exchange(&mut self, mut inbound: Vec<(SocketAddr, Vec<u8>)>) {
        let (now, keep) = (self.now, self.keep_payloads);
        for participant in &mut self.participants {
            let silent = participant.gone_silent;
            for leg in std::iter::once(&mut participant.publishing).chain(participant.receiving.as_mut()) {
                let address = leg.address;
                inbound.extend(drain(now, leg, keep).into_iter().filter(|_| !silent).map(|d| (address, d)));
            }
        }
        for _ in 0..50 {
            if inbound.is_empty() {
                return;
            }
            self.timed(|engine, now| {
                for (from, datagram) in &inbound {
                    engine.receive_udp(now, *from, datagram);
                }
            });
            inbound.clear();
            let started = Instant::now();
            let transmits: Vec<_> = self.engine.drain_transmits().collect();
            self.engine_time += started.elapsed();
            for transmit in transmits {
                let to = transmit.to;
                let Some(participant) = self.participants.iter_mut().find(|p| {
                    p.publishing.address == to || p.receiving.as_ref().is_some_and(|leg| leg.address == to)
                }) else {
                    continue;
                };
                let silent = participant.gone_silent;
                let leg = match &mut participant.receiving {
                    Some(leg) if leg.address == to => {
                        if let Some(link) = &mut participant.downlink {
                            link.send(now, &transmit.contents);
                            continue;
                        }
                        leg
                    }
                    _ => &mut participant.publishing,
                };
                let receive =
                    Receive::new(Protocol::Udp, self.server, to, &transmit.contents).expect("a datagram");
                leg.rtc.handle_input(Input::Receive(now, receive)).expect("taken");
                inbound.extend(drain(now, leg, keep).into_iter().filter(|_| !silent).map(|d| (to, d)));
            }
        }
    }

    /// The engine's offers, answered by the participant they are for.
    fn answer_offers(&mut self) {
        while let Some(event) = self.engine.poll_event() {
            if let Event::SubscribeOffer { conn, offer_id, sdp, .. } = &event {
                let (conn, offer_id, now) = (*conn, *offer_id, self.now);
                let participant =
                    self.participants.iter_mut().find(|p| p.conn == conn).expect("a participant");
                let address = SocketAddr::from(([127, 0, 0, 3], participant.publishing.address.port()));
                let leg = participant.receiving.get_or_insert_with(|| Leg::new(now, address));
                let offer = SdpOffer::from_sdp_string(sdp).expect("an offer");
                let answer = leg.rtc.sdp_api().accept_offer(offer).expect("accepted").to_sdp_string();
                let applied =
                    self.timed(|engine, now| engine.subscribe_answer(now, ROOM, conn, offer_id, &answer));
                applied.expect("the answer applied");
            }
            self.emitted.push(event);
        }
    }
}

/// One step of `participant`'s media: an audio packet of a tone, and its
/// camera's video packets (a keyframe when one was asked for), each payload
/// saying whose and which.
fn send_media(now: Instant, participant: &mut Participant) {
    let (seq, user) = (participant.next_seq, participant.user);
    participant.next_seq += 1;
    if !participant.simulcast.is_empty() {
        let rtc = &mut participant.publishing.rtc;
        write_step(rtc, now, seq, participant.audio, None, |_, seq| payload_of(user, seq));
        let requests = &participant.publishing.keyframe_requests_by_rid;
        for (index, layer) in participant.simulcast.iter_mut().enumerate() {
            let asked = requests.iter().find(|(rid, _)| *rid == layer.rid).map_or(0, |(_, n)| *n);
            let keyframe = seq == 1 || asked > layer.keyframes_sent;
            layer.keyframes_sent = asked;
            write_layer_step(rtc, now, seq, participant.video, layer, index as u8, user, keyframe);
        }
        return;
    }
    let keyframe =
        participant.video.is_some() && participant.publishing.keyframe_requests > participant.keyframes_sent;
    if keyframe {
        participant.keyframes_sent = participant.publishing.keyframe_requests;
    }
    let payload = |kind, seq: u64| {
        if kind == MediaKind::Audio {
            return payload_of(user, seq);
        }
        let first_of_frame = (seq - 1).is_multiple_of(VIDEO_PACKETS_PER_STEP);
        let mut payload = vec![if keyframe && first_of_frame { KEYFRAME_NAL } else { DELTA_NAL }];
        payload.extend(payload_of(user, seq));
        payload.resize(VIDEO_PAYLOAD, 0x5c);
        payload
    };
    write_step(&mut participant.publishing.rtc, now, seq, participant.audio, participant.video, payload);
}

/// Writes step `seq` (from 1) of a publisher's media into `rtc`: one audio
/// packet in section `audio` (a loud tone's level), and in `video`, if any,
/// [`VIDEO_PACKETS_PER_STEP`] packets, the last with the marker (a frame);
/// `payload` makes each packet's payload from its kind and sequence number.
pub fn write_step(
    rtc: &mut Rtc,
    now: Instant,
    seq: u64,
    audio: Mid,
    video: Option<Mid>,
    payload: impl Fn(MediaKind, u64) -> Vec<u8>,
) {
    let mut api = rtc.direct_api();
    if let Some(stream) = api.stream_tx_by_mid(audio, None) {
        let extensions =
            ExtensionValues { audio_level: Some(-20), voice_activity: Some(true), ..Default::default() };
        let timestamp = (seq * 960) as u32;
        let write = RtpWrite::new(
            OPUS_PAYLOAD_TYPE.into(),
            SeqNo::from(seq),
            timestamp,
            now,
            payload(MediaKind::Audio, seq),
        )
        .ext_vals(extensions);
        stream.write_rtp(write);
    }
    let Some(stream) = video.and_then(|video| api.stream_tx_by_mid(video, None)) else { return };
    for k in 0..VIDEO_PACKETS_PER_STEP {
        let video_seq = (seq - 1) * VIDEO_PACKETS_PER_STEP + k + 1;
        let write = RtpWrite::new(
            H264_PAYLOAD_TYPE.into(),
            SeqNo::from(video_seq),
            (seq * 1800) as u32,
            now,
            payload(MediaKind::Video, video_seq),
        )
        .marker(k + 1 == VIDEO_PACKETS_PER_STEP);
        stream.write_rtp(write);
    }
}

/// Step `seq` of one simulcast layer (the `index`th) in section `video`:
/// with `keyframe`, a packet with the layer's SPS first; then
/// [`VIDEO_PACKETS_PER_STEP`] packets of a picture, saying whose and which
/// layer, the last with the marker.
#[allow(clippy::too_many_arguments)]
fn write_layer_step(
    rtc: &mut Rtc,
    now: Instant,
    seq: u64,
    video: Option<Mid>,
    layer: &mut SimulcastSender,
    index: u8,
    user: UserId,
    keyframe: bool,
) {
    let mut api = rtc.direct_api();
    let Some(stream) = video.and_then(|video| api.stream_tx_by_mid(video, Some(layer.rid))) else { return };
    let timestamp = (seq * 1800) as u32;
    let mut payloads = Vec::new();
    if keyframe {
        payloads.push(sps(layer.size.0, layer.size.1));
    }
    for k in 0..VIDEO_PACKETS_PER_STEP {
        let mut payload = vec![if keyframe && k == 0 { KEYFRAME_NAL } else { DELTA_NAL }];
        payload.extend(payload_of(user, layer.next_seq + payloads.len() as u64));
        payload.push(index);
        payload.resize(layer_payload(index), 0x5c);
        payloads.push(payload);
    }
    let last = payloads.len() - 1;
    for (i, payload) in payloads.into_iter().enumerate() {
        let write =
            RtpWrite::new(H264_PAYLOAD_TYPE.into(), SeqNo::from(layer.next_seq), timestamp, now, payload)
                .marker(i == last);
        stream.write_rtp(write);
        layer.next_seq += 1;
    }
}

/// A sequence parameter set NAL unit (Constrained Baseline) declaring a
/// `width`×`height` picture, as an encoder sends ahead of a keyframe.
pub fn sps(width: u32, height: u32) -> Vec<u8> {
    let mut bits = BitWriter::default();
    bits.put(66, 8); // profile_idc: Baseline
    bits.put(0xc0, 8); // constraint_set0 and 1: Constrained Baseline
    bits.put(31, 8); // level_idc 3.1
    bits.ue(0); // seq_parameter_set_id
    bits.ue(0); // log2_max_frame_num_minus4
    bits.ue(2); // pic_order_cnt_type
    bits.ue(1); // max_num_ref_frames
    bits.put(0, 1); // gaps_in_frame_num_value_allowed_flag
    let (columns, rows) = (width.div_ceil(16), height.div_ceil(16));
    bits.ue(columns - 1);
    bits.ue(rows - 1);
    bits.put(1, 1); // frame_mbs_only_flag
    bits.put(1, 1); // direct_8x8_inference_flag
    let (crop_right, crop_bottom) = ((columns * 16 - width) / 2, (rows * 16 - height) / 2);
    let cropped = crop_right > 0 || crop_bottom > 0;
    bits.put(u32::from(cropped), 1);
    if cropped {
        for crop in [0, crop_right, 0, crop_bottom] {
            bits.ue(crop);
        }
    }
    bits.put(0, 1); // vui_parameters_present_flag
    bits.put(1, 1); // rbsp_stop_one_bit
    let mut nal = vec![0x67];
    let mut zeros = 0;
    for byte in bits.finish() {
        // Emulation prevention: no 00 00 0x (x ≤ 3) inside a NAL unit.
        if zeros >= 2 && byte <= 3 {
            nal.push(3);
            zeros = 0;
        }
        zeros = if byte == 0 { zeros + 1 } else { 0 };
        nal.push(byte);
    }
    nal
}

#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    used: u32,
}

impl BitWriter {
    fn put(&mut self, value: u32, count: u32) {
        for i in (0..count).rev() {
            if self.used.is_multiple_of(8) {
                self.bytes.push(0);
            }
            let bit = ((value >> i) & 1) as u8;
            *self.bytes.last_mut().expect("a byte") |= bit << (7 - self.used % 8);
            self.used += 1;
        }
    }

    fn ue(&mut self, value: u32) {
        let code = value + 1;
        let length = 32 - code.leading_zeros();
        self.put(0, length - 1);
        self.put(code, length);
    }

    fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

/// What `user`'s packet `seq` says: who and which, so a receiver can tell
/// (an audio packet is only this; a video one has a NAL header before it and
/// is padded to [`VIDEO_PAYLOAD`] bytes, or its layer's share of them).
pub fn payload_of(user: UserId, seq: u64) -> Vec<u8> {
    let mut payload = user.0.to_be_bytes().to_vec();
    payload.extend_from_slice(&seq.to_be_bytes());
    payload
}

/// The payload size of simulcast layer `index`'s packets: a quarter, a
/// half and all of [`VIDEO_PAYLOAD`] (about 250, 450 and 850 kbit/s).
fn layer_payload(index: u8) -> usize {
    VIDEO_PAYLOAD >> (2 - index.min(2))
}

/// Whether a received payload is a video packet's (a picture's slice, not
/// audio or a parameter set).
fn is_video(payload: &[u8]) -> bool {
    matches!(payload.first(), Some(&KEYFRAME_NAL | &DELTA_NAL)) && payload.len() > 17
}

/// The simulcast layer (its index in [`SIMULCAST_LAYERS`]) a received
/// video payload of a simulcast camera is of; `None` for an SPS packet.
pub fn layer_of(payload: &[u8]) -> Option<u8> {
    is_video(payload).then(|| payload[17])
}

/// Who sent a received payload, which of theirs it was, and whether it is
/// video (`None` for a parameter set).
pub fn sent_by(payload: &[u8]) -> Option<(UserId, u64, bool)> {
    let video = is_video(payload);
    let said = if video { payload.get(1..17)? } else { payload.get(..16)? };
    let user = i64::from_be_bytes(said[..8].try_into().ok()?);
    let seq = u64::from_be_bytes(said[8..].try_into().ok()?);
    Some((UserId(user), seq, video))
}

/// A leg's datagrams out, and the packets it received counted (and kept).
fn drain(now: Instant, leg: &mut Leg, keep: bool) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    leg.rtc.handle_input(Input::Timeout(now)).expect("a timeout");
    loop {
        match leg.rtc.poll_output().expect("output") {
            Output::Transmit(transmit) => out.push(transmit.contents.to_vec()),
            Output::Event(RtcEvent::KeyframeRequest(request)) => {
                leg.keyframe_requests += 1;
                if let Some(rid) = request.rid {
                    match leg.keyframe_requests_by_rid.iter_mut().find(|(r, _)| *r == rid) {
                        Some((_, count)) => *count += 1,
                        None => leg.keyframe_requests_by_rid.push((rid, 1)),
                    }
                }
            }
            Output::Event(RtcEvent::RtpPacket(packet)) => {
                leg.packets += 1;
                if keep {
                    leg.received.push((*packet.seq_no, packet.payload.to_vec()));
                    leg.received_timestamps.push(packet.header.timestamp);
                }
            }
            Output::Event(_) => {}
            Output::Timeout(_) => return out,
        }
    }
}
