//! `GET /api/friends`, `DELETE /api/friends/{user_id}`.

use concord_common::{ErrorResponse, Friend, UserId};
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{delete, get, routes, Route, State};

use super::path_id;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::services::Social;

pub fn routes() -> Vec<Route> {
    routes![list, remove]
}

/// Friends with presence, by username.
#[utoipa::path(get, path = "/api/friends", tag = "friends",
    responses(
        (status = 200, description = "Friends.", body = Vec<Friend>),
        (status = 401, description = "Not authenticated.", body = ErrorResponse),
    ))]
#[get("/friends")]
pub(crate) async fn list(social: &State<Social>, auth: AuthUser) -> Result<Json<Vec<Friend>>, ApiError> {
    Ok(Json(social.friends(auth.0).await?))
}

/// End a friendship.
#[utoipa::path(delete, path = "/api/friends/{user_id}", tag = "friends", params(("user_id" = UserId, Path, description = "The other user's id.")),
    responses(
        (status = 204, description = "Removed. Events: `friend_removed` to both users."),
        (status = 400, description = "The id is not a number (`bad_request`).", body = ErrorResponse),
        (status = 401, description = "Not authenticated.", body = ErrorResponse),
        (status = 404, description = "Not friends with this user (`not_friends`).", body = ErrorResponse),
    ))]
#[delete("/friends/<user_id>")]
pub(crate) async fn remove(
    social: &State<Social>,
    auth: AuthUser,
    user_id: &str,
) -> Result<Status, ApiError> {
    let other: UserId = path_id(user_id, "user")?;
    social.remove_friend(auth.0, other).await?;
    Ok(Status::NoContent)
}
