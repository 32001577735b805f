//! The screen as it is: a 1920×1080 Xvfb display with a two-coloured window
//! at its corner, captured through the persistent X connection (the fast
//! path), pixel for pixel.
//!
//! The window is made here, through X itself (a window and a child, each
//! with its background colour, mapped and synced): the server paints a
//! mapped window's background before it answers the next request, so the
//! first capture sees it. (It was ImageMagick's `display` once, which on a
//! loaded machine sometimes had not drawn after 15 s.)

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use xcb::x;

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
    let (x_connection, screen_number) = xcb::Connection::connect(Some(&display)).unwrap();
    let screen = x_connection.get_setup().roots().nth(screen_number as usize).unwrap();
    let window: x::Window = x_connection.generate_id();
    let right_half: x::Window = x_connection.generate_id();
    for (id, parent, x, colour) in
        [(window, screen.root(), 0, 0x20_40_80), (right_half, window, 200, 0xc0_a0_60)]
    {
        x_connection.send_request(&x::CreateWindow {
            depth: x::COPY_FROM_PARENT as u8,
            wid: id,
            parent,
            x,
            y: 0,
            width: if id == window { 400 } else { 200 },
            height: 300,
            border_width: 0,
            class: x::WindowClass::InputOutput,
            visual: screen.root_visual(),
            value_list: &[x::Cw::BackPixel(colour)],
        });
    }
    x_connection.send_request(&x::MapWindow { window: right_half });
    x_connection.send_request(&x::MapWindow { window });
    // A round trip: every request before it has been carried out.
    let focus = x_connection.send_request(&x::GetInputFocus {});
    x_connection.wait_for_reply(focus).unwrap();

    let mut source = ScreenSource::open(None, 30).unwrap();
    assert!(source.is_direct(), "an X display is read through the persistent connection");
    let frame = source.capture().unwrap();
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
