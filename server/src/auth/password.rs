//! Argon2id password hashing (default parameters: m=19456 KiB, t=2, p=1) on
//! the blocking pool, bounded: at most one hash per core runs at once (each
//! takes 19 MiB), a bounded number wait, and beyond that a request gets
//! 503 `server_busy` with `Retry-After` instead of growing memory.

use std::sync::{Arc, OnceLock};

use argon2::{Argon2, PasswordHasher as _, PasswordVerifier};
use concord_common::ErrorCode;
use rocket::http::Status;
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// Hashes waiting per running hash before requests are turned away.
const QUEUE_PER_SLOT: usize = 8;

/// Runs password hashes with bounded concurrency and a bounded queue.
#[derive(Clone)]
pub struct PasswordHasher {
    running: Arc<Semaphore>,
    admitted: Arc<Semaphore>,
}

impl Default for PasswordHasher {
    /// As many hashes at once as the machine has cores.
    fn default() -> Self {
        Self::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    }
}

impl PasswordHasher {
    /// At most `slots` hashes at once, `slots * QUEUE_PER_SLOT` more waiting.
    pub fn new(slots: usize) -> Self {
        let slots = slots.max(1);
        Self {
            running: Arc::new(Semaphore::new(slots)),
            admitted: Arc::new(Semaphore::new(slots * (1 + QUEUE_PER_SLOT))),
        }
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
        let Ok(_admitted) = self.admitted.clone().try_acquire_owned() else {
            return Err(busy());
        };
        let _running = self.running.clone().acquire_owned().await.map_err(|_| ApiError::internal())?;
        tokio::task::spawn_blocking(work).await.map_err(|e| {
            tracing::error!(error = %e, "password hashing task failed");
            ApiError::internal()
        })
    }

    /// Hashes `password` into a PHC string with a fresh random salt.
    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        let hashed = self
            .run(move || Argon2::default().hash_password(password.as_bytes()).map(|h| h.to_string()))
            .await?;
        hashed.map_err(|e| {
            tracing::error!(error = %e, "password hashing failed");
            ApiError::internal()
        })
    }

    /// Whether `password` matches `hash`. With `hash == None` (unknown
    /// account) it still does the work of a verification, so timing does not
    /// reveal which emails are registered.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, ApiError> {
        let known = hash.is_some();
        let matches = self
            .run(move || {
                let hash = hash.as_deref().unwrap_or_else(|| dummy_hash());
                Argon2::default().verify_password(password.as_bytes(), hash).is_ok()
            })
            .await?;
        Ok(known && matches)
    }
}

fn busy() -> ApiError {
    let mut error = ApiError::new(
        Status::ServiceUnavailable,
        ErrorCode::ServerBusy,
        "The server is handling too many logins right now. Try again in a second.",
    );
    error.retry_after_secs = Some(1);
    error
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        Argon2::default().hash_password(b"not a real password").map(|h| h.to_string()).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_beyond_the_queue_is_turned_away_and_the_rest_verify() {
        let hasher = PasswordHasher::new(1);
        let hash = hasher.hash("correct horse".into()).await.unwrap();
        let attempts: Vec<_> = (0..30)
            .map(|_| {
                let (hasher, hash) = (hasher.clone(), hash.clone());
                tokio::spawn(async move { hasher.verify("correct horse".into(), Some(hash)).await })
            })
            .collect();
        let mut ok = 0;
        let mut busy = 0;
        for attempt in attempts {
            match attempt.await.unwrap() {
                Ok(true) => ok += 1,
                Err(e) => {
                    assert_eq!(
                        (e.status, e.code(), e.retry_after_secs),
                        (Status::ServiceUnavailable, ErrorCode::ServerBusy, Some(1))
                    );
                    busy += 1;
                }
                Ok(false) => panic!("the right password was refused"),
            }
        }
        // One running and eight waiting are admitted at any time: with 30
        // arriving together, at least 9 verify and the rest are told to retry.
        assert!(ok >= 9, "{ok} verified");
        assert!(busy >= 1, "none refused");
        assert_eq!(ok + busy, 30);
        assert!(!hasher.verify("wrong".into(), Some(hash)).await.unwrap());
        assert!(!hasher.verify("correct horse".into(), None).await.unwrap());
    }
}
