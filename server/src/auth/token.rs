//! HS256 JSON Web Tokens: `sub` is the user id, `exp` the expiry.

use std::path::Path;

use concord_common::{ErrorCode, UserId};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use rocket::http::Status;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// Shortest secret accepted from configuration, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iat: i64,
    exp: i64,
}

/// Issues and checks tokens with one secret.
#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl_secs: u64,
}

impl Tokens {
    /// Tokens signed with `secret`, valid for `ttl_secs`.
    pub fn new(secret: &[u8], ttl_secs: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl_secs,
        }
    }

    /// A token for `user` and its expiry in Unix milliseconds.
    pub fn issue(&self, user: UserId, now_ms: i64) -> Result<(String, i64), ApiError> {
        let iat = now_ms / 1000;
        let exp = iat + self.ttl_secs as i64;
        let claims = Claims { sub: user.to_string(), iat, exp };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map(|token| (token, exp * 1000))
            .map_err(|e| {
                tracing::error!(error = %e, "token signing failed");
                ApiError::internal()
            })
    }

    /// The user a token was issued to, if it is genuine and unexpired.
    pub fn verify(&self, token: &str) -> Result<UserId, ApiError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| {
            match e.kind() {
                ErrorKind::ExpiredSignature => ApiError::new(
                    Status::Unauthorized,
                    ErrorCode::TokenExpired,
                    "Your session has expired. Log in again.",
                ),
                _ => ApiError::unauthorized("The token is not valid. Log in again."),
            }
        })?;
        data.claims.sub.parse().map_err(|_| ApiError::unauthorized("The token is not valid. Log in again."))
    }
}

/// The configured secret, or the one kept in `data_dir/jwt-secret`, created
/// (random, 48 bytes, owner-only permissions) on first start.
pub fn load_or_create_secret(configured: Option<&str>, data_dir: &Path) -> Result<Vec<u8>, String> {
    if let Some(secret) = configured {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(format!("jwt_secret must be at least {MIN_SECRET_BYTES} bytes"));
        }
        return Ok(secret.as_bytes().to_vec());
    }
    let path = data_dir.join("jwt-secret");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim();
        if existing.len() >= MIN_SECRET_BYTES {
            return Ok(existing.as_bytes().to_vec());
        }
    }
    let mut bytes = [0u8; 48];
    rand::rng().fill_bytes(&mut bytes);
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::create_dir_all(data_dir).map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    write_private(&path, &secret).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(secret.into_bytes())
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file =
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_until_it_expires() {
        let tokens = Tokens::new(&[7; 32], 60);
        let now = crate::ids::now_ms();
        let (token, exp) = tokens.issue(UserId(42), now).unwrap();
        assert!(exp > now);
        assert_eq!(tokens.verify(&token).unwrap(), UserId(42));
        let (old, _) = tokens.issue(UserId(42), now - 3_600_000).unwrap();
        assert_eq!(tokens.verify(&old).unwrap_err().code(), ErrorCode::TokenExpired);
        let other = Tokens::new(&[8; 32], 60);
        assert_eq!(other.verify(&token).unwrap_err().code(), ErrorCode::Unauthorized);
        assert_eq!(tokens.verify("garbage").unwrap_err().code(), ErrorCode::Unauthorized);
    }

    #[test]
    fn the_generated_secret_is_kept() {
        let dir = std::env::temp_dir().join(format!("concord-secret-{}", std::process::id()));
        let first = load_or_create_secret(None, &dir).unwrap();
        let second = load_or_create_secret(None, &dir).unwrap();
        assert_eq!(first, second);
        assert!(first.len() >= MIN_SECRET_BYTES);
        assert!(load_or_create_secret(Some("short"), &dir).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
