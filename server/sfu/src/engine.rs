//! The SFU without I/O: every peer connection and every room's call of one
//! engine. Inputs are datagrams (UDP, or frames of a TCP connection),
//! commands from the calls service and the time; outputs are datagrams to
//! send ([`Transmit`]), [`Event`]s for the calls service, the replies of
//! commands, and when it next wants the time ([`Engine::next_timeout`]).
//! It never reads a clock or a socket: the server's driver task does, and
//! the tests move a simulated clock (`engine/tests.rs`).
//!
//! Each participant has up to two peer connections ([`Peer`]): a
//! *publishing* one the client offers (its microphone, camera and screen)
//! and a *receiving* one the engine offers (everyone else's tracks,
//! [`Negotiation`]). A published packet goes through its room's [`Router`]
//! to each subscriber's [`Downtrack`], and leaves as that subscriber's
//! connection writes it.
//!
//! `C` is the calls service's name for a participant's connection.

use std::collections::{HashMap, VecDeque};
use std::fmt::Debug;
use std::hash::Hash;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use concord_common::events::{ForwardedTrack, PublishedTrack, TileView, TrackSource};
use concord_common::media::Leg;
use concord_common::{RoomId, UserId};
use str0m::bwe::{Bitrate, BweKind};
use str0m::change::SdpOffer;
use str0m::media::{KeyframeRequestKind, MediaKind, Mid};
use str0m::net::{DatagramSend, Protocol, Receive};
use str0m::{Event as RtcEvent, Input, Output as RtcOutput};

use crate::demux::{classify, Demuxer, PacketClass};
use crate::downtrack::Downtrack;
use crate::negotiation::Offer;
use crate::peer::{new_ufrag, Peer, PeerId};
use crate::receiver::{source_of, Receiver};
use crate::room::{Member, Room};
use crate::router::{Kind, Output, ParticipantId, RtpPacket, VideoQuality};
use crate::{sdp, Error};

/// Packets queued per subscriber before the oldest are dropped (about a
/// second of a 720p camera plus audio from a few people).
const SUBSCRIBER_QUEUE: usize = 1024;
/// How often speaking changes and owed keyframe requests are looked at.
pub const ROUTER_TICK: Duration = Duration::from_millis(50);
/// A participant none of whose connections has sent anything for this long
/// is gone (clients send ICE consent checks every few seconds, and RTCP).
pub const SILENCE_LIMIT: Duration = Duration::from_secs(7);
/// The shortest wait before a connection's timer is handled again.
const MIN_TIMER: Duration = Duration::from_millis(1);
/// Addresses the demultiplexer forgets after this much silence.
const ADDRESS_IDLE: Duration = Duration::from_secs(30);

/// A datagram (UDP) or frame (TCP) to send.
#[derive(Debug)]
pub struct Transmit {
    /// UDP, or the TCP connection from `to`.
    pub protocol: Protocol,
    /// The client's address.
    pub to: SocketAddr,
    /// The bytes.
    pub contents: DatagramSend,
}

/// What the engine tells the calls service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<C> {
    /// Send this offer to `conn` (`call_subscribe_offer`).
    SubscribeOffer {
        /// The room.
        room: RoomId,
        /// The connection.
        conn: C,
        /// Echoed in the answer.
        offer_id: u64,
        /// The offer.
        sdp: String,
        /// Whose each track is.
        tracks: Vec<ForwardedTrack>,
    },
    /// `user` started or stopped speaking.
    Speaking {
        /// The room.
        room: RoomId,
        /// Who.
        user: UserId,
        /// Started or stopped.
        speaking: bool,
    },
    /// Whether anybody else shows `conn`'s `source` video changed: a video
    /// nobody watches (everyone hides it, or nobody else is in the call)
    /// need not be encoded (`call_video_wanted`).
    VideoWanted {
        /// The room.
        room: RoomId,
        /// The publisher's connection.
        conn: C,
        /// Its camera or screen.
        source: TrackSource,
        /// Somebody shows it now.
        wanted: bool,
        /// Of a simulcast video, the RIDs of the layers somebody receives
        /// (empty: every one).
        layers: Vec<String>,
    },
    /// What `conn` receives of `user`'s `source` video changed for its
    /// network: a smaller layer than its tile asks for, none, or all again
    /// (`call_video_quality`).
    VideoQuality {
        /// The room.
        room: RoomId,
        /// The subscriber's connection.
        conn: C,
        /// Whose video.
        user: UserId,
        /// Their camera or screen.
        source: TrackSource,
        /// As the tile asks, reduced, or paused.
        quality: VideoQuality,
        /// The picture size of the layer it gets now, when known.
        size: Option<(u32, u32)>,
        /// The subscriber's bandwidth estimate, bits a second.
        estimate: Option<u64>,
    },
    /// Nothing arrived from `conn`'s connections for [`SILENCE_LIMIT`], or
    /// they failed: the engine dropped it; take it out of the call.
    Lost {
        /// The room.
        room: RoomId,
        /// The connection.
        conn: C,
    },
}

/// How much an engine holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Rooms with someone in the call.
    pub rooms: usize,
    /// Connections in calls.
    pub participants: usize,
    /// Peer connections open.
    pub peer_connections: usize,
}

/// Every call of one engine; see the module documentation.
pub struct Engine<C> {
    /// The address in our UDP candidate (what clients send to).
    advertised: SocketAddr,
    /// The address in our TCP candidate, if there is a TCP port.
    tcp_advertised: Option<SocketAddr>,
    demux: Demuxer<PeerId>,
    peers: HashMap<PeerId, Peer<C>>,
    rooms: HashMap<RoomId, Room<C>>,
    next_peer: PeerId,
    next_participant: ParticipantId,
    next_tick: Instant,
    transmits: Vec<Transmit>,
    events: VecDeque<Event<C>>,
    /// Peer connections forgotten since the driver last asked.
    closed: Vec<PeerId>,
    /// The participant whose input is being handled: the one taken out
    /// should it panic ([`Engine::take_out_after_panic`]).
    handling: Option<(RoomId, C)>,
    /// Receiving connections estimate their bandwidth, and what they are
    /// sent is fitted into it ([`Engine::with_bandwidth_estimation`]).
    bandwidth_estimation: bool,
}

impl<C: Copy + Eq + Hash + Debug> Engine<C> {
    /// An engine whose clients send to `advertised` (UDP) and, when their
    /// UDP is blocked, connect to `tcp_advertised`.
    pub fn new(now: Instant, advertised: SocketAddr, tcp_advertised: Option<SocketAddr>) -> Self {
        Self {
            advertised,
            tcp_advertised,
            demux: Demuxer::new(ADDRESS_IDLE),
            peers: HashMap::new(),
            rooms: HashMap::new(),
            next_peer: 1,
            next_participant: 1,
            next_tick: now + ROUTER_TICK,
            transmits: Vec::new(),
            events: VecDeque::new(),
            closed: Vec::new(),
            handling: None,
            bandwidth_estimation: false,
        }
    }

    /// With `on`, each receiving connection made from now on estimates its
    /// downlink (str0m's GoogCC, from the client's transport-wide feedback)
    /// and its videos are fitted into the estimate once it falls short of
    /// what they take ([`crate::allocator`]); `call_video_quality` tells
    /// the subscriber. Off by default: see docs/BENCHMARKS.md, "Bandwidth
    /// estimation", for what holds it back.
    pub fn with_bandwidth_estimation(mut self, on: bool) -> Self {
        self.bandwidth_estimation = on;
        self
    }

    // ---- Inputs ----

    /// A UDP datagram from `from`, to the connection it belongs to.
    pub fn receive_udp(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.handling = None;
        if let Some(id) = self.demux.route(now, from, datagram) {
            self.receive(now, id, from, Protocol::Udp, datagram);
        }
    }

    /// The peer connection a TCP connection's first frame names (its ICE
    /// username), if it exists.
    pub fn peer_named_by(&self, frame: &[u8]) -> Option<PeerId> {
        self.demux.by_username(frame).filter(|id| self.peers.contains_key(id))
    }

    /// A frame of the TCP connection from `from`, which belongs to `peer`;
    /// `false` when that peer connection is gone (close the TCP connection).
    pub fn receive_tcp(&mut self, now: Instant, peer: PeerId, from: SocketAddr, frame: &[u8]) -> bool {
        self.handling = None;
        if !self.peers.contains_key(&peer) {
            return false;
        }
        self.receive(now, peer, from, Protocol::Tcp, frame);
        true
    }

    /// Runs what is due at `now`: peer connections' timers, and every
    /// [`ROUTER_TICK`] speaking changes, owed keyframe requests and silent
    /// participants.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.handling = None;
        let due: Vec<PeerId> = self
            .peers
            .iter()
            .filter_map(|(id, peer)| peer.deadline.is_some_and(|t| t <= now).then_some(*id))
            .collect();
        for id in due {
            let Some(peer) = self.peers.get_mut(&id) else { continue };
            self.handling = Some((peer.room, peer.owner));
            if let Err(error) = peer.rtc.handle_input(Input::Timeout(now)) {
                tracing::debug!(%error, "SFU peer connection timer");
            }
            self.pump(now, id);
            // A connection that asks for the time it was just given again
            // (str0m's pacer, wanting padding it has no stream to send on)
            // is woken a millisecond later: never a busy loop.
            if let Some(peer) = self.peers.get_mut(&id) {
                if peer.deadline.is_some_and(|t| t <= now) {
                    peer.deadline = Some(now + MIN_TIMER);
                }
            }
        }
        self.handling = None;
        if now >= self.next_tick {
            self.on_tick(now);
            self.next_tick = now + ROUTER_TICK;
        }
    }

    /// When [`Engine::handle_timeout`] is next due.
    pub fn next_timeout(&self) -> Instant {
        self.peers.values().filter_map(|peer| peer.deadline).fold(self.next_tick, Instant::min)
    }

    // ---- Commands ----

    /// `conn` is in `room`'s call as `user`: it receives what others publish.
    pub fn join(&mut self, now: Instant, room: RoomId, conn: C, user: UserId) {
        self.handling = None;
        let media = self.rooms.entry(room).or_default();
        if media.members.contains_key(&conn) {
            return;
        }
        let pid = self.next_participant;
        self.next_participant += 1;
        media.router.add_participant(pid, SUBSCRIBER_QUEUE);
        media.members.insert(conn, Member::new(pid, user));
        // Everything already published is forwarded to the newcomer.
        let published: Vec<(C, u32)> = media
            .members
            .iter()
            .filter(|(c, _)| **c != conn)
            .flat_map(|(c, m)| m.published.iter().map(|t| (*c, t.ssrc)))
            .collect();
        for (publisher, ssrc) in published {
            self.forward(now, room, publisher, ssrc, conn);
        }
        self.renegotiate(now, room);
    }

    /// `conn` left: its connections close and nobody receives its tracks.
    pub fn leave(&mut self, now: Instant, room: RoomId, conn: C) {
        self.handling = None;
        let Some(media) = self.rooms.get_mut(&room) else { return };
        let Some(member) = media.members.remove(&conn) else { return };
        media.router.remove_participant(member.pid);
        for peer in member.peers() {
            self.close_peer(now, peer);
        }
        // Nobody receives their tracks any more.
        self.stop_forwarding(room, |_, downtrack| downtrack.publisher == conn);
        if self.rooms.get(&room).is_some_and(|media| media.members.is_empty()) {
            self.rooms.remove(&room);
        }
        self.renegotiate(now, room);
    }

    /// An offer for `conn`'s publishing connection (what its `tracks`
    /// carry); returns the answer's SDP.
    pub fn publish(
        &mut self,
        now: Instant,
        room: RoomId,
        conn: C,
        offer: &str,
        tracks: Vec<PublishedTrack>,
    ) -> Result<String, Error> {
        self.handling = Some((room, conn));
        let existing = self.member(room, conn).ok_or(Error::NotJoined)?.publish_peer;
        let id = match existing {
            Some(id) => id,
            None => self.new_peer(now, room, conn, Leg::Publishing)?,
        };
        let answer = (|| {
            let offer = SdpOffer::from_sdp_string(offer).map_err(Error::sdp)?;
            let peer = self.peers.get_mut(&id).ok_or(Error::NotJoined)?;
            let answer = peer.rtc.sdp_api().accept_offer(offer).map_err(Error::sdp)?;
            Ok(sdp::with_candidates_in_every_section(answer.to_sdp_string()))
        })();
        if answer.is_err() && existing.is_none() {
            self.close_peer(now, id);
        }
        let answer = answer?;
        let member = self.member_mut(room, conn).ok_or(Error::NotJoined)?;
        member.publish_peer = Some(id);
        member.declared = tracks;
        member.retransmissions.extend(sdp::retransmission_pairs(offer));
        self.pump(now, id);
        self.renegotiate(now, room);
        Ok(answer)
    }

    /// `conn`'s answer to the engine's offer `offer_id`.
    pub fn subscribe_answer(
        &mut self,
        now: Instant,
        room: RoomId,
        conn: C,
        offer_id: u64,
        answer: &str,
    ) -> Result<(), Error> {
        self.handling = Some((room, conn));
        let result = self.apply_answer(now, room, conn, offer_id, answer);
        // What a refused answer's offer added goes in the next one.
        self.renegotiate(now, room);
        result
    }

    /// How `conn` shows the others' videos (`call_view`, replacing the last):
    /// the videos it hides are no longer sent to it, and those it shows
    /// again restart at a keyframe, asked of their publishers now.
    pub fn set_view(&mut self, now: Instant, room: RoomId, conn: C, tiles: &[TileView]) -> Result<(), Error> {
        self.handling = Some((room, conn));
        let media = self.rooms.get_mut(&room).ok_or(Error::NotJoined)?;
        let member = media.members.get_mut(&conn).ok_or(Error::NotJoined)?;
        member.view = tiles.to_vec();
        let mut shown_again = Vec::new();
        for (track, downtrack) in member.downtracks.iter().filter(|(_, d)| d.kind == Kind::Video) {
            media.router.set_tile(member.pid, *track, member.tile_size(&downtrack.info));
            if media.router.set_hidden(member.pid, *track, member.hides(&downtrack.info)) {
                shown_again.push(*track);
            }
        }
        let pid = member.pid;
        self.tell_who_is_watched(room);
        shown_again.sort_unstable();
        for track in shown_again {
            self.ask_keyframe(now, room, pid, track);
        }
        Ok(())
    }

    /// Tells each publisher in `room` whose video became watched (someone
    /// else has it forwarded and does not hide it) or unwatched.
    /// Of a simulcast video, also which of its layers anybody receives:
    /// the layer each viewer's tile asks for, whether or not it arrives now
    /// (a layer its publisher stopped encoding is asked for again).
    fn tell_who_is_watched(&mut self, room: RoomId) {
        let Some(media) = self.rooms.get_mut(&room) else { return };
        let mut changes = Vec::new();
        for (conn, member) in &media.members {
            for track in member.published.iter().filter(|t| t.kind == Kind::Video) {
                let watched = media.members.iter().any(|(other, viewer)| {
                    other != conn
                        && viewer.downtracks.get(&track.ssrc).is_some_and(|d| !viewer.hides(&d.info))
                });
                let wanted_layers = media.router.wanted_layers(track.ssrc).unwrap_or_default();
                let layers: Vec<String> = wanted_layers
                    .iter()
                    .filter(|_| watched)
                    .filter_map(|ssrc| track.layers.iter().find(|(_, layer)| layer == ssrc))
                    .filter_map(|(rid, _)| rid.map(|rid| rid.to_string()))
                    .collect();
                if watched != track.watched || layers != track.watched_layers {
                    changes.push((*conn, track.ssrc, track.source, watched, layers));
                }
            }
        }
        for (conn, ssrc, source, wanted, layers) in changes {
            let member = media.members.get_mut(&conn);
            if let Some(track) = member.and_then(|m| m.published.iter_mut().find(|t| t.ssrc == ssrc)) {
                track.watched = wanted;
                track.watched_layers.clone_from(&layers);
            }
            self.events.push_back(Event::VideoWanted { room, conn, source, wanted, layers });
        }
    }

    /// How much the engine holds.
    pub fn stats(&self) -> Stats {
        Stats {
            rooms: self.rooms.len(),
            participants: self.rooms.values().map(|r| r.members.len()).sum(),
            peer_connections: self.peers.len(),
        }
    }

    /// `conn`'s receiving connection's bandwidth estimate in bits a second,
    /// once its feedback has given one.
    pub fn estimate(&self, room: RoomId, conn: C) -> Option<u64> {
        let media = self.rooms.get(&room)?;
        media.router.estimate(media.members.get(&conn)?.pid)
    }

    /// Closes every connection (the engine is stopping).
    pub fn close_all(&mut self, now: Instant) {
        let ids: Vec<PeerId> = self.peers.keys().copied().collect();
        for id in ids {
            self.close_peer(now, id);
        }
    }

    /// After handling an input panicked (inside str0m, on input we did not
    /// foresee): the participant whose input it was is taken out — their
    /// connections dropped unclosed, as their state is suspect — and
    /// everyone else's calls go on.
    pub fn take_out_after_panic(&mut self, now: Instant) {
        let Some((room, conn)) = self.handling.take() else { return };
        let peers: Vec<PeerId> = self.member(room, conn).map_or_else(Vec::new, |m| m.peers().collect());
        for id in peers {
            self.forget_peer(id);
        }
        self.lose(now, room, conn);
    }

    // ---- Outputs ----

    /// The datagrams to send, in order.
    pub fn drain_transmits(&mut self) -> std::vec::Drain<'_, Transmit> {
        self.transmits.drain(..)
    }

    /// The next event for the calls service.
    pub fn poll_event(&mut self) -> Option<Event<C>> {
        self.events.pop_front()
    }

    /// A peer connection that is gone (its TCP connections can close).
    pub fn poll_closed_peer(&mut self) -> Option<PeerId> {
        self.closed.pop()
    }

    // ---- Peer connections ----

    fn new_peer(&mut self, now: Instant, room: RoomId, owner: C, leg: Leg) -> Result<PeerId, Error> {
        let ufrag = new_ufrag();
        let estimates = self.bandwidth_estimation && leg == Leg::Receiving;
        let addresses = (self.advertised, self.tcp_advertised);
        let peer = Peer::new(now, &ufrag, (room, owner, leg), addresses, estimates)?;
        let id = self.next_peer;
        self.next_peer += 1;
        self.demux.register(&ufrag, id);
        self.peers.insert(id, peer);
        Ok(id)
    }

    /// Closes peer connection `id`, telling the client (DTLS close) where it can.
    fn close_peer(&mut self, now: Instant, id: PeerId) {
        if let Some(peer) = self.peers.get_mut(&id) {
            peer.rtc.disconnect();
        }
        self.pump(now, id);
        self.forget_peer(id);
    }

    /// Nothing reaches peer connection `id` any more: its ICE username and
    /// addresses go (and, through the driver, its TCP connections).
    fn forget_peer(&mut self, id: PeerId) {
        if self.peers.remove(&id).is_some() {
            self.closed.push(id);
        }
        self.demux.unregister(id);
    }

    fn receive(&mut self, now: Instant, id: PeerId, from: SocketAddr, protocol: Protocol, datagram: &[u8]) {
        let Some(peer) = self.peers.get_mut(&id) else { return };
        self.handling = Some((peer.room, peer.owner));
        if classify(datagram) == PacketClass::Unknown {
            return;
        }
        peer.last_heard = Some(now);
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
        if let Err(error) = peer.rtc.handle_input(input) {
            tracing::trace!(%error, "a datagram was refused");
        }
        self.pump(now, id);
    }

    /// Drains a peer connection: datagrams out, then its events (media in,
    /// tracks, keyframe requests, state), until it names its next timer.
    fn pump(&mut self, now: Instant, id: PeerId) {
        let mut work = vec![id];
        while let Some(id) = work.pop() {
            let Some(peer) = self.peers.get_mut(&id) else { continue };
            let (room, owner, leg) = (peer.room, peer.owner, peer.leg);
            let mut events = Vec::new();
            loop {
                match peer.rtc.poll_output() {
                    Ok(RtcOutput::Transmit(transmit)) => self.transmits.push(Transmit {
                        protocol: transmit.proto,
                        to: transmit.destination,
                        contents: transmit.contents,
                    }),
                    Ok(RtcOutput::Event(event)) => events.push(event),
                    Ok(RtcOutput::Timeout(at)) => {
                        peer.deadline = Some(at);
                        break;
                    }
                    Err(error) => {
                        tracing::debug!(%error, ?leg, "SFU peer connection failed");
                        peer.deadline = None;
                        break;
                    }
                }
            }
            for event in events {
                work.extend(self.on_peer_event(now, id, (room, owner, leg), event));
            }
        }
    }

    /// One event of peer connection `id`; returns the connections it gave work to.
    fn on_peer_event(
        &mut self,
        now: Instant,
        id: PeerId,
        whose: (RoomId, C, Leg),
        event: RtcEvent,
    ) -> Vec<PeerId> {
        let (room, owner, leg) = whose;
        match event {
            RtcEvent::Connected => {
                tracing::debug!(?leg, "SFU peer connection up");
                if let Some(peer) = self.peers.get_mut(&id) {
                    peer.connected = true;
                }
                // What it receives can be seen from now: start each picture with a keyframe.
                if leg == Leg::Receiving {
                    self.request_keyframes_for(now, room, owner);
                }
            }
            RtcEvent::IceConnectionStateChange(state) => {
                tracing::debug!(?leg, ?state, "SFU peer connection ICE")
            }
            RtcEvent::RtpPacket(packet) if leg == Leg::Publishing => {
                return self.on_published_rtp(now, id, room, owner, packet);
            }
            RtcEvent::MediaChanged(change) if leg == Leg::Publishing && !change.direction.is_receiving() => {
                self.track_closed(now, room, owner, change.mid);
            }
            RtcEvent::EgressBitrateEstimate(BweKind::Twcc { estimate, .. }) if leg == Leg::Receiving => {
                if let Some(media) = self.rooms.get_mut(&room) {
                    if let Some(member) = media.members.get(&owner) {
                        tracing::trace!(%estimate, "receiving connection's estimate");
                        media.router.set_estimate(now, member.pid, estimate.as_u64());
                    }
                }
            }
            RtcEvent::KeyframeRequest(request) if leg == Leg::Receiving => {
                let asked = self.member(room, owner).and_then(|m| {
                    let (track, _) = m.downtracks.iter().find(|(_, d)| d.mid == Some(request.mid))?;
                    Some((m.pid, *track))
                });
                if let Some((pid, track)) = asked {
                    self.ask_keyframe(now, room, pid, track);
                }
            }
            _ => {}
        }
        Vec::new()
    }

    // ---- Tracks ----

    /// A packet someone published: through the router to every subscriber's
    /// connection. Returns the connections that now have datagrams to send.
    fn on_published_rtp(
        &mut self,
        now: Instant,
        id: PeerId,
        room: RoomId,
        owner: C,
        packet: str0m::rtp::RtpPacket,
    ) -> Vec<PeerId> {
        let ssrc = *packet.header.ssrc;
        // Looked up once per packet; a track's first packet publishes it first.
        let mut track = self.published_track(room, owner, ssrc);
        if track.is_none() && self.track_opened(now, id, room, owner, ssrc).is_some() {
            track = self.published_track(room, owner, ssrc);
        }
        let Some((pid, kind)) = track else { return Vec::new() };
        let Some(media) = self.rooms.get_mut(&room) else { return Vec::new() };
        let extensions = &packet.header.ext_vals;
        let audio_level = extensions
            .audio_level
            .map(|level| (level.unsigned_abs().min(127), extensions.voice_activity.unwrap_or(false)));
        let shared = Arc::new(RtpPacket {
            ssrc,
            seq: *packet.seq_no,
            timestamp: packet.header.timestamp,
            marker: packet.header.marker,
            keyframe: kind == Kind::Video && crate::h264::starts_keyframe(&packet.payload),
            audio_level,
            payload: packet.payload,
        });
        if let Err(error) = media.router.on_rtp(now, pid, shared) {
            tracing::trace!(?error, "a published packet was not forwarded");
            return Vec::new();
        }
        let mut touched = Vec::new();
        for member in media.members.values_mut() {
            let peer = member.receive_peer.and_then(|id| self.peers.get_mut(&id).map(|peer| (id, peer)));
            let Some((peer_id, peer)) = peer.filter(|(_, peer)| peer.connected) else {
                while media.router.next_packet(member.pid).is_some() {}
                continue;
            };
            let mut wrote = false;
            while let Some(forwarded) = media.router.next_forwarded(member.pid) {
                let Some(downtrack) = member.downtracks.get_mut(&forwarded.track) else { continue };
                wrote |= downtrack.write(&mut peer.rtc, &forwarded.packet, forwarded.after_gap, now);
            }
            if wrote {
                touched.push(peer_id);
            }
        }
        touched
    }

    /// `owner`'s published stream `ssrc` (a track's, or a layer of one): its
    /// publisher's id in the Router, and its kind.
    fn published_track(&self, room: RoomId, owner: C, ssrc: u32) -> Option<(ParticipantId, Kind)> {
        let member = self.member(room, owner)?;
        member.published.iter().find(|t| t.sends_on(ssrc)).map(|t| (member.pid, t.kind))
    }

    /// The first packet of a stream: a new simulcast layer of a track
    /// published in its section joins that track; else the track is
    /// published, and forwarded to everyone else.
    fn track_opened(&mut self, now: Instant, id: PeerId, room: RoomId, owner: C, ssrc: u32) -> Option<()> {
        let retransmission = self.member(room, owner)?.retransmissions.get(&ssrc).copied();
        let peer = self.peers.get_mut(&id)?;
        let stream = peer.rtc.direct_api().stream_rx(&ssrc.into()).map(|s| (s.mid(), s.rid()));
        let (mid, rid) = stream?;
        let media = peer.rtc.media(mid)?;
        let kind = match media.kind() {
            MediaKind::Audio => Kind::Audio,
            MediaKind::Video => Kind::Video,
        };
        let track_id = media.track_id().to_owned();
        // A simulcast layer's retransmissions come on the RTX SSRC the
        // offer paired with it (its section exists: checked just above).
        if let Some(rtx) = retransmission.filter(|_| rid.is_some()) {
            peer.rtc.direct_api().expect_stream_rx(ssrc.into(), Some(rtx.into()), mid, rid);
        }
        let room_media = self.rooms.get_mut(&room)?;
        let member = room_media.members.get_mut(&owner)?;
        if member.published.iter().any(|t| t.sends_on(ssrc)) {
            return Some(());
        }
        let same_section = member.published.iter_mut().find(|t| t.mid == mid);
        if let Some(track) = same_section.filter(|t| rid.is_some() && t.layers.iter().all(|(r, _)| *r != rid))
        {
            track.layers.push((rid, ssrc));
            room_media.router.add_layer(track.ssrc, ssrc);
            tracing::debug!(ssrc, ?rid, track = track.ssrc, "simulcast layer");
            return Some(());
        }
        // A second SSRC for a stream of the same section (a client that
        // restarted its sender) replaces the track.
        self.track_closed(now, room, owner, mid);
        let room_media = self.rooms.get_mut(&room)?;
        let member = room_media.members.get_mut(&owner)?;
        let source = source_of(&member.declared, &member.published, &track_id, kind);
        let layers = vec![(rid, ssrc)];
        let watched_layers = Vec::new();
        member.published.push(Receiver { ssrc, layers, mid, kind, source, watched: true, watched_layers });
        room_media.router.publish(member.pid, ssrc, kind);
        if source == TrackSource::Screen {
            room_media.router.set_screen(ssrc);
        }
        if rid.is_some() {
            room_media.router.set_simulcast(ssrc);
        }
        tracing::debug!(ssrc, ?kind, ?source, "published");
        let subscribers: Vec<C> = room_media.members.keys().copied().filter(|c| *c != owner).collect();
        for subscriber in subscribers {
            self.forward(now, room, owner, ssrc, subscriber);
        }
        self.renegotiate(now, room);
        Some(())
    }

    /// A publisher stopped sending in media section `mid`: its track ends for everyone.
    fn track_closed(&mut self, now: Instant, room: RoomId, owner: C, mid: Mid) {
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

    /// Adds `publisher`'s track `ssrc` to `subscriber`'s receiving
    /// connection (in its next offer).
    fn forward(&mut self, now: Instant, room: RoomId, publisher: C, ssrc: u32, subscriber: C) {
        let Some(media) = self.rooms.get(&room) else { return };
        let Some(from) = media.members.get(&publisher) else { return };
        let Some(track) = from.published.iter().find(|t| t.ssrc == ssrc) else { return };
        let (kind, source, user) = (track.kind, track.source, from.user);
        let Some(to) = media.members.get(&subscriber) else { return };
        if to.downtracks.contains_key(&ssrc) {
            return;
        }
        let peer_id = match to.receive_peer {
            Some(id) => id,
            None => match self.new_peer(now, room, subscriber, Leg::Receiving) {
                Ok(id) => id,
                Err(error) => {
                    tracing::warn!(%error, "could not make a receiving connection");
                    return;
                }
            },
        };
        let Some(to) = self.member_mut(room, subscriber) else { return };
        to.receive_peer = Some(peer_id);
        let track_id = format!("{user}-{}-{ssrc}", source.as_str());
        let info = ForwardedTrack { track_id, user_id: user, source };
        to.downtracks.insert(ssrc, Downtrack::new(publisher, kind, info));
        to.negotiation.track_added();
    }

    /// Takes the downtracks `gone` picks out of every subscriber's
    /// receiving connection in `room` (their next offer makes their
    /// sections inactive); the Router has already stopped queueing them
    /// (their track was unpublished, or their publisher removed).
    fn stop_forwarding(&mut self, room: RoomId, gone: impl Fn(&u32, &Downtrack<C>) -> bool) {
        let Some(media) = self.rooms.get_mut(&room) else { return };
        for subscriber in media.members.values_mut() {
            let ssrcs: Vec<u32> =
                subscriber.downtracks.iter().filter(|(s, d)| gone(s, d)).map(|(s, _)| *s).collect();
            for ssrc in ssrcs {
                if let Some(downtrack) = subscriber.downtracks.remove(&ssrc) {
                    subscriber.negotiation.track_removed(downtrack.mid);
                }
            }
        }
    }

    // ---- Negotiation ----

    /// Sends a new offer to every member of `room` whose tracks changed and
    /// who is not still answering the previous one.
    fn renegotiate(&mut self, now: Instant, room: RoomId) {
        self.tell_who_is_watched(room);
        let Some(media) = self.rooms.get_mut(&room) else { return };
        let mut offered = Vec::new();
        for (conn, member) in &mut media.members {
            let Some(peer_id) = member.receive_peer else { continue };
            let Some(peer) = self.peers.get_mut(&peer_id) else { continue };
            if let Some(Offer { offer_id, sdp, tracks }) =
                member.negotiation.next_offer(&mut peer.rtc, &mut member.downtracks)
            {
                self.events.push_back(Event::SubscribeOffer { room, conn: *conn, offer_id, sdp, tracks });
                offered.push(peer_id);
            }
        }
        for peer_id in offered {
            self.pump(now, peer_id);
        }
    }

    fn apply_answer(
        &mut self,
        now: Instant,
        room: RoomId,
        conn: C,
        offer_id: u64,
        answer: &str,
    ) -> Result<(), Error> {
        let media = self.rooms.get_mut(&room).ok_or(Error::NotJoined)?;
        let member = media.members.get_mut(&conn).ok_or(Error::NotJoined)?;
        let id = member.receive_peer.ok_or(Error::StaleOffer(offer_id))?;
        let peer = self.peers.get_mut(&id).ok_or(Error::NotJoined)?;
        let connected = peer.connected;
        let accepted =
            member.negotiation.accept_answer(&mut peer.rtc, &mut member.downtracks, offer_id, answer)?;
        for track in accepted {
            media.router.subscribe(member.pid, track);
            if let Some(downtrack) = member.downtracks.get(&track).filter(|d| d.kind == Kind::Video) {
                media.router.set_tile(member.pid, track, member.tile_size(&downtrack.info));
                media.router.set_hidden(member.pid, track, member.hides(&downtrack.info));
            }
        }
        // Tracks this answer added start with a keyframe, not at the
        // publisher's next one (a connection still coming up asks once it is up).
        if connected {
            self.request_keyframes_for(now, room, conn);
        }
        self.pump(now, id);
        Ok(())
    }

    // ---- Keyframes, speaking, silence ----

    /// Asks, through each track's throttle, the publishers of every video
    /// track forwarded to `subscriber` for a keyframe: a picture starts as
    /// soon as its connection can carry it.
    fn request_keyframes_for(&mut self, now: Instant, room: RoomId, subscriber: C) {
        let Some(member) = self.member(room, subscriber) else { return };
        let pid = member.pid;
        let mut tracks: Vec<u32> = member.downtracks.keys().copied().collect();
        tracks.sort_unstable();
        for track in tracks {
            self.ask_keyframe(now, room, pid, track);
        }
    }

    /// Asks, through the throttle of the layer participant `pid` gets of
    /// `track`, that track's publisher for a keyframe.
    fn ask_keyframe(&mut self, now: Instant, room: RoomId, pid: ParticipantId, track: u32) {
        let layer = self.rooms.get_mut(&room).and_then(|m| m.router.request_keyframe(now, pid, track));
        if let Some(ssrc) = layer {
            self.send_keyframe_request(now, room, ssrc);
        }
    }

    /// Relays a keyframe request for stream `ssrc` (a track's, or a layer of one) to its publisher.
    fn send_keyframe_request(&mut self, now: Instant, room: RoomId, ssrc: u32) {
        let Some(media) = self.rooms.get(&room) else { return };
        let Some(peer_id) = media.publisher_of(ssrc).and_then(|m| m.publish_peer) else { return };
        let Some(peer) = self.peers.get_mut(&peer_id) else { return };
        if let Some(stream) = peer.rtc.direct_api().stream_rx(&ssrc.into()) {
            tracing::debug!(ssrc, "keyframe asked of the publisher");
            stream.request_keyframe(KeyframeRequestKind::Pli);
        }
        self.pump(now, peer_id);
    }

    fn on_tick(&mut self, now: Instant) {
        self.demux.expire(now);
        let rooms: Vec<RoomId> = self.rooms.keys().copied().collect();
        for room in rooms {
            // (The layers a simulcast video's viewers want follow their tiles and the layers' sizes.)
            self.tell_who_is_watched(room);
            let Some(media) = self.rooms.get_mut(&room) else { continue };
            for output in media.router.poll(now) {
                match output {
                    Output::KeyframeRequest { ssrc, .. } => self.send_keyframe_request(now, room, ssrc),
                    Output::Speaking { participant, speaking } => {
                        let user =
                            self.rooms[&room].members.values().find(|m| m.pid == participant).map(|m| m.user);
                        if let Some(user) = user {
                            self.events.push_back(Event::Speaking { room, user, speaking });
                        }
                    }
                    Output::Quality { subscriber, track, quality, size } => {
                        let member = self.rooms[&room].members.iter().find(|(_, m)| m.pid == subscriber);
                        let Some((conn, member)) = member else { continue };
                        let Some(downtrack) = member.downtracks.get(&track) else { continue };
                        let (user, source) = (downtrack.info.user_id, downtrack.info.source);
                        let estimate = self.rooms[&room].router.estimate(subscriber);
                        tracing::debug!(?quality, ?size, ?estimate, %user, ?source, "video fitted to a subscriber");
                        let event =
                            Event::VideoQuality { room, conn: *conn, user, source, quality, size, estimate };
                        self.events.push_back(event);
                    }
                }
            }
            self.probe_for_what_is_wanted(now, room);
        }
        self.find_silent(now);
    }

    /// Tells each receiving connection in `room` how much its subscriber
    /// would receive with bandwidth to spare (it probes for that much) and,
    /// while some video it shows is sent smaller than its tile asks for,
    /// keeps that much up (padding where media falls short), telling it
    /// again when either changed by a tenth or more: a
    /// lowered or paused video comes back once the link carries it. A
    /// connection whose link was never found short, and whose estimate sank
    /// below that while little was sent (a hidden video, only voice),
    /// starts estimating again from it: str0m paces at 1.1 times the
    /// estimate, which would hold back the video wanted again.
    fn probe_for_what_is_wanted(&mut self, now: Instant, room: RoomId) {
        let Some(media) = self.rooms.get_mut(&room) else { return };
        let mut probing = Vec::new();
        for member in media.members.values_mut() {
            let Some(peer_id) = member.receive_peer else { continue };
            let wanted = media.router.wanted_bitrate(now, member.pid) * 5 / 4;
            let floor = if media.router.short_of_tiles(member.pid) { wanted } else { 0 };
            let (told_floor, told_wanted) = member.probing_for;
            let changed = |told: u64, now: u64| told.abs_diff(now) * 10 >= told.max(1);
            if !changed(told_floor, floor) && !changed(told_wanted, wanted) {
                continue;
            }
            let Some(peer) = self.peers.get_mut(&peer_id) else { continue };
            member.probing_for = (floor, wanted);
            let estimate = media.router.estimate(member.pid);
            let sunk = estimate.is_some_and(|estimate| estimate < wanted);
            if sunk && !media.router.congested(member.pid) {
                tracing::debug!(?estimate, wanted, "estimate sank while little was sent: starting again");
                peer.rtc.bwe().reset(Bitrate::from(wanted));
            }
            peer.rtc.bwe().set_bitrate(Bitrate::from(floor), Bitrate::from(wanted));
            probing.push(peer_id);
        }
        for peer_id in probing {
            self.pump(now, peer_id);
        }
    }

    /// Participants whose every connection went quiet, or closed.
    fn find_silent(&mut self, now: Instant) {
        let mut lost = Vec::new();
        for (room, media) in &self.rooms {
            for (conn, member) in &media.members {
                let peers: Vec<&Peer<C>> = member.peers().filter_map(|id| self.peers.get(&id)).collect();
                if peers.is_empty() {
                    continue;
                }
                let quiet = peers
                    .iter()
                    .all(|peer| now.saturating_duration_since(peer.heard_since()) > SILENCE_LIMIT);
                let closed = peers.iter().any(|peer| !peer.rtc.is_alive());
                if quiet || closed {
                    // Why, for whoever reads the log after a call dropped someone.
                    let heard_ms: Vec<u128> = peers
                        .iter()
                        .map(|peer| now.saturating_duration_since(peer.heard_since()).as_millis())
                        .collect();
                    tracing::info!(
                        room = room.0,
                        quiet,
                        closed,
                        ?heard_ms,
                        "a participant's media is gone; out of the call"
                    );
                    lost.push((*room, *conn));
                }
            }
        }
        for (room, conn) in lost {
            self.lose(now, room, conn);
        }
    }

    fn lose(&mut self, now: Instant, room: RoomId, conn: C) {
        self.events.push_back(Event::Lost { room, conn });
        self.leave(now, room, conn);
    }

    fn member(&self, room: RoomId, conn: C) -> Option<&Member<C>> {
        self.rooms.get(&room)?.members.get(&conn)
    }

    fn member_mut(&mut self, room: RoomId, conn: C) -> Option<&mut Member<C>> {
        self.rooms.get_mut(&room)?.members.get_mut(&conn)
    }
}

#[cfg(test)]
mod tests;
