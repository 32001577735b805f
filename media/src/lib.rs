//! Concord's native media engine: everything between a camera, microphone or
//! screen and a WebRTC track, and back to pixels and sound.
//!
//! It needs no window: the call UI, `concord selftest`, tests and benchmarks
//! all drive the same pipeline. See `docs/ARCHITECTURE.md` for how a frame
//! travels through the stages.

pub mod assembler;
pub mod audio_codec;
pub mod convert;
pub mod devices;
mod error;
pub mod jitter;
pub mod lossy_link;
pub mod playback;
pub mod receive;
pub mod resample;
pub mod scale;
pub mod selftest;
pub mod send;
pub mod slot;
pub mod source;
pub mod transport;
pub mod uplink;
pub mod video_codec;
pub mod voice;

/// The spectrum of audio: its strongest frequencies and levels (`concord-media-kernels`).
pub use concord_media_kernels::spectrum;
/// The synthetic sources and their readers (`concord-media-kernels`).
pub use concord_media_kernels::synthetic;
pub use error::{DeviceKind, MediaError, Result};
