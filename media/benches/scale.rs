//! Cost of resizing a screen before it is encoded: 1080p → 720p and
//! 1440p → 1080p I420 with `media::scale::Scaler` (SIMD Catmull-Rom), beside
//! plain nearest-neighbour sampling (what the engine did before) for scale.
//!
//! `cargo bench -p concord-media --bench scale`

#![allow(clippy::unwrap_used)]

use std::time::Instant;

use concord_media::convert::{to_i420, I420Frame, PixelFormat};
use concord_media::scale::Scaler;
use concord_media::synthetic::{Stamp, TestPattern};

const FRAMES: u32 = 200;

fn main() {
    println!("| from → to | Catmull-Rom (SIMD) ms/frame | nearest-neighbour ms/frame |");
    println!("|---|---|---|");
    for ((sw, sh), (dw, dh)) in [((1920, 1080), (1280, 720)), ((2560, 1440), (1920, 1080))] {
        let pattern = TestPattern::new(sw, sh);
        let mut rgba = Vec::new();
        pattern.render_rgba(Stamp { frame_number: 1, capture_micros: 0 }, &mut rgba);
        let source = to_i420(PixelFormat::Rgba32, sw, sh, &rgba).unwrap();
        let mut out = I420Frame::black(2, 2);
        let mut scaler = Scaler::new();
        let started = Instant::now();
        for _ in 0..FRAMES {
            scaler.scale_i420(&source, dw, dh, &mut out);
        }
        let filtered = started.elapsed().as_secs_f64() * 1000.0 / f64::from(FRAMES);
        let started = Instant::now();
        for _ in 0..FRAMES {
            nearest(&source, dw, dh, &mut out);
        }
        let nearest_ms = started.elapsed().as_secs_f64() * 1000.0 / f64::from(FRAMES);
        println!("| {sw}x{sh} → {dw}x{dh} | {filtered:.2} | {nearest_ms:.2} |");
    }
}

/// Nearest-neighbour, as a reference point only.
fn nearest(src: &I420Frame, width: u32, height: u32, out: &mut I420Frame) {
    let plane = |data: &[u8], sw: usize, sh: usize, dw: usize, dh: usize, dst: &mut Vec<u8>| {
        dst.clear();
        for y in 0..dh {
            let row = &data[(y * sh / dh) * sw..][..sw];
            dst.extend((0..dw).map(|x| row[x * sw / dw]));
        }
    };
    let (sw, sh, dw, dh) = (src.width as usize, src.height as usize, width as usize, height as usize);
    plane(&src.y, sw, sh, dw, dh, &mut out.y);
    plane(&src.u, sw / 2, sh / 2, dw / 2, dh / 2, &mut out.u);
    plane(&src.v, sw / 2, sh / 2, dw / 2, dh / 2, &mut out.v);
    out.width = width;
    out.height = height;
}
