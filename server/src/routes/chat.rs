//! Changing a message after it was sent, in a DM or a room's chat alike:
//! `PATCH`/`DELETE /api/{conv}/messages/{message_id}` and
//! `PUT`/`DELETE /api/{conv}/messages/{message_id}/reactions/{emoji}`, where
//! `{conv}` is `dms/{user_id}` or `rooms/{id}`.

use concord_common::{
    Conversation, DirectMessage, EditMessageRequest, ErrorResponse, MessageId, RoomId, RoomMessage, UserId,
};
use rocket::http::{RawStr, Status};
use rocket::serde::json::Json;
use rocket::{delete, patch, put, routes, Route, State};

use super::{path_id, Body};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::services::Chat;

pub fn routes() -> Vec<Route> {
    routes![edit_dm, edit_room, delete_dm, delete_room, react_dm, react_room, unreact_dm, unreact_room]
}

fn dm(user_id: &str) -> Result<Conversation, ApiError> {
    Ok(Conversation::Dm(path_id(user_id, "user")?))
}

fn room(id: &str) -> Result<Conversation, ApiError> {
    Ok(Conversation::Room(path_id(id, "room")?))
}

/// The emoji of a reaction path: its segment percent-decoded (an emoji never
/// holds `%`, so decoding what may already be decoded changes nothing).
fn decode_emoji(segment: &str) -> Result<String, ApiError> {
    RawStr::new(segment)
        .percent_decode()
        .map(|e| e.into_owned())
        .map_err(|_| ApiError::bad_request("The emoji in the path is not percent-encoded UTF-8."))
}

/// Edit your own direct message.
#[utoipa::path(patch, path = "/api/dms/{user_id}/messages/{message_id}", tag = "dms",
    params(("user_id" = UserId, Path, description = "The friend."), ("message_id" = MessageId, Path, description = "Your message.")),
    request_body = EditMessageRequest,
    responses(
        (status = 200, description = "The message as it is now (`edited_at_ms` set). Event: `message_updated` to all devices of both (not again for a retried `nonce`).", body = DirectMessage),
        (status = 400, description = "Unreadable body or id.", body = ErrorResponse),
        (status = 401, description = "Not authenticated.", body = ErrorResponse),
        (status = 403, description = "Not your friend (`not_friends`), or not your message (`not_author`).", body = ErrorResponse),
        (status = 404, description = "No such message in this conversation (`message_not_found`).", body = ErrorResponse),
        (status = 422, description = "`content` or `nonce` failed validation (`validation`).", body = ErrorResponse),
    ))]
#[patch("/dms/<user_id>/messages/<message_id>", data = "<body>")]
pub(crate) async fn edit_dm(
    chat: &State<Chat>,
    auth: AuthUser,
    user_id: &str,
    message_id: &str,
    body: Body<EditMessageRequest>,
) -> Result<Json<DirectMessage>, ApiError> {
    let peer: UserId = path_id(user_id, "user")?;
    let id: MessageId = path_id(message_id, "message")?;
    Ok(Json(chat.edit_dm(auth.0, peer, id, body.0).await?))
}

/// Edit your own message in a room's chat.
#[utoipa::path(patch, path = "/api/rooms/{id}/messages/{message_id}", tag = "rooms",
    params(("id" = RoomId, Path, description = "The room."), ("message_id" = MessageId, Path, description = "Your message.")),
    request_body = EditMessageRequest,
    responses(
        (status = 200, description = "The message as it is now (`edited_at_ms` set). Event: `room_message_updated` to every member (not again for a retried `nonce`).", body = RoomMessage),
        (status = 400, description = "Unreadable body or id.", body = ErrorResponse),
        (status = 401, description = "Not authenticated.", body = ErrorResponse),
        (status = 403, description = "Not your message (`not_author`; the owner cannot edit others' either).", body = ErrorResponse),
        (status = 404, description = "No such room or not a member (`room_not_found`), or no such message in it (`message_not_found`).", body = ErrorResponse),
        (status = 422, description = "`content` or `nonce` failed validation (`validation`).", body = ErrorResponse),
    ))]
#[patch("/rooms/<id>/messages/<message_id>", data = "<body>")]
pub(crate) async fn edit_room(
    chat: &State<Chat>,
    auth: AuthUser,
    id: &str,
    message_id: &str,
    body: Body<EditMessageRequest>,
) -> Result<Json<RoomMessage>, ApiError> {
    let room: RoomId = path_id(id, "room")?;
    let message: MessageId = path_id(message_id, "message")?;
    Ok(Json(chat.edit_room(auth.0, room, message, body.0).await?))
}

/// Delete your own direct message.
#[utoipa::path(delete, path = "/api/dms/{user_id}/messages/{message_id}", tag = "dms",
    params(("user_id" = UserId, Path, description = "The friend."), ("message_id" = MessageId, Path, description = "Your message.")),
    responses(
        (status = 204, description = "Deleted with its reactions. Event: `message_deleted` to all devices of both."),
        (status = 400, description = "The id is not a number.", body = ErrorResponse),
        (status = 401, description = "Not authenticated.", body = ErrorResponse),
        (status = 403, description = "Not your friend (`not_friends`), or not your message (`not_author`).", body = ErrorResponse),
        (status = 404, description = "No such message here, or already deleted (`message_not_found`).", body = ErrorResponse),
    ))]
#[delete("/dms/<user_id>/messages/<message_id>")]
pub(crate) async fn delete_dm(
    chat: &State<Chat>,
    auth: AuthUser,
    user_id: &str,
    message_id: &str,
) -> Result<Status, ApiError> {
    let id: MessageId = path_id(message_id, "message")?;
    chat.delete(auth.0, dm(user_id)?, id).await?;
    Ok(Status::NoContent)
}

/// Delete a message of a room's chat: your own, or any if you own the room.
#[utoipa::path(delete, path = "/api/rooms/{id}/messages/{message_id}", tag = "rooms",
    params(("id" = RoomId, Path, description = "The room."), ("message_id" = MessageId, Path, description = "The message.")),
    responses(
        (status = 204, description = "Deleted with its reactions. Event: `room_message_deleted` to every member."),
        (status = 400, description = "An id is not a number.", body = ErrorResponse),
        (status = 401, description = "Not authenticated.", body = ErrorResponse),
        (status = 403, description = "Someone else's message and not your room (`not_author`).", body = ErrorResponse),
        (status = 404, description = "No such room or not a member (`room_not_found`), or no such message, or already deleted (`message_not_found`).", body = ErrorResponse),
    ))]
#[delete("/rooms/<id>/messages/<message_id>")]
pub(crate) async fn delete_room(
    chat: &State<Chat>,
    auth: AuthUser,
    id: &str,
    message_id: &str,
) -> Result<Status, ApiError> {
    let message: MessageId = path_id(message_id, "message")?;
    chat.delete(auth.0, room(id)?, message).await?;
    Ok(Status::NoContent)
}

/// React to a direct message (idempotent).
#[utoipa::path(put, path = "/api/dms/{user_id}/messages/{message_id}/reactions/{emoji}", tag = "dms",
    params(("user_id" = UserId, Path, description = "The friend."), ("message_id" = MessageId, Path, description = "The message."),
        ("emoji" = String, Path, description = "One emoji, URL-encoded (`%F0%9F%91%8D` for 👍).")),
    responses(
        (status = 204, description = "The reaction is there. Event: `reaction_added` to all devices of both, when it is new."),
        (status = 400, description = "An id is not a number.", body = ErrorResponse),
        (status = 401, description = "Not authenticated.", body = ErrorResponse),
        (status = 403, description = "Not your friend (`not_friends`).", body = ErrorResponse),
        (status = 404, description = "No such message here (`message_not_found`).", body = ErrorResponse),
        (status = 422, description = "Not one emoji, or the message already has 20 different ones (`validation`, field `emoji`).", body = ErrorResponse),
    ))]
#[put("/dms/<user_id>/messages/<message_id>/reactions/<emoji>")]
pub(crate) async fn react_dm(
    chat: &State<Chat>,
    auth: AuthUser,
    user_id: &str,
    message_id: &str,
    emoji: &str,
) -> Result<Status, ApiError> {
    let id: MessageId = path_id(message_id, "message")?;
    chat.react(auth.0, dm(user_id)?, id, &decode_emoji(emoji)?, true).await?;
    Ok(Status::NoContent)
}

/// React to a message of a room's chat (idempotent).
#[utoipa::path(put, path = "/api/rooms/{id}/messages/{message_id}/reactions/{emoji}", tag = "rooms",
    params(("id" = RoomId, Path, description = "The room."), ("message_id" = MessageId, Path, description = "The message."),
        ("emoji" = String, Path, description = "One emoji, URL-encoded (`%F0%9F%91%8D` for 👍).")),
    responses(
        (status = 204, description = "The reaction is there. Event: `reaction_added` to every member, when it is new."),
        (status = 400, description = "An id is not a number.", body = ErrorResponse),
        (status = 401, description = "Not authenticated.", body = ErrorResponse),
        (status = 404, description = "No such room or not a member (`room_not_found`), or no such message (`message_not_found`).", body = ErrorResponse),
        (status = 422, description = "Not one emoji, or the message already has 20 different ones (`validation`, field `emoji`).", body = ErrorResponse),
    ))]
#[put("/rooms/<id>/messages/<message_id>/reactions/<emoji>")]
pub(crate) async fn react_room(
    chat: &State<Chat>,
    auth: AuthUser,
    id: &str,
    message_id: &str,
    emoji: &str,
) -> Result<Status, ApiError> {
    let message: MessageId = path_id(message_id, "message")?;
    chat.react(auth.0, room(id)?, message, &decode_emoji(emoji)?, true).await?;
    Ok(Status::NoContent)
}

/// Take back your reaction to a direct message (idempotent).
#[utoipa::path(delete, path = "/api/dms/{user_id}/messages/{message_id}/reactions/{emoji}", tag = "dms",
    params(("user_id" = UserId, Path, description = "The friend."), ("message_id" = MessageId, Path, description = "The message."),
        ("emoji" = String, Path, description = "The emoji, URL-encoded.")),
    responses(
        (status = 204, description = "Your reaction is not there. Event: `reaction_removed` to all devices of both, when it was."),
        (status = 400, description = "An id is not a number.", body = ErrorResponse),
        (status = 401, description = "Not authenticated.", body = ErrorResponse),
        (status = 403, description = "Not your friend (`not_friends`).", body = ErrorResponse),
        (status = 404, description = "No such message here (`message_not_found`).", body = ErrorResponse),
        (status = 422, description = "Not one emoji (`validation`).", body = ErrorResponse),
    ))]
#[delete("/dms/<user_id>/messages/<message_id>/reactions/<emoji>")]
pub(crate) async fn unreact_dm(
    chat: &State<Chat>,
    auth: AuthUser,
    user_id: &str,
    message_id: &str,
    emoji: &str,
) -> Result<Status, ApiError> {
    let id: MessageId = path_id(message_id, "message")?;
    chat.react(auth.0, dm(user_id)?, id, &decode_emoji(emoji)?, false).await?;
    Ok(Status::NoContent)
}

/// Take back your reaction to a message of a room's chat (idempotent).
#[utoipa::path(delete, path = "/api/rooms/{id}/messages/{message_id}/reactions/{emoji}", tag = "rooms",
    params(("id" = RoomId, Path, description = "The room."), ("message_id" = MessageId, Path, description = "The message."),
        ("emoji" = String, Path, description = "The emoji, URL-encoded.")),
    responses(
        (status = 204, description = "Your reaction is not there. Event: `reaction_removed` to every member, when it was."),
        (status = 400, description = "An id is not a number.", body = ErrorResponse),
        (status = 401, description = "Not authenticated.", body = ErrorResponse),
        (status = 404, description = "No such room or not a member (`room_not_found`), or no such message (`message_not_found`).", body = ErrorResponse),
        (status = 422, description = "Not one emoji (`validation`).", body = ErrorResponse),
    ))]
#[delete("/rooms/<id>/messages/<message_id>/reactions/<emoji>")]
pub(crate) async fn unreact_room(
    chat: &State<Chat>,
    auth: AuthUser,
    id: &str,
    message_id: &str,
    emoji: &str,
) -> Result<Status, ApiError> {
    let message: MessageId = path_id(message_id, "message")?;
    chat.react(auth.0, room(id)?, message, &decode_emoji(emoji)?, false).await?;
    Ok(Status::NoContent)
}
