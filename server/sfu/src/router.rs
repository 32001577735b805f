//! One room's forwarding: every packet a participant publishes is queued to
//! every other participant that negotiated its track and shows it (the
//! copies share the one packet: no allocation or copy per subscriber); of
//! a simulcast video, each subscriber gets one layer — the smallest that
//! fills the tile it draws, else the largest — switched at a keyframe of
//! the new layer; once the subscriber's bandwidth estimate is known, the
//! [`allocator`](crate::allocator) may lower a layer or pause a video to
//! fit it; a video shown again after being hidden or paused restarts at
//! its next keyframe; keyframe requests go back to the publisher throttled
//! per layer; audio levels decide who is speaking. The transport feeds
//! [`Router::on_rtp`] and [`Router::request_keyframe`], drains
//! [`Router::next_forwarded`] per subscriber, and calls [`Router::poll`]
//! on its timer.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use concord_common::events::VideoQuality;

use crate::allocator::{allocate, LayerCost, Priority, RateMeter, VideoDemand};
use crate::keyframe::KeyframeThrottle;
use crate::queue::SubscriberQueue;
use crate::speaking::SpeakingDetector;

/// A participant, as the room numbers them.
pub type ParticipantId = u64;

/// A published track, as the room names it: the SSRC of its first layer.
pub type TrackId = u32;

/// Keyframe requests per published video layer: at most one per this
/// while the publisher's keyframes arrive (a picture lost to the network
/// comes back within about half a second; a publisher sends at most two
/// keyframes a second per layer however many subscribers ask)...
pub const KEYFRAME_INTERVAL: Duration = Duration::from_millis(500);
/// ...and a request its keyframe has not begun to answer after this is
/// repeated (it or the keyframe was lost). A keyframe answers within the
/// round trip, one frame interval and its encoding: under 400 ms on any
/// link a call works on, at 5 fps and up.
pub const KEYFRAME_RETRY: Duration = Duration::from_millis(400);
/// A simulcast layer nothing arrived on for this long, while another layer
/// of its track did, is not chosen (its publisher stopped encoding it).
pub const LAYER_SILENCE: Duration = Duration::from_secs(1);

/// What a published track carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Opus.
    Audio,
    /// H.264 (camera or screen).
    Video,
}

/// A published RTP packet as the transport parsed it (SRTP removed): what
/// every subscriber's copy is written from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacket {
    /// The publisher's SSRC: which track it belongs to.
    pub ssrc: u32,
    /// The sequence number, extended past its 16 bits (it never wraps).
    pub seq: u64,
    /// The RTP timestamp.
    pub timestamp: u32,
    /// The marker bit (the last packet of a video frame).
    pub marker: bool,
    /// It starts a video keyframe ([`crate::h264::starts_keyframe`]).
    pub keyframe: bool,
    /// RFC 6464, when the sender attached it: the level in -dBov (0
    /// loudest, 127 silence) and the voice flag.
    pub audio_level: Option<(u8, bool)>,
    /// The payload, shared by every copy.
    pub payload: Arc<[u8]>,
}

/// Why a published packet was not forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardError {
    /// From an SSRC this participant has not published.
    UnknownTrack(u32),
}

/// What the transport must do, from [`Router::poll`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Send a keyframe request (PLI) for this published track to its publisher.
    KeyframeRequest {
        /// The publisher.
        publisher: ParticipantId,
        /// The track's SSRC.
        ssrc: u32,
    },
    /// Tell the room this participant started or stopped speaking.
    Speaking {
        /// Who.
        participant: ParticipantId,
        /// Started (`true`) or stopped.
        speaking: bool,
    },
    /// What `subscriber` gets of video track `track` changed for its
    /// network (tell it: its tile says so).
    Quality {
        /// Who receives it.
        subscriber: ParticipantId,
        /// The video.
        track: TrackId,
        /// As its tile asks, smaller, or none.
        quality: VideoQuality,
        /// The picture size of the layer it gets, when known.
        size: Option<(u32, u32)>,
    },
}

/// One stream of a published track: its only one, or a simulcast layer.
#[derive(Debug)]
struct Layer {
    ssrc: u32,
    /// The picture size its latest keyframe declared.
    size: Option<(u32, u32)>,
    last_packet: Option<Instant>,
    keyframes: KeyframeThrottle,
    rate: RateMeter,
}

impl Layer {
    fn new(ssrc: u32) -> Self {
        Self {
            ssrc,
            size: None,
            last_packet: None,
            keyframes: KeyframeThrottle::new(KEYFRAME_INTERVAL, KEYFRAME_RETRY),
            rate: RateMeter::new(),
        }
    }
}

#[derive(Debug)]
struct Track {
    publisher: ParticipantId,
    kind: Kind,
    /// Sent in simulcast layers (known from its first one's RID, before the others arrive).
    simulcast: bool,
    /// A shared screen (first when bandwidth is short).
    screen: bool,
    layers: Vec<Layer>,
}

impl Track {
    fn layer(&self, ssrc: u32) -> Option<&Layer> {
        self.layers.iter().find(|l| l.ssrc == ssrc)
    }

    fn layer_mut(&mut self, ssrc: u32) -> Option<&mut Layer> {
        self.layers.iter_mut().find(|l| l.ssrc == ssrc)
    }

    /// The layer for a tile of `tile` pixels (none given: as large as
    /// possible): of the layers still arriving whose size is known, the
    /// smallest at least as wide and as high as the tile, else the
    /// largest. `None` while no layer's size is known (a track of one
    /// layer: always that one).
    fn layer_for(&self, tile: Option<(u32, u32)>) -> Option<u32> {
        self.best_layer(tile, true)
    }

    /// Whether packets of `layer` still arrive: its latest came at most
    /// [`LAYER_SILENCE`] before the latest of any layer of the track.
    fn arriving(&self, layer: &Layer) -> bool {
        let newest = self.layers.iter().filter_map(|l| l.last_packet).max();
        layer
            .last_packet
            .zip(newest)
            .is_some_and(|(at, newest)| newest.saturating_duration_since(at) <= LAYER_SILENCE)
    }

    /// As [`Track::layer_for`], of every layer whose size is known, arriving
    /// or not (`live`: only those arriving).
    fn best_layer(&self, tile: Option<(u32, u32)>, live: bool) -> Option<u32> {
        if let ([only], false) = (self.layers.as_slice(), self.simulcast) {
            return Some(only.ssrc);
        }
        let arriving = |l: &&Layer| self.arriving(l);
        // Chosen once every layer arriving has been sized (a subscriber
        // starts on the layer it should have, not the first one seen).
        if live && self.layers.iter().filter(arriving).any(|l| l.size.is_none()) {
            return None;
        }
        let mut candidates: Vec<(u32, (u32, u32))> = self
            .layers
            .iter()
            .filter(|l| !live || arriving(l))
            .filter_map(|l| Some((l.ssrc, l.size?)))
            .collect();
        candidates.sort_by_key(|(_, (width, height))| u64::from(*width) * u64::from(*height));
        let largest = candidates.last()?.0;
        let Some((tile_width, tile_height)) = tile else { return Some(largest) };
        let fills = candidates.iter().find(|(_, (w, h))| *w >= tile_width && *h >= tile_height);
        Some(fills.map_or(largest, |(ssrc, _)| *ssrc))
    }

    /// The layers the allocator may choose from for a tile whose best is
    /// `ideal`: those arriving and sized up to it, smallest first, each
    /// with its bitrate at `now` (a track of one layer: that one).
    fn layer_costs(&self, now: Instant, ideal: u32) -> Vec<LayerCost> {
        let cost = |l: &Layer| LayerCost { ssrc: l.ssrc, bitrate: l.rate.bitrate(now) };
        if !self.simulcast {
            return self.layers.iter().filter(|l| l.ssrc == ideal).map(cost).collect();
        }
        let pixels = |l: &Layer| l.size.map(|(width, height)| u64::from(width) * u64::from(height));
        let Some(limit) = self.layer(ideal).and_then(pixels) else {
            return Vec::new();
        };
        let mut layers: Vec<&Layer> = self
            .layers
            .iter()
            .filter(|l| self.arriving(l) && pixels(l).is_some_and(|p| p <= limit))
            .collect();
        layers.sort_by_key(|l| (pixels(l), l.ssrc));
        layers.into_iter().map(cost).collect()
    }

    /// The picture size of layer `ssrc`, when known.
    fn size_of(&self, ssrc: u32) -> Option<(u32, u32)> {
        self.layer(ssrc)?.size
    }
}

/// Which layer of a track one subscriber gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Selection {
    /// The layer forwarded now; `None` while waiting for a keyframe of
    /// `target` (the video was shown again).
    current: Option<u32>,
    /// The layer wanted: forwarded from its next keyframe on.
    target: Option<u32>,
    /// The size of the tile the subscriber draws it in, if it said.
    tile: Option<(u32, u32)>,
    /// What was last reported of it ([`Output::Quality`]): how, and which layer.
    reported: Option<(VideoQuality, Option<u32>)>,
}

impl Selection {
    /// The layer a keyframe is wanted of: the one switched to, else the one sent.
    fn keyframe_layer(&self) -> Option<u32> {
        self.target.or(self.current)
    }
}

/// A packet queued for one subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarded {
    /// The track it belongs to (its layer is `packet.ssrc`).
    pub track: TrackId,
    /// The packet, shared by every copy.
    pub packet: Arc<RtpPacket>,
    /// The first of its track after packets this subscriber was not sent on
    /// purpose (a hidden video, another layer): its numbering and timing go
    /// on from the last one sent.
    pub after_gap: bool,
}

#[derive(Debug)]
struct Participant {
    /// The published tracks this participant's receiving connection has
    /// negotiated, and the layer of each it gets.
    subscribed: HashMap<TrackId, Selection>,
    /// Negotiated video tracks this participant does not show: none of it is sent.
    hidden: HashSet<TrackId>,
    queue: SubscriberQueue<Forwarded>,
    speaking: SpeakingDetector,
    /// Its receiving connection's bandwidth estimate in bits a second,
    /// once known: what the videos it gets are fitted into.
    estimate: Option<u64>,
    /// The estimate has fallen (its estimator saw the link congested): from
    /// then on what it gets is fitted into the estimate. Until then it gets
    /// what its tiles ask for, while its estimate climbs from a guess.
    congested: bool,
}

/// One room's forwarding state.
#[derive(Debug, Default)]
pub struct Router {
    participants: HashMap<ParticipantId, Participant>,
    tracks: HashMap<TrackId, Track>,
    /// Every layer's SSRC, to its track.
    layer_of: HashMap<u32, TrackId>,
}

impl Router {
    /// An empty room.
    pub fn new() -> Self {
        Self::default()
    }

    /// Someone joins: their queue holds `queue_capacity` packets.
    pub fn add_participant(&mut self, id: ParticipantId, queue_capacity: usize) {
        let participant = Participant {
            subscribed: HashMap::new(),
            hidden: HashSet::new(),
            queue: SubscriberQueue::new(queue_capacity),
            speaking: SpeakingDetector::new(),
            estimate: None,
            congested: false,
        };
        self.participants.insert(id, participant);
    }

    /// Someone leaves: their tracks and their queue go; nobody forwards to them.
    pub fn remove_participant(&mut self, id: ParticipantId) {
        self.participants.remove(&id);
        let gone: Vec<TrackId> =
            self.tracks.iter().filter(|(_, t)| t.publisher == id).map(|(track, _)| *track).collect();
        for track in gone {
            self.unpublish(track);
        }
    }

    /// `publisher` sends a track with `ssrc` (its id from now on).
    pub fn publish(&mut self, publisher: ParticipantId, ssrc: u32, kind: Kind) {
        let track =
            Track { publisher, kind, simulcast: false, screen: false, layers: vec![Layer::new(ssrc)] };
        self.tracks.insert(ssrc, track);
        self.layer_of.insert(ssrc, ssrc);
    }

    /// Track `track` is sent in simulcast layers (its first one has a RID):
    /// each subscriber waits for the layer it should have.
    pub fn set_simulcast(&mut self, track: TrackId) {
        if let Some(published) = self.tracks.get_mut(&track) {
            published.simulcast = true;
        }
    }

    /// Video track `track` is a shared screen: when bandwidth is short it
    /// goes before cameras.
    pub fn set_screen(&mut self, track: TrackId) {
        if let Some(published) = self.tracks.get_mut(&track) {
            published.screen = true;
        }
    }

    /// `subscriber`'s receiving connection estimates it can carry
    /// `bitrate` bits a second at `now`: from the next [`Router::poll`] on,
    /// its videos are fitted into that — once an estimate has fallen to
    /// under nine tenths of what it is being sent (the link was found short;
    /// until then the estimate is the estimator's guess, climbing, and an
    /// estimate that sinks while little is sent says nothing of the link).
    pub fn set_estimate(&mut self, now: Instant, subscriber: ParticipantId, bitrate: u64) {
        let sending = self.sending_bitrate(now, subscriber);
        if let Some(participant) = self.participants.get_mut(&subscriber) {
            let fell = participant.estimate.is_some_and(|before| bitrate < before);
            if fell && bitrate * 10 < sending * 9 {
                participant.congested = true;
            }
            participant.estimate = Some(bitrate);
        }
    }

    /// Whether `subscriber`'s estimate has fallen short of what it was sent
    /// (from then on its videos are fitted into the estimate).
    pub fn congested(&self, subscriber: ParticipantId) -> bool {
        self.participants.get(&subscriber).is_some_and(|p| p.congested)
    }

    /// What `subscriber` is sent now, in bits a second: the layers it gets
    /// of the videos it shows, and the audio.
    fn sending_bitrate(&self, now: Instant, subscriber: ParticipantId) -> u64 {
        let Some(participant) = self.participants.get(&subscriber) else { return 0 };
        subscribed_bitrate(now, participant, &self.tracks, |_, selection| selection.current)
    }

    /// Whether `subscriber` gets some video it shows smaller than its tile
    /// asks for, or none of it, for its bandwidth (as last reported).
    pub fn short_of_tiles(&self, subscriber: ParticipantId) -> bool {
        let Some(participant) = self.participants.get(&subscriber) else { return false };
        participant.subscribed.iter().any(|(track, selection)| {
            !participant.hidden.contains(track)
                && selection.reported.is_some_and(|(quality, _)| quality != VideoQuality::Full)
        })
    }

    /// `subscriber`'s receiving connection's bandwidth estimate in bits a
    /// second, once known.
    pub fn estimate(&self, subscriber: ParticipantId) -> Option<u64> {
        self.participants.get(&subscriber)?.estimate
    }

    /// What `subscriber` would receive with bandwidth to spare, in bits a
    /// second: the audio and the video layers its tiles ask for (its
    /// connection probes for this much).
    pub fn wanted_bitrate(&self, now: Instant, subscriber: ParticipantId) -> u64 {
        let Some(participant) = self.participants.get(&subscriber) else { return 0 };
        subscribed_bitrate(now, participant, &self.tracks, |track, selection| track.layer_for(selection.tile))
    }

    /// Another simulcast layer of `track` arrives with `ssrc`.
    pub fn add_layer(&mut self, track: TrackId, ssrc: u32) {
        let Some(published) = self.tracks.get_mut(&track) else { return };
        published.simulcast = true;
        if published.layer_mut(ssrc).is_none() {
            published.layers.push(Layer::new(ssrc));
            self.layer_of.insert(ssrc, track);
        }
    }

    /// Track `track` ended: nobody receives it any more.
    pub fn unpublish(&mut self, track: TrackId) {
        if let Some(ended) = self.tracks.remove(&track) {
            for layer in ended.layers {
                self.layer_of.remove(&layer.ssrc);
            }
        }
        for participant in self.participants.values_mut() {
            participant.subscribed.remove(&track);
            participant.hidden.remove(&track);
        }
    }

    /// Of simulcast track `track`, the layers its viewers' tiles ask for
    /// (arriving now or not), smallest first; `None` when it is not
    /// simulcast, or a layer's size is not known yet (every layer is wanted).
    pub fn wanted_layers(&self, track: TrackId) -> Option<Vec<u32>> {
        let published = self.tracks.get(&track).filter(|t| t.layers.len() > 1)?;
        if published.layers.iter().any(|l| l.size.is_none()) {
            return None;
        }
        let mut wanted: Vec<u32> = self
            .participants
            .iter()
            .filter(|(id, p)| **id != published.publisher && !p.hidden.contains(&track))
            .filter_map(|(_, p)| published.best_layer(p.subscribed.get(&track)?.tile, false))
            .collect();
        let pixels = |ssrc: &u32| {
            published.size_of(*ssrc).map_or(0, |(width, height)| u64::from(width) * u64::from(height))
        };
        wanted.sort_unstable_by_key(|ssrc| (pixels(ssrc), *ssrc));
        wanted.dedup();
        Some(wanted)
    }

    /// The track the stream `ssrc` (a layer, or the only stream) belongs to.
    pub fn track_of(&self, ssrc: u32) -> Option<TrackId> {
        self.layer_of.get(&ssrc).copied()
    }

    /// Whether `subscriber` shows track `track`. Returns `true` when a
    /// hidden track is shown again: it restarts at its next keyframe, which
    /// the caller should ask for ([`Router::request_keyframe`]).
    pub fn set_hidden(&mut self, subscriber: ParticipantId, track: TrackId, hidden: bool) -> bool {
        let Some(participant) = self.participants.get_mut(&subscriber) else { return false };
        if hidden {
            participant.hidden.insert(track);
            return false;
        }
        let shown_again = participant.hidden.remove(&track);
        if let Some(selection) = participant.subscribed.get_mut(&track).filter(|_| shown_again) {
            selection.current = None;
            if let Some(layer) = self.tracks.get(&track).and_then(|t| t.layer_for(selection.tile)) {
                selection.target = Some(layer);
            }
        }
        shown_again
    }

    /// The size of the tile `subscriber` draws `track` in (`None`: not
    /// said, as large as its bandwidth allows): the layer it gets follows
    /// at the next [`Router::poll`].
    pub fn set_tile(&mut self, subscriber: ParticipantId, track: TrackId, tile: Option<(u32, u32)>) {
        let selection = self.participants.get_mut(&subscriber).and_then(|p| p.subscribed.get_mut(&track));
        if let Some(selection) = selection {
            selection.tile = tile;
        }
    }

    /// `subscriber`'s receiving connection negotiated track `track`: its
    /// packets (of the layer chosen for it) are queued for them from now on.
    pub fn subscribe(&mut self, subscriber: ParticipantId, track: TrackId) {
        let layer = self.tracks.get(&track).and_then(|t| t.layer_for(None));
        if let Some(participant) = self.participants.get_mut(&subscriber) {
            participant.subscribed.entry(track).or_insert(Selection {
                current: layer,
                target: layer,
                tile: None,
                reported: None,
            });
        }
    }

    /// A packet from `publisher` at `now`: queued for every subscriber of
    /// its track that gets its layer. Returns how many subscribers it was
    /// queued for (a full queue drops it for that subscriber alone).
    pub fn on_rtp(
        &mut self,
        now: Instant,
        publisher: ParticipantId,
        packet: Arc<RtpPacket>,
    ) -> Result<usize, ForwardError> {
        let ssrc = packet.ssrc;
        let unknown = ForwardError::UnknownTrack(ssrc);
        let track_id = self.track_of(ssrc).ok_or(unknown)?;
        let track = self.tracks.get_mut(&track_id).filter(|t| t.publisher == publisher).ok_or(unknown)?;
        let (kind, simulcast) = (track.kind, track.simulcast);
        let layer = track.layer_mut(ssrc).ok_or(unknown)?;
        layer.last_packet = Some(now);
        layer.rate.add(now, packet.payload.len());
        // Another layer is started at a keyframe whose parameter sets come
        // with it (they differ between layers, under the same ids).
        let mut starts_layer = packet.keyframe && !simulcast;
        if packet.keyframe {
            layer.keyframes.keyframe_arrived();
            if let Some(size) = crate::h264::picture_size(&packet.payload) {
                layer.size = Some(size);
                starts_layer = true;
            }
        }
        if let (Kind::Audio, Some((level, _))) = (kind, packet.audio_level) {
            if let Some(sender) = self.participants.get_mut(&publisher) {
                sender.speaking.observe(now, level);
            }
        }
        let mut queued = 0;
        for (id, subscriber) in &mut self.participants {
            if *id == publisher || subscriber.hidden.contains(&track_id) {
                continue;
            }
            let Some(selection) = subscriber.subscribed.get_mut(&track_id) else { continue };
            let after_gap = if selection.current == Some(ssrc) {
                false
            } else if selection.target == Some(ssrc) && starts_layer {
                selection.current = Some(ssrc);
                true
            } else {
                continue;
            };
            let forwarded = Forwarded { track: track_id, packet: Arc::clone(&packet), after_gap };
            queued += usize::from(subscriber.queue.push(forwarded));
        }
        Ok(queued)
    }

    /// The next packet to send to `subscriber`.
    pub fn next_forwarded(&mut self, subscriber: ParticipantId) -> Option<Forwarded> {
        self.participants.get_mut(&subscriber)?.queue.pop()
    }

    /// The next packet to send to `subscriber`, whatever came before it.
    pub fn next_packet(&mut self, subscriber: ParticipantId) -> Option<Arc<RtpPacket>> {
        self.next_forwarded(subscriber).map(|forwarded| forwarded.packet)
    }

    /// Packets `subscriber` lost to a full queue so far.
    pub fn dropped(&self, subscriber: ParticipantId) -> u64 {
        self.participants.get(&subscriber).map_or(0, |p| p.queue.dropped())
    }

    /// `subscriber` asked for a keyframe of track `track` (a PLI or FIR, or
    /// it is shown again): the layer to ask the publisher for one now, if
    /// any. If none, a request is owed, and [`Router::poll`] returns it
    /// when the throttle allows.
    pub fn request_keyframe(
        &mut self,
        now: Instant,
        subscriber: ParticipantId,
        track: TrackId,
    ) -> Option<u32> {
        let participant = self.participants.get(&subscriber).filter(|p| !p.hidden.contains(&track))?;
        let ssrc = participant.subscribed.get(&track)?.keyframe_layer()?;
        let published = self.tracks.get_mut(&track).filter(|t| t.kind == Kind::Video)?;
        published.layer_mut(ssrc)?.keyframes.request(now).then_some(ssrc)
    }

    /// What is due at `now`: subscribers moved to the layer that fits
    /// their tile now (a keyframe of it asked for), owed keyframe requests
    /// (including for subscribers whose queue overflowed: their video needs
    /// one to recover) and changes in who is speaking.
    pub fn poll(&mut self, now: Instant) -> Vec<Output> {
        let mut out = Vec::new();
        let speakers: HashSet<ParticipantId> =
            self.participants.iter().filter(|(_, p)| p.speaking.speaking()).map(|(id, _)| *id).collect();
        let mut wanted: Vec<(TrackId, u32)> = Vec::new();
        for (id, participant) in &mut self.participants {
            let overflowed = participant.queue.take_dropped();
            let allocated = participant
                .estimate
                .filter(|_| participant.congested)
                .map(|estimate| allocate_for(now, estimate, participant, &self.tracks, &speakers));
            for (track_id, selection) in &mut participant.subscribed {
                let Some(track) = self.tracks.get(track_id).filter(|t| t.kind == Kind::Video) else {
                    continue;
                };
                let ideal = track.layer_for(selection.tile);
                let chosen = match allocated.as_ref().and_then(|a| a.get(track_id)) {
                    Some(chosen) => *chosen,
                    None => ideal,
                };
                if chosen.is_none() && ideal.is_some() {
                    // Paused for the network: nothing until a layer fits again.
                    (selection.current, selection.target) = (None, None);
                } else if chosen.is_some() && selection.target != chosen {
                    tracing::debug!(subscriber = id, track = track_id, from = ?selection.current, to = ?chosen, "layer chosen");
                    selection.target = chosen;
                }
                if !participant.hidden.contains(track_id) && ideal.is_some() {
                    let quality = match chosen {
                        None => VideoQuality::Paused,
                        Some(layer) if Some(layer) == ideal => VideoQuality::Full,
                        Some(_) => VideoQuality::Reduced,
                    };
                    let now_reported = Some((quality, chosen));
                    if selection.reported != now_reported
                        && (selection.reported.is_some() || quality != VideoQuality::Full)
                    {
                        selection.reported = now_reported;
                        let size = chosen.and_then(|layer| track.size_of(layer));
                        out.push(Output::Quality { subscriber: *id, track: *track_id, quality, size });
                    }
                }
                let switching = selection.target.is_some() && selection.target != selection.current;
                if (overflowed || switching) && !participant.hidden.contains(track_id) {
                    wanted.extend(selection.keyframe_layer().map(|layer| (*track_id, layer)));
                }
            }
        }
        // A layer's size is known from its keyframes: a simulcast layer
        // arriving without one yet is asked for one, to be chosen at all.
        for (track_id, track) in &self.tracks {
            if track.simulcast {
                let unsized_layers = track.layers.iter().filter(|l| l.size.is_none() && track.arriving(l));
                wanted.extend(unsized_layers.map(|layer| (*track_id, layer.ssrc)));
            }
        }
        wanted.sort_unstable();
        wanted.dedup();
        for (track_id, ssrc) in wanted {
            let Some(track) = self.tracks.get_mut(&track_id) else { continue };
            let publisher = track.publisher;
            if track.layer_mut(ssrc).is_some_and(|layer| layer.keyframes.request(now)) {
                out.push(Output::KeyframeRequest { publisher, ssrc });
            }
        }
        let mut track_ids: Vec<TrackId> = self.tracks.keys().copied().collect();
        track_ids.sort_unstable();
        for track_id in track_ids {
            let Some(track) = self.tracks.get_mut(&track_id) else { continue };
            let publisher = track.publisher;
            for layer in &mut track.layers {
                if layer.keyframes.poll(now)
                    && !out.contains(&Output::KeyframeRequest { publisher, ssrc: layer.ssrc })
                {
                    out.push(Output::KeyframeRequest { publisher, ssrc: layer.ssrc });
                }
            }
        }
        let mut ids: Vec<ParticipantId> = self.participants.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            if let Some(change) = self.participants.get_mut(&id).and_then(|p| p.speaking.update(now)) {
                out.push(Output::Speaking { participant: id, speaking: change });
            }
        }
        out
    }
}

/// The layer (or `None`: paused) of each video `participant` receives and
/// shows, fitted into its `estimate` after its audio: see
/// [`crate::allocator`]. A video none of whose layers is sized yet is left
/// out.
fn allocate_for(
    now: Instant,
    estimate: u64,
    participant: &Participant,
    tracks: &HashMap<TrackId, Track>,
    speakers: &HashSet<ParticipantId>,
) -> HashMap<TrackId, Option<u32>> {
    let audio = subscribed_bitrate(now, participant, tracks, |_, _| None);
    let mut videos = Vec::new();
    let mut demands = Vec::new();
    let mut subscribed: Vec<(&TrackId, &Selection)> = participant.subscribed.iter().collect();
    subscribed.sort_unstable_by_key(|(track_id, _)| **track_id);
    for (track_id, selection) in subscribed {
        let Some(track) = tracks.get(track_id).filter(|t| t.kind == Kind::Video) else { continue };
        if participant.hidden.contains(track_id) {
            continue;
        }
        let Some(ideal) = track.layer_for(selection.tile) else { continue };
        let priority = if track.screen {
            Priority::Screen
        } else if speakers.contains(&track.publisher) {
            Priority::Speaker
        } else {
            Priority::Other
        };
        videos.push(*track_id);
        demands.push(VideoDemand {
            priority,
            layers: track.layer_costs(now, ideal),
            current: selection.current,
        });
    }
    videos.into_iter().zip(allocate(estimate.saturating_sub(audio), &demands)).collect()
}

/// The bitrate of what `participant` is subscribed to: every audio track,
/// and of each video it shows the layer `video` picks (none: nothing).
fn subscribed_bitrate(
    now: Instant,
    participant: &Participant,
    tracks: &HashMap<TrackId, Track>,
    video: impl Fn(&Track, &Selection) -> Option<u32>,
) -> u64 {
    let mut total = 0;
    for (track_id, selection) in &participant.subscribed {
        let Some(track) = tracks.get(track_id) else { continue };
        let counted = match track.kind {
            Kind::Audio => track.layers.first().map(|l| l.ssrc),
            Kind::Video if participant.hidden.contains(track_id) => None,
            Kind::Video => video(track, selection),
        };
        total += counted.and_then(|ssrc| track.layer(ssrc)).map_or(0, |l| l.rate.bitrate(now));
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADA: ParticipantId = 1;
    const BOB: ParticipantId = 2;
    const CAROL: ParticipantId = 3;
    const ADA_VIDEO: u32 = 0xa1;
    const ADA_AUDIO: u32 = 0xa2;
    const BOB_AUDIO: u32 = 0xb2;

    /// A packet of track `ssrc` with sequence number `seq` and (for audio)
    /// an audio level.
    fn packet(seq: u64, ssrc: u32, level: Option<u8>) -> Arc<RtpPacket> {
        Arc::new(RtpPacket {
            ssrc,
            seq,
            timestamp: 0,
            marker: false,
            keyframe: false,
            audio_level: level.map(|level| (level, true)),
            payload: Arc::from(&[0x55; 40][..]),
        })
    }

    /// Every subscription in a room of three: everyone negotiated everyone
    /// else's tracks.
    const EVERYONE: [(ParticipantId, u32); 6] = [
        (BOB, ADA_VIDEO),
        (BOB, ADA_AUDIO),
        (CAROL, ADA_VIDEO),
        (CAROL, ADA_AUDIO),
        (ADA, BOB_AUDIO),
        (CAROL, BOB_AUDIO),
    ];

    /// Ada publishes camera and audio; Bob publishes audio; everyone
    /// negotiated everyone else's tracks.
    fn room(capacity: usize) -> Router {
        room_with(capacity, &EVERYONE)
    }

    /// The same room, with only these (subscriber, track) negotiated.
    fn room_with(capacity: usize, subscriptions: &[(ParticipantId, u32)]) -> Router {
        let mut router = Router::new();
        for id in [ADA, BOB, CAROL] {
            router.add_participant(id, capacity);
        }
        router.publish(ADA, ADA_VIDEO, Kind::Video);
        router.publish(ADA, ADA_AUDIO, Kind::Audio);
        router.publish(BOB, BOB_AUDIO, Kind::Audio);
        for (subscriber, ssrc) in subscriptions {
            router.subscribe(*subscriber, *ssrc);
        }
        router
    }

    #[test]
    fn a_stalled_subscriber_loses_only_its_own_packets_then_gets_a_keyframe() {
        let start = Instant::now();
        let mut router = room(256);
        // Two seconds of Ada's camera (30 fps, 3 packets a frame): Bob reads
        // as it comes, Carol reads nothing.
        let mut bob_got = Vec::new();
        for i in 0..180u64 {
            let now = start + Duration::from_millis(i * 11);
            assert_eq!(router.on_rtp(now, ADA, packet(i, ADA_VIDEO, None)), Ok(2));
            while let Some(p) = router.next_packet(BOB) {
                bob_got.push(p.seq);
            }
        }
        assert_eq!(bob_got, (0..180).collect::<Vec<_>>(), "Bob got every packet, in order");
        assert_eq!(router.dropped(BOB), 0);
        assert_eq!(router.dropped(CAROL), 0, "180 packets fit Carol's 256");
        for i in 180..400u64 {
            router.on_rtp(start + Duration::from_secs(2), ADA, packet(i, ADA_VIDEO, None)).unwrap();
            while router.next_packet(BOB).is_some() {}
        }
        assert_eq!(router.dropped(CAROL), 400 - 256);
        assert_eq!(router.dropped(BOB), 0, "Carol's stall cost Bob nothing");
        // Carol's lost video needs a keyframe: asked of Ada once.
        let now = start + Duration::from_secs(3);
        assert_eq!(router.poll(now), vec![Output::KeyframeRequest { publisher: ADA, ssrc: ADA_VIDEO }]);
        assert_eq!(router.poll(now + Duration::from_millis(100)), vec![], "reported once");
        // What Carol kept arrives oldest first.
        assert_eq!(router.next_packet(CAROL).map(|p| p.seq), Some(0));
    }

    #[test]
    fn every_copy_shares_the_one_packet() {
        let mut router = room(16);
        let sent = packet(7, ADA_VIDEO, None);
        assert_eq!(router.on_rtp(Instant::now(), ADA, Arc::clone(&sent)), Ok(2));
        let to_bob = router.next_packet(BOB).unwrap();
        let to_carol = router.next_packet(CAROL).unwrap();
        assert!(Arc::ptr_eq(&to_bob, &sent) && Arc::ptr_eq(&to_carol, &sent));
    }

    #[test]
    fn speaking_is_reported_for_the_one_sending_a_tone_not_the_silent_one() {
        let start = Instant::now();
        let mut router = room(1024);
        let mut changes = Vec::new();
        for i in 0..100u64 {
            let now = start + Duration::from_millis(i * 20);
            router.on_rtp(now, ADA, packet(i, ADA_AUDIO, Some(18))).unwrap();
            router.on_rtp(now, BOB, packet(i, BOB_AUDIO, Some(127))).unwrap();
            changes.extend(router.poll(now));
        }
        assert_eq!(changes, vec![Output::Speaking { participant: ADA, speaking: true }]);
        // The packets reached the others with the level still on them.
        assert_eq!(router.next_packet(BOB).unwrap().audio_level, Some((18, true)));
    }

    #[test]
    fn keyframe_requests_from_every_subscriber_reach_the_publisher_twice_a_second() {
        let start = Instant::now();
        let mut router = room(64);
        let mut sent: Vec<u64> = Vec::new();
        for tick in 0..250u64 {
            let now = start + Duration::from_millis(tick * 10);
            // Ada's keyframe arrives 30 ms after each request is sent to her.
            if sent.last().is_some_and(|&at| at + 30 == tick * 10) {
                let keyframe = RtpPacket { keyframe: true, ..(*packet(tick, ADA_VIDEO, None)).clone() };
                router.on_rtp(now, ADA, Arc::new(keyframe)).expect("forwarded");
            }
            // Bob and Carol each ask every 50 ms (2.5 s of a bad network).
            if tick % 5 == 0 {
                for subscriber in [BOB, CAROL] {
                    if router.request_keyframe(now, subscriber, ADA_VIDEO) == Some(ADA_VIDEO) {
                        sent.push(tick * 10);
                    }
                }
            }
            for output in router.poll(now) {
                if output == (Output::KeyframeRequest { publisher: ADA, ssrc: ADA_VIDEO }) {
                    sent.push(tick * 10);
                }
            }
        }
        assert_eq!(sent, vec![0, 500, 1000, 1500, 2000]);
        assert_eq!(router.request_keyframe(start, BOB, ADA_AUDIO), None, "audio has no keyframes");
    }

    #[test]
    fn forged_packets_are_refused_and_reach_nobody() {
        let start = Instant::now();
        let mut router = room(64);
        // Bob sending with Ada's SSRC (a forged track), an unknown SSRC.
        assert_eq!(
            router.on_rtp(start, BOB, packet(1, ADA_VIDEO, None)),
            Err(ForwardError::UnknownTrack(ADA_VIDEO))
        );
        assert_eq!(router.on_rtp(start, BOB, packet(1, 0x99, None)), Err(ForwardError::UnknownTrack(0x99)));
        for id in [ADA, BOB, CAROL] {
            assert_eq!(router.next_packet(id), None);
        }
    }

    #[test]
    fn a_track_nobody_negotiated_or_that_ended_reaches_nobody() {
        let start = Instant::now();
        // Carol has not (yet) answered the offer of Ada's camera.
        let all_but_carols_camera: Vec<_> =
            EVERYONE.into_iter().filter(|s| *s != (CAROL, ADA_VIDEO)).collect();
        let mut router = room_with(64, &all_but_carols_camera);
        assert_eq!(router.on_rtp(start, ADA, packet(1, ADA_VIDEO, None)), Ok(1), "Bob only");
        router.unpublish(ADA_VIDEO);
        assert_eq!(
            router.on_rtp(start, ADA, packet(2, ADA_VIDEO, None)),
            Err(ForwardError::UnknownTrack(ADA_VIDEO))
        );
        assert_eq!(router.next_packet(BOB).map(|p| p.seq), Some(1));
        assert_eq!(router.next_packet(BOB), None);
    }

    #[test]
    fn a_hidden_video_is_not_sent_and_shown_again_restarts_at_a_keyframe() {
        let start = Instant::now();
        let mut router = room(64);
        let video =
            |seq, keyframe| Arc::new(RtpPacket { keyframe, ..(*packet(seq, ADA_VIDEO, None)).clone() });
        router.set_hidden(BOB, ADA_VIDEO, true);
        assert!(!router.set_hidden(BOB, ADA_VIDEO, true), "hiding again changes nothing");
        for seq in 1..=3 {
            assert_eq!(router.on_rtp(start, ADA, video(seq, seq == 2)), Ok(1), "Carol only");
        }
        assert_eq!(router.on_rtp(start, ADA, packet(4, ADA_AUDIO, Some(20))), Ok(2), "the voice still goes");
        assert_eq!(router.next_packet(BOB).map(|p| p.ssrc), Some(ADA_AUDIO));
        assert_eq!(router.next_packet(BOB), None);
        // Shown again: a keyframe is wanted, and nothing before it is sent.
        assert!(router.set_hidden(BOB, ADA_VIDEO, false));
        assert!(!router.set_hidden(BOB, ADA_VIDEO, false), "shown already");
        for (seq, keyframe) in [(5, false), (6, true), (7, false)] {
            router.on_rtp(start, ADA, video(seq, keyframe)).expect("forwarded");
        }
        let to_bob: Vec<(u64, bool)> =
            std::iter::from_fn(|| router.next_forwarded(BOB)).map(|f| (f.packet.seq, f.after_gap)).collect();
        assert_eq!(to_bob, [(6, true), (7, false)]);
        let to_carol: Vec<u64> = std::iter::from_fn(|| router.next_packet(CAROL)).map(|p| p.seq).collect();
        assert_eq!(to_carol, [1, 2, 3, 4, 5, 6, 7], "Carol's view is her own");
    }

    #[test]
    fn someone_who_leaves_is_neither_forwarded_to_nor_from() {
        let start = Instant::now();
        let mut router = room(64);
        router.remove_participant(ADA);
        assert_eq!(
            router.on_rtp(start, ADA, packet(1, ADA_VIDEO, None)),
            Err(ForwardError::UnknownTrack(ADA_VIDEO))
        );
        assert_eq!(router.on_rtp(start, BOB, packet(1, BOB_AUDIO, Some(127))), Ok(1), "only Carol now");
        assert_eq!(router.next_packet(ADA), None);
    }

    const BOB_SCREEN: u32 = 0xb3;
    const ADA_LOW: u32 = 0xa3;
    const ADA_HIGH: u32 = 0xa4;

    /// Ada's simulcast camera: `ADA_VIDEO` (640×360) is the track, plus a
    /// low layer (320×180) and a high one (1280×720); each sends a
    /// keyframe (with its SPS) at `start`.
    fn simulcast_room(start: Instant) -> Router {
        let mut router = room(4096);
        router.add_layer(ADA_VIDEO, ADA_LOW);
        router.add_layer(ADA_VIDEO, ADA_HIGH);
        for (ssrc, (width, height)) in
            [(ADA_LOW, (320, 180)), (ADA_VIDEO, (640, 360)), (ADA_HIGH, (1280, 720))]
        {
            let keyframe = layer_packet(0, ssrc, Some((width, height)));
            router.on_rtp(start, ADA, keyframe).expect("forwarded");
        }
        router
    }

    /// Packet `seq` of Ada's layer `ssrc`; with `sps`, a keyframe's first
    /// packet declaring that picture size.
    fn layer_packet(seq: u64, ssrc: u32, sps: Option<(u32, u32)>) -> Arc<RtpPacket> {
        let payload = match sps {
            Some((width, height)) => crate::sim::sps(width, height),
            None => vec![0x41; 40],
        };
        let packet = RtpPacket {
            keyframe: sps.is_some(),
            payload: Arc::from(payload),
            ..(*packet(seq, ssrc, None)).clone()
        };
        Arc::new(packet)
    }

    /// The layers of Ada's camera `subscriber` was sent, each with whether
    /// it came after a gap (a switch).
    fn layers_to(router: &mut Router, subscriber: ParticipantId) -> Vec<(u32, bool)> {
        std::iter::from_fn(|| router.next_forwarded(subscriber))
            .filter(|f| f.track == ADA_VIDEO)
            .map(|f| (f.packet.ssrc, f.after_gap))
            .collect()
    }

    #[test]
    fn each_subscriber_gets_the_layer_that_fills_its_tile_switched_at_a_keyframe() {
        let start = Instant::now();
        let mut router = simulcast_room(start);
        // Subscribed before any size was known: the first layer, until poll
        // has chosen the largest; a keyframe of it is asked for.
        for subscriber in [BOB, CAROL] {
            assert_eq!(layers_to(&mut router, subscriber), [(ADA_VIDEO, false)]);
        }
        router.set_tile(BOB, ADA_VIDEO, Some((320, 180)));
        let asked = router.poll(start);
        for ssrc in [ADA_LOW, ADA_HIGH] {
            assert!(asked.contains(&Output::KeyframeRequest { publisher: ADA, ssrc }), "{asked:?}");
        }
        // Until the keyframes come, each keeps the layer it had.
        let at = start + Duration::from_millis(20);
        for ssrc in [ADA_LOW, ADA_VIDEO, ADA_HIGH] {
            router.on_rtp(at, ADA, layer_packet(1, ssrc, None)).expect("forwarded");
        }
        assert_eq!(layers_to(&mut router, BOB), [(ADA_VIDEO, false)]);
        assert_eq!(layers_to(&mut router, CAROL), [(ADA_VIDEO, false)]);
        // Keyframes: Bob (a 320×180 tile) switches to the low layer, Carol
        // (no size said) to the high one, each from its keyframe on.
        let at = start + Duration::from_millis(40);
        for (ssrc, size) in [(ADA_LOW, (320, 180)), (ADA_HIGH, (1280, 720))] {
            router.on_rtp(at, ADA, layer_packet(2, ssrc, Some(size))).expect("forwarded");
            router.on_rtp(at, ADA, layer_packet(3, ssrc, None)).expect("forwarded");
        }
        router.on_rtp(at, ADA, layer_packet(2, ADA_VIDEO, None)).expect("forwarded");
        assert_eq!(layers_to(&mut router, BOB), [(ADA_LOW, true), (ADA_LOW, false)]);
        assert_eq!(layers_to(&mut router, CAROL), [(ADA_HIGH, true), (ADA_HIGH, false)]);
        // A tile between two sizes gets the one that fills it.
        router.set_tile(BOB, ADA_VIDEO, Some((400, 300)));
        assert_eq!(router.poll(at), [Output::KeyframeRequest { publisher: ADA, ssrc: ADA_VIDEO }]);
        router.on_rtp(at, ADA, layer_packet(3, ADA_VIDEO, Some((640, 360)))).expect("forwarded");
        router.on_rtp(at, ADA, layer_packet(4, ADA_LOW, None)).expect("forwarded");
        assert_eq!(layers_to(&mut router, BOB), [(ADA_VIDEO, true)]);
    }

    #[test]
    fn a_layer_its_publisher_stopped_sending_is_left_for_one_still_arriving() {
        let start = Instant::now();
        let mut router = simulcast_room(start);
        router.poll(start);
        router.on_rtp(start, ADA, layer_packet(1, ADA_HIGH, Some((1280, 720)))).expect("forwarded");
        layers_to(&mut router, BOB);
        // Ada stops encoding the high layer (her uplink or CPU is short):
        // after a second of only the others, Bob is moved to the middle one.
        let mut bob_got = Vec::new();
        for step in 1..=60u64 {
            let at = start + Duration::from_millis(step * 20);
            for ssrc in [ADA_LOW, ADA_VIDEO] {
                let sps = (step == 55).then_some(if ssrc == ADA_LOW { (320, 180) } else { (640, 360) });
                router.on_rtp(at, ADA, layer_packet(step + 1, ssrc, sps)).expect("forwarded");
            }
            router.poll(at);
            bob_got.extend(layers_to(&mut router, BOB));
        }
        assert_eq!(
            bob_got,
            [
                (ADA_VIDEO, true),
                (ADA_VIDEO, false),
                (ADA_VIDEO, false),
                (ADA_VIDEO, false),
                (ADA_VIDEO, false),
                (ADA_VIDEO, false)
            ]
        );
    }

    #[test]
    fn a_hidden_simulcast_video_is_not_sent_and_not_asked_for() {
        let start = Instant::now();
        let mut router = simulcast_room(start);
        layers_to(&mut router, BOB);
        router.set_hidden(BOB, ADA_VIDEO, true);
        router.set_tile(BOB, ADA_VIDEO, Some((320, 180)));
        router.set_hidden(CAROL, ADA_VIDEO, true);
        assert_eq!(router.poll(start), [], "nobody shows it: no keyframe asked for");
        assert_eq!(
            router.request_keyframe(start, BOB, ADA_VIDEO),
            None,
            "a hidden video's PLI is not relayed"
        );
        router.on_rtp(start, ADA, layer_packet(1, ADA_LOW, Some((320, 180)))).expect("forwarded");
        assert_eq!(layers_to(&mut router, BOB), []);
        // Shown again, small: from the low layer's next keyframe.
        assert!(router.set_hidden(BOB, ADA_VIDEO, false));
        assert_eq!(router.request_keyframe(start, BOB, ADA_VIDEO), Some(ADA_LOW));
        router.on_rtp(start, ADA, layer_packet(2, ADA_LOW, None)).expect("forwarded");
        router.on_rtp(start, ADA, layer_packet(3, ADA_LOW, Some((320, 180)))).expect("forwarded");
        assert_eq!(layers_to(&mut router, BOB), [(ADA_LOW, true)]);
    }

    #[test]
    fn a_subscriber_of_a_simulcast_camera_starts_on_its_layer_once_every_layer_is_sized() {
        let start = Instant::now();
        let mut router = Router::new();
        for id in [ADA, BOB] {
            router.add_participant(id, 64);
        }
        router.publish(ADA, ADA_VIDEO, Kind::Video);
        router.set_simulcast(ADA_VIDEO);
        router.subscribe(BOB, ADA_VIDEO);
        // Only the middle layer, not sized yet: nothing for Bob; its keyframe is asked for.
        router.on_rtp(start, ADA, layer_packet(1, ADA_VIDEO, None)).expect("forwarded");
        assert_eq!(layers_to(&mut router, BOB), []);
        assert_eq!(router.poll(start), [Output::KeyframeRequest { publisher: ADA, ssrc: ADA_VIDEO }]);
        // The high layer arrives too, and the middle one is sized: the high one is still unknown.
        router.add_layer(ADA_VIDEO, ADA_HIGH);
        router.on_rtp(start, ADA, layer_packet(2, ADA_VIDEO, Some((640, 360)))).expect("forwarded");
        router.on_rtp(start, ADA, layer_packet(1, ADA_HIGH, None)).expect("forwarded");
        router.poll(start);
        assert_eq!(layers_to(&mut router, BOB), [], "not the first layer seen: the one Bob should have");
        // Both sized: Bob (no tile size said) starts on the high layer, at its next keyframe.
        router.on_rtp(start, ADA, layer_packet(2, ADA_HIGH, Some((1280, 720)))).expect("forwarded");
        router.poll(start);
        router.on_rtp(start, ADA, layer_packet(3, ADA_VIDEO, None)).expect("forwarded");
        router.on_rtp(start, ADA, layer_packet(3, ADA_HIGH, Some((1280, 720)))).expect("forwarded");
        assert_eq!(layers_to(&mut router, BOB), [(ADA_HIGH, true)]);
    }

    /// Ada's audio (40 kbit/s) and her simulcast camera's three layers
    /// (low 40, middle 80, high 160 kbit/s: one, two, four packets of 100
    /// bytes with the overhead per 20 ms) from `from_ms` to `to_ms`, each
    /// layer's first packet a keyframe when `keyframes`, the router polled
    /// before each step; returns every output of those polls.
    fn send_steps(router: &mut Router, start: Instant, steps: (u64, u64), keyframes: bool) -> Vec<Output> {
        let mut outputs = Vec::new();
        let sizes = [(ADA_LOW, (320, 180), 1), (ADA_VIDEO, (640, 360), 2), (ADA_HIGH, (1280, 720), 4)];
        for step in steps.0..steps.1 {
            let at = start + Duration::from_millis(step * 20);
            outputs.extend(router.poll(at));
            router.on_rtp(at, ADA, packet(step, ADA_AUDIO, Some(30))).expect("forwarded");
            for (ssrc, size, packets) in sizes {
                for k in 0..packets {
                    let sps = (keyframes && step == steps.0 && k == 0).then_some(size);
                    router.on_rtp(at, ADA, layer_packet(step * 4 + k, ssrc, sps)).expect("forwarded");
                }
            }
        }
        outputs
    }

    #[test]
    fn a_subscriber_whose_estimate_falls_gets_a_smaller_layer_then_none_and_is_told() {
        let start = Instant::now();
        let mut router = simulcast_room(start);
        send_steps(&mut router, start, (1, 60), true);
        layers_to(&mut router, BOB);
        layers_to(&mut router, CAROL);
        // Enough for everything: the high layer, nothing said.
        router.set_estimate(start, BOB, 1_000_000);
        let outputs = send_steps(&mut router, start, (60, 70), true);
        assert!(!outputs.iter().any(|o| matches!(o, Output::Quality { .. })), "{outputs:?}");
        assert!(!router.short_of_tiles(BOB));
        assert!(layers_to(&mut router, BOB).iter().all(|(ssrc, _)| *ssrc == ADA_HIGH));
        let wanted = router.wanted_bitrate(start + Duration::from_secs(2), BOB);
        assert!((190_000..=210_000).contains(&wanted), "audio and the high layer: {wanted}");
        // 140 kbit/s: the audio (40), then the middle layer (80) fits, the high one not.
        router.set_estimate(start, BOB, 140_000);
        let outputs = send_steps(&mut router, start, (70, 80), true);
        let told = |quality, size| Output::Quality { subscriber: BOB, track: ADA_VIDEO, quality, size };
        let quality_outputs: Vec<&Output> =
            outputs.iter().filter(|o| matches!(o, Output::Quality { .. })).collect();
        assert_eq!(quality_outputs, [&told(VideoQuality::Reduced, Some((640, 360)))]);
        assert!(
            router.short_of_tiles(BOB),
            "short of what Bob's tile asks for: his connection pads toward it"
        );
        assert!(layers_to(&mut router, BOB).contains(&(ADA_VIDEO, true)), "switched at the middle keyframe");
        // 60 kbit/s: not even the low layer after the audio. Paused: no video at all.
        router.set_estimate(start, BOB, 60_000);
        let outputs = send_steps(&mut router, start, (80, 90), true);
        assert!(outputs.contains(&told(VideoQuality::Paused, None)), "{outputs:?}");
        let got: Vec<TrackId> = std::iter::from_fn(|| router.next_forwarded(BOB)).map(|f| f.track).collect();
        assert_eq!(got, [ADA_AUDIO; 10], "the audio, and no video");
        // Carol, whose estimate is unknown, kept the high layer throughout.
        assert!(layers_to(&mut router, CAROL).iter().all(|(ssrc, _)| *ssrc == ADA_HIGH));
        // The link recovers: back to the high layer from its next keyframe, and told.
        router.set_estimate(start, BOB, 1_000_000);
        let outputs = send_steps(&mut router, start, (90, 100), true);
        assert!(outputs.contains(&told(VideoQuality::Full, Some((1280, 720)))), "{outputs:?}");
        assert!(!router.short_of_tiles(BOB), "all Bob's tile asks for");
        assert!(outputs.contains(&Output::KeyframeRequest { publisher: ADA, ssrc: ADA_HIGH }));
        assert_eq!(layers_to(&mut router, BOB).first(), Some(&(ADA_HIGH, true)));
    }

    #[test]
    fn a_screen_share_keeps_its_video_when_a_camera_is_paused() {
        let start = Instant::now();
        let mut router = room(4096);
        router.publish(BOB, BOB_SCREEN, Kind::Video);
        router.set_screen(BOB_SCREEN);
        router.subscribe(CAROL, BOB_SCREEN);
        // A second of each (80 kbit/s apiece: two 100-byte packets per 20 ms), keyframe first.
        for step in 0..60u64 {
            let at = start + Duration::from_millis(step * 20);
            for ssrc in [ADA_VIDEO, BOB_SCREEN] {
                for k in 0..2 {
                    let publisher = if ssrc == ADA_VIDEO { ADA } else { BOB };
                    let keyframe = step == 0 && k == 0;
                    let packet = layer_packet(step * 2 + k, ssrc, keyframe.then_some((640, 360)));
                    router.on_rtp(at, publisher, packet).expect("forwarded");
                }
            }
        }
        // A first estimate is a guess: it decides nothing yet.
        router.set_estimate(start + Duration::from_millis(1200), CAROL, 100_000);
        assert_eq!(router.poll(start + Duration::from_millis(1200)), []);
        // Once it has fallen below what Carol is sent (160k): room for one
        // of the two, the screen, though Ada's camera is first by id.
        router.set_estimate(start + Duration::from_millis(1200), CAROL, 1_000_000);
        router.set_estimate(start + Duration::from_millis(1200), CAROL, 100_000);
        let outputs = router.poll(start + Duration::from_millis(1200));
        let paused = Output::Quality {
            subscriber: CAROL,
            track: ADA_VIDEO,
            quality: VideoQuality::Paused,
            size: None,
        };
        assert_eq!(outputs, [paused]);
    }
}
