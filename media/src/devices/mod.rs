//! Real devices: cameras (nokhwa), screens (xcap), microphones and speakers
//! (cpal). Listing never fails: a missing kind is reported as unavailable
//! with the reason, because "no camera" or "no sound card" is a normal state.
//!
//! Device handles that must stay on one thread (a V4L2 camera, a cpal stream)
//! live on their own named thread and hand data over bounded channels.

mod audio;
mod camera;
mod screen;

pub use audio::{AudioSink, MicrophoneSource, SpeakerSink};
pub use camera::CameraSource;
pub use screen::ScreenSource;

use std::sync::mpsc::Receiver;
use std::time::Duration;

use nokhwa::utils::ApiBackend;

use crate::{DeviceKind, MediaError, Result};

/// What to use for one kind of source, as picked in settings or on the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceChoice {
    /// The synthetic source (test pattern, test tone); for speakers: no device.
    Synthetic,
    /// The system's default device of this kind.
    #[default]
    Default,
    /// A device by name.
    Named(String),
    /// Nothing: join without it.
    Off,
}

impl SourceChoice {
    /// The device name to open, for `Default` and `Named`.
    pub fn device_name(&self) -> Option<&str> {
        match self {
            Self::Named(name) => Some(name),
            _ => None,
        }
    }

    /// Whether this choice opens a real device.
    pub fn is_device(&self) -> bool {
        matches!(self, Self::Default | Self::Named(_))
    }
}

/// The devices of one kind on this machine, or why there are none.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeviceList {
    /// Which kind.
    pub kind: DeviceKind,
    /// Names to select a device by.
    pub names: Vec<String>,
    /// Set when this kind cannot be used here (no device, no display, no sound card).
    pub unavailable: Option<String>,
}

/// Lists cameras, screens, microphones and speakers.
pub fn list_all() -> Vec<DeviceList> {
    [DeviceKind::Camera, DeviceKind::Screen, DeviceKind::Microphone, DeviceKind::Speaker]
        .into_iter()
        .map(|kind| match list(kind) {
            Ok(names) if names.is_empty() => {
                DeviceList { kind, names, unavailable: Some(format!("no {kind} found")) }
            }
            Ok(names) => DeviceList { kind, names, unavailable: None },
            Err(error) => DeviceList { kind, names: Vec::new(), unavailable: Some(error.to_string()) },
        })
        .collect()
}

/// The names of the devices of one kind.
pub fn list(kind: DeviceKind) -> Result<Vec<String>> {
    match kind {
        DeviceKind::Camera => Ok(nokhwa::query(ApiBackend::Auto)
            .map_err(|e| MediaError::unavailable(kind, e))?
            .iter()
            .map(|c| c.human_name())
            .collect()),
        DeviceKind::Screen => screen::names(),
        DeviceKind::Microphone | DeviceKind::Speaker => audio::devices(kind),
    }
}

/// Waits for a device thread to say whether its device opened.
fn wait_opened(opened: &Receiver<Result<()>>, kind: DeviceKind) -> Result<()> {
    opened
        .recv_timeout(Duration::from_secs(5))
        .map_err(|_| MediaError::unavailable(kind, format!("the {kind} did not open within 5 s")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_never_fails_and_explains_what_is_missing() {
        for list in list_all() {
            assert!(list.unavailable.is_some() || !list.names.is_empty(), "{list:?}");
        }
    }
}
