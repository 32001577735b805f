//! Real devices: cameras (nokhwa), screens (xcap), microphones and speakers
//! (cpal). Listing never fails: a missing kind is reported as unavailable
//! with the reason, because "no camera" or "no sound card" is a normal state.
//!
//! Device handles that must stay on one thread (a V4L2 camera, a cpal stream)
//! live on their own named thread and hand data over bounded channels.
//!
//! The device crates are behind the `devices` cargo feature. Without it
//! (the server's SFU, the headless bot) every kind lists as unavailable and
//! opening one fails with [`MediaError::Unavailable`]; [`SourceChoice`] and
//! [`DeviceList`] are the same either way.

#[cfg(feature = "devices")]
mod audio;
#[cfg(feature = "devices")]
mod camera;
#[cfg(feature = "devices")]
mod screen;

#[cfg(feature = "devices")]
pub use audio::{MicrophoneSource, SpeakerSink};
#[cfg(feature = "devices")]
pub use camera::CameraSource;
#[cfg(feature = "devices")]
pub use screen::ScreenSource;

pub use crate::source::AudioSink;
use crate::source::{AudioSource, VideoSource};
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
#[cfg(feature = "devices")]
pub fn list(kind: DeviceKind) -> Result<Vec<String>> {
    match kind {
        DeviceKind::Camera => Ok(nokhwa::query(nokhwa::utils::ApiBackend::Auto)
            .map_err(|e| MediaError::unavailable(kind, e))?
            .iter()
            .map(|c| c.human_name())
            .collect()),
        DeviceKind::Screen => screen::names(),
        DeviceKind::Microphone | DeviceKind::Speaker => audio::devices(kind),
    }
}

/// The names of the devices of one kind: none in a build without devices.
#[cfg(not(feature = "devices"))]
pub fn list(kind: DeviceKind) -> Result<Vec<String>> {
    Err(not_built(kind))
}

#[cfg(not(feature = "devices"))]
fn not_built(kind: DeviceKind) -> MediaError {
    MediaError::unavailable(kind, "this build of Concord has no device support")
}

/// Opens a camera by name (`None`: the default one) at about this size and rate.
pub fn open_camera(name: Option<&str>, width: u32, height: u32, fps: u32) -> Result<Box<dyn VideoSource>> {
    #[cfg(feature = "devices")]
    return CameraSource::open(name, width, height, fps).map(|c| Box::new(c) as Box<dyn VideoSource>);
    #[cfg(not(feature = "devices"))]
    {
        let _ = (name, width, height, fps);
        Err(not_built(DeviceKind::Camera))
    }
}

/// Opens a screen or window by name (`None`: the primary screen).
pub fn open_screen(name: Option<&str>, fps: u32) -> Result<Box<dyn VideoSource>> {
    #[cfg(feature = "devices")]
    return ScreenSource::open(name, fps).map(|s| Box::new(s) as Box<dyn VideoSource>);
    #[cfg(not(feature = "devices"))]
    {
        let _ = (name, fps);
        Err(not_built(DeviceKind::Screen))
    }
}

/// Opens a microphone by name (`None`: the default one).
pub fn open_microphone(name: Option<&str>) -> Result<Box<dyn AudioSource>> {
    #[cfg(feature = "devices")]
    return MicrophoneSource::open(name).map(|m| Box::new(m) as Box<dyn AudioSource>);
    #[cfg(not(feature = "devices"))]
    {
        let _ = name;
        Err(not_built(DeviceKind::Microphone))
    }
}

/// Opens a speaker by name (`None`: the default one).
pub fn open_speaker(name: Option<&str>) -> Result<Box<dyn AudioSink>> {
    #[cfg(feature = "devices")]
    return SpeakerSink::open(name).map(|s| Box::new(s) as Box<dyn AudioSink>);
    #[cfg(not(feature = "devices"))]
    {
        let _ = name;
        Err(not_built(DeviceKind::Speaker))
    }
}

/// Waits for a device thread to say whether its device opened.
#[cfg(feature = "devices")]
fn wait_opened(opened: &std::sync::mpsc::Receiver<Result<()>>, kind: DeviceKind) -> Result<()> {
    opened
        .recv_timeout(std::time::Duration::from_secs(5))
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
