//! Friends, invites and presence.

use serde::{Deserialize, Serialize};

use crate::api::{Friend, Invite};
use crate::ids::{InviteId, UserId};

/// `invite_created`: an invite was sent to me, or by me from another device.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InviteCreated {
    /// The invite.
    pub invite: Invite,
}

/// Why an invite left the pending lists.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum InviteRemovedReason {
    /// The receiver accepted (a `friend_added` follows).
    Accepted,
    /// The receiver rejected it.
    Rejected,
    /// The sender cancelled it.
    Cancelled,
}

/// `invite_removed`: an invite left the pending lists.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InviteRemoved {
    /// Which invite.
    pub invite_id: InviteId,
    /// Why.
    pub reason: InviteRemovedReason,
}

/// `friend_added`: a new friendship.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FriendAdded {
    /// The friend, with presence.
    pub friend: Friend,
}

/// `friend_removed`: a friendship ended.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FriendRemoved {
    /// The former friend.
    pub user_id: UserId,
}

/// `presence`: a friend came online or went offline.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Presence {
    /// Who.
    pub user_id: UserId,
    /// Connected now?
    pub online: bool,
}
