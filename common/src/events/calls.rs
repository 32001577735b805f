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
