//! Failed-login limiter: a sliding window of failures per account and per
//! client address. With Redis configured the windows live there (one sorted
//! set per key), so every instance counts the same failures; without it, or
//! while Redis is unreachable, they are counted in memory.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use concord_common::ErrorCode;
use redis::aio::ConnectionManager;
use rocket::http::Status;

use crate::error::ApiError;
use crate::ids::now_ms;

/// Beyond this many tracked keys, stale ones are swept on the next failure.
const SWEEP_ABOVE_KEYS: usize = 10_000;

/// Counts failed logins and refuses further attempts past a limit.
pub struct LoginLimiter {
    per_account: usize,
    per_address: usize,
    window: Duration,
    local: Mutex<HashMap<String, VecDeque<Instant>>>,
    redis: Option<(ConnectionManager, String)>,
}

/// One limited key: the text and its limit.
struct Key {
    name: String,
    limit: usize,
}

impl LoginLimiter {
    /// A limiter allowing `per_account` and `per_address` failures per
    /// `window`, shared through `redis` (connection, key prefix) when given.
    pub fn new(
        per_account: u32,
        per_address: u32,
        window: Duration,
        redis: Option<(ConnectionManager, String)>,
    ) -> Self {
        Self {
            per_account: per_account as usize,
            per_address: per_address as usize,
            window,
            local: Mutex::new(HashMap::new()),
            redis,
        }
    }

    fn keys(&self, account: &str, address: Option<IpAddr>) -> Vec<Key> {
        let mut keys = vec![Key { name: format!("account:{account}"), limit: self.per_account }];
        if let Some(address) = address {
            keys.push(Key { name: format!("address:{address}"), limit: self.per_address });
        }
        keys
    }

    /// `Err(429)` if either the account or the address is over its limit.
    pub async fn check(&self, account: &str, address: Option<IpAddr>) -> Result<(), ApiError> {
        for key in self.keys(account, address) {
            let (count, oldest_age) = match self.redis_window(&key.name).await {
                Some(window) => window,
                None => self.local_window(&key.name),
            };
            if count >= key.limit {
                let wait = self.window.saturating_sub(oldest_age).as_secs().max(1);
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
    pub async fn record_failure(&self, account: &str, address: Option<IpAddr>) {
        for key in self.keys(account, address) {
            if !self.redis_record(&key.name).await {
                self.local_record(&key.name);
            }
        }
    }

    /// Forgets an account's failures after a successful login.
    pub async fn clear_account(&self, account: &str) {
        let name = format!("account:{account}");
        crate::lock(&self.local).remove(&name);
        if let Some((conn, prefix)) = &self.redis {
            let mut conn = conn.clone();
            let _: redis::RedisResult<i64> =
                redis::cmd("DEL").arg(format!("{prefix}:login:{name}")).query_async(&mut conn).await;
        }
    }

    /// Failures in the window and the age of the oldest, from Redis.
    async fn redis_window(&self, name: &str) -> Option<(usize, Duration)> {
        let (conn, prefix) = self.redis.as_ref()?;
        let mut conn = conn.clone();
        let key = format!("{prefix}:login:{name}");
        let now = now_ms();
        let window_ms = self.window.as_millis() as i64;
        let result: redis::RedisResult<(usize, Vec<(String, i64)>)> = redis::pipe()
            .cmd("ZREMRANGEBYSCORE")
            .arg(&key)
            .arg("-inf")
            .arg(now - window_ms)
            .ignore()
            .cmd("ZCARD")
            .arg(&key)
            .cmd("ZRANGE")
            .arg(&key)
            .arg(0)
            .arg(0)
            .arg("WITHSCORES")
            .query_async(&mut conn)
            .await;
        match result {
            Ok((count, oldest)) => {
                let age = oldest.first().map_or(0, |(_, at)| (now - at).max(0));
                Some((count, Duration::from_millis(age as u64)))
            }
            Err(e) => {
                tracing::warn!(error = %e, "redis login limiter unavailable; counting on this instance");
                None
            }
        }
    }

    /// Adds a failure in Redis; `false` if Redis could not be used.
    async fn redis_record(&self, name: &str) -> bool {
        let Some((conn, prefix)) = &self.redis else {
            return false;
        };
        let mut conn = conn.clone();
        let key = format!("{prefix}:login:{name}");
        let now = now_ms();
        let member = format!("{now}:{:08x}", rand::random::<u32>());
        let result: redis::RedisResult<()> = redis::pipe()
            .cmd("ZADD")
            .arg(&key)
            .arg(now)
            .arg(member)
            .ignore()
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(self.window.as_millis() as u64)
            .ignore()
            .query_async(&mut conn)
            .await;
        result.is_ok()
    }

    fn local_window(&self, name: &str) -> (usize, Duration) {
        let now = Instant::now();
        let mut failures = crate::lock(&self.local);
        let Some(times) = failures.get_mut(name) else {
            return (0, Duration::ZERO);
        };
        while times.front().is_some_and(|t| now.duration_since(*t) > self.window) {
            times.pop_front();
        }
        (times.len(), times.front().map_or(Duration::ZERO, |t| now.duration_since(*t)))
    }

    fn local_record(&self, name: &str) {
        let now = Instant::now();
        let mut failures = crate::lock(&self.local);
        if failures.len() > SWEEP_ABOVE_KEYS {
            failures.retain(|_, times| times.back().is_some_and(|t| now.duration_since(*t) <= self.window));
        }
        failures.entry(name.to_owned()).or_default().push_back(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn blocks_after_the_limit_per_account_and_per_address() {
        let limiter = LoginLimiter::new(2, 3, Duration::from_secs(60), None);
        let ip: Option<IpAddr> = "10.0.0.1".parse().ok();
        limiter.record_failure("a", ip).await;
        assert!(limiter.check("a", ip).await.is_ok());
        limiter.record_failure("a", ip).await;
        assert_eq!(limiter.check("a", None).await.unwrap_err().status, Status::TooManyRequests);
        // Another account from the same address: one more failure fills the address.
        assert!(limiter.check("b", ip).await.is_ok());
        limiter.record_failure("b", ip).await;
        assert!(limiter.check("b", ip).await.is_err());
        assert!(limiter.check("b", None).await.is_ok());
        limiter.clear_account("a").await;
        assert!(limiter.check("a", None).await.is_ok());
    }

    #[tokio::test]
    async fn failures_expire_with_the_window() {
        let limiter = LoginLimiter::new(1, 10, Duration::from_millis(20), None);
        limiter.record_failure("a", None).await;
        assert!(limiter.check("a", None).await.is_err());
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(limiter.check("a", None).await.is_ok());
    }
}
