//! Capturing a 1920×1080 screen (its own Xvfb display, started here): the
//! persistent-connection path `ScreenSource` uses for monitors, against
//! xcap's `capture_image` (what it used before), each with and without the
//! conversion to I420 the encoder needs.
//!
//! `cargo bench -p concord-media --bench screen_capture` (needs Xvfb)

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use concord_media::convert::{to_i420_into, I420Frame, PixelFormat};
use concord_media::devices::ScreenSource;
use concord_media::source::VideoSource;

const RUN: Duration = Duration::from_secs(4);

fn rate(what: &str, mut capture: impl FnMut()) {
    let started = Instant::now();
    let mut frames = 0u32;
    while started.elapsed() < RUN {
        capture();
        frames += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!("| {what} | {:.1} | {:.1} |", f64::from(frames) / seconds, seconds * 1000.0 / f64::from(frames));
}

fn main() {
    let mut xvfb = Command::new("Xvfb")
        .args(["-displayfd", "1", "-screen", "0", "1920x1080x24", "-nolisten", "tcp"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("Xvfb");
    let mut line = String::new();
    BufReader::new(xvfb.stdout.take().unwrap()).read_line(&mut line).unwrap();
    std::env::set_var("DISPLAY", format!(":{}", line.trim()));
    std::env::remove_var("WAYLAND_DISPLAY");

    println!("| 1920×1080 screen | frames/s | ms/frame |");
    println!("|---|---|---|");
    let mut direct = ScreenSource::open(None, 60).unwrap();
    assert!(direct.is_direct());
    rate("persistent X connection, BGRX", || {
        direct.capture().unwrap();
    });
    let mut i420 = I420Frame::black(2, 2);
    rate("persistent X connection + I420", || {
        let raw = direct.capture().unwrap();
        to_i420_into(raw.format, raw.width, raw.height, &raw.data, &mut i420).unwrap();
    });
    let monitor = xcap::Monitor::all().unwrap().into_iter().next().unwrap();
    rate("xcap capture_image (before)", || {
        monitor.capture_image().unwrap();
    });
    rate("xcap capture_image + I420 (before)", || {
        let image = monitor.capture_image().unwrap();
        let (w, h) = (image.width(), image.height());
        to_i420_into(PixelFormat::Rgba32, w, h, &image.into_raw(), &mut i420).unwrap();
    });
    let _ = xvfb.kill();
    let _ = xvfb.wait();
}
