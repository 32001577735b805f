//! The one Redis connection of an instance, when `redis_url` is set: opened
//! at start-up by [`stage`] and shared by the realtime hub and the login
//! limiter (managed as [`SharedRedis`]).

use rocket::fairing::AdHoc;

use crate::config::Settings;

/// A client (for pub/sub connections) and a self-reconnecting connection.
#[derive(Clone)]
pub struct RedisHandle {
    /// Opens dedicated connections (pub/sub).
    pub client: redis::Client,
    /// Multiplexed commands; reconnects by itself after Redis restarts.
    pub conn: redis::aio::ConnectionManager,
}

/// `Some` when this instance shares events and presence through Redis.
pub struct SharedRedis(pub Option<RedisHandle>);

/// Connects to Redis if configured; a configured but unreachable Redis stops
/// the start-up with a message saying so.
pub fn stage() -> AdHoc {
    AdHoc::try_on_ignite("Redis", |rocket| async move {
        let Some(settings) = rocket.state::<Settings>() else {
            return Err(rocket);
        };
        let Some(url) = settings.redis_url.clone() else {
            return Ok(rocket.manage(SharedRedis(None)));
        };
        match crate::realtime::redis::connect(&url).await {
            Ok((client, conn)) => Ok(rocket.manage(SharedRedis(Some(RedisHandle { client, conn })))),
            Err(message) => {
                crate::report_start_failure(&message);
                Err(rocket)
            }
        }
    })
}
