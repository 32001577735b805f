//! `POST /api/auth/register`, `POST /api/auth/login`.

use concord_common::validate::{self, normalize_email};
use concord_common::{AuthResponse, ErrorCode, LoginRequest, RegisterRequest, User, UserId};
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{post, routes, Route, State};

use super::{Body, ClientAddr};
use crate::app::App;
use crate::auth::password;
use crate::db::users::{self, UserRecord};
use crate::error::ApiError;
use crate::ids::now_ms;

pub fn routes() -> Vec<Route> {
    routes![register, login]
}

#[post("/auth/register", data = "<body>")]
async fn register(
    app: &State<App>,
    body: Body<RegisterRequest>,
) -> Result<(Status, Json<AuthResponse>), ApiError> {
    let request = body.0;
    validate::email(&request.email)?;
    validate::username(&request.username)?;
    validate::password(&request.password)?;
    let email = normalize_email(&request.email);
    if users::by_email(&app.pool, &email).await?.is_some() {
        return Err(email_taken());
    }
    let password_hash = password::hash(request.password).await?;
    let user = User { id: UserId(app.ids.next()), username: request.username.trim().to_owned(), email };
    let now = now_ms();
    let record = UserRecord { user: user.clone(), password_hash };
    if !users::insert(&app.pool, &record, now).await? {
        return Err(email_taken());
    }
    let (token, expires_at_ms) = app.tokens.issue(user.id, now)?;
    Ok((Status::Created, Json(AuthResponse { token, expires_at_ms, user })))
}

fn email_taken() -> ApiError {
    ApiError::new(
        Status::Conflict,
        ErrorCode::EmailTaken,
        "An account with this email already exists. Log in instead.",
    )
    .with_field("email")
}

#[post("/auth/login", data = "<body>")]
async fn login(
    app: &State<App>,
    body: Body<LoginRequest>,
    addr: ClientAddr,
) -> Result<Json<AuthResponse>, ApiError> {
    let request = body.0;
    let email = normalize_email(&request.email);
    app.login_limiter.check(&email, addr.0)?;
    let record = users::by_email(&app.pool, &email).await?;
    // An unknown email costs a full verification too, so timing does not
    // reveal which emails have accounts.
    let hash = record.as_ref().map(|r| r.password_hash.clone());
    let password_ok = password::verify(request.password, hash).await;
    match record {
        Some(record) if password_ok => {
            app.login_limiter.clear_account(&email);
            let (token, expires_at_ms) = app.tokens.issue(record.user.id, now_ms())?;
            Ok(Json(AuthResponse { token, expires_at_ms, user: record.user }))
        }
        _ => {
            app.login_limiter.record_failure(&email, addr.0);
            Err(ApiError::new(
                Status::Unauthorized,
                ErrorCode::InvalidCredentials,
                "Wrong email or password.",
            ))
        }
    }
}
