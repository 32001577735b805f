//! The few things that differ between the desktop and the browser beyond the
//! network runtime (`concord_client::runtime`): notifications, the chime,
//! the page's address, and random nonces. Everything else is shared.

#[cfg(not(target_arch = "wasm32"))]
mod native;
#[cfg(not(target_arch = "wasm32"))]
pub use native::*;
#[cfg(not(target_arch = "wasm32"))]
mod push_to_talk;
#[cfg(not(target_arch = "wasm32"))]
pub use push_to_talk::GlobalPushToTalk;

#[cfg(target_arch = "wasm32")]
mod web;
#[cfg(target_arch = "wasm32")]
pub use web::*;

/// A fresh idempotency key for a message.
pub fn new_nonce() -> String {
    format!("{:016x}{:016x}", rand::random::<u64>(), rand::random::<u64>())
}
