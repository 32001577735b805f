//! The SFU's one task: it owns the UDP socket, the demultiplexer, every
//! peer connection and every room's [`Router`]. Datagrams (and frames from
//! TCP connections, [`super::tcp`]), commands from the calls service and
//! timers come in; datagrams, frames, answers and [`SfuEvent`]s go out.
//! Nothing else touches this state, so there are no locks.
//!
//! Each participant has up to two peer connections: a *publishing* one the
//! client offers (its microphone, camera and screen) and a *receiving* one
//! the engine offers (everyone else's tracks). Each side is the only offerer
//! on its connection, so renegotiation never collides (LiveKit does the same).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use concord_common::events::{ForwardedTrack, PublishedTrack, TrackSource};
use concord_common::media::Leg;
use concord_common::{RoomId, UserId};
use concord_sfu::demux::{classify, Demuxer, PacketClass};
use concord_sfu::router::{Kind, Output, ParticipantId, Router};
use concord_sfu::rtp::Mapping;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::event::{RTCPeerConnectionEvent, RTCTrackEvent};
use rtc::peer_connection::message::{RTCMessage, TaggedRTCMessage};
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::peer_connection::RTCPeerConnection;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RTCRtpParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{
    RTCRtpReceiverId, RTCRtpSenderId, RTCRtpTransceiverDirection, RTCRtpTransceiverInit,
};
use rtc::sansio::Protocol;
use rtc::shared::marshal::{Marshal, Unmarshal};
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use super::batch;
use super::peer;
use super::sdp;
use super::tcp::{TcpInput, TcpLink};
use super::{SfuCommand, SfuError, SfuEvent};
use crate::realtime::ConnId;

/// Packets queued per subscriber before the oldest are dropped (about a
/// second of a 720p camera plus audio from a few people).
const SUBSCRIBER_QUEUE: usize = 1024;
/// How often speaking changes and owed keyframe requests are looked at.
const ROUTER_TICK: Duration = Duration::from_millis(50);
/// A participant none of whose connections has sent anything for this long
/// is gone (clients send ICE consent checks every few seconds, and RTCP).
pub const SILENCE_LIMIT: Duration = Duration::from_secs(7);
/// Addresses the demultiplexer forgets after this much silence.
const ADDRESS_IDLE: Duration = Duration::from_secs(30);
/// Largest datagram read.
const DATAGRAM_MAX: usize = 1500;
/// Datagrams read one after another, while more are waiting, before the
/// engine looks at its timers again.
const READ_BATCH: usize = 32;
/// TCP connections held at once (each participant needs two; a connection
/// that names nobody in its first frame is closed at once).
const MAX_TCP_LINKS: usize = 4096;
/// Connections from one IP address that have not yet named their peer
/// connection: a flood from one host must not fill [`MAX_TCP_LINKS`] for
/// everyone else for the 10 s they get. A client opens two, but a whole
/// office behind one NAT address opens them at the same moment (a bench of
/// 8 participants from one address lost 7 of its 16 connections to a cap of
/// 8: the engine sees the openings queued before their first frames).
const MAX_UNNAMED_TCP_LINKS_PER_IP: usize = 128;

type PcId = u64;

struct Pc {
    peer: RTCPeerConnection,
    room: RoomId,
    owner: ConnId,
    leg: Leg,
    created: Instant,
    last_heard: Option<Instant>,
    /// `peer.poll_timeout()`, asked again only when the connection had
    /// work since (asking walks rtc's whole stack: it is not asked for
    /// every connection on every datagram); every [`ROUTER_TICK`] all are
    /// asked afresh, for what changed without a pump.
    deadline: Option<Instant>,
    /// Pumped since `deadline` was asked.
    stale: bool,
    /// ICE and DTLS are up: media written to it reaches the client.
    connected: bool,
}

/// A track someone publishes.
struct Published {
    ssrc: u32,
    kind: Kind,
    source: TrackSource,
    receiver: RTCRtpReceiverId,
    /// The payload type the publisher sends.
    payload_type: u8,
}

/// A track forwarded to a subscriber.
struct Forwarded {
    publisher: ConnId,
    sender: RTCRtpSenderId,
    info: ForwardedTrack,
}

#[derive(Default)]
struct Negotiation {
    next_offer_id: u64,
    /// The offer awaiting an answer.
    outstanding: Option<u64>,
    /// Tracks changed since the last offer.
    needed: bool,
}

struct Member {
    pid: ParticipantId,
    user: UserId,
    publish_pc: Option<PcId>,
    subscribe_pc: Option<PcId>,
    declared: Vec<PublishedTrack>,
    published: Vec<Published>,
    /// By SSRC.
    forwarded: HashMap<u32, Forwarded>,
    negotiation: Negotiation,
    audio_level_id: Option<u8>,
}

/// A client's TCP connection (ICE-TCP) and the peer connection its first
/// binding request named.
struct TcpConn {
    link: TcpLink,
    pc: Option<PcId>,
}

/// The SFU's TCP side: where clients are told to connect, and what the
/// accepting tasks hand over.
pub struct TcpMedia {
    /// The address in our passive TCP candidate.
    pub advertised: SocketAddr,
    /// Connections and their frames.
    pub inputs: mpsc::Receiver<TcpInput>,
}

#[derive(Default)]
struct RoomMedia {
    router: Router,
    members: HashMap<ConnId, Member>,
}

/// The engine's state; [`Engine::run`] is its loop.
pub struct Engine {
    socket: UdpSocket,
    /// The address in our candidate (what clients send to).
    advertised: SocketAddr,
    demux: Demuxer<PcId>,
    pcs: HashMap<PcId, Pc>,
    rooms: HashMap<RoomId, RoomMedia>,
    events: mpsc::Sender<SfuEvent>,
    next_pc: PcId,
    next_participant: ParticipantId,
    /// Datagrams (UDP) and frames (TCP) to send, gathered while handling one input.
    outgoing: Vec<(TransportProtocol, SocketAddr, BytesMut)>,
    /// The address in our TCP candidates, if the TCP port is open.
    tcp_advertised: Option<SocketAddr>,
    tcp_inputs: Option<mpsc::Receiver<TcpInput>>,
    /// By the client's address.
    tcp_links: HashMap<SocketAddr, TcpConn>,
}

impl Engine {
    /// An engine on `socket`, telling clients to send to `advertised`, and
    /// to connect to `tcp`'s address when their UDP is blocked.
    pub fn new(
        socket: UdpSocket,
        advertised: SocketAddr,
        tcp: Option<TcpMedia>,
        events: mpsc::Sender<SfuEvent>,
    ) -> Self {
        let (tcp_advertised, tcp_inputs) = tcp.map(|t| (t.advertised, t.inputs)).unzip();
        Self {
            socket,
            advertised,
            demux: Demuxer::new(ADDRESS_IDLE),
            pcs: HashMap::new(),
            rooms: HashMap::new(),
            events,
            next_pc: 1,
            next_participant: 1,
            outgoing: Vec::new(),
            tcp_advertised,
            tcp_inputs,
            tcp_links: HashMap::new(),
        }
    }

    /// Runs until every command sender is gone.
    pub async fn run(mut self, mut commands: mpsc::Receiver<SfuCommand>) {
        let mut buf = vec![0u8; DATAGRAM_MAX];
        let mut next_tick = Instant::now() + ROUTER_TICK;
        loop {
            self.refresh_deadlines(false);
            let deadline = self.next_deadline().map_or(next_tick, |d| d.min(next_tick));
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => {
                        let now = Instant::now();
                        let culprit = match &command {
                            SfuCommand::Publish { room, conn, .. } | SfuCommand::SubscribeAnswer { room, conn, .. } => {
                                Some((*room, *conn))
                            }
                            _ => None,
                        };
                        self.contained(now, culprit, |engine| engine.on_command(now, command));
                    }
                    None => break,
                },
                received = self.socket.recv_from(&mut buf) => match received {
                    Ok((len, from)) => {
                        self.on_received(&buf[..len], from);
                        // Whatever else is already waiting is read now, before the timers.
                        for _ in 1..READ_BATCH {
                            match self.socket.try_recv_from(&mut buf) {
                                Ok((len, from)) => self.on_received(&buf[..len], from),
                                Err(_) => break,
                            }
                        }
                    }
                    Err(error) => tracing::debug!(%error, "SFU socket read"),
                },
                input = next_tcp_input(&mut self.tcp_inputs) => match input {
                    Some(input) => self.on_tcp(input),
                    None => self.tcp_inputs = None,
                },
                () = tokio::time::sleep_until(deadline.into()) => {}
            }
            let now = Instant::now();
            self.refresh_deadlines(now >= next_tick);
            self.on_timeouts(now);
            if now >= next_tick {
                self.on_tick(now);
                next_tick = now + ROUTER_TICK;
            }
            self.send_outgoing().await;
        }
        for pc in self.pcs.values_mut() {
            let _ = pc.peer.close();
        }
    }

    /// Asks the connections that had work (or all) for their next timer.
    fn refresh_deadlines(&mut self, all: bool) {
        for pc in self.pcs.values_mut().filter(|pc| all || pc.stale) {
            pc.deadline = pc.peer.poll_timeout();
            pc.stale = false;
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.pcs.values().filter_map(|pc| pc.deadline).min()
    }

    /// One datagram from the socket, to the connection it belongs to; its
    /// answers are sent before the next one is read.
    fn on_received(&mut self, datagram: &[u8], from: SocketAddr) {
        let now = Instant::now();
        if let Some(id) = self.demux.route(now, from, datagram) {
            let culprit = self.pcs.get(&id).map(|pc| (pc.room, pc.owner));
            self.contained(now, culprit, |engine| {
                engine.on_datagram(now, id, from, TransportProtocol::UDP, datagram)
            });
        }
        self.send_ready();
    }

    /// A TCP connection opened or closed, or one of its frames: a frame
    /// goes to the peer connection the connection's first binding request
    /// named (a connection whose first frame names nobody is closed).
    fn on_tcp(&mut self, input: TcpInput) {
        match input {
            TcpInput::Opened { peer, link } => {
                let unnamed_from_there = self
                    .tcp_links
                    .iter()
                    .filter(|(at, conn)| conn.pc.is_none() && at.ip() == peer.ip())
                    .count();
                if self.tcp_links.len() >= MAX_TCP_LINKS || unnamed_from_there >= MAX_UNNAMED_TCP_LINKS_PER_IP
                {
                    tracing::warn!(%peer, "too many media TCP connections; one was refused");
                    return;
                }
                self.tcp_links.insert(peer, TcpConn { link, pc: None });
            }
            TcpInput::Closed { peer } => {
                self.tcp_links.remove(&peer);
            }
            TcpInput::Frame { peer, frame } => {
                let Some(conn) = self.tcp_links.get_mut(&peer) else { return };
                let named = conn.pc.or_else(|| self.demux.by_username(&frame));
                let Some(id) = named.filter(|id| self.pcs.contains_key(id)) else {
                    self.tcp_links.remove(&peer);
                    return;
                };
                conn.pc = Some(id);
                let now = Instant::now();
                let culprit = self.pcs.get(&id).map(|pc| (pc.room, pc.owner));
                self.contained(now, culprit, |engine| {
                    engine.on_datagram(now, id, peer, TransportProtocol::TCP, &frame)
                });
                self.send_ready();
            }
        }
    }

    /// Sends what the socket takes without waiting, UDP datagrams in
    /// batches of up to [`batch::SEND_BATCH`] per system call; the rest waits
    /// for [`Engine::send_outgoing`]. Packets for a TCP client go into its
    /// connection's queue (or are dropped with a full one).
    fn send_ready(&mut self) {
        let mut sent = 0;
        while let Some((protocol, to, datagram)) = self.outgoing.get(sent) {
            if *protocol == TransportProtocol::TCP {
                self.send_tcp(*to, datagram);
                sent += 1;
                continue;
            }
            let run = self.outgoing[sent..]
                .iter()
                .take(batch::SEND_BATCH)
                .take_while(|(protocol, ..)| *protocol != TransportProtocol::TCP)
                .map(|(_, to, datagram)| (*to, &datagram[..]));
            match batch::send_batch(&self.socket, run) {
                Ok(count) if count > 0 => sent += count,
                // Nothing taken, yet no error: the first is dropped, so the queue always moves.
                Ok(_) => sent += 1,
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(error) => {
                    tracing::debug!(%error, %to, "SFU socket write");
                    sent += 1;
                }
            }
        }
        self.outgoing.drain(..sent);
    }

    /// Queues a packet on the TCP connection from `to` (dropped when its
    /// queue is full, as a slow UDP path drops datagrams).
    fn send_tcp(&self, to: SocketAddr, packet: &[u8]) {
        match self.tcp_links.get(&to) {
            Some(conn) if !conn.link.send(packet) => {
                tracing::trace!(%to, "a media TCP connection's queue is full; a packet was dropped");
            }
            Some(_) => {}
            None => tracing::trace!(%to, "a packet for a TCP connection that has gone"),
        }
    }

    /// Sends everything queued, waiting for room in the socket's buffer.
    async fn send_outgoing(&mut self) {
        loop {
            self.send_ready();
            if self.outgoing.is_empty() {
                return;
            }
            if let Err(error) = self.socket.writable().await {
                tracing::debug!(%error, "SFU socket write");
                self.outgoing.clear();
                return;
            }
        }
    }

    fn on_command(&mut self, now: Instant, command: SfuCommand) {
        match command {
            SfuCommand::Join { room, conn, user } => self.join(room, conn, user),
            SfuCommand::Leave { room, conn } => self.leave(now, room, conn),
            SfuCommand::Publish { room, conn, sdp, tracks, reply } => {
                let answer = self.publish(now, room, conn, sdp, tracks);
                let _ = reply.send(answer);
                self.renegotiate(now, room);
            }
            SfuCommand::SubscribeAnswer { room, conn, offer_id, sdp, reply } => {
                let result = self.subscribe_answer(now, room, conn, offer_id, sdp);
                let _ = reply.send(result);
                self.renegotiate(now, room);
            }
            SfuCommand::Stats { reply } => {
                let _ = reply.send(self.stats());
            }
        }
    }

    fn stats(&self) -> super::SfuStats {
        super::SfuStats {
            rooms: self.rooms.len(),
            participants: self.rooms.values().map(|r| r.members.len()).sum(),
            peer_connections: self.pcs.len(),
        }
    }

    fn join(&mut self, room: RoomId, conn: ConnId, user: UserId) {
        let media = self.rooms.entry(room).or_default();
        if media.members.contains_key(&conn) {
            return;
        }
        let pid = self.next_participant;
        self.next_participant += 1;
        media.router.add_participant(pid, SUBSCRIBER_QUEUE, None);
        let member = Member {
            pid,
            user,
            publish_pc: None,
            subscribe_pc: None,
            declared: Vec::new(),
            published: Vec::new(),
            forwarded: HashMap::new(),
            negotiation: Negotiation::default(),
            audio_level_id: None,
        };
        media.members.insert(conn, member);
        // Everything already published is forwarded to the newcomer.
        let publishers: Vec<ConnId> = media.members.keys().copied().filter(|c| *c != conn).collect();
        for publisher in publishers {
            let ssrcs: Vec<u32> =
                self.rooms[&room].members[&publisher].published.iter().map(|p| p.ssrc).collect();
            for ssrc in ssrcs {
                self.forward(Instant::now(), room, publisher, ssrc, conn);
            }
        }
        self.renegotiate(Instant::now(), room);
    }

    fn leave(&mut self, now: Instant, room: RoomId, conn: ConnId) {
        let Some(media) = self.rooms.get_mut(&room) else { return };
        let Some(member) = media.members.remove(&conn) else { return };
        media.router.remove_participant(member.pid);
        for pc in [member.publish_pc, member.subscribe_pc].into_iter().flatten() {
            self.close_pc(pc);
        }
        // Nobody receives their tracks any more.
        self.stop_forwarding(room, |_, forwarded| forwarded.publisher == conn);
        if self.rooms.get(&room).is_some_and(|media| media.members.is_empty()) {
            self.rooms.remove(&room);
        }
        self.renegotiate(now, room);
    }

    fn close_pc(&mut self, id: PcId) {
        if let Some(mut pc) = self.pcs.remove(&id) {
            let _ = pc.peer.close();
            while let Some(datagram) = pc.peer.poll_write() {
                self.outgoing.push((
                    datagram.transport.transport_protocol,
                    datagram.transport.peer_addr,
                    datagram.message,
                ));
            }
        }
        self.send_ready();
        self.forget_pc(id);
    }

    /// Nothing reaches peer connection `id` any more: its ICE username,
    /// addresses and TCP connections go.
    fn forget_pc(&mut self, id: PcId) {
        self.pcs.remove(&id);
        self.demux.unregister(id);
        self.tcp_links.retain(|_, conn| conn.pc != Some(id));
    }

    fn new_pc(&mut self, now: Instant, room: RoomId, owner: ConnId, leg: Leg) -> Result<PcId, SfuError> {
        let ufrag = peer::new_ufrag();
        let peer = peer::new_peer(now, &ufrag, self.advertised, self.tcp_advertised, leg)
            .map_err(SfuError::internal)?;
        let id = self.next_pc;
        self.next_pc += 1;
        self.demux.register(&ufrag, id);
        let pc = Pc {
            peer,
            room,
            owner,
            leg,
            created: now,
            last_heard: None,
            deadline: None,
            stale: true,
            connected: false,
        };
        self.pcs.insert(id, pc);
        Ok(id)
    }

    fn publish(
        &mut self,
        now: Instant,
        room: RoomId,
        conn: ConnId,
        sdp: String,
        tracks: Vec<PublishedTrack>,
    ) -> Result<String, SfuError> {
        let member = self.member(room, conn).ok_or(SfuError::NotJoined)?;
        let existing = member.publish_pc;
        let id = match existing {
            Some(id) => id,
            None => self.new_pc(now, room, conn, Leg::Publishing)?,
        };
        let answer = (|| {
            let pc = self.pcs.get_mut(&id).ok_or(SfuError::NotJoined)?;
            let offer = RTCSessionDescription::offer(sdp).map_err(SfuError::sdp)?;
            pc.peer.set_remote_description(now, offer).map_err(SfuError::sdp)?;
            let answer = pc.peer.create_answer(None).map_err(SfuError::sdp)?;
            pc.peer.set_local_description(now, answer).map_err(SfuError::sdp)?;
            let local =
                pc.peer.local_description().ok_or_else(|| SfuError::Sdp("no answer was made".into()))?;
            Ok(sdp::with_candidates_in_every_section(local.sdp))
        })();
        match answer {
            Ok(answer) => {
                let member = self.member_mut(room, conn).ok_or(SfuError::NotJoined)?;
                member.publish_pc = Some(id);
                member.declared = tracks;
                self.pump(now, id);
                Ok(answer)
            }
            Err(error) => {
                if existing.is_none() {
                    self.close_pc(id);
                }
                Err(error)
            }
        }
    }

    fn subscribe_answer(
        &mut self,
        now: Instant,
        room: RoomId,
        conn: ConnId,
        offer_id: u64,
        sdp: String,
    ) -> Result<(), SfuError> {
        let member = self.member(room, conn).ok_or(SfuError::NotJoined)?;
        if member.negotiation.outstanding != Some(offer_id) {
            return Err(SfuError::StaleOffer(offer_id));
        }
        let id = member.subscribe_pc.ok_or(SfuError::StaleOffer(offer_id))?;
        let pc = self.pcs.get_mut(&id).ok_or(SfuError::NotJoined)?;
        let answer = RTCSessionDescription::answer(sdp).map_err(SfuError::sdp)?;
        pc.peer.set_remote_description(now, answer).map_err(SfuError::sdp)?;
        let member = self.member_mut(room, conn).ok_or(SfuError::NotJoined)?;
        member.negotiation.outstanding = None;
        self.update_mappings(room, conn);
        // Tracks this answer added start with a keyframe, not at the
        // publisher's next one (a connection still coming up asks once it is up).
        if self.pcs.get(&id).is_some_and(|pc| pc.connected) {
            self.request_keyframes_for(now, room, conn);
        }
        self.pump(now, id);
        Ok(())
    }

    /// Asks, through each track's throttle, the publishers of every video
    /// track forwarded to `subscriber` for a keyframe: a picture starts as
    /// soon as its connection can carry it.
    fn request_keyframes_for(&mut self, now: Instant, room: RoomId, subscriber: ConnId) {
        let Some(member) = self.member(room, subscriber) else { return };
        let mut ssrcs: Vec<u32> = member.forwarded.keys().copied().collect();
        ssrcs.sort_unstable();
        for ssrc in ssrcs {
            let media = self.rooms.get_mut(&room);
            if media.is_some_and(|m| m.router.request_keyframe(now, ssrc)) {
                self.send_keyframe_request(now, room, ssrc);
            }
        }
    }

    /// After a subscriber's answer: how each publisher's packets are
    /// renumbered for them.
    fn update_mappings(&mut self, room: RoomId, subscriber: ConnId) {
        let Some(media) = self.rooms.get_mut(&room) else { return };
        let Some(member) = media.members.get(&subscriber) else { return };
        let Some(pc) = member.subscribe_pc.and_then(|id| self.pcs.get_mut(&id)) else { return };
        let mut mappings: HashMap<ConnId, Mapping> = HashMap::new();
        for (ssrc, forwarded) in &member.forwarded {
            let Some(mut sender) = pc.peer.rtp_sender(forwarded.sender) else { continue };
            let ours = sender.get_parameters().rtp_parameters.clone();
            let Some(publisher) = media.members.get(&forwarded.publisher) else { continue };
            let Some(track) = publisher.published.iter().find(|t| t.ssrc == *ssrc) else { continue };
            let mapping = mappings.entry(forwarded.publisher).or_default();
            if let Some(codec) = ours.codecs.first() {
                mapping.payload_types.insert(track.payload_type, codec.payload_type);
            }
            if let (Some(from), Some(to)) = (publisher.audio_level_id, audio_level_id(&ours)) {
                mapping.extensions.insert(from, to);
            }
        }
        let pid = member.pid;
        for (publisher, mapping) in mappings {
            if let Some(publisher_pid) = media.members.get(&publisher).map(|m| m.pid) {
                media.router.subscribe(pid, publisher_pid, mapping);
            }
        }
    }

    /// Adds `publisher`'s track `ssrc` to `subscriber`'s receiving connection.
    fn forward(&mut self, now: Instant, room: RoomId, publisher: ConnId, ssrc: u32, subscriber: ConnId) {
        let Some(media) = self.rooms.get(&room) else { return };
        let Some(from) = media.members.get(&publisher) else { return };
        let Some(track) = from.published.iter().find(|t| t.ssrc == ssrc) else { return };
        let (kind, source, user) = (track.kind, track.source, from.user);
        let Some(to) = media.members.get(&subscriber) else { return };
        if to.forwarded.contains_key(&ssrc) {
            return;
        }
        let pc_id = match to.subscribe_pc {
            Some(id) => id,
            None => match self.new_pc(now, room, subscriber, Leg::Receiving) {
                Ok(id) => id,
                Err(error) => {
                    tracing::warn!(%error, "could not make a receiving connection");
                    return;
                }
            },
        };
        let track_id = format!("{user}-{}-{ssrc}", source.as_str());
        let codec = match kind {
            Kind::Audio => peer::opus(),
            Kind::Video => peer::h264(),
        };
        let description = MediaStreamTrack::new(
            user.to_string(),
            track_id.clone(),
            track_id.clone(),
            match kind {
                Kind::Audio => RtpCodecKind::Audio,
                Kind::Video => RtpCodecKind::Video,
            },
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters { ssrc: Some(ssrc), ..Default::default() },
                codec,
                ..Default::default()
            }],
        );
        let Some(pc) = self.pcs.get_mut(&pc_id) else { return };
        let sendonly = RTCRtpTransceiverInit {
            direction: RTCRtpTransceiverDirection::Sendonly,
            streams: Vec::new(),
            send_encodings: Vec::new(),
        };
        let sender = match pc.peer.add_transceiver_from_track(description, Some(sendonly)) {
            Ok(transceiver) => RTCRtpSenderId::from(transceiver),
            Err(error) => {
                tracing::warn!(%error, "could not forward a track");
                return;
            }
        };
        let Some(to) = self.member_mut(room, subscriber) else { return };
        to.subscribe_pc = Some(pc_id);
        let info = ForwardedTrack { track_id, user_id: user, source };
        to.forwarded.insert(ssrc, Forwarded { publisher, sender, info });
        to.negotiation.needed = true;
    }

    /// Sends a new offer to every member of `room` whose tracks changed and
    /// who is not still answering the previous one.
    fn renegotiate(&mut self, now: Instant, room: RoomId) {
        let Some(media) = self.rooms.get(&room) else { return };
        let due: Vec<ConnId> = media
            .members
            .iter()
            .filter(|(_, m)| m.negotiation.needed && m.negotiation.outstanding.is_none())
            .map(|(conn, _)| *conn)
            .collect();
        for conn in due {
            let Some(member) = self.member_mut(room, conn) else { continue };
            let Some(pc_id) = member.subscribe_pc else { continue };
            member.negotiation.needed = false;
            let offer_id = member.negotiation.next_offer_id;
            member.negotiation.next_offer_id += 1;
            let mut tracks: Vec<ForwardedTrack> = member.forwarded.values().map(|f| f.info.clone()).collect();
            tracks.sort_by(|a, b| a.track_id.cmp(&b.track_id));
            let Some(pc) = self.pcs.get_mut(&pc_id) else { continue };
            let offer = pc.peer.create_offer(None).and_then(|offer| {
                pc.peer.set_local_description(now, offer)?;
                pc.peer.local_description().ok_or(rtc::shared::error::Error::ErrPeerConnLocalDescriptionNil)
            });
            match offer {
                Ok(offer) => {
                    if let Some(member) = self.member_mut(room, conn) {
                        member.negotiation.outstanding = Some(offer_id);
                    }
                    let sdp = sdp::with_candidates_in_every_section(sdp::with_msid_semantic(offer.sdp));
                    self.emit(SfuEvent::SubscribeOffer { room, conn, offer_id, sdp, tracks });
                    self.pump(now, pc_id);
                }
                Err(error) => tracing::warn!(%error, "could not make an offer for a receiving connection"),
            }
        }
    }

    /// Runs `work`; should it panic (inside rtc, on input we did not
    /// foresee), the participant whose input it was is taken out — their
    /// connections dropped unclosed, as their state is suspect — and
    /// everyone else's calls go on.
    fn contained(&mut self, now: Instant, culprit: Option<(RoomId, ConnId)>, work: impl FnOnce(&mut Self)) {
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(self))).is_ok() {
            return;
        }
        tracing::error!("the SFU recovered from a panic handling a participant's input; they were taken out");
        let Some((room, conn)) = culprit else { return };
        let pcs = self.member(room, conn).map_or_else(Vec::new, |m| {
            [m.publish_pc, m.subscribe_pc].into_iter().flatten().collect::<Vec<_>>()
        });
        for id in pcs {
            self.forget_pc(id);
        }
        self.lose(now, room, conn);
    }

    fn on_datagram(
        &mut self,
        now: Instant,
        id: PcId,
        from: SocketAddr,
        protocol: TransportProtocol,
        datagram: &[u8],
    ) {
        let Some(pc) = self.pcs.get_mut(&id) else { return };
        if classify(datagram) == PacketClass::Unknown {
            return;
        }
        pc.last_heard = Some(now);
        // The address of the candidate it came in on (the ICE agent pairs by it).
        let local_addr = match protocol {
            TransportProtocol::TCP => self.tcp_advertised.unwrap_or(self.advertised),
            _ => self.advertised,
        };
        let message = TaggedBytesMut {
            now,
            transport: TransportContext {
                local_addr,
                peer_addr: from,
                ecn: None,
                transport_protocol: protocol,
            },
            message: BytesMut::from(datagram),
        };
        if let Err(error) = pc.peer.handle_read(message) {
            tracing::trace!(%error, "a datagram was refused");
        }
        self.pump(now, id);
    }

    fn on_timeouts(&mut self, now: Instant) {
        let due: Vec<PcId> = self
            .pcs
            .iter()
            .filter_map(|(id, pc)| pc.deadline.is_some_and(|t| t <= now).then_some(*id))
            .collect();
        for id in due {
            let culprit = self.pcs.get(&id).map(|pc| (pc.room, pc.owner));
            self.contained(now, culprit, |engine| {
                if let Some(pc) = engine.pcs.get_mut(&id) {
                    let _ = pc.peer.handle_timeout(now);
                }
                engine.pump(now, id);
            });
        }
    }

    fn on_tick(&mut self, now: Instant) {
        self.demux.expire(now);
        let rooms: Vec<RoomId> = self.rooms.keys().copied().collect();
        for room in rooms {
            let Some(media) = self.rooms.get_mut(&room) else { continue };
            for output in media.router.poll(now) {
                match output {
                    Output::KeyframeRequest { ssrc, .. } => self.send_keyframe_request(now, room, ssrc),
                    Output::Speaking { participant, speaking } => {
                        let user =
                            self.rooms[&room].members.values().find(|m| m.pid == participant).map(|m| m.user);
                        if let Some(user) = user {
                            self.emit(SfuEvent::Speaking { room, user, speaking });
                        }
                    }
                }
            }
        }
        self.find_silent(now);
    }

    /// Participants whose every connection went quiet, or failed.
    fn find_silent(&mut self, now: Instant) {
        let mut lost = Vec::new();
        for (room, media) in &self.rooms {
            for (conn, member) in &media.members {
                let pcs: Vec<&Pc> = [member.publish_pc, member.subscribe_pc]
                    .into_iter()
                    .flatten()
                    .filter_map(|id| self.pcs.get(&id))
                    .collect();
                if pcs.is_empty() {
                    continue;
                }
                let quiet = pcs.iter().all(|pc| {
                    let since = pc.last_heard.unwrap_or(pc.created);
                    now.saturating_duration_since(since) > SILENCE_LIMIT
                });
                if quiet {
                    lost.push((*room, *conn));
                }
            }
        }
        for (room, conn) in lost {
            self.lose(now, room, conn);
        }
    }

    fn lose(&mut self, now: Instant, room: RoomId, conn: ConnId) {
        self.emit(SfuEvent::Lost { room, conn });
        self.leave(now, room, conn);
    }

    /// Relays a keyframe request for `ssrc` to its publisher.
    fn send_keyframe_request(&mut self, now: Instant, room: RoomId, ssrc: u32) {
        let Some(media) = self.rooms.get(&room) else { return };
        let Some((member, track)) =
            media.members.values().find_map(|m| m.published.iter().find(|t| t.ssrc == ssrc).map(|t| (m, t)))
        else {
            return;
        };
        let Some(pc_id) = member.publish_pc else { return };
        let receiver = track.receiver;
        let Some(pc) = self.pcs.get_mut(&pc_id) else { return };
        if let Some(mut receiver) = pc.peer.rtp_receiver(receiver) {
            let pli = PictureLossIndication { sender_ssrc: 0, media_ssrc: ssrc };
            let _ = receiver.write_rtcp(now, vec![Box::new(pli)]);
        }
        self.pump(now, pc_id);
    }

    /// Drains a peer connection: datagrams out, state changes, media in.
    fn pump(&mut self, now: Instant, id: PcId) {
        let mut work = vec![id];
        while let Some(id) = work.pop() {
            let Some(pc) = self.pcs.get_mut(&id) else { continue };
            let (room, owner, leg) = (pc.room, pc.owner, pc.leg);
            while let Some(datagram) = pc.peer.poll_write() {
                self.outgoing.push((
                    datagram.transport.transport_protocol,
                    datagram.transport.peer_addr,
                    datagram.message,
                ));
            }
            let mut events = Vec::new();
            while let Some(event) = pc.peer.poll_event() {
                events.push(event);
            }
            let mut messages = Vec::new();
            while let Some(TaggedRTCMessage { message, .. }) = pc.peer.poll_read() {
                messages.push(message);
            }
            pc.stale = true;
            for event in events {
                self.on_peer_event(now, id, room, owner, leg, event);
            }
            for message in messages {
                match message {
                    RTCMessage::RtpPacket(_, packet) if leg == Leg::Publishing => {
                        work.extend(self.on_published_rtp(now, room, owner, packet));
                    }
                    RTCMessage::RtcpPacket(_, packets) if leg == Leg::Receiving => {
                        for ssrc in packets.iter().filter_map(|p| peer::keyframe_request_ssrc(p.as_ref())) {
                            let media = self.rooms.get_mut(&room);
                            if media.is_some_and(|m| m.router.request_keyframe(now, ssrc)) {
                                self.send_keyframe_request(now, room, ssrc);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    fn on_peer_event(
        &mut self,
        now: Instant,
        id: PcId,
        room: RoomId,
        owner: ConnId,
        leg: Leg,
        event: RTCPeerConnectionEvent,
    ) {
        match event {
            RTCPeerConnectionEvent::OnConnectionStateChangeEvent(state) => {
                tracing::debug!(?leg, %state, "SFU peer connection");
                if let Some(pc) = self.pcs.get_mut(&id) {
                    pc.connected = state == RTCPeerConnectionState::Connected;
                }
                match state {
                    RTCPeerConnectionState::Failed => self.lose(now, room, owner),
                    // What it receives can be seen from now: start each picture with a keyframe.
                    RTCPeerConnectionState::Connected if leg == Leg::Receiving => {
                        self.request_keyframes_for(now, room, owner);
                    }
                    _ => {}
                }
            }
            RTCPeerConnectionEvent::OnTrack(RTCTrackEvent::OnOpen(init)) if leg == Leg::Publishing => {
                self.track_opened(now, id, room, owner, init.receiver_id, &init.track_id, init.ssrc);
            }
            RTCPeerConnectionEvent::OnTrack(RTCTrackEvent::OnClose(track_id)) if leg == Leg::Publishing => {
                self.track_closed(now, id, room, owner, &track_id);
            }
            _ => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn track_opened(
        &mut self,
        now: Instant,
        id: PcId,
        room: RoomId,
        owner: ConnId,
        receiver_id: RTCRtpReceiverId,
        track_id: &str,
        ssrc: u32,
    ) {
        let Some(pc) = self.pcs.get_mut(&id) else { return };
        let Some(mut receiver) = pc.peer.rtp_receiver(receiver_id) else { return };
        let kind = match receiver.track().kind() {
            RtpCodecKind::Audio => Kind::Audio,
            _ => Kind::Video,
        };
        let parameters = receiver.get_parameters().rtp_parameters.clone();
        let Some(payload_type) = parameters.codecs.first().map(|c| c.payload_type) else { return };
        let Some(media) = self.rooms.get_mut(&room) else { return };
        let Some(member) = media.members.get_mut(&owner) else { return };
        if member.published.iter().any(|t| t.ssrc == ssrc) {
            return;
        }
        let source =
            member.declared.iter().find(|t| t.track_id == track_id).map(|t| t.source).unwrap_or_else(|| {
                let video_sources = member.published.iter().filter(|t| t.kind == Kind::Video).count();
                match (kind, video_sources) {
                    (Kind::Audio, _) => TrackSource::Microphone,
                    (Kind::Video, 0) => TrackSource::Camera,
                    (Kind::Video, _) => TrackSource::Screen,
                }
            });
        if kind == Kind::Audio {
            member.audio_level_id = audio_level_id(&parameters);
            media.router.set_audio_level_id(member.pid, member.audio_level_id);
        }
        member.published.push(Published { ssrc, kind, source, receiver: receiver_id, payload_type });
        media.router.publish(member.pid, ssrc, kind);
        tracing::debug!(ssrc, ?kind, ?source, "published");
        let subscribers: Vec<ConnId> = media.members.keys().copied().filter(|c| *c != owner).collect();
        for subscriber in subscribers {
            self.forward(now, room, owner, ssrc, subscriber);
        }
        self.renegotiate(now, room);
    }

    fn track_closed(&mut self, now: Instant, id: PcId, room: RoomId, owner: ConnId, track_id: &str) {
        let Some(pc) = self.pcs.get_mut(&id) else { return };
        let receivers: Vec<RTCRtpReceiverId> = pc.peer.get_receivers().collect();
        let mut closed_ssrcs = Vec::new();
        for receiver_id in receivers {
            if let Some(receiver) = pc.peer.rtp_receiver(receiver_id) {
                if receiver.track().track_id() == track_id {
                    closed_ssrcs.extend(receiver.track().ssrcs());
                }
            }
        }
        let Some(media) = self.rooms.get_mut(&room) else { return };
        let Some(member) = media.members.get_mut(&owner) else { return };
        member.published.retain(|t| !closed_ssrcs.contains(&t.ssrc));
        self.stop_forwarding(room, |ssrc, _| closed_ssrcs.contains(ssrc));
        self.renegotiate(now, room);
    }

    /// Takes the forwarded tracks `gone` picks out of every subscriber's
    /// receiving connection in `room` (their next offer drops them).
    fn stop_forwarding(&mut self, room: RoomId, gone: impl Fn(&u32, &Forwarded) -> bool) {
        let Some(media) = self.rooms.get_mut(&room) else { return };
        for subscriber in media.members.values_mut() {
            let ssrcs: Vec<u32> =
                subscriber.forwarded.iter().filter(|(s, f)| gone(s, f)).map(|(s, _)| *s).collect();
            for ssrc in ssrcs {
                let Some(forwarded) = subscriber.forwarded.remove(&ssrc) else { continue };
                if let Some(pc) = subscriber.subscribe_pc.and_then(|id| self.pcs.get_mut(&id)) {
                    let _ = pc.peer.remove_track(forwarded.sender);
                }
                subscriber.negotiation.needed = true;
            }
        }
    }

    /// A packet someone published: through the router to every subscriber's
    /// connection. Returns the connections that now have datagrams to send.
    fn on_published_rtp(
        &mut self,
        now: Instant,
        room: RoomId,
        owner: ConnId,
        packet: rtc::rtp::Packet,
    ) -> Vec<PcId> {
        let Some(media) = self.rooms.get_mut(&room) else { return Vec::new() };
        let Some(pid) = media.members.get(&owner).map(|m| m.pid) else { return Vec::new() };
        let Ok(bytes) = packet.marshal() else { return Vec::new() };
        if let Err(error) = media.router.on_rtp(now, pid, &bytes) {
            tracing::trace!(?error, "a published packet was not forwarded");
            return Vec::new();
        }
        let mut touched = Vec::new();
        for member in media.members.values() {
            let Some(pc_id) = member.subscribe_pc else {
                while media.router.next_packet(member.pid).is_some() {}
                continue;
            };
            let Some(pc) = self.pcs.get_mut(&pc_id) else { continue };
            let mut wrote = false;
            while let Some(rewritten) = media.router.next_packet(member.pid) {
                let Ok(packet) = rtc::rtp::Packet::unmarshal(&mut rewritten.as_slice()) else { continue };
                let Some(forwarded) = member.forwarded.get(&packet.header.ssrc) else { continue };
                if let Some(mut sender) = pc.peer.rtp_sender(forwarded.sender) {
                    match sender.write_rtp(now, packet) {
                        Ok(()) => wrote = true,
                        Err(error) => tracing::trace!(%error, "a forwarded packet was refused"),
                    }
                }
            }
            if wrote {
                touched.push(pc_id);
            }
        }
        touched
    }

    /// The engine never waits for the calls service, which only forwards.
    fn emit(&self, event: SfuEvent) {
        if let Err(error) = self.events.try_send(event) {
            tracing::error!(?error, "the calls service is not keeping up with the SFU; an event was dropped");
        }
    }

    fn member(&self, room: RoomId, conn: ConnId) -> Option<&Member> {
        self.rooms.get(&room)?.members.get(&conn)
    }

    fn member_mut(&mut self, room: RoomId, conn: ConnId) -> Option<&mut Member> {
        self.rooms.get_mut(&room)?.members.get_mut(&conn)
    }
}

/// The next input from the TCP side; never, without one.
async fn next_tcp_input(inputs: &mut Option<mpsc::Receiver<TcpInput>>) -> Option<TcpInput> {
    match inputs {
        Some(inputs) => inputs.recv().await,
        None => std::future::pending().await,
    }
}

fn audio_level_id(parameters: &RTCRtpParameters) -> Option<u8> {
    parameters
        .header_extensions
        .iter()
        .find(|e| e.uri == concord_common::media::AUDIO_LEVEL_URI)
        .and_then(|e| u8::try_from(e.id).ok())
}

/// A reply channel for a command.
pub type Reply<T> = oneshot::Sender<Result<T, SfuError>>;
