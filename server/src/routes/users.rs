//! `GET /api/users/me`.

use concord_common::User;
use rocket::serde::json::Json;
use rocket::{get, routes, Route, State};

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::services::Accounts;

pub fn routes() -> Vec<Route> {
    routes![me]
}

#[get("/users/me")]
async fn me(accounts: &State<Accounts>, auth: AuthUser) -> Result<Json<User>, ApiError> {
    Ok(Json(accounts.me(auth.0).await?))
}
