//! `GET/POST /api/dms/{user_id}/messages`, `POST /api/dms/{user_id}/read`.

use concord_common::validate::{self, FieldError, HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT};
use concord_common::{
    DirectMessage, ErrorCode, MessageId, MessagePage, SendMessageRequest, ServerEvent, UnreadCount, UserId,
};
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{get, post, routes, Route, State};

use super::friends::not_friends;
use super::{path_id, Body};
use crate::app::App;
use crate::auth::AuthUser;
use crate::db::friends;
use crate::db::messages::{self, InsertOutcome};
use crate::error::ApiError;
use crate::ids::now_ms;

pub fn routes() -> Vec<Route> {
    routes![history, send, read]
}

/// The friend named in the path, or 403 if they are not `me`'s friend.
async fn friend_in_path(app: &App, me: UserId, segment: &str) -> Result<UserId, ApiError> {
    let peer: UserId = path_id(segment, "user")?;
    if peer == me || !friends::are_friends(&app.pool, me, peer).await? {
        return Err(not_friends());
    }
    Ok(peer)
}

#[get("/dms/<user_id>/messages?<before>&<limit>")]
async fn history(
    app: &State<App>,
    auth: AuthUser,
    user_id: &str,
    before: Option<&str>,
    limit: Option<&str>,
) -> Result<Json<MessagePage>, ApiError> {
    let peer = friend_in_path(app, auth.0, user_id).await?;
    let before = match before.map(str::parse::<MessageId>) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => {
            return Err(FieldError { field: "before", message: "before must be a message id.".into() }.into())
        }
    };
    let limit = match limit {
        None => HISTORY_DEFAULT_LIMIT,
        Some(text) => match text.parse::<u32>() {
            Ok(n) if (1..=HISTORY_MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(FieldError {
                    field: "limit",
                    message: format!("limit must be a number from 1 to {HISTORY_MAX_LIMIT}."),
                }
                .into())
            }
        },
    };
    let mut messages = messages::page(&app.pool, app.backend, auth.0, peer, before, limit + 1).await?;
    let has_more = messages.len() > limit as usize;
    messages.truncate(limit as usize);
    Ok(Json(MessagePage { messages, has_more }))
}

#[post("/dms/<user_id>/messages", data = "<body>")]
async fn send(
    app: &State<App>,
    auth: AuthUser,
    user_id: &str,
    body: Body<SendMessageRequest>,
) -> Result<(Status, Json<DirectMessage>), ApiError> {
    let request = body.0;
    validate::message_content(&request.content)?;
    validate::nonce(&request.nonce)?;
    let peer = friend_in_path(app, auth.0, user_id).await?;
    let message = DirectMessage {
        id: MessageId(app.ids.next()),
        sender_id: auth.0,
        recipient_id: peer,
        content: request.content,
        nonce: request.nonce,
        created_at_ms: now_ms(),
    };
    // Stored (committed) before anyone hears of it.
    match messages::insert(&app.pool, &message).await? {
        InsertOutcome::Stored => {
            app.hub.publish(&[auth.0, peer], &ServerEvent::MessageCreated { message: message.clone() });
            Ok((Status::Created, Json(message)))
        }
        InsertOutcome::Duplicate(original) if original.recipient_id == peer => {
            Ok((Status::Ok, Json(original)))
        }
        InsertOutcome::Duplicate(_) => Err(ApiError::new(
            Status::Conflict,
            ErrorCode::NonceConflict,
            "This nonce was already used for a message to someone else.",
        )),
    }
}

#[post("/dms/<user_id>/read")]
async fn read(app: &State<App>, auth: AuthUser, user_id: &str) -> Result<Json<UnreadCount>, ApiError> {
    let peer = friend_in_path(app, auth.0, user_id).await?;
    let newest = messages::newest_id(&app.pool, auth.0, peer).await?;
    if let Some(newest) = newest {
        messages::mark_read(&app.pool, auth.0, peer, newest).await?;
        app.hub.publish(&[auth.0], &ServerEvent::DmRead { user_id: peer, last_read_id: newest });
    }
    Ok(Json(UnreadCount { user_id: peer, count: 0, last_read_id: newest }))
}
