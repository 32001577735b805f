//! A small wrapper around webrtc-rs 0.21 that speaks our own types.
//!
//! A [`MediaPeer`] publishes [`LocalTrack`]s and reports what happens as
//! [`TransportEvent`]s on a bounded channel: connection state changes, remote
//! tracks (read with [`RemoteTrack::next_packet`]) and keyframe requests
//! (PLI/FIR) for our own video. NACK retransmission, RTCP reports and
//! keyframe-request delivery are on by default. Negotiation is whole-SDP
//! (ICE gathering completes before an offer or answer is returned), which is
//! what the Concord server's signalling carries.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::{
    Attribute, CongestionControlBuilder, Gcc, Interceptor, NackGeneratorBuilder, NackResponderBuilder,
    Packet, Registry, Slot, StreamInfo, TaggedPacket, TwccSenderBuilder,
};
use rtc::media::Sample;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::{
    configure_rtcp_reports, configure_simulcast_extension_headers, configure_twcc_receiver_only,
};
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_H264, MIME_TYPE_OPUS, MIME_TYPE_RTX};
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::transport::{RTCIceCandidateInit, RTCIceCandidateType, RTCIceServer};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::reception_report::ReceptionReport;
use rtc::rtcp::sender_report::SenderReport;
use rtc::rtp::extension::audio_level_extension::AudioLevelExtension;
use rtc::rtp::extension::HeaderExtension;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RTCRtpHeaderExtensionCapability, RtpCodecKind,
};
use rtc::sansio::Protocol;
use rtc::shared::marshal::{Marshal, MarshalSize};
use rtc::statistics::report::RTCStatsReportEntry;
use tokio::sync::{mpsc, watch};
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceGatheringState,
    RTCPeerConnectionState,
};
use webrtc::rtp_transceiver::RtpSender;

use concord_common::media::{
    AUDIO_LEVEL_URI, H264_FMTP, H264_PAYLOAD_TYPE, H264_RTX_PAYLOAD_TYPE, OPUS_FMTP, OPUS_PAYLOAD_TYPE,
};

use crate::assembler::RtpPiece;
use crate::uplink::UplinkFeedback;
use crate::{MediaError, Result};

/// How long ICE gathering may take before an offer/answer gives up.
const GATHER_TIMEOUT: Duration = Duration::from_secs(10);

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackKind {
    /// Opus.
    Audio,
    /// H.264.
    Video,
}

/// The connection's state, as a user would describe it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerState {
    /// Negotiating or checking connectivity.
    Connecting,
    /// Media can flow.
    Connected,
    /// Lost for now; ICE may recover it.
    Disconnected,
    /// Gave up: the call must reconnect.
    Failed,
    /// Closed on purpose.
    Closed,
}

/// What a [`MediaPeer`] reports.
pub enum TransportEvent {
    /// The connection state changed.
    State(PeerState),
    /// The other side published a track: read it with [`RemoteTrack::next_packet`].
    RemoteTrack(RemoteTrack),
    /// The other side's decoder needs a keyframe on one of our video tracks.
    KeyframeRequested {
        /// Our track's id.
        track_id: String,
    },
}

/// A STUN/TURN server.
#[derive(Debug, Clone, Default)]
pub struct IceServer {
    /// `stun:` / `turn:` URLs.
    pub urls: Vec<String>,
    /// TURN username.
    pub username: String,
    /// TURN credential.
    pub credential: String,
}

/// How a peer connection is set up.
#[derive(Debug, Clone)]
pub struct PeerOptions {
    /// STUN/TURN servers.
    pub ice_servers: Vec<IceServer>,
    /// Local UDP addresses to bind, e.g. `0.0.0.0:0`; tests use `127.0.0.1:0`.
    pub udp_addrs: Vec<String>,
    /// Local TCP addresses to bind, for ICE over TCP (RFC 6544): with one,
    /// the connection also dials the other side's passive TCP candidates
    /// (the SFU's TCP port), which is how it gets through where UDP is
    /// blocked. Empty: UDP only.
    pub tcp_addrs: Vec<String>,
}

impl PeerOptions {
    /// Loopback only, UDP only, no ICE servers: for self-tests and tests.
    pub fn loopback() -> Self {
        Self { ice_servers: Vec::new(), udp_addrs: vec!["127.0.0.1:0".to_owned()], tcp_addrs: Vec::new() }
    }
}

/// One WebRTC peer connection carrying our tracks.
pub struct MediaPeer {
    connection: Arc<dyn PeerConnection>,
    gathering: watch::Receiver<bool>,
    events: mpsc::Sender<TransportEvent>,
    /// ICE over TCP too (TCP addresses were bound).
    tcp: bool,
    /// The passive TCP candidates already dialled: each once per connection.
    dialled: Mutex<Vec<String>>,
    /// What the other side says arrived of what this connection sent.
    delivery: Arc<Mutex<Delivery>>,
}

impl MediaPeer {
    /// Builds a peer connection; events arrive on `events` (bounded: a stalled reader stalls signalling, not media).
    pub async fn new(options: PeerOptions, events: mpsc::Sender<TransportEvent>) -> Result<Self> {
        let runtime = webrtc::runtime::default_runtime()
            .ok_or_else(|| MediaError::Transport("no async runtime compiled in".into()))?;
        let mut media_engine = MediaEngine::default();
        register_codecs(&mut media_engine)?;
        let registry = interceptors(&mut media_engine)?;
        let delivery: Arc<Mutex<Delivery>> = Arc::default();
        let reader = RtcpReader { delivery: Arc::clone(&delivery), ..RtcpReader::default() };
        let registry = registry.with(Slot::from(14_000), reader);
        let ice_servers = options
            .ice_servers
            .into_iter()
            .map(|s| RTCIceServer { urls: s.urls, username: s.username, credential: s.credential })
            .collect();
        let tcp = !options.tcp_addrs.is_empty();
        let (gathered_tx, gathering) = watch::channel(false);
        let handler = Arc::new(Handler { events: events.clone(), gathered: gathered_tx });
        let connection = Box::pin(
            PeerConnectionBuilder::new()
                .with_configuration(RTCConfigurationBuilder::new().with_ice_servers(ice_servers).build())
                // No mDNS: the SFU's candidates are addresses, never `.local` names, and its
                // multicast socket fails the whole connection on a host without a multicast
                // route (ENODEV), e.g. one whose only way out is a firewall.
                .with_setting_engine(
                    SettingEngineBuilder::new()
                        .with_multicast_dns_mode(MulticastDnsMode::Disabled)
                        .with_ice_connection_attempts(Some(ICE_CHECK_INTERVAL), Some(ICE_CHECKS_PER_PAIR))
                        // Each simulcast layer's RTX SSRC in the offer (a=ssrc-group:FID):
                        // rtc marks its retransmissions with no repaired RID, so the SFU
                        // pairs them by SSRC.
                        .with_write_ssrc_attributes_for_simulcast(true)
                        .build(),
                )
                .with_media_engine(media_engine)
                .with_interceptor_registry(registry)
                .with_handler(handler)
                .with_runtime(runtime)
                .with_udp_addrs(options.udp_addrs)
                .with_tcp_addrs(options.tcp_addrs)
                .build(),
        )
        .await
        .map_err(transport)?;
        Ok(Self {
            connection: Arc::new(connection),
            gathering,
            events,
            tcp,
            dialled: Default::default(),
            delivery,
        })
    }

    /// Publishes a track; write to it once connected.
    pub async fn add_track(&self, track_id: &str, stream_id: &str, kind: TrackKind) -> Result<LocalTrack> {
        self.add_layered_track(track_id, stream_id, kind, &[]).await
    }

    /// Publishes a video track in simulcast: one RTP stream per RID in
    /// `rids` (`a=simulcast:send`), written to with [`LocalTrack::write_layer`]
    /// by their index; none: one stream, as [`MediaPeer::add_track`].
    pub async fn add_layered_track(
        &self,
        track_id: &str,
        stream_id: &str,
        kind: TrackKind,
        rids: &[&str],
    ) -> Result<LocalTrack> {
        let codec = match kind {
            TrackKind::Video => h264_codec(),
            TrackKind::Audio => opus_codec(),
        };
        let layers: Vec<(String, u32)> = if rids.is_empty() {
            vec![(String::new(), rand::random())]
        } else {
            rids.iter().map(|rid| ((*rid).to_owned(), rand::random())).collect()
        };
        let encodings = layers
            .iter()
            .map(|(rid, ssrc)| RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    rid: rid.clone(),
                    ssrc: Some(*ssrc),
                    ..Default::default()
                },
                codec: codec.clone(),
                ..Default::default()
            })
            .collect();
        let description = MediaStreamTrack::new(
            stream_id.to_owned(),
            track_id.to_owned(),
            track_id.to_owned(),
            rtp_kind(kind),
            encodings,
        );
        let track = Arc::new(TrackLocalStaticSample::new(Instant::now(), description).map_err(transport)?);
        let sender =
            self.connection.add_track(Arc::clone(&track) as Arc<dyn TrackLocal>).await.map_err(transport)?;
        if kind == TrackKind::Video {
            let (track, events, track_id) = (Arc::clone(&track), self.events.clone(), track_id.to_owned());
            tokio::spawn(async move {
                while let Some(event) = track.poll().await {
                    let TrackLocalEvent::OnRtcpPacket(packets) = event else { continue };
                    if packets.iter().any(|p| is_keyframe_request(p.as_ref())) {
                        let request = TransportEvent::KeyframeRequested { track_id: track_id.clone() };
                        if events.send(request).await.is_err() {
                            break;
                        }
                    }
                }
            });
        }
        Ok(LocalTrack {
            track,
            sender,
            layers,
            kind,
            id: track_id.to_owned(),
            payload_type: OnceLock::new(),
            mid: OnceLock::new(),
            connection: Arc::clone(&self.connection),
        })
    }

    /// Creates an offer and returns its SDP once ICE gathering is complete.
    pub async fn create_offer(&self) -> Result<String> {
        let offer = self.connection.create_offer(None).await.map_err(transport)?;
        self.connection.set_local_description(offer).await.map_err(transport)?;
        self.gathered_local_sdp().await
    }

    /// Takes the other side's offer and returns our answer's SDP.
    pub async fn accept_offer(&self, offer_sdp: String) -> Result<String> {
        let tcp = passive_tcp_candidates(&offer_sdp);
        let offer = RTCSessionDescription::offer(offer_sdp).map_err(transport)?;
        self.connection.set_remote_description(offer).await.map_err(transport)?;
        self.dial_tcp(tcp).await;
        let answer = self.connection.create_answer(None).await.map_err(transport)?;
        self.connection.set_local_description(answer).await.map_err(transport)?;
        self.gathered_local_sdp().await
    }

    /// Takes the other side's answer to our offer.
    pub async fn accept_answer(&self, answer_sdp: String) -> Result<()> {
        let tcp = passive_tcp_candidates(&answer_sdp);
        let answer = RTCSessionDescription::answer(answer_sdp).map_err(transport)?;
        self.connection.set_remote_description(answer).await.map_err(transport)?;
        self.dial_tcp(tcp).await;
        Ok(())
    }

    /// Hands the other side's passive TCP candidates to ICE once more, as
    /// trickled candidates: webrtc-rs opens a TCP connection only to those
    /// (not to the ones it read in the description). Nothing without TCP.
    ///
    /// Each candidate once per peer connection: every renegotiation's offer
    /// names the same ones, and each dial opens another TCP connection that
    /// ICE checks too. The SFU keeps the first connection the client
    /// nominated while the client may pick a later one, so the DTLS
    /// handshake went unanswered: six participants over TCP on a loaded
    /// machine waited 30 s for a handshake timeout and a rejoin.
    async fn dial_tcp(&self, candidates: Vec<String>) {
        if !self.tcp {
            return;
        }
        let new: Vec<String> = {
            let mut dialled = self.dialled.lock().unwrap_or_else(PoisonError::into_inner);
            let new: Vec<String> = candidates.into_iter().filter(|c| !dialled.contains(c)).collect();
            dialled.extend(new.iter().cloned());
            new
        };
        for candidate in new {
            let init = RTCIceCandidateInit { candidate, ..Default::default() };
            if let Err(error) = self.connection.add_ice_candidate(init).await {
                tracing::debug!(%error, "a TCP candidate was not taken");
            }
        }
    }

    /// Which transport the connection's media goes over — `"udp"`, `"tcp"`,
    /// or `"relay"` (through a TURN relay) — as ICE chose it (`None` before
    /// it chose).
    pub async fn transport_protocol(&self) -> Option<String> {
        let report =
            self.connection.get_stats(Instant::now(), webrtc::peer_connection::StatsSelector::None).await;
        // The transport names the pair in use; its local candidate's entry is
        // filed under "RTCLocalIceCandidate_" + the id the pair gives (rtc 0.21).
        let selected = report.iter().find_map(|entry| match entry {
            RTCStatsReportEntry::Transport(transport) => Some(transport.selected_candidate_pair_id.clone()),
            _ => None,
        })?;
        let pair = report.candidate_pairs().find(|pair| pair.stats.id == selected)?;
        let local =
            [format!("RTCLocalIceCandidate_{}", pair.local_candidate_id), pair.local_candidate_id.clone()];
        local.iter().find_map(|id| match report.get(id) {
            Some(RTCStatsReportEntry::LocalCandidate(candidate)) => {
                Some(if candidate.candidate_type == RTCIceCandidateType::Relay {
                    "relay".to_owned()
                } else {
                    candidate.protocol.to_lowercase()
                })
            }
            _ => None,
        })
    }

    /// The round-trip time to the other side, as ICE measured it on the
    /// connection's selected candidate pair (`None` before one was measured).
    pub async fn round_trip_time(&self) -> Option<Duration> {
        let report =
            self.connection.get_stats(Instant::now(), webrtc::peer_connection::StatsSelector::None).await;
        let rtt = report
            .candidate_pairs()
            .filter(|pair| pair.nominated && pair.current_round_trip_time > 0.0)
            .map(|pair| Duration::from_secs_f64(pair.current_round_trip_time))
            .next();
        rtt
    }

    /// What this connection's uplink carries, in bits per second, as its
    /// congestion controller (GCC, from the other side's transport-wide
    /// feedback) estimates it (`None` before the first estimate), and what
    /// the other side's receiver reports say of what it sent.
    pub async fn uplink_feedback(&self) -> UplinkFeedback {
        let report =
            self.connection.get_stats(Instant::now(), webrtc::peer_connection::StatsSelector::None).await;
        let estimate = report
            .iter()
            .filter_map(|entry| match entry {
                RTCStatsReportEntry::OutboundRtp(stream) => Some(stream.target_bitrate),
                _ => None,
            })
            .fold(0.0f64, f64::max);
        // rtc 0.21 does not file receiver reports in its stats: ours, read on the way in.
        let delivery = self.delivery.lock().unwrap_or_else(PoisonError::into_inner);
        UplinkFeedback {
            estimate: (estimate > 0.0).then_some(estimate as u32),
            packets_received: delivery.received,
            packets_lost: delivery.lost,
        }
    }

    /// Closes the connection; remote tracks end.
    pub async fn close(&self) {
        if let Err(error) = self.connection.close().await {
            tracing::debug!(%error, "closing a peer connection");
        }
    }

    async fn gathered_local_sdp(&self) -> Result<String> {
        let mut gathering = self.gathering.clone();
        tokio::time::timeout(GATHER_TIMEOUT, gathering.wait_for(|done| *done))
            .await
            .map_err(|_| MediaError::Transport("ICE gathering did not complete in 10 s".into()))?
            .map_err(|_| MediaError::Transport("the peer connection closed while gathering".into()))?;
        let description = self
            .connection
            .local_description()
            .await
            .ok_or_else(|| MediaError::Transport("no local description after gathering".into()))?;
        Ok(description.sdp)
    }
}

/// A track we publish.
pub struct LocalTrack {
    track: Arc<TrackLocalStaticSample>,
    sender: Arc<dyn RtpSender>,
    /// Its RTP streams: (RID, SSRC) of each simulcast layer, or ("", SSRC) of its one.
    layers: Vec<(String, u32)>,
    kind: TrackKind,
    id: String,
    payload_type: OnceLock<u8>,
    /// Its media section, once negotiated (simulcast packets name it).
    mid: OnceLock<String>,
    connection: Arc<dyn PeerConnection>,
}

impl LocalTrack {
    /// The track's id (as the other side sees it).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Audio or video.
    pub fn kind(&self) -> TrackKind {
        self.kind
    }

    /// Sends one encoded frame (an H.264 access unit or an Opus packet)
    /// covering `duration` of media. Returns `false` when it was not sent
    /// because negotiation has not finished yet.
    pub async fn write(&self, data: Bytes, duration: Duration) -> Result<bool> {
        self.write_with_level(data, duration, None).await
    }

    /// As [`LocalTrack::write`], for audio with its RFC 6464 level (0 = loudest,
    /// 127 = silence, in -dBov), from which the SFU tells who is speaking.
    pub async fn write_with_level(&self, data: Bytes, duration: Duration, level: Option<u8>) -> Result<bool> {
        self.write_to(0, data, duration, level).await
    }

    /// Its simulcast layers' RIDs, in the order [`LocalTrack::write_layer`] numbers them (none: one stream).
    pub fn rids(&self) -> Vec<&str> {
        self.layers.iter().map(|(rid, _)| rid.as_str()).filter(|rid| !rid.is_empty()).collect()
    }

    /// As [`LocalTrack::write`], to simulcast layer `layer` (its index in
    /// the RIDs it was published with).
    pub async fn write_layer(&self, layer: usize, data: Bytes, duration: Duration) -> Result<bool> {
        self.write_to(layer, data, duration, None).await
    }

    async fn write_to(
        &self,
        layer: usize,
        data: Bytes,
        duration: Duration,
        level: Option<u8>,
    ) -> Result<bool> {
        let Some((rid, ssrc)) = self.layers.get(layer) else { return Ok(false) };
        let payload_type = match self.payload_type.get() {
            Some(pt) => *pt,
            None => {
                let parameters = self.sender.get_parameters().await.map_err(transport)?;
                let Some(codec) = parameters.rtp_parameters.codecs.first() else { return Ok(false) };
                *self.payload_type.get_or_init(|| codec.payload_type)
            }
        };
        let sample = Sample { data, duration, ..Sample::new(Instant::now()) };
        let mut writer = self.track.sample_writer(*ssrc, payload_type);
        if let Some(level) = level {
            writer =
                writer.with_audio_level(AudioLevelExtension { level: level.min(127), voice: level < 127 });
        }
        // A simulcast layer's packets say their section and RID: the
        // receiver knows its SSRCs by nothing else.
        if !rid.is_empty() {
            let Some(mid) = self.mid().await else { return Ok(false) };
            writer = writer.with_extension(text_extension(rtc::sdp::extmap::SDES_MID_URI, mid));
            writer = writer.with_extension(text_extension(rtc::sdp::extmap::SDES_RTP_STREAM_ID_URI, rid));
        }
        writer.write_sample(&sample).await.map_err(transport)?;
        Ok(true)
    }

    /// Its media section's id, once negotiation gave it one.
    async fn mid(&self) -> Option<&str> {
        if let Some(mid) = self.mid.get() {
            return Some(mid);
        }
        for transceiver in self.connection.get_transceivers().await {
            let ours = transceiver.sender().await.ok().flatten().is_some_and(|s| s.id() == self.sender.id());
            if let Some(mid) = transceiver.mid().await.ok().flatten().filter(|_| ours) {
                return Some(self.mid.get_or_init(|| mid));
            }
        }
        None
    }
}

/// A header extension carrying text (the `mid` and `rtp-stream-id` SDES items).
fn text_extension(uri: &'static str, text: &str) -> HeaderExtension {
    HeaderExtension::Custom { uri: uri.into(), extension: Box::new(TextExtension(text.as_bytes().to_vec())) }
}

struct TextExtension(Vec<u8>);

impl MarshalSize for TextExtension {
    fn marshal_size(&self) -> usize {
        self.0.len()
    }
}

impl Marshal for TextExtension {
    fn marshal_to(&self, buf: &mut [u8]) -> rtc::shared::error::Result<usize> {
        let Some(out) = buf.get_mut(..self.0.len()) else {
            return Err(rtc::shared::error::Error::ErrBufferShort);
        };
        out.copy_from_slice(&self.0);
        Ok(self.0.len())
    }
}

/// A track the other side publishes.
#[derive(Clone)]
pub struct RemoteTrack {
    track: Arc<dyn TrackRemote>,
    /// The sender's track id.
    pub id: String,
    /// The sender's stream id (one per participant).
    pub stream_id: String,
    /// Audio or video.
    pub kind: TrackKind,
    /// The RTP stream's SSRC.
    pub ssrc: u32,
}

impl RemoteTrack {
    /// The next RTP packet, or `None` once the track has ended.
    pub async fn next_packet(&self) -> Option<RtpPiece> {
        loop {
            match self.track.poll().await? {
                TrackRemoteEvent::OnRtpPacket(packet) => {
                    return Some(RtpPiece {
                        seq: packet.header.sequence_number,
                        timestamp: packet.header.timestamp,
                        marker: packet.header.marker,
                        payload: packet.payload,
                    })
                }
                TrackRemoteEvent::OnEnded => return None,
                _ => {}
            }
        }
    }

    /// Asks the sender for a keyframe (RTCP PLI).
    pub async fn request_keyframe(&self) -> Result<()> {
        let pli = PictureLossIndication { sender_ssrc: 0, media_ssrc: self.ssrc };
        self.track.write_rtcp(vec![Box::new(pli)]).await.map_err(transport)
    }
}

struct Handler {
    events: mpsc::Sender<TransportEvent>,
    gathered: watch::Sender<bool>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        self.gathered.send_replace(state == RTCIceGatheringState::Complete);
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let state = match state {
            RTCPeerConnectionState::Connected => PeerState::Connected,
            RTCPeerConnectionState::Disconnected => PeerState::Disconnected,
            RTCPeerConnectionState::Failed => PeerState::Failed,
            RTCPeerConnectionState::Closed => PeerState::Closed,
            _ => PeerState::Connecting,
        };
        let _ = self.events.send(TransportEvent::State(state)).await;
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let Some(ssrc) = track.ssrcs().await.first().copied() else {
            tracing::warn!("a remote track without an SSRC was ignored");
            return;
        };
        let kind = match track.kind().await {
            RtpCodecKind::Audio => TrackKind::Audio,
            _ => TrackKind::Video,
        };
        let remote = RemoteTrack {
            id: track.track_id().await.to_string(),
            stream_id: track.stream_id().await.to_string(),
            kind,
            ssrc,
            track,
        };
        let _ = self.events.send(TransportEvent::RemoteTrack(remote)).await;
    }
}

/// Time between two ICE connectivity checks (rtc's default is 200 ms). The
/// SFU is ICE-lite: it answers checks and makes none, so how soon a
/// connection is up after the answer is this pace (a check that succeeds,
/// then one that nominates): 50 ms, as browsers pace theirs.
const ICE_CHECK_INTERVAL: Duration = Duration::from_millis(50);
/// Checks per candidate pair before it fails: 1.4 s of trying, as rtc's
/// defaults (7 every 200 ms).
const ICE_CHECKS_PER_PAIR: u16 = 28;

/// How often a lost packet is asked for again: the first NACK and one
/// retry, should the retransmission be lost too.
const NACKS_PER_PACKET: u16 = 2;

/// Where the uplink estimate starts: above what a 720p camera in three
/// layers sends (2.1 Mbit/s), so a link that carries it never sees a layer
/// dropped while the estimate climbs; on a slower link the first receiver
/// report of heavy loss brings the encoders down ([`crate::uplink`]), and
/// GCC follows within seconds.
const UPLINK_INITIAL_ESTIMATE: f64 = 3_000_000.0;

/// The least the uplink estimate falls to: a link that carries the voice
/// and no video is still a call (rtc's default floor, 100 kbit/s, would
/// keep a video on where only the voice fits).
const UPLINK_MIN_ESTIMATE: f64 = 30_000.0;

/// The most the uplink estimate climbs to.
const UPLINK_MAX_ESTIMATE: f64 = 20_000_000.0;

/// rtc's default interceptors (NACK generator and responder, transport-wide
/// congestion feedback, RTCP reports), congestion control of what this
/// side sends (transport-wide sequence numbers, GCC reading the other
/// side's feedback: [`MediaPeer::uplink_feedback`]; no pacer — the encoders
/// follow the estimate instead, [`crate::uplink`]), except that a lost packet is asked
/// for at most [`NACKS_PER_PACKET`] times: rtc 0.21's NACK generator sees a
/// retransmission that comes over RTX on the RTX SSRC, never on the track's
/// own, so by default it asks for a recovered packet again every 100 ms for
/// as long as it is in its 512-packet log; the SFU (str0m) answers each
/// time, and once retransmissions pass 15 % of what it sends it stops
/// retransmitting, real losses included (a lossy-network call decoded 17 of
/// 110 frames so).
fn interceptors(media_engine: &mut MediaEngine) -> Result<Registry> {
    for parameter in ["", "pli"] {
        let nack = RTCPFeedback { typ: "nack".to_owned(), parameter: parameter.to_owned() };
        media_engine.register_feedback(nack, RtpCodecKind::Video);
    }
    configure_simulcast_extension_headers(media_engine).map_err(transport)?;
    let generator = NackGeneratorBuilder::new().with_max_nacks_per_packet(NACKS_PER_PACKET).build();
    let registry = Registry::new()
        .with(Slot::NackResponder, NackResponderBuilder::new().build())
        .with(Slot::NackGenerator, generator);
    let registry = configure_twcc_receiver_only(registry, media_engine).map_err(transport)?;
    let estimator = Gcc::new(UPLINK_INITIAL_ESTIMATE, UPLINK_MIN_ESTIMATE, UPLINK_MAX_ESTIMATE);
    let registry = registry
        .with(Slot::CongestionControl, CongestionControlBuilder::new(estimator).build())
        .with(Slot::TwccSender, TwccSenderBuilder::new().build());
    Ok(configure_rtcp_reports(registry))
}

fn register_codecs(media_engine: &mut MediaEngine) -> Result<()> {
    let video = RTCRtpCodecParameters { rtp_codec: h264_codec(), payload_type: H264_PAYLOAD_TYPE };
    let audio = RTCRtpCodecParameters { rtp_codec: opus_codec(), payload_type: OPUS_PAYLOAD_TYPE };
    media_engine.register_codec(video, RtpCodecKind::Video).map_err(transport)?;
    // Retransmissions of lost video arrive (and leave) on RTX, as the SFU sends them.
    let rtx = RTCRtpCodec {
        mime_type: MIME_TYPE_RTX.to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: format!("apt={H264_PAYLOAD_TYPE}"),
        rtcp_feedback: vec![],
    };
    let rtx = RTCRtpCodecParameters { rtp_codec: rtx, payload_type: H264_RTX_PAYLOAD_TYPE };
    media_engine.register_codec(rtx, RtpCodecKind::Video).map_err(transport)?;
    media_engine.register_codec(audio, RtpCodecKind::Audio).map_err(transport)?;
    // Our audio level in every audio packet, for the SFU's speaking indicator.
    let audio_level = RTCRtpHeaderExtensionCapability { uri: AUDIO_LEVEL_URI.to_owned() };
    media_engine.register_header_extension(audio_level, RtpCodecKind::Audio, None).map_err(transport)
}

/// The RFC 6464 level of a block of samples: -dBov, 0 (full scale) to 127 (silence).
pub fn audio_level(samples: &[f32]) -> u8 {
    let rms = crate::synthetic::rms(samples);
    if rms <= 0.0 {
        return 127;
    }
    (-20.0 * rms.log10()).clamp(0.0, 127.0) as u8
}

fn h264_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_H264.to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: H264_FMTP.to_owned(),
        rtcp_feedback: vec![],
    }
}

fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: OPUS_FMTP.to_owned(),
        rtcp_feedback: vec![],
    }
}

fn rtp_kind(kind: TrackKind) -> RtpCodecKind {
    match kind {
        TrackKind::Audio => RtpCodecKind::Audio,
        TrackKind::Video => RtpCodecKind::Video,
    }
}

fn transport(error: impl std::fmt::Display) -> MediaError {
    MediaError::Transport(error.to_string())
}

fn is_keyframe_request(packet: &dyn rtc::rtcp::Packet) -> bool {
    let packet = packet.as_any();
    packet.is::<PictureLossIndication>() || packet.is::<FullIntraRequest>()
}

/// What the other side's receiver reports say of the packets this side
/// sent, summed over its streams since each one's first report.
#[derive(Debug, Default)]
struct Delivery {
    /// Per SSRC: the extended highest sequence number and the cumulative
    /// loss last reported.
    last: HashMap<u32, (u32, u32)>,
    received: u64,
    lost: u64,
}

impl Delivery {
    fn report(&mut self, block: &ReceptionReport) {
        let now = (block.last_sequence_number, block.total_lost);
        let Some((seq, lost)) = self.last.get(&block.ssrc).copied() else {
            self.last.insert(block.ssrc, now);
            return;
        };
        // A report older than the one before it (reordered) says nothing new.
        if block.last_sequence_number < seq {
            return;
        }
        self.last.insert(block.ssrc, now);
        let expected = u64::from(block.last_sequence_number - seq);
        let newly_lost = u64::from(block.total_lost.saturating_sub(lost)).min(expected);
        self.received += expected - newly_lost;
        self.lost += newly_lost;
    }
}

/// Reads incoming RTCP on its way through: marks PLI/FIR for delivery to
/// the application, so a sender learns that a viewer needs a keyframe
/// (webrtc-rs keeps RTCP inside its interceptor chain otherwise), and
/// counts what receiver reports say arrived of what this side sent.
#[derive(Default)]
struct RtcpReader {
    delivery: Arc<Mutex<Delivery>>,
    read_queue: VecDeque<TaggedPacket>,
    write_queue: VecDeque<TaggedPacket>,
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for RtcpReader {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, mut message: TaggedPacket) -> std::result::Result<(), Self::Error> {
        // Everything passes on unchanged (NACKs and reports feed the other
        // interceptors); a compound packet holding a PLI/FIR is also marked for us.
        let mut keyframe_request = false;
        if let Packet::Rtcp(packets) = &message.message.packet {
            keyframe_request = packets.iter().any(|p| is_keyframe_request(p.as_ref()));
            let mut delivery = self.delivery.lock().unwrap_or_else(PoisonError::into_inner);
            for packet in packets {
                let packet = packet.as_any();
                let blocks =
                    match (packet.downcast_ref::<ReceiverReport>(), packet.downcast_ref::<SenderReport>()) {
                        (Some(receiver), _) => &receiver.reports,
                        (_, Some(sender)) => &sender.reports,
                        _ => continue,
                    };
                blocks.iter().for_each(|block| delivery.report(block));
            }
        }
        if keyframe_request {
            message.message.add(Attribute::DeliverToApplication);
        }
        self.read_queue.push_back(message);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read_queue.pop_front()
    }

    fn handle_write(&mut self, message: TaggedPacket) -> std::result::Result<(), Self::Error> {
        self.write_queue.push_back(message);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write_queue.pop_front()
    }
}

impl Interceptor for RtcpReader {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

/// The passive TCP candidates (`a=candidate:… tcp … tcptype passive`) in
/// `sdp`, as candidate strings, each once: an SDP may repeat a candidate in
/// several media sections, and each one handed over is a TCP connection dialled.
fn passive_tcp_candidates(sdp: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let passive = sdp
        .lines()
        .filter_map(|line| line.trim_end().strip_prefix("a="))
        .filter(|candidate| candidate.starts_with("candidate:"))
        .filter(|candidate| {
            let fields: Vec<&str> = candidate.split_whitespace().collect();
            fields.get(2).is_some_and(|p| p.eq_ignore_ascii_case("tcp"))
                && fields.windows(2).any(|w| w[0] == "tcptype" && w[1] == "passive")
        });
    for candidate in passive {
        if !found.iter().any(|known| known == candidate) {
            found.push(candidate.to_owned());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::passive_tcp_candidates;

    #[test]
    fn only_passive_tcp_candidates_are_dialled_each_once() {
        let sdp = "v=0\r\n\
            a=candidate:1 1 udp 2130706431 203.0.113.7 7882 typ host\r\n\
            a=candidate:2 1 tcp 1671430143 203.0.113.7 7882 typ host tcptype passive\r\n\
            a=candidate:3 1 tcp 1671430143 203.0.113.7 9 typ host tcptype active\r\n\
            a=candidate:4 1 TCP 1671430143 203.0.113.8 443 typ host tcptype passive\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 102\r\n\
            a=candidate:2 1 tcp 1671430143 203.0.113.7 7882 typ host tcptype passive\r\n";
        assert_eq!(
            passive_tcp_candidates(sdp),
            [
                "candidate:2 1 tcp 1671430143 203.0.113.7 7882 typ host tcptype passive",
                "candidate:4 1 TCP 1671430143 203.0.113.8 443 typ host tcptype passive"
            ]
        );
        assert!(passive_tcp_candidates("v=0\r\na=candidate:broken\r\n").is_empty());
    }
}
