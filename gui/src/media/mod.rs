//! The media side of the app: its protocol ([`protocol`]: commands in,
//! events out, the data they carry) and the actor that answers it
//! ([`Media`]: devices, the call test, the call on the media engine or the
//! browser's WebRTC).

mod actor;
pub mod protocol;

pub use actor::Media;
