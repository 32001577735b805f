//! Authentication: argon2id password hashes, HS256 tokens, the [`AuthUser`]
//! request guard every protected route takes, and the login rate limiter.

pub mod password;
pub mod rate_limit;
pub mod token;

use concord_common::UserId;
use rocket::request::{FromRequest, Outcome, Request};

use crate::app::App;
use crate::error::{ApiError, GuardFailure};

/// Proof that the request carried a valid, unexpired token. Only this guard
/// can build one, so a handler that takes it cannot forget to authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthUser(pub UserId);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for AuthUser {
    type Error = ApiError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let Some(app) = request.rocket().state::<App>() else {
            let error = ApiError::internal();
            return Outcome::Error((GuardFailure::record(request, error.clone()), error));
        };
        let result = match request.headers().get_one("Authorization") {
            None => Err(ApiError::unauthorized(
                "This route needs a token: send `Authorization: Bearer <token>` from login or register.",
            )),
            Some(value) => match value.strip_prefix("Bearer ") {
                Some(token) => app.tokens.verify(token.trim()),
                None => Err(ApiError::unauthorized("The Authorization header must be `Bearer <token>`.")),
            },
        };
        match result {
            Ok(user) => Outcome::Success(AuthUser(user)),
            Err(error) => Outcome::Error((GuardFailure::record(request, error.clone()), error)),
        }
    }
}
