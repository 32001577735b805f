//! The codec contract of a call, which Concord's clients and its SFU both
//! follow (and docs/API.md states for others): H.264 constrained baseline
//! in packetization mode 1 (with RTX for retransmissions) and Opus, on the
//! payload types Concord's own offers use, with the RFC 6464 audio level on
//! every audio packet.

/// The H.264 profile Concord's clients send and browsers offer:
/// constrained baseline, packetization mode 1 (what openh264 makes).
pub const H264_FMTP: &str = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f";
/// The payload type of H.264 in the offers Concord makes.
pub const H264_PAYLOAD_TYPE: u8 = 102;
/// The payload type of H.264's retransmissions (RFC 4588 RTX, `apt` =
/// [`H264_PAYLOAD_TYPE`]): lost video is sent again on it.
pub const H264_RTX_PAYLOAD_TYPE: u8 = 103;
/// The payload type of Opus in the offers Concord makes.
pub const OPUS_PAYLOAD_TYPE: u8 = 111;
/// Opus's parameters in those offers: 10 ms frames allowed, in-band FEC.
pub const OPUS_FMTP: &str = "minptime=10;useinbandfec=1";
/// RFC 6464: the sender's audio level in each audio packet (the SFU's
/// speaking indicator reads it).
pub const AUDIO_LEVEL_URI: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";

/// Which of a participant's two peer connections to the SFU (docs/API.md,
/// "Media through the SFU"): the one it publishes its own tracks on (the
/// client offers) or the one it receives everyone else's on (the server
/// offers). Each side is the only offerer on its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Leg {
    /// The participant's microphone, camera and screen, to the SFU.
    Publishing,
    /// Everyone else's tracks, from the SFU.
    Receiving,
}

impl Leg {
    /// `publishing` or `receiving`, for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Leg::Publishing => "publishing",
            Leg::Receiving => "receiving",
        }
    }
}

/// The RIDs of a simulcast camera's layers, smallest first: a quarter,
/// half and the whole of the captured size (desktop, bot and browser alike).
pub const SIMULCAST_RIDS: [&str; 3] = ["q", "h", "f"];
