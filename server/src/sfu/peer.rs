//! One WebRTC peer connection on the SFU's side, built on `rtc` 0.21's
//! sans-IO `RTCPeerConnection`: ICE-lite with one UDP host candidate (the
//! shared UDP socket, at the advertised address) and one passive TCP
//! candidate (the shared TCP port, for clients whose UDP is blocked), DTLS, SRTP, and rtc's
//! interceptors: on a publishing connection (media in) the defaults — NACK
//! generator and responder, receiver and sender reports, transport-wide
//! congestion feedback for the sender's estimator; on a receiving one
//! (media out) only what outgoing media uses, the NACK responder and sender
//! reports (every forwarded packet walks each interceptor in the chain, so
//! the three that only act on incoming media would cost every copy for
//! nothing). A small interceptor of ours passes keyframe requests (PLI/FIR)
//! up to the engine, which throttles and relays them to the publisher.
//!
//! The codecs are the ones Concord's clients send: H.264 constrained
//! baseline (packetization mode 1) and Opus, with the RFC 6464 audio-level
//! header extension on audio. Everything else a browser offers is declined
//! in the answer.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use rand::distr::{Alphanumeric, SampleString};
use rtc::ice::tcp_type::TcpType;
use rtc::interceptor::{
    Attribute, Interceptor, NackResponderBuilder, Packet, Registry, SenderReportBuilder, Slot, StreamInfo,
    TaggedPacket,
};
use rtc::peer_connection::configuration::interceptor_registry::{
    configure_simulcast_extension_headers, register_default_interceptors,
};
use rtc::peer_connection::configuration::media_engine::{MediaEngine, MIME_TYPE_H264, MIME_TYPE_OPUS};
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::transport::{
    CandidateConfig, CandidateHostConfig, RTCIceCandidate, RTCIceCandidateInit,
};
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpHeaderExtensionCapability, RtpCodecKind,
};
use rtc::sansio::Protocol;

use concord_common::media::{
    Leg, AUDIO_LEVEL_URI, H264_FMTP, H264_PAYLOAD_TYPE, OPUS_FMTP, OPUS_PAYLOAD_TYPE,
};

/// Why a peer connection could not be set up or negotiated.
pub type PeerError = rtc::shared::error::Error;

/// A new peer connection whose ICE username fragment is `ufrag`, reachable
/// at `candidate` (the SFU's UDP socket as clients must address it) and,
/// when there is one, at `tcp_candidate` (its TCP port: a passive ICE-TCP
/// candidate, which clients whose UDP is blocked connect to).
pub fn new_peer(
    now: Instant,
    ufrag: &str,
    candidate: SocketAddr,
    tcp_candidate: Option<SocketAddr>,
    leg: Leg,
) -> Result<RTCPeerConnection, PeerError> {
    let mut media_engine = MediaEngine::default();
    media_engine.register_codec(
        RTCRtpCodecParameters { rtp_codec: h264(), payload_type: H264_PAYLOAD_TYPE },
        RtpCodecKind::Video,
    )?;
    media_engine.register_codec(
        RTCRtpCodecParameters { rtp_codec: opus(), payload_type: OPUS_PAYLOAD_TYPE },
        RtpCodecKind::Audio,
    )?;
    media_engine.register_header_extension(
        RTCRtpHeaderExtensionCapability { uri: AUDIO_LEVEL_URI.to_owned() },
        RtpCodecKind::Audio,
        None,
    )?;
    let registry = match leg {
        Leg::Publishing => register_default_interceptors(Registry::new(), &mut media_engine)?,
        Leg::Receiving => {
            // The same header extensions as the defaults (mid, rid), no
            // transport-wide congestion feedback (nothing comes in to report on).
            configure_simulcast_extension_headers(&mut media_engine)?;
            Registry::new()
                .with(Slot::NackResponder, NackResponderBuilder::new().build())
                .with(Slot::SenderReport, SenderReportBuilder::new().build())
        }
    };
    let registry = registry.with(Slot::from(14_000), KeyframeRequestsUp::default());
    let password = Alphanumeric.sample_string(&mut rand::rng(), 24);
    let settings =
        SettingEngineBuilder::new().with_lite(true).with_ice_credentials(ufrag.to_owned(), password).build();
    let mut peer = RTCPeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_setting_engine(settings)
        .with_media_engine(media_engine)
        .with_interceptor_registry(registry)
        .build(now)?;
    let udp = host_candidate("udp", candidate, TcpType::Unspecified)?;
    peer.add_local_candidate(udp)?;
    if let Some(tcp) = tcp_candidate {
        peer.add_local_candidate(host_candidate("tcp", tcp, TcpType::Passive)?)?;
    }
    Ok(peer)
}

/// A host candidate at `address` over `network` ("udp" or "tcp").
fn host_candidate(
    network: &str,
    address: SocketAddr,
    tcp_type: TcpType,
) -> Result<RTCIceCandidateInit, PeerError> {
    let host = CandidateHostConfig {
        base_config: CandidateConfig {
            network: network.to_owned(),
            address: address.ip().to_string(),
            port: address.port(),
            component: 1,
            ..Default::default()
        },
        tcp_type,
    }
    .new_candidate_host()?;
    RTCIceCandidate::from(&host).to_json()
}

/// A fresh ICE username fragment (the demultiplexer's key for a new peer).
pub fn new_ufrag() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 16)
}

/// The codec a client's H.264 is forwarded as.
pub fn h264() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_H264.to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: H264_FMTP.to_owned(),
        rtcp_feedback: vec![feedback("nack", ""), feedback("nack", "pli"), feedback("ccm", "fir")],
    }
}

/// The codec a client's Opus is forwarded as.
pub fn opus() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: OPUS_FMTP.to_owned(),
        rtcp_feedback: vec![],
    }
}

fn feedback(typ: &str, parameter: &str) -> RTCPFeedback {
    RTCPFeedback { typ: typ.to_owned(), parameter: parameter.to_owned() }
}

/// The SSRC of the track a PLI or FIR asks a keyframe of, if `packet` is one.
pub fn keyframe_request_ssrc(packet: &dyn rtc::rtcp::Packet) -> Option<u32> {
    let packet = packet.as_any();
    if let Some(pli) = packet.downcast_ref::<PictureLossIndication>() {
        return Some(pli.media_ssrc);
    }
    packet.downcast_ref::<FullIntraRequest>().and_then(|fir| fir.fir.first().map(|entry| entry.ssrc))
}

/// Marks incoming PLI/FIR for delivery to the engine (rtc keeps RTCP inside
/// its interceptor chain otherwise); everything passes on unchanged.
#[derive(Default)]
struct KeyframeRequestsUp {
    read_queue: VecDeque<TaggedPacket>,
    write_queue: VecDeque<TaggedPacket>,
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeRequestsUp {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = PeerError;
    type Time = Instant;

    fn handle_read(&mut self, mut message: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &message.message.packet {
            if packets.iter().any(|p| keyframe_request_ssrc(p.as_ref()).is_some()) {
                message.message.add(Attribute::DeliverToApplication);
            }
        }
        self.read_queue.push_back(message);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read_queue.pop_front()
    }

    fn handle_write(&mut self, message: TaggedPacket) -> Result<(), Self::Error> {
        self.write_queue.push_back(message);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write_queue.pop_front()
    }
}

impl Interceptor for KeyframeRequestsUp {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}
