//! What a participant sends and how it reads what it receives.

use std::path::PathBuf;

/// The camera track.
#[derive(Debug, Clone, PartialEq)]
pub enum VideoChoice {
    /// No camera.
    None,
    /// The moving test pattern, its frame number stamped into every frame.
    Pattern,
    /// A pre-encoded H.264 Annex-B file, replayed in a loop (load tests
    /// measure the SFU, not the encoder).
    File(PathBuf),
}

/// Everything a participant publishes and how it receives.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaOptions {
    /// The camera track.
    pub video: VideoChoice,
    /// A screen-share track (the test pattern) beside the camera.
    pub screen: bool,
    /// A tone at this frequency as the microphone; `None`: no microphone.
    pub tone_hz: Option<f32>,
    /// Camera and screen size.
    pub width: u32,
    /// See `width`.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// Decode received video (and read back its stamps) and audio (and
    /// find its tone); `false` counts frames from RTP alone.
    pub decode: bool,
}

impl Default for MediaOptions {
    fn default() -> Self {
        Self {
            video: VideoChoice::Pattern,
            screen: false,
            tone_hz: Some(440.0),
            width: 640,
            height: 360,
            fps: 15,
            decode: true,
        }
    }
}
