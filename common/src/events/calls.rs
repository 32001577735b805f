//! A room's call: who is in it and with what switched on, joining, leaving
//! and changing state. (The media itself — offer/answer, ICE — joins here
//! with the SFU.)

use serde::{Deserialize, Serialize};

use crate::ids::{RoomId, UserId};

/// What a participant has switched on or off, as everyone in the room sees it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CallMedia {
    /// Their microphone is muted.
    #[serde(default)]
    pub muted: bool,
    /// They hear nothing (deafened implies muted for the others' ears too).
    #[serde(default)]
    pub deafened: bool,
    /// Their camera is on.
    #[serde(default)]
    pub camera: bool,
    /// They share their screen.
    #[serde(default)]
    pub screen: bool,
}

impl CallMedia {
    /// A participant's session found `self` really on (a source may have
    /// failed to open) after asking for `wanted`; `announced` is what the
    /// roster was last told. Returns `None` if nothing changed, else
    /// whether a `call_update` must say so (the join already carried
    /// `wanted`), and records `self` as announced.
    pub fn announce(self, announced: &mut Option<CallMedia>, wanted: CallMedia) -> Option<bool> {
        if *announced == Some(self) {
            return None;
        }
        let update = announced.is_some() || self != wanted;
        *announced = Some(self);
        Some(update)
    }
}

/// Someone in a room's call.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CallParticipant {
    /// Who.
    pub user_id: UserId,
    /// What they have switched on.
    #[serde(flatten)]
    pub media: CallMedia,
    /// When they joined, Unix milliseconds.
    pub joined_at_ms: i64,
    /// Speaking now (the SFU's detector): so someone who joins, or opens the
    /// app, mid-sentence sees who talks; changes come as `call_speaking`.
    #[serde(default)]
    pub speaking: bool,
}

/// Client → server `call_join`: join a room's call from this connection.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CallJoin {
    /// The room (I must be a member).
    pub room_id: RoomId,
    /// What I join with (all off when absent: listen-only).
    #[serde(flatten)]
    pub media: CallMedia,
}

/// Client → server `call_leave`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CallLeave {
    /// The room whose call I leave.
    pub room_id: RoomId,
}

/// Client → server `call_update`: what I have switched on changed.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CallUpdate {
    /// The room whose call I am in.
    pub room_id: RoomId,
    /// The new state (every field; absent ones are off).
    #[serde(flatten)]
    pub media: CallMedia,
}

/// Server → client `call_joined`: the answer to `call_join`, with everyone
/// in the call (me included).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CallJoined {
    /// The room.
    pub room_id: RoomId,
    /// Everyone in its call, in the order they joined.
    pub participants: Vec<CallParticipant>,
    /// TURN relays this client may use for this call, with credentials
    /// that expire (empty when the server has none configured: the SFU's
    /// own address is then the only candidate). The shape of the browser's
    /// `RTCIceServer`, so a page can hand them to `RTCPeerConnection` as they are.
    #[serde(default)]
    pub ice_servers: Vec<IceServer>,
}

/// A relay (or STUN server) for ICE, with its credentials.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IceServer {
    /// `turn:host:port?transport=udp`, `turns:host:443?transport=tcp`, …
    pub urls: Vec<String>,
    /// `expiry:user_id`: the Unix second after which the relay refuses it,
    /// then whom it was issued to (the TURN REST API's form).
    pub username: String,
    /// base64(HMAC-SHA1(shared secret, username)).
    pub credential: String,
}

/// Server → client `call_updated`: the answer to `call_update`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CallUpdated {
    /// The room.
    pub room_id: RoomId,
    /// Me, as the others see me now.
    pub participant: CallParticipant,
}

/// Why someone is no longer in a call.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CallLeftReason {
    /// They left (`call_leave`).
    Left,
    /// Their connection closed or went silent.
    Disconnected,
    /// They joined the same call from another device (that device is in it now).
    JoinedElsewhere,
    /// They joined another room's call from the same connection.
    JoinedAnotherCall,
    /// They left the room or its owner removed them.
    RemovedFromRoom,
    /// The room was deleted.
    RoomDeleted,
    /// The call moves to another server (the one hosting it stopped or was
    /// lost): join it again, with the same switches; the server it is on
    /// now answers.
    Moved,
}

impl CallLeftReason {
    /// Why someone was taken out of a call, in words for them ("you joined another call").
    pub fn in_words(self) -> &'static str {
        match self {
            Self::Left => "you left",
            Self::Disconnected => "the connection was lost",
            Self::JoinedElsewhere => "you joined this call from another device",
            Self::JoinedAnotherCall => "you joined another call",
            Self::RemovedFromRoom => "you are no longer a member of the room",
            Self::RoomDeleted => "the room was deleted",
            Self::Moved => "the call moved to another server",
        }
    }
}

/// Server → client `call_left`: this connection is no longer in the call
/// (the answer to `call_leave`, or sent when the server takes it out).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CallLeft {
    /// The room.
    pub room_id: RoomId,
    /// Why.
    pub reason: CallLeftReason,
}

/// Server → client `call_participant_joined`, to every member of the room.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CallParticipantJoined {
    /// The room.
    pub room_id: RoomId,
    /// Who joined, with what switched on.
    pub participant: CallParticipant,
}

/// Server → client `call_participant_updated`, to every member of the room.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CallParticipantUpdated {
    /// The room.
    pub room_id: RoomId,
    /// The participant as they are now.
    pub participant: CallParticipant,
}

/// Server → client `call_participant_left`, to every member of the room.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CallParticipantLeft {
    /// The room.
    pub room_id: RoomId,
    /// Who left.
    pub user_id: UserId,
    /// Why.
    pub reason: CallLeftReason,
}

/// Where a published track's media comes from.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TrackSource {
    /// A microphone (Opus).
    Microphone,
    /// A camera (H.264).
    Camera,
    /// A shared screen or window (H.264).
    Screen,
}

impl TrackSource {
    /// The name on the wire (as in JSON): `microphone`, `camera`, `screen`.
    pub fn as_str(self) -> &'static str {
        match self {
            TrackSource::Microphone => "microphone",
            TrackSource::Camera => "camera",
            TrackSource::Screen => "screen",
        }
    }
}

/// One track I publish, named as my offer names it (the `a=msid` track id).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublishedTrack {
    /// The track id from my SDP's `a=msid:<stream id> <track id>` line.
    pub track_id: String,
    /// What it carries.
    pub source: TrackSource,
}

/// Client → server `call_publish`: an SDP offer for my *publishing* peer
/// connection (send-only tracks), sent after `call_joined` and again
/// whenever I add or remove a track (renegotiation). Answered by
/// `call_publish_answer`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CallPublish {
    /// The room whose call I am in.
    pub room_id: RoomId,
    /// The offer's SDP (H.264 and Opus; candidates optional: the server is ICE-lite).
    pub sdp: String,
    /// What each track in the offer carries; an unnamed audio track counts
    /// as the microphone and unnamed video as the camera.
    #[serde(default)]
    pub tracks: Vec<PublishedTrack>,
}

/// Server → client `call_publish_answer`: the server's answer to `call_publish`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CallPublishAnswer {
    /// The room.
    pub room_id: RoomId,
    /// The answer's SDP, with the server's one host candidate.
    pub sdp: String,
}

/// A track the server forwards to me, and whose it is.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ForwardedTrack {
    /// The track id in the offer's `a=msid` line.
    pub track_id: String,
    /// Who publishes it.
    pub user_id: UserId,
    /// What it carries.
    pub source: TrackSource,
}

/// Server → client `call_subscribe_offer`: an SDP offer for my *receiving*
/// peer connection, carrying every track the others publish. Sent when I
/// join (once there is something to receive) and whenever those tracks
/// change; answer each with `call_subscribe_answer`. A new offer is only sent
/// after the previous one was answered.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CallSubscribeOffer {
    /// The room.
    pub room_id: RoomId,
    /// Echo this in the answer.
    pub offer_id: u64,
    /// The offer's SDP (send-only tracks, the server's one host candidate).
    pub sdp: String,
    /// Whose each track is.
    pub tracks: Vec<ForwardedTrack>,
    /// Fresh credentials for the same relays as `call_joined`'s (the
    /// receiving connection may be made long after joining, when the first
    /// credential has expired); empty without relays.
    #[serde(default)]
    pub ice_servers: Vec<IceServer>,
}

/// Client → server `call_subscribe_answer`: my answer to a `call_subscribe_offer`
/// (acknowledged by `call_subscribe_accepted`).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CallSubscribeAnswer {
    /// The room.
    pub room_id: RoomId,
    /// The offer this answers.
    pub offer_id: u64,
    /// The answer's SDP.
    pub sdp: String,
}

/// Server → client `call_subscribe_accepted`: the answer was applied.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CallSubscribeAccepted {
    /// The room.
    pub room_id: RoomId,
    /// The offer that was answered.
    pub offer_id: u64,
}

/// Client → server `call_view`: how I show the others' videos. Each one I
/// list as `hidden` (off screen, another conversation open, a collapsed
/// strip) is not sent to me until a later `call_view` shows it again; it then
/// starts at its next keyframe. Of a video its publisher sends in several
/// simulcast layers, I get the smallest layer at least as large as the
/// tile's `size` (the largest if none is), switched at a keyframe; a
/// video listed without a size, or not listed, comes in the largest.
/// Each `call_view` replaces the one before; a video not listed is sent.
/// Answered by `call_view_accepted`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CallView {
    /// The room whose call I am in.
    pub room_id: RoomId,
    /// My tiles (at most [`CallView::MAX_TILES`]).
    pub tiles: Vec<TileView>,
}

impl CallView {
    /// The most tiles one `call_view` may list (two videos each of a full room).
    pub const MAX_TILES: usize = 128;
}

/// One video as I show it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TileView {
    /// Whose video.
    pub user_id: UserId,
    /// Which of theirs: `camera` or `screen`.
    pub source: TrackSource,
    /// Not on screen: send me none of it.
    #[serde(default)]
    pub hidden: bool,
    /// The size I draw it at, in physical pixels: the layer I get need not
    /// be larger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<TileSize>,
}

/// A tile's size in physical pixels, each from 1 to 16384.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TileSize {
    /// Pixels across.
    pub width: u32,
    /// Pixels down.
    pub height: u32,
}

impl TileSize {
    /// The largest width or height a tile may have.
    pub const MAX: u32 = 16_384;

    /// Whether both sides are from 1 to [`TileSize::MAX`].
    pub fn is_valid(&self) -> bool {
        (1..=Self::MAX).contains(&self.width) && (1..=Self::MAX).contains(&self.height)
    }
}

/// Server → client `call_view_accepted`: the answer to `call_view`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CallViewAccepted {
    /// The room.
    pub room_id: RoomId,
}

/// Server → client `call_video_wanted`, to a publisher: whether anybody
/// else shows its camera (or screen) now. While nobody does (everyone hides
/// it, or nobody else is in the call) the client may stop encoding it — the
/// server would send it to nobody; when it is wanted again, it resumes with a
/// keyframe. Of a video sent in simulcast layers, `layers` names the ones
/// somebody receives (the others need not be encoded either). Sent when it
/// changes; a track starts as wanted, every layer of it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CallVideoWanted {
    /// The room.
    pub room_id: RoomId,
    /// `camera` or `screen`.
    pub source: TrackSource,
    /// Somebody shows it now.
    pub wanted: bool,
    /// The RIDs of the simulcast layers somebody receives, when it is
    /// wanted, smallest first; empty: every layer (or it is not simulcast).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<String>,
}

/// Server → client `call_video_quality`, to a subscriber: what it receives
/// of someone's video changed because of its network. The server fits what
/// it sends each subscriber into that subscriber's bandwidth estimate
/// (audio first, then screen shares, whoever speaks, the rest): a video may
/// come as a smaller simulcast layer than its tile asks for (`reduced`), or
/// not at all (`paused`) until the link carries it again (`full`). Sent
/// when it changes; a video starts as `full` (no event).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CallVideoQuality {
    /// The room.
    pub room_id: RoomId,
    /// Whose video.
    pub user_id: UserId,
    /// `camera` or `screen`.
    pub source: TrackSource,
    /// `full`, `reduced` or `paused`.
    pub quality: VideoQuality,
    /// The picture size of the layer sent now, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<TileSize>,
    /// My receiving connection's bandwidth estimate, in kbit/s, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate_kbps: Option<u32>,
}

/// How much of a video the network lets a subscriber have.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum VideoQuality {
    /// The layer its tile asks for.
    Full,
    /// A smaller layer: the bandwidth allows no more.
    Reduced,
    /// None: the bandwidth does not carry even the smallest layer.
    Paused,
}

/// Server → client `call_speaking`, to everyone in the call: someone started
/// or stopped speaking (from the audio level their packets carry).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CallSpeaking {
    /// The room.
    pub room_id: RoomId,
    /// Who.
    pub user_id: UserId,
    /// Started (`true`) or stopped.
    pub speaking: bool,
}
