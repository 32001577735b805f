//! One room's forwarding: every packet a participant publishes is queued to
//! every other participant that negotiated its track and shows it (the
//! copies share the one packet: no allocation or copy per subscriber); a
//! video shown again after being hidden restarts at its next keyframe;
//! keyframe requests go back to the publisher throttled; audio levels
//! decide who is speaking. The transport feeds [`Router::on_rtp`] and
//! [`Router::request_keyframe`], drains [`Router::next_forwarded`] per
//! subscriber, and calls [`Router::poll`] on its timer.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::keyframe::KeyframeThrottle;
use crate::queue::SubscriberQueue;
use crate::speaking::SpeakingDetector;

/// A participant, as the room numbers them.
pub type ParticipantId = u64;

/// Keyframe requests per published video track: at most one per this
/// while the publisher's keyframes arrive (a picture lost to the network
/// comes back within about half a second; a publisher sends at most two
/// keyframes a second however many subscribers ask)...
pub const KEYFRAME_INTERVAL: Duration = Duration::from_millis(500);
/// ...and a request its keyframe has not begun to answer after this is
/// repeated (it or the keyframe was lost). A keyframe answers within the
/// round trip, one frame interval and its encoding: under 400 ms on any
/// link a call works on, at 5 fps and up.
pub const KEYFRAME_RETRY: Duration = Duration::from_millis(400);

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
}

#[derive(Debug)]
struct Track {
    publisher: ParticipantId,
    kind: Kind,
    keyframes: KeyframeThrottle,
}

/// A packet queued for one subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarded {
    /// The packet, shared by every copy.
    pub packet: Arc<RtpPacket>,
    /// The first of its track after packets this subscriber was not sent on
    /// purpose (a hidden video): its numbering goes on from the last one sent.
    pub after_gap: bool,
}

#[derive(Debug)]
struct Participant {
    /// The published tracks (by SSRC) this participant's receiving
    /// connection has negotiated.
    subscribed: HashSet<u32>,
    /// Negotiated video tracks this participant does not show: none of it is sent.
    hidden: HashSet<u32>,
    /// Video tracks shown again: sent from their next keyframe on.
    awaiting_keyframe: HashSet<u32>,
    queue: SubscriberQueue<Forwarded>,
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

    /// Someone joins: their queue holds `queue_capacity` packets.
    pub fn add_participant(&mut self, id: ParticipantId, queue_capacity: usize) {
        let participant = Participant {
            subscribed: HashSet::new(),
            hidden: HashSet::new(),
            awaiting_keyframe: HashSet::new(),
            queue: SubscriberQueue::new(queue_capacity),
            speaking: SpeakingDetector::new(),
        };
        self.participants.insert(id, participant);
    }

    /// Someone leaves: their tracks and their queue go; nobody forwards to them.
    pub fn remove_participant(&mut self, id: ParticipantId) {
        self.participants.remove(&id);
        let gone: Vec<u32> =
            self.tracks.iter().filter(|(_, t)| t.publisher == id).map(|(ssrc, _)| *ssrc).collect();
        for ssrc in gone {
            self.unpublish(ssrc);
        }
    }

    /// `publisher` sends a track with `ssrc`.
    pub fn publish(&mut self, publisher: ParticipantId, ssrc: u32, kind: Kind) {
        let keyframes = KeyframeThrottle::new(KEYFRAME_INTERVAL, KEYFRAME_RETRY);
        self.tracks.insert(ssrc, Track { publisher, kind, keyframes });
    }

    /// Track `ssrc` ended: nobody receives it any more.
    pub fn unpublish(&mut self, ssrc: u32) {
        self.tracks.remove(&ssrc);
        for participant in self.participants.values_mut() {
            participant.subscribed.remove(&ssrc);
            participant.hidden.remove(&ssrc);
            participant.awaiting_keyframe.remove(&ssrc);
        }
    }

    /// Whether `subscriber` shows track `ssrc`. Returns `true` when a hidden
    /// track is shown again: it restarts at its next keyframe, which the
    /// caller should ask its publisher for.
    pub fn set_hidden(&mut self, subscriber: ParticipantId, ssrc: u32, hidden: bool) -> bool {
        let Some(participant) = self.participants.get_mut(&subscriber) else { return false };
        if hidden {
            participant.awaiting_keyframe.remove(&ssrc);
            participant.hidden.insert(ssrc);
            return false;
        }
        let shown_again = participant.hidden.remove(&ssrc);
        if shown_again {
            participant.awaiting_keyframe.insert(ssrc);
        }
        shown_again
    }

    /// `subscriber`'s receiving connection negotiated track `ssrc`: its
    /// packets are queued for them from now on.
    pub fn subscribe(&mut self, subscriber: ParticipantId, ssrc: u32) {
        if let Some(participant) = self.participants.get_mut(&subscriber) {
            participant.subscribed.insert(ssrc);
        }
    }

    /// A packet from `publisher` at `now`: queued for every subscriber of
    /// its track. Returns how many subscribers it was queued for (a full
    /// queue drops it for that subscriber alone).
    pub fn on_rtp(
        &mut self,
        now: Instant,
        publisher: ParticipantId,
        packet: Arc<RtpPacket>,
    ) -> Result<usize, ForwardError> {
        let kind = match self.tracks.get_mut(&packet.ssrc) {
            Some(track) if track.publisher == publisher => {
                if packet.keyframe {
                    track.keyframes.keyframe_arrived();
                }
                track.kind
            }
            _ => return Err(ForwardError::UnknownTrack(packet.ssrc)),
        };
        if let (Kind::Audio, Some((level, _))) = (kind, packet.audio_level) {
            if let Some(sender) = self.participants.get_mut(&publisher) {
                sender.speaking.observe(now, level);
            }
        }
        let mut queued = 0;
        let ssrc = packet.ssrc;
        for (id, subscriber) in &mut self.participants {
            if *id == publisher || !subscriber.subscribed.contains(&ssrc) || subscriber.hidden.contains(&ssrc)
            {
                continue;
            }
            let after_gap = subscriber.awaiting_keyframe.contains(&ssrc);
            if after_gap {
                if !packet.keyframe {
                    continue;
                }
                subscriber.awaiting_keyframe.remove(&ssrc);
            }
            queued +=
                usize::from(subscriber.queue.push(Forwarded { packet: Arc::clone(&packet), after_gap }));
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
        let mut overflowed: Vec<u32> = self
            .participants
            .values_mut()
            .filter_map(|p| p.queue.take_dropped().then_some(&p.subscribed))
            .flat_map(|subscribed| subscribed.iter().copied())
            .collect();
        overflowed.sort_unstable();
        overflowed.dedup();
        for ssrc in overflowed {
            let Some(track) = self.tracks.get_mut(&ssrc) else { continue };
            if track.kind == Kind::Video && track.keyframes.request(now) {
                out.push(Output::KeyframeRequest { publisher: track.publisher, ssrc });
            }
        }
        let mut ssrcs: Vec<u32> = self.tracks.keys().copied().collect();
        ssrcs.sort_unstable();
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
        assert_eq!(sent, vec![0, 500, 1000, 1500, 2000]);
        assert!(!router.request_keyframe(start, ADA_AUDIO), "audio has no keyframes");
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
}
