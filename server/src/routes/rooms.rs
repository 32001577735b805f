//! `/api/rooms`: rooms, their members and their chat.

use concord_common::{
    AddMemberRequest, ErrorResponse, MessageId, Room, RoomId, RoomLabelRequest, RoomList, RoomMessage,
    RoomMessagePage, SendMessageRequest, UserId,
};
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{delete, get, patch, post, routes, Route, State};

use super::{page_params, path_id, sent_status, Body};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::services::Rooms;

pub fn routes() -> Vec<Route> {
    routes![list, create, rename, remove, add_member, remove_member, history, send]
}

/// Rooms I am a member of, each with its members.
#[utoipa::path(get, path = "/api/rooms", tag = "rooms",
    responses(
        (status = 200, description = "My rooms, oldest first.", body = RoomList),
        (status = 401, description = "Not authenticated.", body = ErrorResponse),
    ))]
#[get("/rooms")]
pub(crate) async fn list(rooms: &State<Rooms>, auth: AuthUser) -> Result<Json<RoomList>, ApiError> {
    Ok(Json(rooms.list(auth.0).await?))
}

/// Make a room; I own it and am its first member.
#[utoipa::path(post, path = "/api/rooms", tag = "rooms", request_body = RoomLabelRequest,
    responses(
        (status = 201, description = "Made. Event: `room_added` to all my devices.", body = Room),
        (status = 400, description = "Unreadable body (`invalid_json`).", body = ErrorResponse),
        (status = 401, description = "Not authenticated.", body = ErrorResponse),
        (status = 409, description = "I own 100 rooms already (`room_limit`).", body = ErrorResponse),
        (status = 422, description = "The label is blank, too long or has control characters (`validation`).", body = ErrorResponse),
    ))]
#[post("/rooms", data = "<body>")]
pub(crate) async fn create(
    rooms: &State<Rooms>,
    auth: AuthUser,
    body: Body<RoomLabelRequest>,
) -> Result<(Status, Json<Room>), ApiError> {
    Ok((Status::Created, Json(rooms.create(auth.0, &body.0.label).await?)))
}

/// Rename a room (owner only).
#[utoipa::path(patch, path = "/api/rooms/{id}", tag = "rooms", params(("id" = RoomId, Path, description = "The room.")), request_body = RoomLabelRequest,
    responses(
        (status = 200, description = "Renamed. Event: `room_renamed` to every member.", body = Room),
        (status = 400, description = "Unreadable body or id.", body = ErrorResponse),
        (status = 401, description = "Not authenticated.", body = ErrorResponse),
        (status = 403, description = "A member, not the owner (`not_room_owner`).", body = ErrorResponse),
        (status = 404, description = "No such room, or not a member (`room_not_found`).", body = ErrorResponse),
        (status = 422, description = "The label failed validation (`validation`).", body = ErrorResponse),
    ))]
#[patch("/rooms/<id>", data = "<body>")]
pub(crate) async fn rename(
    rooms: &State<Rooms>,
    auth: AuthUser,
    id: &str,
    body: Body<RoomLabelRequest>,
) -> Result<Json<Room>, ApiError> {
    let id: RoomId = path_id(id, "room")?;
    Ok(Json(rooms.rename(auth.0, id, &body.0.label).await?))
}

/// Delete a room with its chat (owner only).
#[utoipa::path(delete, path = "/api/rooms/{id}", tag = "rooms", params(("id" = RoomId, Path, description = "The room.")),
    responses(
        (status = 204, description = "Deleted. Event: `room_removed` (deleted) to every member."),
        (status = 400, description = "The id is not a number.", body = ErrorResponse),
        (status = 401, description = "Not authenticated.", body = ErrorResponse),
        (status = 403, description = "A member, not the owner (`not_room_owner`).", body = ErrorResponse),
        (status = 404, description = "No such room, or not a member (`room_not_found`).", body = ErrorResponse),
    ))]
#[delete("/rooms/<id>")]
pub(crate) async fn remove(rooms: &State<Rooms>, auth: AuthUser, id: &str) -> Result<Status, ApiError> {
    let id: RoomId = path_id(id, "room")?;
    rooms.delete(auth.0, id).await?;
    Ok(Status::NoContent)
}

/// Add a friend to a room (owner only).
#[utoipa::path(post, path = "/api/rooms/{id}/members", tag = "rooms", params(("id" = RoomId, Path, description = "The room.")), request_body = AddMemberRequest,
    responses(
        (status = 200, description = "Added; the room as it is now. Events: `room_member_added` to the other members, `room_added` to the new one.", body = Room),
        (status = 400, description = "Unreadable body or id.", body = ErrorResponse),
        (status = 401, description = "Not authenticated.", body = ErrorResponse),
        (status = 403, description = "A member, not the owner (`not_room_owner`), or the user is not the owner's friend (`not_friends`).", body = ErrorResponse),
        (status = 404, description = "No such room, or not a member (`room_not_found`).", body = ErrorResponse),
        (status = 409, description = "Already a member (`already_member`), or the room holds 50 people (`room_limit`).", body = ErrorResponse),
    ))]
#[post("/rooms/<id>/members", data = "<body>")]
pub(crate) async fn add_member(
    rooms: &State<Rooms>,
    auth: AuthUser,
    id: &str,
    body: Body<AddMemberRequest>,
) -> Result<Json<Room>, ApiError> {
    let id: RoomId = path_id(id, "room")?;
    Ok(Json(rooms.add_member(auth.0, id, body.0.user_id).await?))
}

/// Remove a member (owner), or leave the room (the member themself).
#[utoipa::path(delete, path = "/api/rooms/{id}/members/{user_id}", tag = "rooms",
    params(("id" = RoomId, Path, description = "The room."), ("user_id" = UserId, Path, description = "The member to remove; your own id to leave.")),
    responses(
        (status = 204, description = "Removed. Events: `room_removed` (removed or left) to them, `room_member_removed` to the remaining members."),
        (status = 400, description = "An id is not a number, or the owner tried to leave (`owner_cannot_leave`).", body = ErrorResponse),
        (status = 401, description = "Not authenticated.", body = ErrorResponse),
        (status = 403, description = "A member removing someone else (`not_room_owner`).", body = ErrorResponse),
        (status = 404, description = "No such room, or not a member (`room_not_found`); they are not a member (`not_a_member`).", body = ErrorResponse),
    ))]
#[delete("/rooms/<id>/members/<user_id>")]
pub(crate) async fn remove_member(
    rooms: &State<Rooms>,
    auth: AuthUser,
    id: &str,
    user_id: &str,
) -> Result<Status, ApiError> {
    let id: RoomId = path_id(id, "room")?;
    let user: UserId = path_id(user_id, "user")?;
    rooms.remove_member(auth.0, id, user).await?;
    Ok(Status::NoContent)
}

/// A room's chat history, newest first (members only).
#[utoipa::path(get, path = "/api/rooms/{id}/messages", tag = "rooms",
    params(
        ("id" = RoomId, Path, description = "The room."),
        ("before" = Option<MessageId>, Query, description = "Only messages older than this id."),
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 100 (default 50)."),
    ),
    responses(
        (status = 200, description = "A page of messages.", body = RoomMessagePage),
        (status = 400, description = "The id is not a number.", body = ErrorResponse),
        (status = 401, description = "Not authenticated.", body = ErrorResponse),
        (status = 404, description = "No such room, or not a member (`room_not_found`).", body = ErrorResponse),
        (status = 422, description = "`before` or `limit` is invalid (`validation`).", body = ErrorResponse),
    ))]
#[get("/rooms/<id>/messages?<before>&<limit>")]
pub(crate) async fn history(
    rooms: &State<Rooms>,
    auth: AuthUser,
    id: &str,
    before: Option<&str>,
    limit: Option<&str>,
) -> Result<Json<RoomMessagePage>, ApiError> {
    let id: RoomId = path_id(id, "room")?;
    let (before, limit) = page_params(before, limit)?;
    Ok(Json(rooms.history(auth.0, id, before, limit).await?))
}

/// Post to a room's chat (members only; stored before it is acknowledged).
#[utoipa::path(post, path = "/api/rooms/{id}/messages", tag = "rooms", params(("id" = RoomId, Path, description = "The room.")), request_body = SendMessageRequest,
    responses(
        (status = 200, description = "This nonce was already used in this room: the original message.", body = RoomMessage),
        (status = 201, description = "Stored. Event: `room_message_created` to every member.", body = RoomMessage),
        (status = 400, description = "Unreadable body or id.", body = ErrorResponse),
        (status = 401, description = "Not authenticated.", body = ErrorResponse),
        (status = 404, description = "No such room, or not a member (`room_not_found`).", body = ErrorResponse),
        (status = 422, description = "`content` or `nonce` failed validation (`validation`).", body = ErrorResponse),
    ))]
#[post("/rooms/<id>/messages", data = "<body>")]
pub(crate) async fn send(
    rooms: &State<Rooms>,
    auth: AuthUser,
    id: &str,
    body: Body<SendMessageRequest>,
) -> Result<(Status, Json<RoomMessage>), ApiError> {
    let id: RoomId = path_id(id, "room")?;
    let (sent, message) = rooms.send(auth.0, id, body.0).await?;
    Ok((sent_status(sent), Json(message)))
}
