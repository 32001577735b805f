//! Websocket frames at `/api/ws`. Every frame is one JSON object with a
//! `"type"`; the client's first frame must be `identify`.

use serde::{Deserialize, Serialize};

pub mod calls;
pub mod messages;
pub mod rooms;
pub mod session;
pub mod social;

pub use calls::{
    CallJoin, CallJoined, CallLeave, CallLeft, CallLeftReason, CallMedia, CallParticipant,
    CallParticipantJoined, CallParticipantLeft, CallParticipantUpdated, CallPublish, CallPublishAnswer,
    CallSpeaking, CallSubscribeAccepted, CallSubscribeAnswer, CallSubscribeOffer, CallUpdate, CallUpdated,
    CallVideoQuality, CallVideoWanted, CallView, CallViewAccepted, ForwardedTrack, IceServer, PublishedTrack,
    TileSize, TileView, TrackSource, VideoQuality,
};
pub use messages::{
    DmRead, FriendTyping, MessageCreated, MessageDeleted, MessageUpdated, ReactionChanged, TypingTo,
};
pub use rooms::{
    RoomAdded, RoomMemberAdded, RoomMemberRemoved, RoomMessageCreated, RoomMessageUpdated, RoomRemoved,
    RoomRemovedReason, RoomRenamed,
};
pub use session::{Identify, Ready, Refused};
pub use social::{FriendAdded, FriendRemoved, InviteCreated, InviteRemoved, InviteRemovedReason, Presence};

/// Frames a client sends. Each variant's payload is its own struct, grouped
/// by domain in this module's children; on the wire its fields sit beside
/// `"type"`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientEvent {
    /// First frame: authenticate this connection.
    Identify(Identify),
    /// "I am typing to this friend."
    Typing(TypingTo),
    /// Join a room's call from this connection (answered by `call_joined`).
    CallJoin(CallJoin),
    /// Leave it (answered by `call_left`).
    CallLeave(CallLeave),
    /// Mute, camera, screen or deafen changed (answered by `call_updated`).
    CallUpdate(CallUpdate),
    /// Offer my publishing connection's SDP (answered by `call_publish_answer`).
    CallPublish(CallPublish),
    /// Answer the server's `call_subscribe_offer` (acknowledged by `call_subscribe_accepted`).
    CallSubscribeAnswer(CallSubscribeAnswer),
    /// Which of the others' videos I show (answered by `call_view_accepted`).
    CallView(CallView),
    /// Application-level keepalive; answered with `heartbeat_ack`.
    Heartbeat,
}

/// Frames the server sends (payloads as for [`ClientEvent`]).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerEvent {
    /// Answer to `identify`.
    Ready(Ready),
    /// An invite was sent to me, or by me from another device.
    InviteCreated(InviteCreated),
    /// An invite left the pending lists.
    InviteRemoved(InviteRemoved),
    /// A new friendship.
    FriendAdded(FriendAdded),
    /// A friendship ended.
    FriendRemoved(FriendRemoved),
    /// A friend came online or went offline.
    Presence(Presence),
    /// A direct message I sent or received.
    MessageCreated(MessageCreated),
    /// A direct message I sent or received was edited.
    MessageUpdated(MessageUpdated),
    /// A direct message I sent or received was deleted.
    MessageDeleted(MessageDeleted),
    /// Someone reacted to a message of a conversation I am in (DM or room).
    ReactionAdded(ReactionChanged),
    /// Someone took back their reaction.
    ReactionRemoved(ReactionChanged),
    /// A friend is typing to me.
    Typing(FriendTyping),
    /// I read a conversation on some device.
    DmRead(DmRead),
    /// A room appeared in my list.
    RoomAdded(RoomAdded),
    /// A room I am in was renamed.
    RoomRenamed(RoomRenamed),
    /// Someone was added to a room I am in.
    RoomMemberAdded(RoomMemberAdded),
    /// Someone left or was removed from a room I am in.
    RoomMemberRemoved(RoomMemberRemoved),
    /// A room left my list.
    RoomRemoved(RoomRemoved),
    /// A message in a room's chat.
    RoomMessageCreated(RoomMessageCreated),
    /// A message in a room's chat was edited.
    RoomMessageUpdated(RoomMessageUpdated),
    /// A message in a room's chat was deleted (by its author or the room's owner).
    RoomMessageDeleted(MessageDeleted),
    /// Answer to `call_join`: I am in the call, with these people.
    CallJoined(CallJoined),
    /// Answer to `call_update`.
    CallUpdated(CallUpdated),
    /// This connection is no longer in a call (answer to `call_leave`, or taken out).
    CallLeft(CallLeft),
    /// Someone joined the call of a room I am in.
    CallParticipantJoined(CallParticipantJoined),
    /// Someone in the call of a room I am in changed what they have on.
    CallParticipantUpdated(CallParticipantUpdated),
    /// Someone left the call of a room I am in.
    CallParticipantLeft(CallParticipantLeft),
    /// Answer to `call_publish`: the server's SDP answer.
    CallPublishAnswer(CallPublishAnswer),
    /// The server offers the tracks I receive (answer with `call_subscribe_answer`).
    CallSubscribeOffer(CallSubscribeOffer),
    /// Answer to `call_subscribe_answer`.
    CallSubscribeAccepted(CallSubscribeAccepted),
    /// Answer to `call_view`.
    CallViewAccepted(CallViewAccepted),
    /// Whether anybody else shows my camera (or screen) now.
    CallVideoWanted(CallVideoWanted),
    /// What I receive of someone's video changed for my network.
    CallVideoQuality(CallVideoQuality),
    /// Someone in my call started or stopped speaking.
    CallSpeaking(CallSpeaking),
    /// Answer to `heartbeat`.
    HeartbeatAck,
    /// A frame was refused.
    Error(Refused),
}

/// Longest `request_id` a client may attach to a frame.
pub const REQUEST_ID_MAX_LEN: usize = 64;

/// A client frame as it travels: the event plus an optional `request_id`
/// that the server echoes on the answer (`heartbeat_ack`, an `error`, or a
/// request's own reply), so a client can match answers to requests:
/// `{"type":"heartbeat","request_id":"7"}` → `{"type":"heartbeat_ack","request_id":"7"}`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientFrame {
    /// Chosen by the client (at most [`REQUEST_ID_MAX_LEN`] characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The frame itself.
    #[serde(flatten)]
    pub event: ClientEvent,
}

/// A server frame as it travels: the event plus, on an answer, the
/// `request_id` of the client frame it answers. Events nobody asked for
/// carry no `request_id`, so they read as a plain [`ServerEvent`].
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServerFrame {
    /// The `request_id` of the client frame this answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The event.
    #[serde(flatten)]
    pub event: ServerEvent,
}
