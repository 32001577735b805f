//! A published track forwarded to one subscriber: its media section in the
//! subscriber's receiving connection, our payload types, and sequence
//! numbers continuous from the subscriber's first packet (also across the
//! packets it was not sent while it hid the video). str0m writes the
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
    /// The publisher's extended sequence number, less its rollovers before
    /// the first packet this subscriber got: each downtrack starts at
    /// rollover 0, as SRTP requires of a new stream.
    seq_base: Option<u64>,
    /// The highest sequence number written.
    last_seq: Option<u64>,
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
            seq_base: None,
            last_seq: None,
            rebased_at: 0,
        }
    }

    /// Writes one forwarded packet into the subscriber's connection `rtc`;
    /// `after_gap`: the packets since the last one written were skipped on
    /// purpose, and the numbering goes on without a hole. `false` when it
    /// could not be written (not negotiated, or from before the downtrack's
    /// first packet).
    pub fn write(&mut self, rtc: &mut Rtc, packet: &RtpPacket, after_gap: bool, now: Instant) -> bool {
        let Some(mid) = self.mid.filter(|_| self.negotiated) else { return false };
        if let Some(last) = self.last_seq.filter(|_| after_gap) {
            if let Some(base) = packet.seq.checked_sub(last + 1) {
                self.seq_base = Some(base);
                self.rebased_at = packet.seq;
            }
        }
        if packet.seq < self.rebased_at {
            return false;
        }
        let base = *self.seq_base.get_or_insert(packet.seq & !0xffff);
        let Some(seq) = packet.seq.checked_sub(base) else { return false };
        self.last_seq = Some(self.last_seq.map_or(seq, |last| last.max(seq)));
        let (payload_type, nackable) = match self.kind {
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
}
