//! Cost of the forwarding core's per-packet work on one core: queueing a
//! published packet for every subscriber (the copies share it) and the
//! speaking detector. `cargo bench -p concord-sfu --bench forwarding_core`
//! prints packets per second; the figures go to docs/BENCHMARKS.md.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use concord_sfu::router::{Kind, Router, RtpPacket};
use concord_sfu::speaking::SpeakingDetector;

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
    // A room of 25: one camera packet (1,200 bytes) in, queued for the 24
    // others, and drained (what the transport then writes).
    const SSRC: u32 = 0xdead_beef;
    let mut router = Router::new();
    for id in 1..=25u64 {
        router.add_participant(id, 1024);
    }
    router.publish(1, SSRC, Kind::Video);
    for id in 2..=25u64 {
        router.subscribe(id, SSRC);
    }
    let payload: Arc<[u8]> = Arc::from(vec![0x42; 1188]);
    let now = Instant::now();
    let mut copies = 0u64;
    let mut seq = 0u64;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(1) {
        for _ in 0..100 {
            seq += 1;
            let packet = RtpPacket {
                ssrc: SSRC,
                seq,
                timestamp: 0,
                marker: false,
                keyframe: false,
                audio_level: None,
                payload: Arc::clone(&payload),
            };
            router.on_rtp(now, 1, Arc::new(packet)).ok();
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
    measure("speaking detector, one audio packet", || {
        tick += 1;
        let now = start + Duration::from_millis(tick * 20);
        detector.observe(now, black_box(25));
        black_box(detector.update(now));
    });
}
