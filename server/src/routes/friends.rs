//! `GET /api/friends`, `DELETE /api/friends/{user_id}`.

use concord_common::{Friend, UserId};
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

#[get("/friends")]
async fn list(social: &State<Social>, auth: AuthUser) -> Result<Json<Vec<Friend>>, ApiError> {
    Ok(Json(social.friends(auth.0).await?))
}

#[delete("/friends/<user_id>")]
async fn remove(social: &State<Social>, auth: AuthUser, user_id: &str) -> Result<Status, ApiError> {
    let other: UserId = path_id(user_id, "user")?;
    social.remove_friend(auth.0, other).await?;
    Ok(Status::NoContent)
}
