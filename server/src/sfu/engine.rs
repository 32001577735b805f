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
use std::sync::Arc;
use std::time::{Duration, Instant};

use concord_common::events::{ForwardedTrack, PublishedTrack, TrackSource};
use concord_common::media::{Leg, H264_PAYLOAD_TYPE, OPUS_PAYLOAD_TYPE};
use concord_common::{RoomId, UserId};
use concord_sfu::demux::{classify, Demuxer, PacketClass};
use concord_sfu::router::{Kind, Output, ParticipantId, Router, RtpPacket};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::media::{Direction, KeyframeRequestKind, MediaKind, Mid};
use str0m::net::{DatagramSend, Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpWrite, SeqNo};
use str0m::{Event, Input, Output as RtcOutput, Rtc};
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
    rtc: Rtc,
    room: RoomId,
    owner: ConnId,
    leg: Leg,
    created: Instant,
    last_heard: Option<Instant>,
    /// When `rtc` next wants the time (its last `Output::Timeout`).
    deadline: Option<Instant>,
    /// ICE and DTLS are up: media written to it reaches the client.
    connected: bool,
}

/// A track someone publishes.
struct Published {
    ssrc: u32,
    mid: Mid,
    kind: Kind,
    source: TrackSource,
}

/// A track forwarded to a subscriber (a downtrack).
struct Forwarded {
    publisher: ConnId,
    kind: Kind,
    info: ForwardedTrack,
    /// Its media section in the subscriber's receiving connection, once offered.
    mid: Option<Mid>,
    /// The subscriber's answer accepted it: packets flow.
    negotiated: bool,
    /// The publisher's extended sequence number, less its rollovers before
    /// the first packet this subscriber got: each downtrack starts at
    /// rollover 0, as SRTP requires of a new stream.
    seq_base: Option<u64>,
}

#[derive(Default)]
struct Negotiation {
    next_offer_id: u64,
    /// The offer awaiting an answer, and what accepting it applies.
    outstanding: Option<(u64, SdpPendingOffer)>,
    /// Tracks changed since the last offer.
    needed: bool,
    /// Media sections of tracks that stopped, to be made inactive in the next offer.
    retired: Vec<Mid>,
}

struct Member {
    pid: ParticipantId,
    user: UserId,
    publish_pc: Option<PcId>,
    subscribe_pc: Option<PcId>,
    declared: Vec<PublishedTrack>,
    published: Vec<Published>,
    /// By the publisher's SSRC.
    forwarded: HashMap<u32, Forwarded>,
    negotiation: Negotiation,
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
    outgoing: Vec<(Protocol, SocketAddr, DatagramSend)>,
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
            self.on_timeouts(now);
            if now >= next_tick {
                self.on_tick(now);
                next_tick = now + ROUTER_TICK;
            }
            self.send_outgoing().await;
        }
        let ids: Vec<PcId> = self.pcs.keys().copied().collect();
        for id in ids {
            self.close_pc(Instant::now(), id);
        }
        self.send_ready();
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.pcs.values().filter_map(|pc| pc.deadline).min()
    }

    /// One datagram from the socket, to the connection it belongs to; its
    /// answers are sent before the next one is read.
    fn on_received(&mut self, datagram: &[u8], from: SocketAddr) {
        self.receive(Instant::now(), datagram, from);
        self.send_ready();
    }

    /// A UDP datagram from `from` at `now`, to the connection it belongs to
    /// (what it makes waits in `outgoing`).
    fn receive(&mut self, now: Instant, datagram: &[u8], from: SocketAddr) {
        if let Some(id) = self.demux.route(now, from, datagram) {
            let culprit = self.pcs.get(&id).map(|pc| (pc.room, pc.owner));
            self.contained(now, culprit, |engine| engine.on_datagram(now, id, from, Protocol::Udp, datagram));
        }
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
                    engine.on_datagram(now, id, peer, Protocol::Tcp, &frame)
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
            if *protocol != Protocol::Udp {
                self.send_tcp(*to, datagram);
                sent += 1;
                continue;
            }
            let run = self.outgoing[sent..]
                .iter()
                .take(batch::SEND_BATCH)
                .take_while(|(protocol, ..)| *protocol == Protocol::Udp)
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
            SfuCommand::Join { room, conn, user } => self.join(now, room, conn, user),
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

    fn join(&mut self, now: Instant, room: RoomId, conn: ConnId, user: UserId) {
        let media = self.rooms.entry(room).or_default();
        if media.members.contains_key(&conn) {
            return;
        }
        let pid = self.next_participant;
        self.next_participant += 1;
        media.router.add_participant(pid, SUBSCRIBER_QUEUE);
        let member = Member {
            pid,
            user,
            publish_pc: None,
            subscribe_pc: None,
            declared: Vec::new(),
            published: Vec::new(),
            forwarded: HashMap::new(),
            negotiation: Negotiation::default(),
        };
        media.members.insert(conn, member);
        // Everything already published is forwarded to the newcomer.
        let publishers: Vec<ConnId> = media.members.keys().copied().filter(|c| *c != conn).collect();
        for publisher in publishers {
            let ssrcs: Vec<u32> =
                self.rooms[&room].members[&publisher].published.iter().map(|p| p.ssrc).collect();
            for ssrc in ssrcs {
                self.forward(now, room, publisher, ssrc, conn);
            }
        }
        self.renegotiate(now, room);
    }

    fn leave(&mut self, now: Instant, room: RoomId, conn: ConnId) {
        let Some(media) = self.rooms.get_mut(&room) else { return };
        let Some(member) = media.members.remove(&conn) else { return };
        media.router.remove_participant(member.pid);
        for pc in [member.publish_pc, member.subscribe_pc].into_iter().flatten() {
            self.close_pc(now, pc);
        }
        // Nobody receives their tracks any more.
        self.stop_forwarding(room, |_, forwarded| forwarded.publisher == conn);
        if self.rooms.get(&room).is_some_and(|media| media.members.is_empty()) {
            self.rooms.remove(&room);
        }
        self.renegotiate(now, room);
    }

    /// Closes peer connection `id`, telling the client (DTLS close) where it can.
    fn close_pc(&mut self, now: Instant, id: PcId) {
        if let Some(pc) = self.pcs.get_mut(&id) {
            pc.rtc.disconnect();
        }
        self.pump(now, id);
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
        let rtc = peer::new_peer(now, &ufrag, self.advertised, self.tcp_advertised)?;
        let id = self.next_pc;
        self.next_pc += 1;
        self.demux.register(&ufrag, id);
        let pc = Pc {
            rtc,
            room,
            owner,
            leg,
            created: now,
            last_heard: None,
            deadline: Some(now),
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
            let offer = SdpOffer::from_sdp_string(&sdp).map_err(SfuError::sdp)?;
            let pc = self.pcs.get_mut(&id).ok_or(SfuError::NotJoined)?;
            let answer = pc.rtc.sdp_api().accept_offer(offer).map_err(SfuError::sdp)?;
            Ok(sdp::with_candidates_in_every_section(answer.to_sdp_string()))
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
                    self.close_pc(now, id);
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
        let member = self.member_mut(room, conn).ok_or(SfuError::NotJoined)?;
        if member.negotiation.outstanding.as_ref().map(|(id, _)| *id) != Some(offer_id) {
            return Err(SfuError::StaleOffer(offer_id));
        }
        let id = member.subscribe_pc.ok_or(SfuError::StaleOffer(offer_id))?;
        let answer = SdpAnswer::from_sdp_string(&sdp).map_err(SfuError::sdp)?;
        let Some((_, pending)) = member.negotiation.outstanding.take() else {
            return Err(SfuError::StaleOffer(offer_id));
        };
        let pc = self.pcs.get_mut(&id).ok_or(SfuError::NotJoined)?;
        let accepted = pc.rtc.sdp_api().accept_answer(pending, answer);
        if let Err(error) = accepted {
            // What that offer added is offered again, in the next one.
            if let Some(member) = self.member_mut(room, conn) {
                for forwarded in member.forwarded.values_mut().filter(|f| !f.negotiated) {
                    forwarded.mid = None;
                }
                member.negotiation.needed = true;
            }
            return Err(SfuError::sdp(error));
        }
        self.update_subscriptions(room, conn);
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

    /// After a subscriber's answer: the tracks whose media section it
    /// accepted are queued for them from now on.
    fn update_subscriptions(&mut self, room: RoomId, subscriber: ConnId) {
        let Some(media) = self.rooms.get_mut(&room) else { return };
        let Some(member) = media.members.get_mut(&subscriber) else { return };
        let Some(pc) = member.subscribe_pc.and_then(|id| self.pcs.get(&id)) else { return };
        for (ssrc, forwarded) in &mut member.forwarded {
            let accepted = forwarded.mid.is_some_and(|mid| pc.rtc.media(mid).is_some());
            if accepted && !forwarded.negotiated {
                forwarded.negotiated = true;
                media.router.subscribe(member.pid, *ssrc);
            }
        }
    }

    /// Adds `publisher`'s track `ssrc` to `subscriber`'s receiving
    /// connection (in its next offer).
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
        let Some(to) = self.member_mut(room, subscriber) else { return };
        to.subscribe_pc = Some(pc_id);
        let track_id = format!("{user}-{}-{ssrc}", source.as_str());
        let info = ForwardedTrack { track_id, user_id: user, source };
        let forwarded = Forwarded { publisher, kind, info, mid: None, negotiated: false, seq_base: None };
        to.forwarded.insert(ssrc, forwarded);
        to.negotiation.needed = true;
    }

    /// Sends a new offer to every member of `room` whose tracks changed and
    /// who is not still answering the previous one.
    fn renegotiate(&mut self, now: Instant, room: RoomId) {
        let Some(media) = self.rooms.get_mut(&room) else { return };
        let mut offers = Vec::new();
        for (conn, member) in &mut media.members {
            let negotiation = &mut member.negotiation;
            if !negotiation.needed || negotiation.outstanding.is_some() {
                continue;
            }
            let Some(pc_id) = member.subscribe_pc else { continue };
            let Some(pc) = self.pcs.get_mut(&pc_id) else { continue };
            negotiation.needed = false;
            // Sections of stopped tracks that the client has not answered yet wait for a later offer.
            let (retire_now, retire_later): (Vec<Mid>, Vec<Mid>) =
                negotiation.retired.drain(..).partition(|mid| pc.rtc.media(*mid).is_some());
            negotiation.retired = retire_later;
            let mut api = pc.rtc.sdp_api();
            for mid in retire_now {
                api.set_direction(mid, Direction::Inactive);
            }
            let mut added: Vec<(u32, Mid)> = Vec::new();
            for (ssrc, forwarded) in member.forwarded.iter().filter(|(_, f)| f.mid.is_none()) {
                let kind = match forwarded.kind {
                    Kind::Audio => MediaKind::Audio,
                    Kind::Video => MediaKind::Video,
                };
                let stream = Some(forwarded.info.user_id.to_string());
                let track = Some(forwarded.info.track_id.clone());
                added.push((*ssrc, api.add_media(kind, Direction::SendOnly, stream, track, None)));
            }
            let Some((offer, pending)) = api.apply() else { continue };
            for (ssrc, mid) in added {
                if let Some(forwarded) = member.forwarded.get_mut(&ssrc) {
                    forwarded.mid = Some(mid);
                }
            }
            let offer_id = negotiation.next_offer_id;
            negotiation.next_offer_id += 1;
            negotiation.outstanding = Some((offer_id, pending));
            let mut tracks: Vec<ForwardedTrack> = member.forwarded.values().map(|f| f.info.clone()).collect();
            tracks.sort_by(|a, b| a.track_id.cmp(&b.track_id));
            let sdp = sdp::with_candidates_in_every_section(offer.to_sdp_string());
            offers.push((pc_id, SfuEvent::SubscribeOffer { room, conn: *conn, offer_id, sdp, tracks }));
        }
        for (pc_id, offer) in offers {
            self.emit(offer);
            self.pump(now, pc_id);
        }
    }

    /// Runs `work`; should it panic (inside str0m, on input we did not
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

    fn on_datagram(&mut self, now: Instant, id: PcId, from: SocketAddr, protocol: Protocol, datagram: &[u8]) {
        let Some(pc) = self.pcs.get_mut(&id) else { return };
        if classify(datagram) == PacketClass::Unknown {
            return;
        }
        pc.last_heard = Some(now);
        // The address of the candidate it came in on (the ICE agent pairs by it).
        let local_addr = match protocol {
            Protocol::Udp => self.advertised,
            _ => self.tcp_advertised.unwrap_or(self.advertised),
        };
        let input = match Receive::new(protocol, from, local_addr, datagram) {
            Ok(receive) => Input::Receive(now, receive),
            Err(error) => {
                tracing::trace!(%error, "a datagram was refused");
                return;
            }
        };
        if let Err(error) = pc.rtc.handle_input(input) {
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
                    if let Err(error) = pc.rtc.handle_input(Input::Timeout(now)) {
                        tracing::debug!(%error, "SFU peer connection timer");
                    }
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

    /// Participants whose every connection went quiet, or closed.
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
                let closed = pcs.iter().any(|pc| !pc.rtc.is_alive());
                if quiet || closed {
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
        let Some(member) = media.members.values().find(|m| m.published.iter().any(|t| t.ssrc == ssrc)) else {
            return;
        };
        let Some(pc_id) = member.publish_pc else { return };
        let Some(pc) = self.pcs.get_mut(&pc_id) else { return };
        if let Some(stream) = pc.rtc.direct_api().stream_rx(&ssrc.into()) {
            stream.request_keyframe(KeyframeRequestKind::Pli);
        }
        self.pump(now, pc_id);
    }

    /// Drains a peer connection: datagrams out, then its events (media in,
    /// tracks, keyframe requests, state), until it names its next timer.
    fn pump(&mut self, now: Instant, id: PcId) {
        let mut work = vec![id];
        while let Some(id) = work.pop() {
            let Some(pc) = self.pcs.get_mut(&id) else { continue };
            let (room, owner, leg) = (pc.room, pc.owner, pc.leg);
            let mut events = Vec::new();
            loop {
                match pc.rtc.poll_output() {
                    Ok(RtcOutput::Transmit(transmit)) => {
                        self.outgoing.push((transmit.proto, transmit.destination, transmit.contents));
                    }
                    Ok(RtcOutput::Event(event)) => events.push(event),
                    Ok(RtcOutput::Timeout(at)) => {
                        pc.deadline = Some(at);
                        break;
                    }
                    Err(error) => {
                        tracing::debug!(%error, ?leg, "SFU peer connection failed");
                        pc.deadline = None;
                        break;
                    }
                }
            }
            for event in events {
                work.extend(self.on_peer_event(now, id, room, owner, leg, event));
            }
        }
    }

    /// One event of peer connection `id`; returns the connections it gave work to.
    fn on_peer_event(
        &mut self,
        now: Instant,
        id: PcId,
        room: RoomId,
        owner: ConnId,
        leg: Leg,
        event: Event,
    ) -> Vec<PcId> {
        match event {
            Event::Connected => {
                tracing::debug!(?leg, "SFU peer connection up");
                if let Some(pc) = self.pcs.get_mut(&id) {
                    pc.connected = true;
                }
                // What it receives can be seen from now: start each picture with a keyframe.
                if leg == Leg::Receiving {
                    self.request_keyframes_for(now, room, owner);
                }
            }
            Event::IceConnectionStateChange(state) => {
                tracing::debug!(?leg, ?state, "SFU peer connection ICE")
            }
            Event::RtpPacket(packet) if leg == Leg::Publishing => {
                return self.on_published_rtp(now, id, room, owner, packet);
            }
            Event::MediaChanged(change) if leg == Leg::Publishing && !change.direction.is_receiving() => {
                self.track_closed(now, room, owner, change.mid);
            }
            Event::KeyframeRequest(request) if leg == Leg::Receiving => {
                let ssrc = self
                    .member(room, owner)
                    .and_then(|m| m.forwarded.iter().find(|(_, f)| f.mid == Some(request.mid)))
                    .map(|(ssrc, _)| *ssrc);
                let media = self.rooms.get_mut(&room);
                if let Some(ssrc) =
                    ssrc.filter(|ssrc| media.is_some_and(|m| m.router.request_keyframe(now, *ssrc)))
                {
                    self.send_keyframe_request(now, room, ssrc);
                }
            }
            _ => {}
        }
        Vec::new()
    }

    /// The first packet of a track: it is published, and forwarded to everyone else.
    fn track_opened(&mut self, now: Instant, id: PcId, room: RoomId, owner: ConnId, ssrc: u32) -> Option<()> {
        let pc = self.pcs.get_mut(&id)?;
        let mid = pc.rtc.direct_api().stream_rx(&ssrc.into())?.mid();
        let media = pc.rtc.media(mid)?;
        let kind = match media.kind() {
            MediaKind::Audio => Kind::Audio,
            MediaKind::Video => Kind::Video,
        };
        let track_id = media.track_id().to_owned();
        if self.member(room, owner)?.published.iter().any(|t| t.ssrc == ssrc) {
            return Some(());
        }
        // A second SSRC in the same section (a client that restarted its sender) replaces the first.
        self.track_closed(now, room, owner, mid);
        let room_media = self.rooms.get_mut(&room)?;
        let member = room_media.members.get_mut(&owner)?;
        // As they declared it, else guessed: audio is the microphone, a first video the camera, a later one the screen.
        let source =
            member.declared.iter().find(|t| t.track_id == track_id).map(|t| t.source).unwrap_or_else(
                || match (kind, member.published.iter().any(|t| t.kind == Kind::Video)) {
                    (Kind::Audio, _) => TrackSource::Microphone,
                    (Kind::Video, false) => TrackSource::Camera,
                    (Kind::Video, true) => TrackSource::Screen,
                },
            );
        member.published.push(Published { ssrc, mid, kind, source });
        room_media.router.publish(member.pid, ssrc, kind);
        tracing::debug!(ssrc, ?kind, ?source, "published");
        let subscribers: Vec<ConnId> = room_media.members.keys().copied().filter(|c| *c != owner).collect();
        for subscriber in subscribers {
            self.forward(now, room, owner, ssrc, subscriber);
        }
        self.renegotiate(now, room);
        Some(())
    }

    /// A publisher stopped sending in media section `mid`: its track ends for everyone.
    fn track_closed(&mut self, now: Instant, room: RoomId, owner: ConnId, mid: Mid) {
        let Some(media) = self.rooms.get_mut(&room) else { return };
        let Some(member) = media.members.get_mut(&owner) else { return };
        let closed: Vec<u32> = member.published.iter().filter(|t| t.mid == mid).map(|t| t.ssrc).collect();
        if closed.is_empty() {
            return;
        }
        member.published.retain(|t| t.mid != mid);
        for ssrc in &closed {
            media.router.unpublish(*ssrc);
        }
        self.stop_forwarding(room, |ssrc, _| closed.contains(ssrc));
        self.renegotiate(now, room);
    }

    /// Takes the forwarded tracks `gone` picks out of every subscriber's
    /// receiving connection in `room` (their next offer makes their
    /// sections inactive); the Router has already stopped queueing them
    /// (their track was unpublished, or their publisher removed).
    fn stop_forwarding(&mut self, room: RoomId, gone: impl Fn(&u32, &Forwarded) -> bool) {
        let Some(media) = self.rooms.get_mut(&room) else { return };
        for subscriber in media.members.values_mut() {
            let ssrcs: Vec<u32> =
                subscriber.forwarded.iter().filter(|(s, f)| gone(s, f)).map(|(s, _)| *s).collect();
            for ssrc in ssrcs {
                let Some(forwarded) = subscriber.forwarded.remove(&ssrc) else { continue };
                subscriber.negotiation.retired.extend(forwarded.mid);
                subscriber.negotiation.needed = true;
            }
        }
    }

    /// A packet someone published: through the router to every subscriber's
    /// connection. Returns the connections that now have datagrams to send.
    fn on_published_rtp(
        &mut self,
        now: Instant,
        id: PcId,
        room: RoomId,
        owner: ConnId,
        packet: str0m::rtp::RtpPacket,
    ) -> Vec<PcId> {
        let ssrc = *packet.header.ssrc;
        let known = self.member(room, owner).is_some_and(|m| m.published.iter().any(|t| t.ssrc == ssrc));
        if !known && self.track_opened(now, id, room, owner, ssrc).is_none() {
            return Vec::new();
        }
        let Some(media) = self.rooms.get_mut(&room) else { return Vec::new() };
        let Some(pid) = media.members.get(&owner).map(|m| m.pid) else { return Vec::new() };
        let extensions = &packet.header.ext_vals;
        let audio_level = extensions
            .audio_level
            .map(|level| (level.unsigned_abs().min(127), extensions.voice_activity.unwrap_or(false)));
        let shared = Arc::new(RtpPacket {
            ssrc,
            seq: *packet.seq_no,
            timestamp: packet.header.timestamp,
            marker: packet.header.marker,
            audio_level,
            payload: packet.payload,
        });
        if let Err(error) = media.router.on_rtp(now, pid, shared) {
            tracing::trace!(?error, "a published packet was not forwarded");
            return Vec::new();
        }
        let mut touched = Vec::new();
        for member in media.members.values_mut() {
            let pc = member.subscribe_pc.and_then(|id| self.pcs.get_mut(&id).map(|pc| (id, pc)));
            let Some((pc_id, pc)) = pc.filter(|(_, pc)| pc.connected) else {
                while media.router.next_packet(member.pid).is_some() {}
                continue;
            };
            let mut wrote = false;
            while let Some(packet) = media.router.next_packet(member.pid) {
                let Some(forwarded) = member.forwarded.get_mut(&packet.ssrc) else { continue };
                wrote |= write_forwarded(&mut pc.rtc, forwarded, &packet, now);
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

/// Writes one forwarded packet to its downtrack in a subscriber's
/// connection; `false` when it could not be (not negotiated, or from before
/// the downtrack's first packet).
fn write_forwarded(rtc: &mut Rtc, forwarded: &mut Forwarded, packet: &RtpPacket, now: Instant) -> bool {
    let Some(mid) = forwarded.mid.filter(|_| forwarded.negotiated) else { return false };
    let base = *forwarded.seq_base.get_or_insert(packet.seq & !0xffff);
    let Some(seq) = packet.seq.checked_sub(base) else { return false };
    let (payload_type, nackable) = match forwarded.kind {
        Kind::Audio => (OPUS_PAYLOAD_TYPE, false),
        Kind::Video => (H264_PAYLOAD_TYPE, true),
    };
    let mut extensions = ExtensionValues::default();
    if let Some((level, voice)) = packet.audio_level {
        extensions.audio_level = Some(-i8::try_from(level).unwrap_or(127));
        extensions.voice_activity = Some(voice);
    }
    let write = RtpWrite::new(
        payload_type.into(),
        SeqNo::from(seq),
        packet.timestamp,
        now,
        Arc::clone(&packet.payload),
    )
    .marker(packet.marker)
    .ext_vals(extensions)
    .nackable(nackable);
    let mut api = rtc.direct_api();
    let Some(stream) = api.stream_tx_by_mid(mid, None) else { return false };
    stream.write_rtp(write);
    true
}

#[cfg(test)]
mod tests;

/// The next input from the TCP side; never, without one.
async fn next_tcp_input(inputs: &mut Option<mpsc::Receiver<TcpInput>>) -> Option<TcpInput> {
    match inputs {
        Some(inputs) => inputs.recv().await,
        None => std::future::pending().await,
    }
}

/// A reply channel for a command.
pub type Reply<T> = oneshot::Sender<Result<T, SfuError>>;
