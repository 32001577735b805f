//! One WebRTC peer connection on the SFU's side (a *leg* of a participant:
//! publishing or receiving): str0m's sans-IO `Rtc` in
//! RTP mode (we forward packets, str0m never assembles frames), ICE-lite
//! with one UDP host candidate (the engine's UDP socket, at the advertised
//! address) and one passive TCP candidate (its TCP port, for clients whose
//! UDP is blocked), DTLS, SRTP, NACK and RTCP reports, and transport-wide
//! congestion feedback for the sender's estimator. Where the engine says
//! so, a receiving leg estimates its own downlink from the client's
//! feedback (str0m's GoogCC, [`RECEIVING_INITIAL_ESTIMATE`] to start): the
//! Router fits what it forwards into that.
//!
//! The codecs are the ones Concord's clients send (`concord_common::media`):
//! H.264 constrained baseline (packetization mode 1, with RTX: str0m
//! retransmits lost video only over RTX) and Opus, on Concord's payload
//! types, with str0m's standard header extensions (RFC 6464 audio level
//! among them). Everything else a browser offers is declined in the
//! answer.

use std::net::SocketAddr;
use std::time::Instant;

use rand::distr::{Alphanumeric, SampleString};
use str0m::bwe::Bitrate;
use str0m::format::{Codec, FormatParams};
use str0m::media::Frequency;
use str0m::net::TcpType;
use str0m::{Candidate, IceCreds, Rtc, RtcConfig};

use concord_common::media::{
    Leg, H264_FMTP, H264_PAYLOAD_TYPE, H264_RTX_PAYLOAD_TYPE, OPUS_FMTP, OPUS_PAYLOAD_TYPE,
};
use concord_common::RoomId;

use crate::Error;

/// A receiving connection's bandwidth estimate before the client's
/// feedback says more (probing raises it within a second or two where the
/// link carries more: a start low enough for a weak link not to choke on).
pub const RECEIVING_INITIAL_ESTIMATE: Bitrate = Bitrate::kbps(4_000);

/// The engine's name for a peer connection.
pub type PeerId = u64;

/// A peer connection and whose leg it is.
pub struct Peer<C> {
    /// The connection's state: str0m's.
    pub rtc: Rtc,
    /// The room whose call it is in.
    pub room: RoomId,
    /// The participant's connection (the calls service's key).
    pub owner: C,
    /// Which of the participant's two legs.
    pub leg: Leg,
    /// When it was made.
    pub created: Instant,
    /// When a datagram of it last arrived.
    pub last_heard: Option<Instant>,
    /// When `rtc` next wants the time (its last `Output::Timeout`).
    pub deadline: Option<Instant>,
    /// ICE and DTLS are up: media written to it reaches the client.
    pub connected: bool,
}

impl<C> Peer<C> {
    /// A new peer connection of `owner` in `room`, whose ICE username
    /// fragment is `ufrag`, at `addresses` (UDP, and TCP if any: see
    /// [`new_rtc`]); with `estimates`, it estimates its bandwidth.
    pub fn new(
        now: Instant,
        ufrag: &str,
        (room, owner, leg): (RoomId, C, Leg),
        (candidate, tcp_candidate): (SocketAddr, Option<SocketAddr>),
        estimates: bool,
    ) -> Result<Self, Error> {
        let rtc = new_rtc(now, ufrag, estimates, candidate, tcp_candidate)?;
        Ok(Self {
            rtc,
            room,
            owner,
            leg,
            created: now,
            last_heard: None,
            deadline: Some(now),
            connected: false,
        })
    }

    /// When it was last heard from (or made, if never).
    pub fn heard_since(&self) -> Instant {
        self.last_heard.unwrap_or(self.created)
    }
}

/// A new peer connection (with `estimates`, estimating the bandwidth of
/// what it sends) whose ICE username fragment is `ufrag`, reachable
/// at `candidate` (the SFU's UDP socket as clients must address it) and,
/// when there is one, at `tcp_candidate` (its TCP port: a passive ICE-TCP
/// candidate, which clients whose UDP is blocked connect to).
fn new_rtc(
    now: Instant,
    ufrag: &str,
    estimates: bool,
    candidate: SocketAddr,
    tcp_candidate: Option<SocketAddr>,
) -> Result<Rtc, Error> {
    let credentials =
        IceCreds { ufrag: ufrag.to_owned(), pass: Alphanumeric.sample_string(&mut rand::rng(), 24) };
    let mut config =
        Rtc::builder().set_ice_lite(true).set_rtp_mode(true).set_local_ice_credentials(credentials);
    if estimates {
        config = config.enable_bwe(Some(RECEIVING_INITIAL_ESTIMATE));
    }
    let mut rtc = with_concord_codecs(config).build(now);
    let udp = Candidate::host(candidate, "udp").map_err(Error::internal)?;
    rtc.add_local_candidate(udp);
    if let Some(tcp) = tcp_candidate {
        let tcp = Candidate::builder()
            .tcp()
            .host(tcp)
            .tcptype(TcpType::Passive)
            .build()
            .map_err(Error::internal)?;
        rtc.add_local_candidate(tcp);
    }
    Ok(rtc)
}

/// `config` with Concord's codecs only (`concord_common::media`): H.264
/// with RTX — str0m keeps what it sent, and answers NACKs, only with it —
/// and Opus, on Concord's payload types.
pub fn with_concord_codecs(config: RtcConfig) -> RtcConfig {
    let mut config = config.clear_codecs();
    let codecs = config.codec_config();
    let h264 = FormatParams::parse_line(H264_FMTP);
    let rtx = Some(H264_RTX_PAYLOAD_TYPE.into());
    codecs.add_config(H264_PAYLOAD_TYPE.into(), rtx, Codec::H264, Frequency::NINETY_KHZ, None, h264);
    let opus = FormatParams::parse_line(OPUS_FMTP);
    codecs.add_config(OPUS_PAYLOAD_TYPE.into(), None, Codec::Opus, Frequency::FORTY_EIGHT_KHZ, Some(2), opus);
    config
}

/// A fresh ICE username fragment (the demultiplexer's key for a new peer).
pub fn new_ufrag() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 16)
}
