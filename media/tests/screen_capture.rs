//! The screen as it is: a 1920×1080 Xvfb display with a two-coloured window
//! at its corner, captured through the persistent X connection (the fast
//! path), pixel for pixel.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use concord_media::convert::PixelFormat;
use concord_media::devices::ScreenSource;
use concord_media::source::VideoSource;

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The BGR bytes of pixel (`x`, `y`) of a BGRX frame `width` wide.
fn bgr(data: &[u8], width: u32, x: u32, y: u32) -> [u8; 3] {
    let at = ((y * width + x) * 4) as usize;
    [data[at], data[at + 1], data[at + 2]]
}

#[test]
fn a_1080p_screen_is_read_pixel_for_pixel_through_one_x_connection() {
    let mut xvfb = Command::new("Xvfb")
        .args(["-displayfd", "1", "-screen", "0", "1920x1080x24", "-nolisten", "tcp"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("Xvfb is needed here (.ci/setup installs it): {e}"));
    let mut line = String::new();
    BufReader::new(xvfb.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let _xvfb = Kill(xvfb);
    let display = format!(":{}", line.trim());
    // This test binary has this one test: the display is ours to set.
    std::env::set_var("DISPLAY", &display);
    std::env::remove_var("WAYLAND_DISPLAY");

    // A 400×300 window at the top-left: left half #204080, right half #c0a060.
    let picture = std::env::temp_dir().join(format!("concord-screen-{}.png", std::process::id()));
    let made = Command::new("convert")
        .args(["-size", "200x300", "xc:#204080", "xc:#c0a060", "+append"])
        .arg(&picture)
        .status()
        .unwrap_or_else(|e| panic!("ImageMagick is needed here (.ci/setup installs it): {e}"));
    assert!(made.success());
    let _window = Kill(
        Command::new("display")
            .args(["-geometry", "+0+0"])
            .arg(&picture)
            .env("DISPLAY", &display)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let mut source = ScreenSource::open(None, 30).unwrap();
    assert!(source.is_direct(), "an X display is read through the persistent connection");
    let deadline = Instant::now() + Duration::from_secs(15);
    let frame = loop {
        let frame = source.capture().unwrap();
        if bgr(&frame.data, frame.width, 50, 50) == [0x80, 0x40, 0x20] || Instant::now() > deadline {
            break frame;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = std::fs::remove_file(&picture);
    assert_eq!((frame.width, frame.height, frame.format), (1920, 1080, PixelFormat::Bgra32));
    assert_eq!(frame.data.len(), 1920 * 1080 * 4);
    assert_eq!(bgr(&frame.data, 1920, 50, 50), [0x80, 0x40, 0x20], "the window's left half");
    assert_eq!(bgr(&frame.data, 1920, 350, 250), [0x60, 0xa0, 0xc0], "its right half");
    assert_eq!(bgr(&frame.data, 1920, 1500, 900), [0, 0, 0], "the bare root window");
    // Every capture is a fresh picture through the same connection.
    for _ in 0..5 {
        assert_eq!(source.capture().unwrap().data.len(), 1920 * 1080 * 4);
    }
}
