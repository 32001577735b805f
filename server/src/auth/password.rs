//! Argon2id password hashing (default parameters: m=19456 KiB, t=2, p=1),
//! run on the blocking pool so hashing never stalls the async workers.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use std::sync::OnceLock;

use crate::error::ApiError;

/// Hashes `password` into a PHC string with a fresh random salt.
pub async fn hash(password: String) -> Result<String, ApiError> {
    let result = tokio::task::spawn_blocking(move || {
        Argon2::default().hash_password(password.as_bytes()).map(|h| h.to_string())
    })
    .await;
    match result {
        Ok(Ok(hash)) => Ok(hash),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "password hashing failed");
            Err(ApiError::internal())
        }
        Err(e) => {
            tracing::error!(error = %e, "password hashing task failed");
            Err(ApiError::internal())
        }
    }
}

/// Whether `password` matches `hash`. With `hash == None` (unknown account) it
/// still does the work of a verification, so timing does not reveal which
/// emails are registered.
pub async fn verify(password: String, hash: Option<String>) -> bool {
    let known = hash.is_some();
    let result = tokio::task::spawn_blocking(move || {
        let hash = hash.as_deref().unwrap_or_else(|| dummy_hash());
        Argon2::default().verify_password(password.as_bytes(), hash).is_ok()
    })
    .await;
    known && result.unwrap_or(false)
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        Argon2::default().hash_password(b"not a real password").map(|h| h.to_string()).unwrap_or_default()
    })
}
