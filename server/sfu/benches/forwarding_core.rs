//! Cost of the forwarding core's per-packet work on one core: rewriting a
//! packet for a subscriber (payload type + header extensions) and reading
//! its audio level. `cargo bench -p concord-sfu --bench forwarding_core`
//! prints packets per second; the figures go to docs/BENCHMARKS.md.

use std::hint::black_box;
use std::time::{Duration, Instant};

use concord_sfu::router::{Kind, Router};
use concord_sfu::rtp::{self, Mapping};
use concord_sfu::speaking::{self, SpeakingDetector};

/// A 1,200-byte video packet with three one-byte extensions (mid, abs-send-time,
/// transport-cc), as a browser sends them.
fn video_packet() -> Vec<u8> {
    let mut p = vec![0x90, 0x80 | 102, 0x12, 0x34, 0, 0, 0x10, 0, 0xde, 0xad, 0xbe, 0xef];
    p.extend_from_slice(&[0xBE, 0xDE, 0, 3]);
    p.extend_from_slice(&[(4 << 4), b'1', (2 << 4) | 2, 1, 2, 3, (3 << 4) | 1, 0, 7, 0, 0, 0]);
    p.resize(1200, 0x42);
    p
}

/// A 100-byte Opus packet with mid and the audio level.
fn audio_packet() -> Vec<u8> {
    let mut p = vec![0x90, 111, 0x12, 0x34, 0, 0, 0x10, 0, 0xca, 0xfe, 0xba, 0xbe];
    p.extend_from_slice(&[0xBE, 0xDE, 0, 1]);
    p.extend_from_slice(&[(4 << 4), b'0', (1 << 4), 0x80 | 25]);
    p.resize(100, 0x11);
    p
}

fn measure(name: &str, mut work: impl FnMut()) {
    // Warm up, then run for one second.
    for _ in 0..10_000 {
        work();
    }
    let started = Instant::now();
    let mut done = 0u64;
    while started.elapsed() < Duration::from_secs(1) {
        for _ in 0..1000 {
            work();
        }
        done += 1000;
    }
    let per_second = done as f64 / started.elapsed().as_secs_f64();
    println!("{name}: {:.0} packets/s per core ({:.0} ns each)", per_second, 1e9 / per_second);
}

fn main() {
    let video = video_packet();
    let audio = audio_packet();
    let video_map = Mapping {
        payload_types: [(102, 96)].into_iter().collect(),
        extensions: [(4, 9), (2, 2), (3, 5)].into_iter().collect(),
    };
    let audio_map = Mapping {
        payload_types: [(111, 111)].into_iter().collect(),
        extensions: [(1, 1), (4, 9)].into_iter().collect(),
    };
    measure("rewrite 1200-byte video packet for one subscriber", || {
        black_box(rtp::rewrite(black_box(&video), &video_map).ok());
    });
    measure("rewrite 100-byte audio packet for one subscriber", || {
        black_box(rtp::rewrite(black_box(&audio), &audio_map).ok());
    });
    // A room of 25: one camera packet in, rewritten and queued for the 24
    // others, and drained (what the transport would send).
    let mut router = Router::new();
    for id in 1..=25u64 {
        router.add_participant(id, 1024, Some(1));
    }
    router.publish(1, 0xdeadbeef, Kind::Video);
    for id in 2..=25u64 {
        router.subscribe(id, 1, video_map.clone());
    }
    let now = Instant::now();
    let mut copies = 0u64;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(1) {
        for _ in 0..100 {
            router.on_rtp(now, 1, black_box(&video)).ok();
            for id in 2..=25u64 {
                while let Some(packet) = router.next_packet(id) {
                    black_box(packet);
                    copies += 1;
                }
            }
        }
    }
    let per_second = copies as f64 / started.elapsed().as_secs_f64();
    println!("room of 25, one camera packet to 24 subscribers: {per_second:.0} forwarded copies/s per core");

    let start = Instant::now();
    let mut detector = SpeakingDetector::new();
    let mut tick = 0u64;
    measure("read the audio level + speaking detector", || {
        tick += 1;
        let now = start + Duration::from_millis(tick * 20);
        if let Some(level) = rtp::extension(black_box(&audio), 1).and_then(speaking::audio_level) {
            detector.observe(now, level);
        }
        black_box(detector.update(now));
    });
}
