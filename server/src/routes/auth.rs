//! `POST /api/auth/register`, `POST /api/auth/login`.

use concord_common::{AuthResponse, ErrorResponse, LoginRequest, RegisterRequest};
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{post, routes, Route, State};

use super::{Body, ClientAddr};
use crate::error::ApiError;
use crate::services::Accounts;

pub fn routes() -> Vec<Route> {
    routes![register, login]
}

/// Create an account and get a token.
#[utoipa::path(post, path = "/api/auth/register", tag = "auth", security(()), request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created.", body = AuthResponse),
        (status = 400, description = "Unreadable body (`invalid_json`, `bad_request`).", body = ErrorResponse),
        (status = 409, description = "The email is already registered (`email_taken`).", body = ErrorResponse),
        (status = 413, description = "The body is over 64 KiB (`payload_too_large`).", body = ErrorResponse),
        (status = 422, description = "A field failed validation (`validation`, `field` set).", body = ErrorResponse),
        (status = 503, description = "Too many password hashes at once (`server_busy`); retry after `Retry-After` seconds.", body = ErrorResponse),
    ))]
#[post("/auth/register", data = "<body>")]
pub(crate) async fn register(
    accounts: &State<Accounts>,
    body: Body<RegisterRequest>,
) -> Result<(Status, Json<AuthResponse>), ApiError> {
    Ok((Status::Created, Json(accounts.register(body.0).await?)))
}

/// Log in and get a token.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", security(()), request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in.", body = AuthResponse),
        (status = 400, description = "Unreadable body.", body = ErrorResponse),
        (status = 401, description = "Unknown email or wrong password (`invalid_credentials`).", body = ErrorResponse),
        (status = 429, description = "Too many failed logins (`rate_limited`), counted on every instance; see `Retry-After`.", body = ErrorResponse),
        (status = 503, description = "Too many password hashes at once (`server_busy`); retry after `Retry-After` seconds.", body = ErrorResponse),
    ))]
#[post("/auth/login", data = "<body>")]
pub(crate) async fn login(
    accounts: &State<Accounts>,
    body: Body<LoginRequest>,
    addr: ClientAddr,
) -> Result<Json<AuthResponse>, ApiError> {
    Ok(Json(accounts.login(body.0, addr.0).await?))
}
