//! Connection lifecycle: identify, the `ready` snapshot, refused frames.

use serde::{Deserialize, Serialize};

use crate::api::{Friend, InviteList, Room, UnreadCount, User};
use crate::error::ErrorBody;

/// Client → server `identify`: the first frame, authenticating this connection.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Identify {
    /// The token from login or register.
    pub token: String,
}

/// Server → client `ready`, the answer to `identify`: everything a client
/// needs to draw its first screen.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ready {
    /// The identified account.
    pub me: User,
    /// Friends with presence.
    pub friends: Vec<Friend>,
    /// Pending invites both ways.
    pub invites: InviteList,
    /// Unread counts per friend (only non-zero ones).
    pub unread: Vec<UnreadCount>,
    /// Rooms I am a member of, oldest first (absent from servers before rooms).
    #[serde(default)]
    pub rooms: Vec<Room>,
    /// Send a `heartbeat` at least this often.
    pub heartbeat_interval_ms: u64,
}

/// Server → client `error`: a frame was refused. The connection stays open,
/// except after a failed identify (closed with 1008) or an oversize frame
/// (closed with 1009).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Refused {
    /// What went wrong.
    pub error: ErrorBody,
}
