//! The one error body every failing REST call returns, and the payload of a
//! websocket `error` event: `{"error": {"code": "...", "message": "..."}}`.

use serde::{Deserialize, Serialize};

/// What went wrong, as a stable machine-readable code.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The body was not valid JSON or did not have the expected shape.
    InvalidJson,
    /// A field failed validation; `field` names it.
    Validation,
    /// No or malformed credentials.
    Unauthorized,
    /// The token was valid once but has expired: log in again.
    TokenExpired,
    /// Wrong email or password.
    InvalidCredentials,
    /// Too many attempts; retry later.
    RateLimited,
    /// The email is already registered.
    EmailTaken,
    /// Nobody has registered with that email.
    UserNotFound,
    /// An invite addressed to yourself.
    CannotInviteSelf,
    /// The two users are already friends.
    AlreadyFriends,
    /// A pending invite between the two users already exists.
    InviteExists,
    /// The invite does not exist or is not yours to act on.
    InviteNotFound,
    /// The users are not friends (DMs need a friendship).
    NotFriends,
    /// A resent nonce belongs to a message for another conversation.
    NonceConflict,
    /// No such route or resource.
    NotFound,
    /// The room does not exist or you are not a member of it.
    RoomNotFound,
    /// No message with this id in this conversation.
    MessageNotFound,
    /// Only the message's author may do this (in a room, its owner may delete it too).
    NotAuthor,
    /// Only the room's owner may do this.
    NotRoomOwner,
    /// The user is already a member of the room.
    AlreadyMember,
    /// The user is not a member of the room.
    NotAMember,
    /// The owner cannot leave their own room: delete it instead.
    OwnerCannotLeave,
    /// The room has as many members as it can hold, or you own as many rooms as you can.
    RoomLimit,
    /// This connection is not in that room's call.
    NotInCall,
    /// An SDP offer or answer the call's media server could not use (unparsable,
    /// no codec in common, not the negotiation it expected).
    InvalidSdp,
    /// A `call_subscribe_answer` whose `offer_id` is not the offer awaiting an answer.
    StaleOffer,
    /// The request or frame exceeded the size limit.
    PayloadTooLarge,
    /// An upload is larger than the server's per-file limit; nothing was stored.
    FileTooLarge,
    /// Today's uploads would pass the per-user daily limit; nothing was stored.
    UploadQuota,
    /// A file that says it is a picture could not be read as one (damaged,
    /// truncated, or too large to decode); nothing was stored.
    InvalidImage,
    /// No such attachment, or not one you can see.
    AttachmentNotFound,
    /// An attachment named in a message is not yours, is already in another
    /// message, or was uploaded too long ago (an hour) to be sent.
    AttachmentUnavailable,
    /// A signed attachment link past its expiry: load the message again for a fresh one.
    LinkExpired,
    /// A plain HTTP request to the websocket endpoint.
    UpgradeRequired,
    /// The websocket's first frame was not `identify`, or came too late.
    IdentifyRequired,
    /// The request was malformed in some other way.
    BadRequest,
    /// The server failed; nothing was changed.
    Internal,
    /// The server is too busy for this request right now (e.g. a login
    /// flood); retry after the `Retry-After` seconds. Nothing was changed.
    ServerBusy,
    /// A code this client version does not know.
    #[serde(other)]
    Unknown,
}

/// The inner error object.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// A sentence a person can act on.
    pub message: String,
    /// The request field the error concerns, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// The JSON body of every error response.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorResponse {
    /// What went wrong.
    pub error: ErrorBody,
}

impl ErrorBody {
    /// An error without a field.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), field: None }
    }
}
