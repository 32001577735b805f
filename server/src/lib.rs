//! The Concord server: accounts, friends, presence, direct messages and the
//! realtime websocket, on SQLite (default) or MySQL/MariaDB, with an optional
//! Redis bus so several instances share events and presence.
//!
//! [`build`] assembles the Rocket application; `main.rs` launches it, and the
//! integration tests launch it on a random port.

pub mod app;
pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod ids;
pub mod launch;
pub mod realtime;
pub mod routes;

pub use app::{build, App};
pub use config::Settings;
pub use error::ApiError;
