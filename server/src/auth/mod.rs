//! Authentication: argon2id password hashes (bounded), HS256 tokens, the
//! [`AuthUser`] request guard every protected route takes, and the login
//! rate limiter. [`stage`] makes the token keys Rocket state; the accounts
//! service owns the hasher and the limiter.

pub mod password;
pub mod rate_limit;
pub mod token;

use concord_common::UserId;
use rocket::fairing::AdHoc;
use rocket::request::{FromRequest, Outcome, Request};

use crate::config::Settings;
use crate::error::{ApiError, GuardFailure};
use crate::uploads::AttachmentLinks;
use token::{load_or_create_secret, Tokens};

/// Manages [`Tokens`] (the secret from configuration or `data_dir`) and the
/// [`AttachmentLinks`] signed with the same secret.
pub fn stage() -> AdHoc {
    AdHoc::try_on_ignite("Authentication", |rocket| async move {
        let Some(settings) = rocket.state::<Settings>() else {
            return Err(rocket);
        };
        let secret = match load_or_create_secret(settings.jwt_secret.as_deref(), &settings.data_dir) {
            Ok(secret) => secret,
            Err(message) => {
                crate::report_start_failure(&message);
                return Err(rocket);
            }
        };
        let tokens = Tokens::new(&secret, settings.token_ttl_secs);
        let links = AttachmentLinks::new(&secret, settings.attachment_link_ttl_secs);
        Ok(rocket.manage(tokens).manage(links))
    })
}

/// Proof that the request carried a valid, unexpired token. Only this guard
/// can build one, so a handler that takes it cannot forget to authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthUser(pub UserId);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for AuthUser {
    type Error = ApiError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let Some(tokens) = request.rocket().state::<Tokens>() else {
            let error = ApiError::internal();
            return Outcome::Error((GuardFailure::record(request, error.clone()), error));
        };
        let result = match request.headers().get_one("Authorization") {
            None => Err(ApiError::unauthorized(
                "This route needs a token: send `Authorization: Bearer <token>` from login or register.",
            )),
            Some(value) => match value.strip_prefix("Bearer ") {
                Some(token) => tokens.verify(token.trim()),
                None => Err(ApiError::unauthorized("The Authorization header must be `Bearer <token>`.")),
            },
        };
        match result {
            Ok(user) => Outcome::Success(AuthUser(user)),
            Err(error) => Outcome::Error((GuardFailure::record(request, error.clone()), error)),
        }
    }
}
