//! The Concord client: one egui app that runs as a native window and (built
//! for wasm32) in the browser.
//!
//! Data flows one way. Network tasks ([`net`], the `concord-client` library)
//! turn server responses and websocket frames into [`net::NetEvent`]s, and
//! the [`media`] actor answers device and call-test questions and runs the
//! call (desktop: [`call_bridge`]; browser: `web_call`), reporting with [`media::MediaEvent`]s; the app ([`app::ConcordApp`]) applies both to
//! [`state::AppState`] once per frame; screens ([`ui`]) draw the state.
//! Applying an event and every intent a screen calls return one list of
//! [`state::Effect`]s (network and media commands, notifications, sounds),
//! which the app carries out in one place. Nothing in a screen talks to a
//! socket, and the UI thread never waits: it repaints when an event arrives.

pub mod app;
#[cfg(not(target_arch = "wasm32"))]
pub mod call_bridge;
pub mod media;
#[cfg(not(target_arch = "wasm32"))]
pub mod media_bridge;
pub mod platform;
pub mod sdp;
#[cfg(not(target_arch = "wasm32"))]
pub mod selftest_cli;
pub mod settings;
pub mod sound;
pub mod state;
pub mod ui;

#[cfg(target_arch = "wasm32")]
pub mod web;
#[cfg(target_arch = "wasm32")]
pub mod web_call;

pub use app::ConcordApp;
/// The network side: the `concord-client` library.
pub use concord_client as net;
