//! A published track forwarded to one subscriber: its media section in the
//! subscriber's receiving connection, our payload types, and sequence
//! numbers and timestamps continuous from the subscriber's first packet
//! (also across the packets it was not sent while it hid the video, and
//! across switches between simulcast layers). str0m writes the
//! rest of each copy's header (its SSRC, the extension ids that
//! subscriber negotiated) and protects it.

use std::sync::Arc;
use std::time::Instant;

use concord_common::events::ForwardedTrack;
use concord_common::media::{H264_PAYLOAD_TYPE, OPUS_PAYLOAD_TYPE};
use str0m::media::Mid;
use str0m::rtp::{ExtensionValues, RtpWrite, SeqNo};
use str0m::Rtc;

use crate::router::{Kind, RtpPacket};

/// A track forwarded to a subscriber.
#[derive(Debug)]
pub struct Downtrack<C> {
    /// Whose track it is.
    pub publisher: C,
    /// Audio or video.
    pub kind: Kind,
    /// What the subscriber is told about it in each offer.
    pub info: ForwardedTrack,
    /// Its media section in the subscriber's receiving connection, once offered.
    pub mid: Option<Mid>,
    /// The subscriber's answer accepted it: packets flow.
    pub negotiated: bool,
    /// Added to the publisher's extended sequence number (of the layer
    /// sent) to give the subscriber's: at first its rollovers before the
    /// first packet this subscriber got are taken off (each downtrack starts
    /// at rollover 0, as SRTP requires of a new stream).
    seq_offset: Option<i64>,
    /// Added (wrapping) to the publisher's RTP timestamp.
    timestamp_offset: u32,
    /// The highest sequence number written...
    last_seq: Option<u64>,
    /// ...its timestamp, and when it was written.
    last_timestamp: Option<(u32, Instant)>,
    /// The publisher's sequence number where the numbering was last rebased:
    /// older packets (late, retransmitted) would land on numbers already sent.
    rebased_at: u64,
}

impl<C> Downtrack<C> {
    /// `publisher`'s track, not yet offered.
    pub fn new(publisher: C, kind: Kind, info: ForwardedTrack) -> Self {
        Self {
            publisher,
            kind,
            info,
            mid: None,
            negotiated: false,
            seq_offset: None,
            timestamp_offset: 0,
            last_seq: None,
            last_timestamp: None,
            rebased_at: 0,
        }
    }

    /// Writes one forwarded packet into the subscriber's connection `rtc`;
    /// `after_gap`: the packets since the last one written were skipped on
    /// purpose (a hidden video, or another simulcast layer, which numbers
    /// and times its packets its own way), and the numbering goes on without
    /// a hole, the timing from the last packet's by the time that passed.
    /// `false` when it could not be written (not negotiated, or from before
    /// the downtrack's first packet or latest rebase).
    pub fn write(&mut self, rtc: &mut Rtc, packet: &RtpPacket, after_gap: bool, now: Instant) -> bool {
        let Some(mid) = self.mid.filter(|_| self.negotiated) else { return false };
        if let (true, Some(last), Some((last_timestamp, at))) =
            (after_gap, self.last_seq, self.last_timestamp)
        {
            self.seq_offset = Some(last as i64 + 1 - packet.seq as i64);
            let clock_rate = match self.kind {
                Kind::Audio => 48_000,
                Kind::Video => 90_000,
            };
            let ticks = (now.saturating_duration_since(at).as_micros() * clock_rate / 1_000_000).max(1);
            let next_timestamp = last_timestamp.wrapping_add(u32::try_from(ticks).unwrap_or(u32::MAX));
            self.timestamp_offset = next_timestamp.wrapping_sub(packet.timestamp);
            self.rebased_at = packet.seq;
        }
        if packet.seq < self.rebased_at {
            return false;
        }
        let offset = *self.seq_offset.get_or_insert(-((packet.seq & !0xffff) as i64));
        let Ok(seq) = u64::try_from(packet.seq as i64 + offset) else { return false };
        let timestamp = packet.timestamp.wrapping_add(self.timestamp_offset);
        if self.last_seq.is_none_or(|last| seq >= last) {
            self.last_seq = Some(seq);
            self.last_timestamp = Some((timestamp, now));
        }
        let (payload_type, nackable) = match self.kind {
            Kind::Audio => (OPUS_PAYLOAD_TYPE, false),
            Kind::Video => (H264_PAYLOAD_TYPE, true),
        };
        let mut extensions = ExtensionValues::default();
        if let Some((level, voice)) = packet.audio_level {
            extensions.audio_level = Some(-i8::try_from(level).unwrap_or(127));
            extensions.voice_activity = Some(voice);
        }
        let write =
            RtpWrite::new(payload_type.into(), SeqNo::from(seq), timestamp, now, Arc::clone(&packet.payload))
                .marker(packet.marker)
                .ext_vals(extensions)
                .nackable(nackable);
        let mut api = rtc.direct_api();
        let Some(stream) = api.stream_tx_by_mid(mid, None) else { return false };
        stream.write_rtp(write);
        true
    }
}
