//! The hot loops of Concord's media engine: what runs
//! once per pixel or per sample. `concord-media` re-exports them
//! (`convert`, `synthetic`, `playback`). The workspace's `Cargo.toml` keeps
//! this crate at opt-level 3 in debug builds, so tests and the debug app
//! convert 720p frames at full speed while the large rest of the engine
//! compiles unoptimised.

pub mod mix;
pub mod pixels;
pub mod spectrum;
pub mod synthetic;
