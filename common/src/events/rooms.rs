//! Rooms: what every member's devices hear when a room, its members or its
//! chat change.

use serde::{Deserialize, Serialize};

use crate::api::{PublicUser, Room, RoomMessage};
use crate::ids::{RoomId, UserId};

/// `room_added`: a room appeared in my list (I made it, or its owner added me).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomAdded {
    /// The room as it is now.
    pub room: Room,
}

/// `room_renamed`: the owner renamed a room.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomRenamed {
    /// Which room.
    pub room_id: RoomId,
    /// Its new name.
    pub label: String,
}

/// `room_member_added`: someone joined a room I am in.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomMemberAdded {
    /// Which room.
    pub room_id: RoomId,
    /// The new member.
    pub member: PublicUser,
}

/// `room_member_removed`: someone left, or was removed from, a room I am in.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomMemberRemoved {
    /// Which room.
    pub room_id: RoomId,
    /// Who is no longer a member.
    pub user_id: UserId,
}

/// Why a room left my list.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RoomRemovedReason {
    /// The owner deleted it.
    Deleted,
    /// I left it (on some device).
    Left,
    /// The owner removed me.
    Removed,
}

/// `room_removed`: a room left my list.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomRemoved {
    /// Which room.
    pub room_id: RoomId,
    /// Why.
    pub reason: RoomRemovedReason,
}

/// `room_message_created`: a message in the chat of a room I am in.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomMessageCreated {
    /// The stored message.
    pub message: RoomMessage,
}

/// `room_message_updated`: a message in a room's chat was edited.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomMessageUpdated {
    /// The message as it is now.
    pub message: RoomMessage,
}
