//! `GET /api/users/me`.

use concord_common::User;
use rocket::serde::json::Json;
use rocket::{get, routes, Route, State};

use crate::app::App;
use crate::auth::AuthUser;
use crate::db::users;
use crate::error::ApiError;

pub fn routes() -> Vec<Route> {
    routes![me]
}

#[get("/users/me")]
async fn me(app: &State<App>, auth: AuthUser) -> Result<Json<User>, ApiError> {
    users::by_id(&app.pool, auth.0)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::unauthorized("This account no longer exists."))
}
