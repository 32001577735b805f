//! Accounts: register, log in (rate-limited, bounded hashing), look up.

use std::net::IpAddr;
use std::sync::Arc;

use concord_common::validate::{self, normalize_email};
use concord_common::{AuthResponse, ErrorCode, LoginRequest, RegisterRequest, User, UserId};
use rocket::http::Status;
use sqlx::AnyPool;

use crate::auth::password::PasswordHasher;
use crate::auth::rate_limit::LoginLimiter;
use crate::auth::token::Tokens;
use crate::db::users::{self, UserRecord};
use crate::error::ApiError;
use crate::ids::{now_ms, IdGenerator};

/// How many fresh ids a registration tries when its id collides with an
/// existing row (only possible if two instances were given the same id).
const ID_ATTEMPTS: usize = 3;

/// Registration, login and the current account.
#[derive(Clone)]
pub struct Accounts {
    pub(super) pool: AnyPool,
    pub(super) ids: Arc<IdGenerator>,
    pub(super) tokens: Tokens,
    pub(super) hasher: PasswordHasher,
    pub(super) limiter: Arc<LoginLimiter>,
}

impl Accounts {
    /// Creates an account and logs it in.
    pub async fn register(&self, request: RegisterRequest) -> Result<AuthResponse, ApiError> {
        validate::email(&request.email)?;
        validate::username(&request.username)?;
        validate::password(&request.password)?;
        let email = normalize_email(&request.email);
        if users::by_email(&self.pool, &email).await?.is_some() {
            return Err(email_taken());
        }
        let password_hash = self.hasher.hash(request.password).await?;
        let username = request.username.trim().to_owned();
        let now = now_ms();
        for _ in 0..ID_ATTEMPTS {
            let user = User { id: UserId(self.ids.next()), username: username.clone(), email: email.clone() };
            let record = UserRecord { user: user.clone(), password_hash: password_hash.clone() };
            if users::insert(&self.pool, &record, now).await? {
                let (token, expires_at_ms) = self.tokens.issue(user.id, now)?;
                return Ok(AuthResponse { token, expires_at_ms, user });
            }
            // Refused as a duplicate: the email (a racing registration) or
            // the id (instances sharing an instance_id). Only the first is
            // the person's problem.
            if users::by_email(&self.pool, &email).await?.is_some() {
                return Err(email_taken());
            }
            tracing::error!(
                "a new user id collided with an existing one; is instance_id unique per instance?"
            );
        }
        Err(ApiError::internal())
    }

    /// Checks a password; refuses after too many failures for the account
    /// or the client address (on every instance, when Redis is configured).
    pub async fn login(
        &self,
        request: LoginRequest,
        address: Option<IpAddr>,
    ) -> Result<AuthResponse, ApiError> {
        let email = normalize_email(&request.email);
        self.limiter.check(&email, address).await?;
        let record = users::by_email(&self.pool, &email).await?;
        let hash = record.as_ref().map(|r| r.password_hash.clone());
        let password_ok = self.hasher.verify(request.password, hash).await?;
        match record {
            Some(record) if password_ok => {
                self.limiter.clear_account(&email).await;
                let (token, expires_at_ms) = self.tokens.issue(record.user.id, now_ms())?;
                Ok(AuthResponse { token, expires_at_ms, user: record.user })
            }
            _ => {
                self.limiter.record_failure(&email, address).await;
                Err(ApiError::new(
                    Status::Unauthorized,
                    ErrorCode::InvalidCredentials,
                    "Wrong email or password.",
                ))
            }
        }
    }

    /// The account behind a token.
    pub async fn me(&self, user: UserId) -> Result<User, ApiError> {
        users::by_id(&self.pool, user)
            .await?
            .ok_or_else(|| ApiError::unauthorized("This account no longer exists."))
    }
}

fn email_taken() -> ApiError {
    ApiError::new(
        Status::Conflict,
        ErrorCode::EmailTaken,
        "An account with this email already exists. Log in instead.",
    )
    .with_field("email")
}
