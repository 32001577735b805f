//! Direct messages: new messages, typing, read markers.

use serde::{Deserialize, Serialize};

use crate::api::DirectMessage;
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
