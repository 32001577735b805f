//! The Concord server: accounts, friends, presence, direct messages and the
//! realtime websocket, on SQLite (default) or MySQL/MariaDB, with an optional
//! Redis bus so several instances share events and presence.
//!
//! Layers, each using only the ones below it: `routes` (HTTP) and `gateway`
//! (websocket) → `services` → `db` (all SQL), `realtime` (delivery and
//! presence) and `auth`. [`build`] (in `app`) attaches each part's stage;
//! `main.rs` launches it, and the integration tests launch it on port 0.

pub mod app;
pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod gateway;
pub mod ids;
pub mod launch;
pub mod logging;
pub mod realtime;
pub mod routes;
pub mod services;
pub mod sfu;
pub mod shared_redis;
pub mod uploads;

pub use app::build;
pub use config::Settings;
pub use error::ApiError;

/// Reports why the server cannot start: logged, and printed on stderr for
/// whoever started it (Rocket then stops with an ignition error).
pub(crate) fn report_start_failure(message: &str) {
    if tracing::dispatcher::has_been_set() {
        tracing::error!("{message}");
    } else {
        eprintln!("concord-server: {message}");
    }
}

/// Locks a std mutex, shrugging off poisoning (every critical section in
/// this crate leaves its data consistent).
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
