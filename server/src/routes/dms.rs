//! `GET/POST /api/dms/{user_id}/messages`, `POST /api/dms/{user_id}/read`.

use concord_common::{
    DirectMessage, ErrorResponse, MessageId, MessagePage, SendMessageRequest, UnreadCount, UserId,
};
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{get, post, routes, Route, State};

use super::{page_params, path_id, sent_status, Body};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::services::Messages;

pub fn routes() -> Vec<Route> {
    routes![history, send, read]
}

/// Conversation history with a friend, newest first.
#[utoipa::path(get, path = "/api/dms/{user_id}/messages", tag = "dms",
    params(
        ("user_id" = UserId, Path, description = "The friend's id."),
        ("before" = Option<MessageId>, Query, description = "Only messages older than this id."),
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 100 (default 50)."),
    ),
    responses(
        (status = 200, description = "A page of messages.", body = MessagePage),
        (status = 400, description = "The id is not a number.", body = ErrorResponse),
        (status = 401, description = "Not authenticated.", body = ErrorResponse),
        (status = 403, description = "Not your friend (`not_friends`).", body = ErrorResponse),
        (status = 422, description = "`before` or `limit` is invalid (`validation`).", body = ErrorResponse),
    ))]
#[get("/dms/<user_id>/messages?<before>&<limit>")]
pub(crate) async fn history(
    messages: &State<Messages>,
    auth: AuthUser,
    user_id: &str,
    before: Option<&str>,
    limit: Option<&str>,
) -> Result<Json<MessagePage>, ApiError> {
    let peer: UserId = path_id(user_id, "user")?;
    let (before, limit) = page_params(before, limit)?;
    Ok(Json(messages.history(auth.0, peer, before, limit).await?))
}

/// Send a direct message to a friend (stored before it is acknowledged).
#[utoipa::path(post, path = "/api/dms/{user_id}/messages", tag = "dms", params(("user_id" = UserId, Path, description = "The other user's id.")), request_body = SendMessageRequest,
    responses(
        (status = 200, description = "This nonce was already used for this friend: the original message.", body = DirectMessage),
        (status = 201, description = "Stored. Event: `message_created` to all devices of both users.", body = DirectMessage),
        (status = 400, description = "Unreadable body or id.", body = ErrorResponse),
        (status = 401, description = "Not authenticated.", body = ErrorResponse),
        (status = 403, description = "Not your friend (`not_friends`).", body = ErrorResponse),
        (status = 409, description = "The nonce was used for a message to someone else (`nonce_conflict`).", body = ErrorResponse),
        (status = 422, description = "`content` or `nonce` failed validation (`validation`).", body = ErrorResponse),
    ))]
#[post("/dms/<user_id>/messages", data = "<body>")]
pub(crate) async fn send(
    messages: &State<Messages>,
    auth: AuthUser,
    user_id: &str,
    body: Body<SendMessageRequest>,
) -> Result<(Status, Json<DirectMessage>), ApiError> {
    let peer: UserId = path_id(user_id, "user")?;
    let (sent, message) = messages.send(auth.0, peer, body.0).await?;
    Ok((sent_status(sent), Json(message)))
}

/// Mark a conversation read up to its newest message.
#[utoipa::path(post, path = "/api/dms/{user_id}/read", tag = "dms", params(("user_id" = UserId, Path, description = "The other user's id.")),
    responses(
        (status = 200, description = "Read marker (`count` is 0). Event: `dm_read` to your own devices.", body = UnreadCount),
        (status = 400, description = "The id is not a number.", body = ErrorResponse),
        (status = 401, description = "Not authenticated.", body = ErrorResponse),
        (status = 403, description = "Not your friend (`not_friends`).", body = ErrorResponse),
    ))]
#[post("/dms/<user_id>/read")]
pub(crate) async fn read(
    messages: &State<Messages>,
    auth: AuthUser,
    user_id: &str,
) -> Result<Json<UnreadCount>, ApiError> {
    let peer: UserId = path_id(user_id, "user")?;
    Ok(Json(messages.mark_read(auth.0, peer).await?))
}
