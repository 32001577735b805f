//! The one error type of the media engine.

use std::fmt;

/// What kind of device or source an error or report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// A video camera (nokhwa).
    Camera,
    /// A monitor or window to share (xcap).
    Screen,
    /// An audio input (cpal).
    Microphone,
    /// An audio output (cpal).
    Speaker,
}

impl fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Camera => "camera",
            Self::Screen => "screen",
            Self::Microphone => "microphone",
            Self::Speaker => "speaker",
        })
    }
}

/// Everything that can go wrong between a device and a WebRTC track.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// A raw frame's buffer does not match its declared size and format.
    #[error("a {format} frame of {width}x{height} needs {expected} bytes, got {got}")]
    FrameSize {
        /// Pixel format name.
        format: &'static str,
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// Bytes the format needs.
        expected: usize,
        /// Bytes supplied.
        got: usize,
    },
    /// A frame too small to encode (under 2x2 after cropping to even sizes).
    #[error("a {width}x{height} frame is too small to encode")]
    FrameDimensions {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
    },
    /// A camera's MJPEG frame did not decode.
    #[error("MJPEG frame could not be decoded: {0}")]
    Mjpeg(String),
    /// The H.264 encoder or decoder failed.
    #[error("H.264: {0}")]
    Video(String),
    /// The Opus encoder or decoder failed.
    #[error("Opus: {0}")]
    Audio(String),
    /// A sample-rate converter could not be built for a device's rate.
    #[error("cannot convert {from} Hz audio to {to} Hz: {reason}")]
    Resample {
        /// The rate coming in.
        from: u32,
        /// The rate going out.
        to: u32,
        /// Why.
        reason: String,
    },
    /// A device kind is absent or unusable on this machine (a normal state).
    #[error("{kind} unavailable: {reason}")]
    Unavailable {
        /// Which kind of device.
        kind: DeviceKind,
        /// Why, in words a person can act on.
        reason: String,
    },
    /// A device was asked for by a name that does not exist.
    #[error("no {kind} named {name:?}")]
    NoSuchDevice {
        /// Which kind of device.
        kind: DeviceKind,
        /// The name asked for.
        name: String,
    },
    /// The WebRTC layer failed (negotiation, ICE, DTLS, RTP).
    #[error("WebRTC: {0}")]
    Transport(String),
}

impl MediaError {
    /// A "device unavailable" error.
    pub fn unavailable(kind: DeviceKind, reason: impl fmt::Display) -> Self {
        Self::Unavailable { kind, reason: reason.to_string() }
    }
}

/// Result with [`MediaError`].
pub type Result<T, E = MediaError> = std::result::Result<T, E>;
