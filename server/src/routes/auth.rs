//! `POST /api/auth/register`, `POST /api/auth/login`.

use concord_common::{AuthResponse, LoginRequest, RegisterRequest};
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{post, routes, Route, State};

use super::{Body, ClientAddr};
use crate::error::ApiError;
use crate::services::Accounts;

pub fn routes() -> Vec<Route> {
    routes![register, login]
}

#[post("/auth/register", data = "<body>")]
async fn register(
    accounts: &State<Accounts>,
    body: Body<RegisterRequest>,
) -> Result<(Status, Json<AuthResponse>), ApiError> {
    Ok((Status::Created, Json(accounts.register(body.0).await?)))
}

#[post("/auth/login", data = "<body>")]
async fn login(
    accounts: &State<Accounts>,
    body: Body<LoginRequest>,
    addr: ClientAddr,
) -> Result<Json<AuthResponse>, ApiError> {
    Ok(Json(accounts.login(body.0, addr.0).await?))
}
