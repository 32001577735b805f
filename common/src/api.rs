//! REST request and response bodies (see `docs/API.md` for the routes).

use serde::{Deserialize, Serialize};

use crate::ids::{AttachmentId, InviteId, MessageId, RoomId, UserId};

/// `POST /api/auth/register`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegisterRequest {
    /// Login email; stored lower-cased.
    pub email: String,
    /// Display name, 2–32 characters.
    pub username: String,
    /// 8–128 bytes.
    pub password: String,
}

/// `POST /api/auth/login`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginRequest {
    /// Login email (case-insensitive).
    pub email: String,
    /// The account's password.
    pub password: String,
}

/// A registered account as others see it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    /// Stable id.
    pub id: UserId,
    /// Display name.
    pub username: String,
    /// Email (friends are invited by email, so friends know it).
    pub email: String,
}

/// What anyone who shares a room with a person may see of them: no email
/// (only friends know each other's email).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublicUser {
    /// Stable id.
    pub id: UserId,
    /// Display name.
    pub username: String,
}

impl From<User> for PublicUser {
    fn from(user: User) -> Self {
        Self { id: user.id, username: user.username }
    }
}

/// Answer to register and login.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuthResponse {
    /// Bearer token for `Authorization: Bearer <token>` and websocket identify.
    pub token: String,
    /// When the token stops working, in Unix milliseconds.
    pub expires_at_ms: i64,
    /// The account.
    pub user: User,
}

/// A friend with their presence.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Friend {
    /// Who.
    pub user: User,
    /// Whether at least one of their clients is connected right now.
    pub online: bool,
    /// When the friendship began, Unix milliseconds.
    pub since_ms: i64,
}

/// A pending friend invite.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Invite {
    /// Id to accept, reject or cancel it by.
    pub id: InviteId,
    /// Who sent it.
    pub from: User,
    /// Who it is for.
    pub to: User,
    /// When it was sent, Unix milliseconds.
    pub created_at_ms: i64,
}

/// `GET /api/invites`.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InviteList {
    /// Invites others sent to me, oldest first.
    pub incoming: Vec<Invite>,
    /// Invites I sent that are still pending, oldest first.
    pub outgoing: Vec<Invite>,
}

/// `POST /api/invites`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateInviteRequest {
    /// Email of the person to invite.
    pub email: String,
}

/// What `POST /api/invites` did.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum CreateInviteResponse {
    /// A new pending invite (HTTP 201).
    Invited {
        /// The invite.
        invite: Invite,
    },
    /// They had already invited you, so you are friends now (HTTP 200).
    BecameFriends {
        /// The new friend.
        friend: Friend,
    },
}

/// A stored direct message.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DirectMessage {
    /// Id; ordering by id is ordering by time.
    pub id: MessageId,
    /// Author.
    pub sender_id: UserId,
    /// The other participant.
    pub recipient_id: UserId,
    /// Text, 1–4000 characters.
    pub content: String,
    /// The sender's idempotency key.
    pub nonce: String,
    /// When the server stored it, Unix milliseconds.
    pub created_at_ms: i64,
    /// When its author last edited it, Unix milliseconds (`null`: never).
    #[serde(default)]
    pub edited_at_ms: Option<i64>,
    /// The message this one answers, in the same conversation.
    #[serde(default)]
    pub reply_to: Option<MessageId>,
    /// The start of the message `reply_to` names, as it reads now; `null`
    /// when there is no `reply_to` or that message was deleted.
    #[serde(default)]
    pub reply_preview: Option<ReplyPreview>,
    /// The people `<@user_id>` names in `content`, in order, once each.
    #[serde(default)]
    pub mentions: Vec<UserId>,
    /// Reactions, one entry per emoji in the order first used.
    #[serde(default)]
    pub reactions: Vec<Reaction>,
    /// Files and pictures sent with it, in the order attached.
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

/// The message a reply answers, as much as a quoted line needs.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplyPreview {
    /// The original's id (open it in context by paging history up to it).
    pub id: MessageId,
    /// Its author.
    pub sender_id: UserId,
    /// Its text, cut to at most 200 characters.
    pub content: String,
}

/// Everyone who reacted to a message with one emoji.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Reaction {
    /// The emoji, e.g. `"👍"`.
    pub emoji: String,
    /// How many people reacted with it.
    pub count: u32,
    /// Whether I am one of them.
    pub me: bool,
    /// Who, in the order they reacted (a conversation holds at most 50 people).
    pub user_ids: Vec<UserId>,
}

/// `POST /api/dms/{user_id}/messages`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SendMessageRequest {
    /// Text, at most 4000 characters; empty only when `attachments` is not.
    #[serde(default)]
    pub content: String,
    /// Client-chosen key (1–64 printable ASCII bytes): resending the same
    /// nonce returns the original message instead of storing a duplicate.
    pub nonce: String,
    /// The message this one answers (in the same conversation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<MessageId>,
    /// Files you uploaded (`POST /api/attachments`) within the last hour and
    /// have not sent yet, at most 10.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentId>,
}

/// An uploaded file: `POST /api/attachments`'s answer, and each entry of a
/// message's `attachments`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attachment {
    /// Id, to name in a message's `attachments`.
    pub id: AttachmentId,
    /// The file's name as uploaded (no folders).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Its media type: for pictures the server recognised (`image/png`,
    /// `image/jpeg`, `image/gif`, `image/webp`) the real one, otherwise the
    /// one the uploader declared.
    pub content_type: String,
    /// Where to download it, relative to the server's address: a signed link
    /// that works without a token until it expires (a day or so; fetch the
    /// message again for a fresh one). With `Authorization: Bearer` it works
    /// after expiry too, for anyone who can see the message.
    pub url: String,
    /// A picture's width in pixels, as shown (after its orientation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// A picture's height in pixels, as shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// A picture's preview made by the server (at most 400 × 400 pixels,
    /// no metadata), signed like `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
}

/// `PATCH /api/dms/{user_id}/messages/{message_id}` (and in a room).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EditMessageRequest {
    /// The new text, 1–4000 characters.
    pub content: String,
    /// Optional client key for this edit: retrying it with the same nonce
    /// changes nothing more (and announces nothing more).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

/// `GET /api/dms/{user_id}/messages`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessagePage {
    /// Newest first.
    pub messages: Vec<DirectMessage>,
    /// Whether older messages exist before the last one here.
    pub has_more: bool,
}

/// Unread messages from one friend.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UnreadCount {
    /// The friend whose messages are unread.
    pub user_id: UserId,
    /// How many.
    pub count: u64,
    /// The newest message I have read in this conversation, if any.
    pub last_read_id: Option<MessageId>,
}

/// A room: a named group of people, owned by the one who made it, that can
/// hold a call. Every member sees every other member (name only: emails
/// stay between friends).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Room {
    /// Stable id.
    pub id: RoomId,
    /// Its name, 1–64 characters.
    pub label: String,
    /// Who made it; only they rename it, add or remove members, delete it.
    pub owner_id: UserId,
    /// Everyone in it, the owner included, in the order they were added.
    pub members: Vec<PublicUser>,
    /// Who is in its call right now, in the order they joined.
    #[serde(default)]
    pub in_call: Vec<crate::events::CallParticipant>,
    /// When it was made, Unix milliseconds.
    pub created_at_ms: i64,
}

/// `GET /api/rooms`.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomList {
    /// Rooms I am a member of, oldest first.
    pub rooms: Vec<Room>,
}

/// `POST /api/rooms` and `PATCH /api/rooms/{id}`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomLabelRequest {
    /// The room's name, 1–64 characters (trimmed).
    pub label: String,
}

/// `POST /api/rooms/{id}/members`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AddMemberRequest {
    /// A friend of the room's owner.
    pub user_id: UserId,
}

/// A stored message of a room's chat.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomMessage {
    /// Id; ordering by id is ordering by time.
    pub id: MessageId,
    /// The room.
    pub room_id: RoomId,
    /// Author.
    pub sender_id: UserId,
    /// Text, 1–4000 characters.
    pub content: String,
    /// The sender's idempotency key.
    pub nonce: String,
    /// When the server stored it, Unix milliseconds.
    pub created_at_ms: i64,
    /// When its author last edited it, Unix milliseconds (`null`: never).
    #[serde(default)]
    pub edited_at_ms: Option<i64>,
    /// The message this one answers, in the same conversation.
    #[serde(default)]
    pub reply_to: Option<MessageId>,
    /// The start of the message `reply_to` names, as it reads now; `null`
    /// when there is no `reply_to` or that message was deleted.
    #[serde(default)]
    pub reply_preview: Option<ReplyPreview>,
    /// The people `<@user_id>` names in `content`, in order, once each.
    #[serde(default)]
    pub mentions: Vec<UserId>,
    /// Reactions, one entry per emoji in the order first used.
    #[serde(default)]
    pub reactions: Vec<Reaction>,
    /// Files and pictures sent with it, in the order attached.
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

/// `GET /api/rooms/{id}/messages`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomMessagePage {
    /// Newest first.
    pub messages: Vec<RoomMessage>,
    /// Whether older messages exist before the last one here.
    pub has_more: bool,
}

/// A message found by `GET /api/search`: where it is and what it says (open
/// it in context by paging the conversation's history up to its id).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchHit {
    /// `dms/{user_id}` (the other person) or `rooms/{id}`.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "rooms/263407001822380032"))]
    pub conversation: crate::chat::Conversation,
    /// The message.
    pub id: MessageId,
    /// Its author.
    pub sender_id: UserId,
    /// Its text (`<@id>` mentions as stored).
    pub content: String,
    /// When it was stored, Unix milliseconds.
    pub created_at_ms: i64,
    /// When it was last edited (`null`: never).
    #[serde(default)]
    pub edited_at_ms: Option<i64>,
}

/// `GET /api/search`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchPage {
    /// Newest first.
    pub messages: Vec<SearchHit>,
    /// Whether older hits exist before the last one here (ask again with `before`).
    pub has_more: bool,
}

/// `GET /api/health`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// Always `"ok"` when the server answers.
    pub status: String,
    /// Server version.
    pub version: String,
    /// `"sqlite"` or `"mysql"`.
    pub database: String,
    /// `"local"` or `"redis"`.
    pub bus: String,
    /// This instance's id (0–1023).
    pub instance_id: u16,
    /// Websocket connections open on this instance.
    pub connections: u64,
}
