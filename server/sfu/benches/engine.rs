//! Server CPU per delivered packet of the whole engine — str0m's SRTP,
//! RTCP and output polling, our forwarding, no sockets — in a room where
//! everyone publishes a microphone (50 packets/s) and a camera (100
//! packets/s of 1,000 bytes), the clients str0m peers in simulated time
//! ([`concord_sfu::sim`]); only the time inside the engine's calls counts.
//! `cargo bench -p concord-sfu --bench engine` (`CONCORD_BENCH_SIZES=8,16`
//! to choose the rooms; `CONCORD_BENCH_BWE=1` with every receiving
//! connection estimating its bandwidth and pacing what it sends); the
//! figures go to docs/BENCHMARKS.md.

use std::time::Duration;

use concord_sfu::sim::World;

/// Simulated time measured, after the call has come up.
const MEASURED: Duration = Duration::from_secs(5);

fn main() {
    let sizes: Vec<u16> = std::env::var("CONCORD_BENCH_SIZES")
        .unwrap_or_else(|_| "2,8,16,25".to_owned())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let estimation = std::env::var("CONCORD_BENCH_BWE").is_ok_and(|v| v == "1");
    println!("| participants | delivered packets / simulated s | engine µs per delivered packet | delivered packets / s per core |");
    println!("|---|---|---|---|");
    for n in sizes {
        let mut world = World::with_bandwidth_estimation(estimation);
        world.keep_payloads = false;
        for k in 1..=n {
            world.join(k, true);
        }
        // ICE, DTLS and every offer answered.
        world.run_for(Duration::from_secs(2));
        let (delivered, spent) = (world.delivered(), world.engine_time);
        world.run_for(MEASURED);
        let delivered = world.delivered() - delivered;
        let spent = world.engine_time - spent;
        let expected = u64::from(n) * u64::from(n - 1) * 150 * MEASURED.as_secs();
        // (Give or take the packets in flight at either end of the window.)
        assert!(delivered.abs_diff(expected) * 100 <= expected, "{delivered} of {expected} delivered");
        let per_packet = spent.as_secs_f64() / delivered as f64;
        println!(
            "| {n} | {:.0} | {:.2} | {:.0} |",
            delivered as f64 / MEASURED.as_secs_f64(),
            per_packet * 1e6,
            1.0 / per_packet
        );
    }
}
