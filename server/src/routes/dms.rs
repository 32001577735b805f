//! `GET/POST /api/dms/{user_id}/messages`, `POST /api/dms/{user_id}/read`.

use concord_common::validate::{FieldError, HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT};
use concord_common::{DirectMessage, MessageId, MessagePage, SendMessageRequest, UnreadCount, UserId};
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{get, post, routes, Route, State};

use super::{path_id, Body};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::services::messages::Sent;
use crate::services::Messages;

pub fn routes() -> Vec<Route> {
    routes![history, send, read]
}

#[get("/dms/<user_id>/messages?<before>&<limit>")]
async fn history(
    messages: &State<Messages>,
    auth: AuthUser,
    user_id: &str,
    before: Option<&str>,
    limit: Option<&str>,
) -> Result<Json<MessagePage>, ApiError> {
    let peer: UserId = path_id(user_id, "user")?;
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
    Ok(Json(messages.history(auth.0, peer, before, limit).await?))
}

#[post("/dms/<user_id>/messages", data = "<body>")]
async fn send(
    messages: &State<Messages>,
    auth: AuthUser,
    user_id: &str,
    body: Body<SendMessageRequest>,
) -> Result<(Status, Json<DirectMessage>), ApiError> {
    let peer: UserId = path_id(user_id, "user")?;
    let (sent, message) = messages.send(auth.0, peer, body.0).await?;
    let status = match sent {
        Sent::Created => Status::Created,
        Sent::AlreadyStored => Status::Ok,
    };
    Ok((status, Json(message)))
}

#[post("/dms/<user_id>/read")]
async fn read(
    messages: &State<Messages>,
    auth: AuthUser,
    user_id: &str,
) -> Result<Json<UnreadCount>, ApiError> {
    let peer: UserId = path_id(user_id, "user")?;
    Ok(Json(messages.mark_read(auth.0, peer).await?))
}
