//! One room's forwarding: every packet a participant publishes is rewritten
//! for, and queued to, every other participant that negotiated it; keyframe
//! requests go back to the publisher throttled; audio levels decide who is
//! speaking. The transport feeds [`Router::on_rtp`] and
//! [`Router::request_keyframe`], drains [`Router::next_packet`] per
//! subscriber, and calls [`Router::poll`] on its timer.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::keyframe::KeyframeThrottle;
use crate::queue::SubscriberQueue;
use crate::rtp::{self, Mapping, RewriteError};
use crate::speaking::{self, SpeakingDetector};

/// A participant, as the room numbers them.
pub type ParticipantId = u64;

/// Keyframe requests per published video track: at most one per this.
pub const KEYFRAME_INTERVAL: Duration = Duration::from_secs(1);

/// What a published track carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Opus.
    Audio,
    /// H.264 (camera or screen).
    Video,
}

/// Why a published packet was not forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardError {
    /// Not RTP, or malformed.
    Malformed(RewriteError),
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
}

#[derive(Debug)]
struct Track {
    publisher: ParticipantId,
    kind: Kind,
    keyframes: KeyframeThrottle,
}

#[derive(Debug)]
struct Participant {
    /// How this participant, as a subscriber, numbers each publisher's packets.
    mappings: HashMap<ParticipantId, Mapping>,
    queue: SubscriberQueue<Vec<u8>>,
    /// The audio-level extension id in this participant's own packets.
    audio_level_id: Option<u8>,
    speaking: SpeakingDetector,
}

/// One room's forwarding state.
#[derive(Debug, Default)]
pub struct Router {
    participants: HashMap<ParticipantId, Participant>,
    tracks: HashMap<u32, Track>,
}

impl Router {
    /// An empty room.
    pub fn new() -> Self {
        Self::default()
    }

    /// Someone joins: their queue holds `queue_capacity` packets; their audio
    /// carries its level in extension `audio_level_id`, if negotiated.
    pub fn add_participant(&mut self, id: ParticipantId, queue_capacity: usize, audio_level_id: Option<u8>) {
        let participant = Participant {
            mappings: HashMap::new(),
            queue: SubscriberQueue::new(queue_capacity),
            audio_level_id,
            speaking: SpeakingDetector::new(),
        };
        self.participants.insert(id, participant);
    }

    /// Which extension id carries the audio level in `id`'s own packets
    /// (known once their audio track is negotiated).
    pub fn set_audio_level_id(&mut self, id: ParticipantId, audio_level_id: Option<u8>) {
        if let Some(participant) = self.participants.get_mut(&id) {
            participant.audio_level_id = audio_level_id;
        }
    }

    /// Someone leaves: their tracks and their queue go; nobody forwards to them.
    pub fn remove_participant(&mut self, id: ParticipantId) {
        self.participants.remove(&id);
        self.tracks.retain(|_, track| track.publisher != id);
        for participant in self.participants.values_mut() {
            participant.mappings.remove(&id);
        }
    }

    /// `publisher` sends a track with `ssrc`.
    pub fn publish(&mut self, publisher: ParticipantId, ssrc: u32, kind: Kind) {
        let keyframes = KeyframeThrottle::new(KEYFRAME_INTERVAL);
        self.tracks.insert(ssrc, Track { publisher, kind, keyframes });
    }

    /// `subscriber` negotiated `publisher`'s tracks with these numbers.
    pub fn subscribe(&mut self, subscriber: ParticipantId, publisher: ParticipantId, mapping: Mapping) {
        if let Some(participant) = self.participants.get_mut(&subscriber) {
            participant.mappings.insert(publisher, mapping);
        }
    }

    /// A packet from `publisher` at `now`: queued, rewritten, for every
    /// subscriber of theirs. Returns how many subscribers it was queued for
    /// (a full queue drops it for that subscriber alone).
    pub fn on_rtp(
        &mut self,
        now: Instant,
        publisher: ParticipantId,
        packet: &[u8],
    ) -> Result<usize, ForwardError> {
        let ssrc = ssrc(packet).ok_or(ForwardError::Malformed(RewriteError::Truncated))?;
        let kind = match self.tracks.get(&ssrc) {
            Some(track) if track.publisher == publisher => track.kind,
            _ => return Err(ForwardError::UnknownTrack(ssrc)),
        };
        rtp::payload_type(packet).ok_or(ForwardError::Malformed(RewriteError::NotRtp))?;
        if kind == Kind::Audio {
            if let Some(sender) = self.participants.get_mut(&publisher) {
                let level = sender
                    .audio_level_id
                    .and_then(|id| rtp::extension(packet, id))
                    .and_then(speaking::audio_level);
                if let Some(level) = level {
                    sender.speaking.observe(now, level);
                }
            }
        }
        let mut queued = 0;
        for (id, subscriber) in &mut self.participants {
            if *id == publisher {
                continue;
            }
            let Some(mapping) = subscriber.mappings.get(&publisher) else { continue };
            match rtp::rewrite(packet, mapping) {
                Ok(rewritten) => queued += usize::from(subscriber.queue.push(rewritten)),
                // This subscriber cannot take this codec: the others still can.
                Err(RewriteError::UnknownPayloadType(_)) => {}
                Err(e) => return Err(ForwardError::Malformed(e)),
            }
        }
        Ok(queued)
    }

    /// The next packet to send to `subscriber`.
    pub fn next_packet(&mut self, subscriber: ParticipantId) -> Option<Vec<u8>> {
        self.participants.get_mut(&subscriber)?.queue.pop()
    }

    /// Packets `subscriber` lost to a full queue so far.
    pub fn dropped(&self, subscriber: ParticipantId) -> u64 {
        self.participants.get(&subscriber).map_or(0, |p| p.queue.dropped())
    }

    /// A subscriber asked for a keyframe of track `ssrc` (a PLI or FIR):
    /// whether to forward the request to its publisher now. If not, it is
    /// owed, and [`Router::poll`] returns it when the interval ends.
    pub fn request_keyframe(&mut self, now: Instant, ssrc: u32) -> bool {
        self.tracks
            .get_mut(&ssrc)
            .is_some_and(|track| track.kind == Kind::Video && track.keyframes.request(now))
    }

    /// What is due at `now`: owed keyframe requests (including for
    /// subscribers whose queue overflowed: their video needs one to
    /// recover) and changes in who is speaking.
    pub fn poll(&mut self, now: Instant) -> Vec<Output> {
        let mut out = Vec::new();
        let overflowed: Vec<ParticipantId> = self
            .participants
            .iter_mut()
            .filter_map(|(id, p)| p.queue.take_dropped().then_some(*id))
            .collect();
        let mut ssrcs: Vec<u32> = self.tracks.keys().copied().collect();
        ssrcs.sort_unstable();
        for subscriber in overflowed {
            let publishers: Vec<ParticipantId> = self
                .participants
                .get(&subscriber)
                .map(|p| p.mappings.keys().copied().collect())
                .unwrap_or_default();
            for ssrc in &ssrcs {
                let Some(track) = self.tracks.get_mut(ssrc) else { continue };
                if track.kind == Kind::Video
                    && publishers.contains(&track.publisher)
                    && track.keyframes.request(now)
                {
                    out.push(Output::KeyframeRequest { publisher: track.publisher, ssrc: *ssrc });
                }
            }
        }
        for ssrc in ssrcs {
            let Some(track) = self.tracks.get_mut(&ssrc) else { continue };
            if track.keyframes.poll(now) {
                out.push(Output::KeyframeRequest { publisher: track.publisher, ssrc });
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

/// The SSRC of an RTP packet.
fn ssrc(packet: &[u8]) -> Option<u32> {
    let bytes = packet.get(8..12)?;
    Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
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
    /// Every participant sends the audio level as extension 1.
    const LEVEL_ID: u8 = 1;

    /// An RTP packet: payload type, sequence number, SSRC, and (for audio)
    /// the audio-level extension.
    fn packet(pt: u8, seq: u16, ssrc: u32, level: Option<u8>) -> Vec<u8> {
        let mut p = vec![0x80, pt, (seq >> 8) as u8, seq as u8, 0, 0, 0, 0];
        p.extend_from_slice(&ssrc.to_be_bytes());
        if let Some(level) = level {
            p[0] |= 0x10;
            p.extend_from_slice(&[0xBE, 0xDE, 0, 1, LEVEL_ID << 4, level, 0, 0]);
        }
        p.extend_from_slice(&[0x55; 40]);
        p
    }

    fn seq(packet: &[u8]) -> u16 {
        u16::from_be_bytes([packet[2], packet[3]])
    }

    /// Ada publishes camera (96) and audio (111); Bob publishes audio. Every
    /// subscriber maps payload types to themselves and keeps the level.
    fn room(capacity: usize) -> Router {
        let mut router = Router::new();
        for id in [ADA, BOB, CAROL] {
            router.add_participant(id, capacity, Some(LEVEL_ID));
        }
        router.publish(ADA, ADA_VIDEO, Kind::Video);
        router.publish(ADA, ADA_AUDIO, Kind::Audio);
        router.publish(BOB, BOB_AUDIO, Kind::Audio);
        let mapping = Mapping {
            payload_types: [(96, 96), (111, 111)].into_iter().collect(),
            extensions: [(LEVEL_ID, LEVEL_ID)].into_iter().collect(),
        };
        for (subscriber, publisher) in [(BOB, ADA), (CAROL, ADA), (ADA, BOB), (CAROL, BOB)] {
            router.subscribe(subscriber, publisher, mapping.clone());
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
        for i in 0..180u16 {
            let now = start + Duration::from_millis(u64::from(i) * 11);
            assert_eq!(router.on_rtp(now, ADA, &packet(96, i, ADA_VIDEO, None)), Ok(2));
            while let Some(p) = router.next_packet(BOB) {
                bob_got.push(seq(&p));
            }
        }
        assert_eq!(bob_got, (0..180).collect::<Vec<_>>(), "Bob got every packet, in order");
        assert_eq!(router.dropped(BOB), 0);
        assert_eq!(router.dropped(CAROL), 0, "180 packets fit Carol's 256");
        for i in 180..400u16 {
            router.on_rtp(start + Duration::from_secs(2), ADA, &packet(96, i, ADA_VIDEO, None)).unwrap();
            while router.next_packet(BOB).is_some() {}
        }
        assert_eq!(router.dropped(CAROL), 400 - 256);
        assert_eq!(router.dropped(BOB), 0, "Carol's stall cost Bob nothing");
        // Carol's lost video needs a keyframe: asked of Ada once.
        let now = start + Duration::from_secs(3);
        assert_eq!(router.poll(now), vec![Output::KeyframeRequest { publisher: ADA, ssrc: ADA_VIDEO }]);
        assert_eq!(router.poll(now + Duration::from_millis(100)), vec![], "reported once");
        // What Carol kept arrives oldest first.
        assert_eq!(router.next_packet(CAROL).map(|p| seq(&p)), Some(0));
    }

    #[test]
    fn speaking_is_reported_for_the_one_sending_a_tone_not_the_silent_one() {
        let start = Instant::now();
        let mut router = room(1024);
        let mut changes = Vec::new();
        for i in 0..100u16 {
            let now = start + Duration::from_millis(u64::from(i) * 20);
            router.on_rtp(now, ADA, &packet(111, i, ADA_AUDIO, Some(0x80 | 18))).unwrap();
            router.on_rtp(now, BOB, &packet(111, i, BOB_AUDIO, Some(127))).unwrap();
            changes.extend(router.poll(now));
        }
        assert_eq!(changes, vec![Output::Speaking { participant: ADA, speaking: true }]);
        // The packets reached the others with the level still on them.
        let to_bob = router.next_packet(BOB).unwrap();
        assert_eq!(rtp::extension(&to_bob, LEVEL_ID), Some(&[0x80 | 18][..]));
    }

    #[test]
    fn keyframe_requests_from_every_subscriber_reach_the_publisher_once_a_second() {
        let start = Instant::now();
        let mut router = room(64);
        let mut sent = Vec::new();
        for tick in 0..250u64 {
            let now = start + Duration::from_millis(tick * 10);
            // Bob and Carol each ask every 50 ms (2.5 s of a bad network).
            if tick % 5 == 0 {
                for _ in [BOB, CAROL] {
                    if router.request_keyframe(now, ADA_VIDEO) {
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
        assert_eq!(sent, vec![0, 1000, 2000]);
        assert!(!router.request_keyframe(start, ADA_AUDIO), "audio has no keyframes");
    }

    #[test]
    fn forged_or_garbage_packets_are_refused_and_reach_nobody() {
        let start = Instant::now();
        let mut router = room(64);
        // Bob sending with Ada's SSRC (a forged track), an unknown SSRC, garbage.
        assert_eq!(
            router.on_rtp(start, BOB, &packet(96, 1, ADA_VIDEO, None)),
            Err(ForwardError::UnknownTrack(ADA_VIDEO))
        );
        assert_eq!(
            router.on_rtp(start, BOB, &packet(111, 1, 0x99, None)),
            Err(ForwardError::UnknownTrack(0x99))
        );
        assert!(router.on_rtp(start, ADA, &[0x80, 1, 2]).is_err());
        let mut not_rtp = packet(96, 1, ADA_VIDEO, None);
        not_rtp[0] = 0x40;
        assert!(router.on_rtp(start, ADA, &not_rtp).is_err());
        for id in [ADA, BOB, CAROL] {
            assert_eq!(router.next_packet(id), None);
        }
    }

    #[test]
    fn someone_who_leaves_is_neither_forwarded_to_nor_from() {
        let start = Instant::now();
        let mut router = room(64);
        router.remove_participant(ADA);
        assert_eq!(
            router.on_rtp(start, ADA, &packet(96, 1, ADA_VIDEO, None)),
            Err(ForwardError::UnknownTrack(ADA_VIDEO))
        );
        assert_eq!(router.on_rtp(start, BOB, &packet(111, 1, BOB_AUDIO, Some(127))), Ok(1), "only Carol now");
        assert_eq!(router.next_packet(ADA), None);
    }
}
