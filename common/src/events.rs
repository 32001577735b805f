//! Websocket frames at `/api/ws`. Every frame is one JSON object with a
//! `"type"`; the client's first frame must be `identify`.

use serde::{Deserialize, Serialize};

use crate::api::{DirectMessage, Friend, Invite, InviteList, UnreadCount, User};
use crate::error::ErrorBody;
use crate::ids::{InviteId, MessageId, UserId};

/// Frames a client sends.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientEvent {
    /// First frame: authenticate this connection.
    Identify {
        /// The token from login or register.
        token: String,
    },
    /// "I am typing to this friend." Send at most every few seconds while typing.
    Typing {
        /// The friend being typed to.
        user_id: UserId,
    },
    /// Application-level keepalive; answered with `heartbeat_ack`.
    Heartbeat,
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

/// Frames the server sends.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerEvent {
    /// Answer to `identify`: everything a client needs to draw its first screen.
    Ready {
        /// The identified account.
        me: User,
        /// Friends with presence.
        friends: Vec<Friend>,
        /// Pending invites both ways.
        invites: InviteList,
        /// Unread counts per friend (only non-zero ones).
        unread: Vec<UnreadCount>,
        /// Send a `heartbeat` at least this often.
        heartbeat_interval_ms: u64,
    },
    /// An invite was sent to me, or by me from another device.
    InviteCreated {
        /// The invite.
        invite: Invite,
    },
    /// An invite left the pending lists.
    InviteRemoved {
        /// Which invite.
        invite_id: InviteId,
        /// Why.
        reason: InviteRemovedReason,
    },
    /// A new friendship.
    FriendAdded {
        /// The friend, with presence.
        friend: Friend,
    },
    /// A friendship ended.
    FriendRemoved {
        /// The former friend.
        user_id: UserId,
    },
    /// A friend came online or went offline.
    Presence {
        /// Who.
        user_id: UserId,
        /// Connected now?
        online: bool,
    },
    /// A direct message I sent or received (on every device of both users).
    MessageCreated {
        /// The stored message.
        message: DirectMessage,
    },
    /// A friend is typing to me.
    Typing {
        /// Who is typing.
        user_id: UserId,
    },
    /// I read a conversation on some device: clear its unread badge.
    DmRead {
        /// The friend whose conversation was read.
        user_id: UserId,
        /// Newest message read.
        last_read_id: MessageId,
    },
    /// Answer to `heartbeat`.
    HeartbeatAck,
    /// A frame was refused. The connection stays open, except after a failed
    /// identify (closed with 1008) or an oversize frame (closed with 1009).
    Error {
        /// What went wrong.
        error: ErrorBody,
    },
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
