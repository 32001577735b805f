//! Failed-login limiter: a sliding window of failures per account and per
//! client address, kept in memory (per instance).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use concord_common::ErrorCode;
use rocket::http::Status;

use crate::error::ApiError;

/// Beyond this many tracked keys, stale ones are swept on the next failure.
const SWEEP_ABOVE_KEYS: usize = 10_000;

/// Counts failed logins and refuses further attempts past a limit.
pub struct LoginLimiter {
    per_account: usize,
    per_address: usize,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginLimiter {
    /// A limiter allowing `per_account` and `per_address` failures per `window`.
    pub fn new(per_account: u32, per_address: u32, window: Duration) -> Self {
        Self {
            per_account: per_account as usize,
            per_address: per_address as usize,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn keys(account: &str, address: Option<IpAddr>) -> [(String, bool); 2] {
        [
            (format!("account:{account}"), true),
            (address.map_or_else(String::new, |a| format!("address:{a}")), false),
        ]
    }

    /// `Err(429)` if either the account or the address is over its limit.
    pub fn check(&self, account: &str, address: Option<IpAddr>) -> Result<(), ApiError> {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        for (key, is_account) in Self::keys(account, address) {
            let limit = if is_account { self.per_account } else { self.per_address };
            let Some(times) = failures.get_mut(&key) else {
                continue;
            };
            while times.front().is_some_and(|t| now.duration_since(*t) > self.window) {
                times.pop_front();
            }
            if times.len() >= limit {
                let oldest = times.front().copied().unwrap_or(now);
                let wait = self.window.saturating_sub(now.duration_since(oldest)).as_secs().max(1);
                let mut error = ApiError::new(
                    Status::TooManyRequests,
                    ErrorCode::RateLimited,
                    format!("Too many failed logins. Try again in {wait} seconds."),
                );
                error.retry_after_secs = Some(wait);
                return Err(error);
            }
        }
        Ok(())
    }

    /// Records one failed attempt.
    pub fn record_failure(&self, account: &str, address: Option<IpAddr>) {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() > SWEEP_ABOVE_KEYS {
            failures.retain(|_, times| times.back().is_some_and(|t| now.duration_since(*t) <= self.window));
        }
        for (key, _) in Self::keys(account, address) {
            if !key.is_empty() {
                failures.entry(key).or_default().push_back(now);
            }
        }
    }

    /// Forgets an account's failures after a successful login.
    pub fn clear_account(&self, account: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(&format!("account:{account}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_per_account_and_per_address() {
        let limiter = LoginLimiter::new(2, 3, Duration::from_secs(60));
        let ip: Option<IpAddr> = "10.0.0.1".parse().ok();
        limiter.record_failure("a", ip);
        assert!(limiter.check("a", ip).is_ok());
        limiter.record_failure("a", ip);
        assert_eq!(limiter.check("a", None).unwrap_err().status, Status::TooManyRequests);
        // Another account from the same address: one more failure fills the address.
        assert!(limiter.check("b", ip).is_ok());
        limiter.record_failure("b", ip);
        assert!(limiter.check("b", ip).is_err());
        assert!(limiter.check("b", None).is_ok());
        limiter.clear_account("a");
        assert!(limiter.check("a", None).is_ok());
    }

    #[test]
    fn failures_expire_with_the_window() {
        let limiter = LoginLimiter::new(1, 10, Duration::from_millis(20));
        limiter.record_failure("a", None);
        assert!(limiter.check("a", None).is_err());
        std::thread::sleep(Duration::from_millis(30));
        assert!(limiter.check("a", None).is_ok());
    }
}
