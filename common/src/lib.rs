//! Every type that crosses the wire between a Concord client and the server:
//! ids, REST request and response bodies, websocket events in both directions,
//! the error body, and the input rules both sides enforce. Client and server
//! depend on this one crate so they cannot disagree; it builds for wasm32.

pub mod api;
pub mod chat;
pub mod error;
pub mod events;
pub mod ids;
pub mod media;
pub mod validate;

pub use api::*;
pub use chat::Conversation;
pub use error::{ErrorBody, ErrorCode, ErrorResponse};
pub use events::{ClientEvent, ClientFrame, ServerEvent, ServerFrame};
pub use ids::{AttachmentId, InviteId, MessageId, RoomId, UserId};
