//! Screens and windows through xcap (X11 here; xcap also speaks PipeWire on
//! Wayland). Settings names monitors by their name and windows as
//! `Window: <title>`; a window that closes ends the track.

use std::time::{Duration, Instant};

use crate::convert::PixelFormat;
use crate::source::{RawVideoFrame, VideoSource};
use crate::{DeviceKind, MediaError, Result};

/// How a window is named among the shareable screens.
const WINDOW_PREFIX: &str = "Window: ";

enum Target {
    Monitor(xcap::Monitor),
    Window(xcap::Window),
}

/// A monitor or a window captured with xcap.
pub struct ScreenSource {
    target: Target,
    name: String,
    interval: Duration,
}

/// Monitor names, then `Window: <title>` for every visible titled window.
pub(super) fn names() -> Result<Vec<String>> {
    let monitors = xcap::Monitor::all().map_err(no_display)?;
    let mut names: Vec<String> = monitors.iter().filter_map(|m| m.name().ok()).collect();
    names.extend(windows().into_iter().filter_map(|w| w.title().ok()).map(|t| format!("{WINDOW_PREFIX}{t}")));
    Ok(names)
}

fn windows() -> Vec<xcap::Window> {
    xcap::Window::all()
        .unwrap_or_default()
        .into_iter()
        .filter(|w| !w.is_minimized().unwrap_or(true) && w.title().is_ok_and(|t| !t.is_empty()))
        .collect()
}

fn no_display(error: impl std::fmt::Display) -> MediaError {
    MediaError::unavailable(DeviceKind::Screen, format!("no display to capture ({error})"))
}

impl ScreenSource {
    /// Opens a monitor by name, or a window by `Window: <title>` (or just its
    /// title); `None` is the primary monitor. Captured `fps` times a second.
    pub fn open(name: Option<&str>, fps: u32) -> Result<Self> {
        let kind = DeviceKind::Screen;
        let monitors = xcap::Monitor::all().map_err(no_display)?;
        let interval = Duration::from_secs(1) / fps.max(1);
        let Some(name) = name else {
            let monitor = monitors
                .iter()
                .find(|m| m.is_primary().unwrap_or(false))
                .or(monitors.first())
                .cloned()
                .ok_or_else(|| MediaError::unavailable(kind, "no screen found"))?;
            let name = monitor.name().unwrap_or_else(|_| "screen".to_owned());
            return Ok(Self { target: Target::Monitor(monitor), name, interval });
        };
        if let Some(monitor) = monitors.into_iter().find(|m| m.name().ok().as_deref() == Some(name)) {
            return Ok(Self { target: Target::Monitor(monitor), name: name.to_owned(), interval });
        }
        let title = name.strip_prefix(WINDOW_PREFIX).unwrap_or(name);
        let window = windows()
            .into_iter()
            .find(|w| w.title().ok().as_deref() == Some(title))
            .ok_or_else(|| MediaError::NoSuchDevice { kind, name: name.to_owned() })?;
        Ok(Self { target: Target::Window(window), name: format!("{WINDOW_PREFIX}{title}"), interval })
    }
}

impl VideoSource for ScreenSource {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn frame_interval(&self) -> Duration {
        self.interval
    }

    fn capture(&mut self) -> Result<RawVideoFrame> {
        let image = match &self.target {
            Target::Monitor(monitor) => monitor.capture_image(),
            Target::Window(window) => window.capture_image(),
        }
        .map_err(|e| MediaError::unavailable(DeviceKind::Screen, format!("screen capture stopped: {e}")))?;
        let (width, height) = (image.width(), image.height());
        Ok(RawVideoFrame {
            format: PixelFormat::Rgba32,
            width,
            height,
            data: image.into_raw(),
            captured: Instant::now(),
        })
    }
}
