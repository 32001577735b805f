//! `GET /api/friends`, `DELETE /api/friends/{user_id}`, and the shared
//! "these two are friends now" step used by invites.

use concord_common::{ErrorCode, Friend, ServerEvent, UserId};
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{delete, get, routes, Route, State};

use super::path_id;
use crate::app::App;
use crate::auth::AuthUser;
use crate::db::{friends, users};
use crate::error::ApiError;

pub fn routes() -> Vec<Route> {
    routes![list, remove]
}

#[get("/friends")]
async fn list(app: &State<App>, auth: AuthUser) -> Result<Json<Vec<Friend>>, ApiError> {
    let rows = friends::list(&app.pool, auth.0).await?;
    let ids: Vec<UserId> = rows.iter().map(|(u, _)| u.id).collect();
    let online = app.hub.online(&ids).await;
    Ok(Json(
        rows.into_iter()
            .zip(online)
            .map(|((user, since_ms), online)| Friend { user, online, since_ms })
            .collect(),
    ))
}

#[delete("/friends/<user_id>")]
async fn remove(app: &State<App>, auth: AuthUser, user_id: &str) -> Result<Status, ApiError> {
    let other: UserId = path_id(user_id, "user")?;
    if !friends::remove(&app.pool, auth.0, other).await? {
        return Err(ApiError::new(
            Status::NotFound,
            ErrorCode::NotFriends,
            "You are not friends with this user.",
        ));
    }
    app.hub.publish(&[auth.0], &ServerEvent::FriendRemoved { user_id: other });
    app.hub.publish(&[other], &ServerEvent::FriendRemoved { user_id: auth.0 });
    Ok(Status::NoContent)
}

/// 403 `not_friends`.
pub fn not_friends() -> ApiError {
    ApiError::new(Status::Forbidden, ErrorCode::NotFriends, "You are not friends with this user.")
}

/// `me`'s view of friend `other`, with presence.
pub async fn friend_view(app: &App, me: UserId, other: UserId) -> Result<Friend, ApiError> {
    let user = users::by_id(&app.pool, other).await?.ok_or_else(ApiError::internal)?;
    let since_ms = friends::since(&app.pool, me, other).await?.unwrap_or_default();
    Ok(Friend { user, online: app.hub.is_online(other).await, since_ms })
}

/// Tells both users' devices about a new friendship; returns `me`'s view.
pub async fn announce_friendship(app: &App, me: UserId, other: UserId) -> Result<Friend, ApiError> {
    let for_me = friend_view(app, me, other).await?;
    let for_other = friend_view(app, other, me).await?;
    app.hub.publish(&[me], &ServerEvent::FriendAdded { friend: for_me.clone() });
    app.hub.publish(&[other], &ServerEvent::FriendAdded { friend: for_other });
    Ok(for_me)
}
