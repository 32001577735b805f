//! A loopback call in one process, measured like `concord selftest`:
//! glass-to-glass and mouth-to-ear latency, and the CPU one 720p30 send +
//! receive costs (camera + microphone; both peers are in this process, so
//! the CPU figure covers sending *and* receiving).
//!
//! `cargo bench -p concord-media --bench call`

#![allow(clippy::unwrap_used)]

use std::time::Instant;

use concord_media::devices::SourceChoice;
use concord_media::selftest::{self, SelftestOptions};

const SECONDS: u32 = 10;

/// User + system CPU seconds of this process so far (Linux `/proc`, 100 ticks per second).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn main() {
    println!("| scenario | glass-to-glass p50 / p95 | mouth-to-ear p50 / p95 | CPU (cores) | frames sent / decoded | max gap |");
    println!("|---|---|---|---|---|---|");
    for (label, width, height, loss) in
        [("720p30", 1280, 720, 0.0), ("720p30, 2% loss", 1280, 720, 2.0), ("1080p30", 1920, 1080, 0.0)]
    {
        let options = SelftestOptions {
            seconds: SECONDS,
            width,
            height,
            fps: 30,
            loss_percent: loss,
            screen: SourceChoice::Off,
            ..SelftestOptions::default()
        };
        let (cpu_before, wall_before) = (cpu_seconds(), Instant::now());
        let report = selftest::run_blocking(options).unwrap();
        let cpu = (cpu_seconds() - cpu_before) / wall_before.elapsed().as_secs_f64();
        let video = report.glass_to_glass_ms.unwrap();
        let audio = report.audio.as_ref().and_then(|a| a.mouth_to_ear_ms).unwrap();
        println!(
            "| {label} | {:.1} / {:.1} ms | {:.1} / {:.1} ms | {cpu:.2} | {} / {} | {} |",
            video.p50,
            video.p95,
            audio.p50,
            audio.p95,
            report.frames_sent,
            report.frames_decoded,
            report.max_frame_gap.unwrap_or(0),
        );
    }
}
