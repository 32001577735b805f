//! The Concord client: one egui app that runs as a native window and (built
//! for wasm32) in the browser.
//!
//! Data flows one way. Network tasks ([`net`]) turn server responses and
//! websocket frames into [`net::NetEvent`]s; the app ([`app::ConcordApp`])
//! applies them to [`state::AppState`] once per frame; screens ([`ui`]) draw
//! the state and return [`net::Command`]s, which go back to the network
//! tasks. Nothing in a screen talks to a socket, and the UI thread never
//! waits on the network: it repaints when an event arrives.

pub mod app;
#[cfg(not(target_arch = "wasm32"))]
pub mod media_bridge;
pub mod net;
pub mod platform;
#[cfg(not(target_arch = "wasm32"))]
pub mod selftest_cli;
pub mod settings;
pub mod sound;
pub mod state;
pub mod ui;

#[cfg(target_arch = "wasm32")]
pub mod web;

pub use app::ConcordApp;
