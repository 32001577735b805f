//! Direct messages: new, edited and deleted messages, reactions (in rooms
//! too), typing, read markers.

use serde::{Deserialize, Serialize};

use crate::api::DirectMessage;
use crate::chat::Conversation;
use crate::ids::{MessageId, UserId};

/// `message_created`: a direct message I sent or received (on every device
/// of both users).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageCreated {
    /// The stored message.
    pub message: DirectMessage,
}

/// Client → server `typing`: "I am typing to this friend." Send at most every
/// few seconds while typing.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TypingTo {
    /// The friend being typed to.
    pub user_id: UserId,
}

/// Server → client `typing`: a friend is typing to me.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FriendTyping {
    /// Who is typing.
    pub user_id: UserId,
}

/// `dm_read`: I read a conversation on some device: clear its unread badge.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DmRead {
    /// The friend whose conversation was read.
    pub user_id: UserId,
    /// Newest message read.
    pub last_read_id: MessageId,
}

/// `message_updated`: a direct message was edited (on every device of both
/// users). Replace the stored copy, and the quoted line of replies to it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageUpdated {
    /// The message as it is now.
    pub message: DirectMessage,
}

/// `message_deleted` (direct messages) and `room_message_deleted` (a room's
/// chat): a message is gone; replies to it now show it was deleted.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageDeleted {
    /// The deleted message.
    pub id: MessageId,
    /// Where it was, as I see it: `dms/{the other person}` or `rooms/{id}`.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "dms/42"))]
    pub conversation: Conversation,
}

/// `reaction_added` / `reaction_removed`: someone added or took back a
/// reaction, in a DM or a room's chat (to everyone in the conversation).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReactionChanged {
    /// Where, as I see it: `dms/{the other person}` or `rooms/{id}`.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "rooms/7"))]
    pub conversation: Conversation,
    /// The message reacted to.
    pub message_id: MessageId,
    /// The emoji.
    pub emoji: String,
    /// Who reacted.
    pub user_id: UserId,
}
