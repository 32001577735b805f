//! A native participant in a room's call. Signaling travels through the
//! client library's websocket ([`concord_client::Command::Call`] out,
//! [`concord_client::NetEvent::Server`] in); media through the media engine:
//! one peer connection publishes our tracks (we offer), one receives
//! everyone else's (the server offers), both to the server's SFU.
//!
//! - [`options`]: what a participant sends and how it reads what it gets.
//! - [`session`]: one participant's media in a call, with no network of
//!   its own (the desktop app and the bot host it): join, publish, answer
//!   offers, receive, mute / camera / screen / deafen, rejoin after a lost
//!   connection, leave.
//! - [`participant`]: the bot's participant: log in, host a session with
//!   synthetic sources for a while, report.
//! - [`receive`]: per remote track, frames counted (or decoded and their
//!   test-pattern stamps read back) and the tone heard.
//! - [`report`]: what a participant saw, as the bot prints it.
//! - [`until`]: a bot process's call ends once its participants have
//!   received what they wait for from each other.

pub mod options;
pub mod participant;
pub mod receive;
pub mod report;
pub mod session;
pub mod until;
