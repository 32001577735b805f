//! `GET /api/users/me`.

use concord_common::{ErrorResponse, User};
use rocket::serde::json::Json;
use rocket::{get, routes, Route, State};

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::services::Accounts;

pub fn routes() -> Vec<Route> {
    routes![me]
}

/// The authenticated account.
#[utoipa::path(get, path = "/api/users/me", tag = "users",
    responses(
        (status = 200, description = "The account.", body = User),
        (status = 401, description = "Missing, invalid or expired token, or the account is gone.", body = ErrorResponse),
    ))]
#[get("/users/me")]
pub(crate) async fn me(accounts: &State<Accounts>, auth: AuthUser) -> Result<Json<User>, ApiError> {
    Ok(Json(accounts.me(auth.0).await?))
}
