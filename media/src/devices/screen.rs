//! Screens and windows. Monitors on X11 are read through one X connection
//! kept open for the whole share (`GetImage` of the root window's part that
//! is the monitor, delivered as BGRX and converted straight to I420), where
//! xcap opens a new connection and converts every pixel to RGBA on every
//! frame (both manage 1080p far above 15 fps in an optimised build: see
//! docs/BENCHMARKS.md). Windows, and screens on Wayland (PipeWire), go
//! through xcap. Settings names monitors by their
//! name and windows as `Window: <title>`; a window that closes ends the
//! track.
//!
//! (MIT-SHM would save the copy through the X socket, but needs `shmat`
//! and `mmap`, which this crate's `unsafe_code = "forbid"` rules out; the
//! socket copy of a 1080p frame takes a few milliseconds.)

use std::time::{Duration, Instant};

use xcb::x::{Drawable, GetImage, ImageFormat, ImageOrder, Window};

use crate::convert::PixelFormat;
use crate::source::{RawVideoFrame, VideoSource};
use crate::{DeviceKind, MediaError, Result};

/// How a window is named among the shareable screens.
const WINDOW_PREFIX: &str = "Window: ";

enum Target {
    /// A monitor, read through our own X connection.
    X11Monitor(X11Grab),
    /// A monitor through xcap (Wayland, or an X server we cannot read directly).
    Monitor(xcap::Monitor),
    Window(xcap::Window),
}

/// A monitor or a window being captured.
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

fn stopped(error: impl std::fmt::Display) -> MediaError {
    MediaError::unavailable(DeviceKind::Screen, format!("screen capture stopped: {error}"))
}

impl ScreenSource {
    /// Opens a monitor by name, or a window by `Window: <title>` (or just its
    /// title); `None` is the primary monitor. Captured `fps` times a second.
    pub fn open(name: Option<&str>, fps: u32) -> Result<Self> {
        let kind = DeviceKind::Screen;
        let monitors = xcap::Monitor::all().map_err(no_display)?;
        let interval = Duration::from_secs(1) / fps.max(1);
        let monitor = match name {
            None => monitors.iter().find(|m| m.is_primary().unwrap_or(false)).or(monitors.first()).cloned(),
            Some(name) => monitors.iter().find(|m| m.name().ok().as_deref() == Some(name)).cloned(),
        };
        if let Some(monitor) = monitor {
            let name = monitor.name().unwrap_or_else(|_| "screen".to_owned());
            let target = match X11Grab::open(&monitor) {
                Some(grab) => Target::X11Monitor(grab),
                None => Target::Monitor(monitor),
            };
            return Ok(Self { target, name, interval });
        }
        let Some(name) = name else { return Err(MediaError::unavailable(kind, "no screen found")) };
        let title = name.strip_prefix(WINDOW_PREFIX).unwrap_or(name);
        let window = windows()
            .into_iter()
            .find(|w| w.title().ok().as_deref() == Some(title))
            .ok_or_else(|| MediaError::NoSuchDevice { kind, name: name.to_owned() })?;
        Ok(Self { target: Target::Window(window), name: format!("{WINDOW_PREFIX}{title}"), interval })
    }

    /// Whether frames come through the persistent X connection (the fast path).
    pub fn is_direct(&self) -> bool {
        matches!(self.target, Target::X11Monitor(_))
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
        let image = match &mut self.target {
            Target::X11Monitor(grab) => return grab.capture(),
            Target::Monitor(monitor) => monitor.capture_image(),
            Target::Window(window) => window.capture_image(),
        }
        .map_err(stopped)?;
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

/// One monitor read through a persistent X connection.
struct X11Grab {
    connection: xcb::Connection,
    root: Window,
    x: i16,
    y: i16,
    width: u16,
    height: u16,
}

impl X11Grab {
    /// The monitor's part of the root window, if this is an X server whose
    /// root is 24/32-bit little-endian (every X server in use today);
    /// `None` leaves the monitor to xcap.
    fn open(monitor: &xcap::Monitor) -> Option<X11Grab> {
        let (connection, screen) = xcb::Connection::connect(None).ok()?;
        let setup = connection.get_setup();
        let root = setup.roots().nth(usize::try_from(screen).ok()?)?;
        let depth = root.root_depth();
        let bgrx = matches!(depth, 24 | 32)
            && setup.image_byte_order() == ImageOrder::LsbFirst
            && setup.pixmap_formats().iter().any(|f| f.depth() == depth && f.bits_per_pixel() == 32);
        if !bgrx {
            return None;
        }
        let root = root.root();
        let grab = X11Grab {
            x: i16::try_from(monitor.x().ok()?).ok()?,
            y: i16::try_from(monitor.y().ok()?).ok()?,
            width: u16::try_from(monitor.width().ok()?).ok()?,
            height: u16::try_from(monitor.height().ok()?).ok()?,
            connection,
            root,
        };
        Some(grab)
    }

    fn capture(&mut self) -> Result<RawVideoFrame> {
        let cookie = self.connection.send_request(&GetImage {
            format: ImageFormat::ZPixmap,
            drawable: Drawable::Window(self.root),
            x: self.x,
            y: self.y,
            width: self.width,
            height: self.height,
            plane_mask: u32::MAX,
        });
        let reply = self.connection.wait_for_reply(cookie).map_err(stopped)?;
        let (width, height) = (u32::from(self.width), u32::from(self.height));
        let data = reply.data();
        if data.len() < (width * height * 4) as usize {
            return Err(stopped(format!(
                "the X server sent {} bytes for a {width}x{height} screen",
                data.len()
            )));
        }
        Ok(RawVideoFrame {
            format: PixelFormat::Bgra32,
            width,
            height,
            data: data[..(width * height * 4) as usize].to_vec(),
            captured: Instant::now(),
        })
    }
}
