//! H.264 encode and decode throughput on one core, at 720p and 1080p.
//!
//! `cargo bench -p concord-media --bench codec`
//!
//! Frames are the stamped test pattern (moving box and gradients), converted
//! to I420 beforehand so only the codec is timed — once clean, and once with
//! camera-like sensor noise (±8 luma, new every frame) so the encoder has to
//! spend its bitrate. The encoder runs at the bitrate a call would use
//! (1.5 Mbps at 720p, scaled by pixels); the decoder decodes what the encoder
//! produced.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use concord_media::convert::{to_i420, I420Frame, PixelFormat};
use concord_media::synthetic::{Stamp, TestPattern};
use concord_media::video_codec::{EncoderSettings, VideoDecoder, VideoEncoder};

const FRAMES: u32 = 300;

fn main() {
    println!("| content | resolution | bitrate | encode fps (1 core) | decode fps (1 core) | mean frame |");
    println!("|---|---|---|---|---|---|");
    for (noisy, width, height) in
        [(false, 1280, 720), (true, 1280, 720), (false, 1920, 1080), (true, 1920, 1080)]
    {
        let pattern = TestPattern::new(width, height);
        let mut rgba = Vec::new();
        let frames: Vec<I420Frame> = (0..FRAMES)
            .map(|n| {
                pattern
                    .render_rgba(Stamp { frame_number: n, capture_micros: u64::from(n) * 33_333 }, &mut rgba);
                let mut frame = to_i420(PixelFormat::Rgba32, width, height, &rgba).unwrap();
                if noisy {
                    add_noise(&mut frame, n);
                }
                frame
            })
            .collect();
        let settings = EncoderSettings::camera(width, height, 30.0);
        let mut encoder = VideoEncoder::new(settings).unwrap();
        let mut encoded = Vec::new();
        let mut encode_time = Duration::ZERO;
        for (n, frame) in frames.iter().enumerate() {
            let started = Instant::now();
            let out = encoder.encode(frame, n as u64 * 33).unwrap();
            encode_time += started.elapsed();
            encoded.extend(out);
        }
        let bytes: usize = encoded.iter().map(|f| f.data.len()).sum();
        let mut decoder = VideoDecoder::new().unwrap();
        let mut picture = I420Frame::black(2, 2);
        let mut decoded = 0u32;
        let started = Instant::now();
        for frame in &encoded {
            if decoder.decode_into(&frame.data, &mut picture).unwrap() {
                decoded += 1;
            }
        }
        let decode_time = started.elapsed();
        println!(
            "| {} | {width}x{height} | {:.1} Mbps | {:.0} | {:.0} | {:.1} KB |",
            if noisy { "pattern + noise" } else { "test pattern" },
            f64::from(settings.bitrate_bps) / 1e6,
            f64::from(FRAMES) / encode_time.as_secs_f64(),
            f64::from(decoded) / decode_time.as_secs_f64(),
            bytes as f64 / encoded.len().max(1) as f64 / 1024.0,
        );
    }
}

/// Camera-like sensor noise: ±8 on every luma sample, different each frame.
fn add_noise(frame: &mut I420Frame, seed: u32) {
    let mut state = seed.wrapping_mul(2_654_435_761) | 1;
    for y in &mut frame.y {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        *y = y.saturating_add_signed(((state >> 28) as i8) - 8);
    }
}
