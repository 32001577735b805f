//! Rooms of growing size through the SFU of a release `concord-server`
//! (its own process, SQLite), filled by one `concord-bot` per room that
//! replays a pre-encoded H.264 file (so encoders don't compete for the CPU)
//! and counts frames from RTP without decoding.
//!
//! For each size: join time and first remote frame (p50/p95 over the
//! participants), frames delivered of those expected, packets lost, the
//! server's CPU (its own user + system time over the call) and memory.
//!
//! With `CONCORD_BENCH_CAPTURE=1`, `tcpdump` also records the SFU's port
//! and the added forwarding latency is read off the wire ([`capture`]).
//!
//! With `CONCORD_BENCH_TRANSPORTS=udp,tcp` each size runs once per
//! transport, the bot inside a network namespace of the bench's own behind
//! a veth pair (root needed): `udp` as it is, `tcp` with the namespace's UDP
//! to the server dropped, so every participant's media goes over the SFU's
//! TCP port (ICE-TCP) — the cost of the TCP fallback, beside UDP on the same
//! path. Round-trip times are ICE's own (the bots measure them each second).
//!
//! ```text
//! cargo build --release -p concord-server -p concord-call
//! cargo bench -p concord-call --bench sfu_room            # sizes 2,4,8,12; CONCORD_BENCH_SIZES=2,25 for others
//! CONCORD_BENCH_RESOLUTION=1280x720 CONCORD_BENCH_CAPTURE=1 cargo bench -p concord-call --bench sfu_room
//! CONCORD_BENCH_VIDEO=camera.h264 cargo bench -p concord-call --bench sfu_room   # a given Annex-B file at 15 fps
//! CONCORD_BENCH_SERVER_BIN=old/concord-server cargo bench -p concord-call --bench sfu_room   # another build
//! CONCORD_BENCH_TRANSPORTS=udp,tcp CONCORD_BENCH_SIZES=2,8 cargo bench -p concord-call --bench sfu_room
//! ```
//! Bots and server share the machine's cores: on 2 cores the bots' own
//! SRTP and RTP work is most of the load, which caps the largest room here.

mod capture;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use concord_testkit::db::{Backend, Database};
use concord_testkit::netns::TestNetwork;
use concord_testkit::process::{bench_media_env, child_env, ChildServer};
use concord_testkit::server::{TestServer, PASSWORD};
use concord_testkit::stats::percentiles;
use serde_json::{json, Value};

const SECONDS: u64 = 12;
const FPS: u32 = 15;

fn main() {
    let bot = env!("CARGO_BIN_EXE_concord-bot");
    // CONCORD_BENCH_SERVER_BIN: another build of the server, to compare.
    let server_bin = std::env::var("CONCORD_BENCH_SERVER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(bot).with_file_name("concord-server"));
    if !server_bin.exists() {
        eprintln!(
            "build the server first: cargo build --release -p concord-server ({} is missing)",
            server_bin.display()
        );
        std::process::exit(1);
    }
    let sizes: Vec<usize> = std::env::var("CONCORD_BENCH_SIZES")
        .unwrap_or_else(|_| "2,4,8,12".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let resolution = std::env::var("CONCORD_BENCH_RESOLUTION").unwrap_or_else(|_| "640x360".into());
    let Some((width, height)) =
        resolution.split_once('x').and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
    else {
        eprintln!("CONCORD_BENCH_RESOLUTION is WIDTHxHEIGHT, not {resolution}");
        std::process::exit(1);
    };
    let capture = std::env::var("CONCORD_BENCH_CAPTURE").is_ok_and(|v| v == "1");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    // The stamped test pattern (it compresses to about one packet a frame at
    // 640×360), or CONCORD_BENCH_VIDEO: a camera-like file of the same size
    // and frame rate.
    let (file, generated) = match std::env::var("CONCORD_BENCH_VIDEO") {
        Ok(path) => (PathBuf::from(path), false),
        Err(_) => {
            let file = std::env::temp_dir().join(format!("concord-bench-{}.h264", std::process::id()));
            concord_call::options::write_pattern_h264(&file, width, height, FPS, 4).expect("the H.264 file");
            (file, true)
        }
    };
    // None: the bot on loopback (as the earlier figures were taken).
    let transports: Vec<Option<String>> = match std::env::var("CONCORD_BENCH_TRANSPORTS") {
        Ok(list) => list.split(',').map(|t| Some(t.trim().to_owned())).collect(),
        Err(_) => vec![None],
    };
    if let Some(other) = transports.iter().flatten().find(|t| *t != "udp" && *t != "tcp") {
        eprintln!("CONCORD_BENCH_TRANSPORTS lists udp and tcp, not {other}");
        std::process::exit(1);
    }
    let mut results = Vec::new();
    for size in sizes {
        for transport in &transports {
            let network = transport.as_deref().map(|t| TestNetwork::create(t == "tcp"));
            let mut result = runtime.block_on(room(&server_bin, bot, &file, size, capture, network.as_ref()));
            result["resolution"] = json!(resolution);
            result["transport"] = json!(transport.as_deref().unwrap_or("udp (loopback)"));
            println!("{}", serde_json::to_string(&result).unwrap_or_default());
            results.push(result);
        }
    }
    if generated {
        let _ = std::fs::remove_file(&file);
    }
    println!("{}", serde_json::to_string_pretty(&results).unwrap_or_default());
}

async fn room(
    server_bin: &std::path::Path,
    bot: &str,
    file: &std::path::Path,
    size: usize,
    capture: bool,
    network: Option<&TestNetwork>,
) -> Value {
    let db = Database::create(Backend::Sqlite).await;
    let mut env = child_env(&db.url, &db.dir);
    // A known media port, for the capture.
    let media_port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free UDP port");
    let media_ip = if network.is_some() { "0.0.0.0" } else { "127.0.0.1" };
    for (key, value) in &mut env {
        if key == "ROCKET_MEDIA_UDP_ADDRESS" {
            *value = format!("{media_ip}:{media_port}");
        }
        if key == "ROCKET_ADDRESS" && network.is_some() {
            *value = "0.0.0.0".into();
        }
    }
    if let Some(network) = network {
        env.push(("ROCKET_MEDIA_ADVERTISE_IP".into(), network.host_ip.clone()));
    }
    // One room: one engine, on the port the capture watches.
    bench_media_env(&mut env);
    let process =
        ChildServer::spawn(&server_bin.display().to_string(), &env).unwrap_or_else(|log| panic!("{log:#?}"));
    let server = TestServer::remote(process.port);
    let tag = format!("bench{size}");
    let (room, _) = server.room_of(&tag, size).await;
    let room_id = room.to_string();
    let idle_rss = process.rss_bytes();
    let pcap = std::env::temp_dir().join(format!("concord-bench-{}-{size}.pcap", std::process::id()));
    let capture = match capture {
        true => capture::Capture::start(media_port, &pcap).await,
        false => None,
    };
    let (user_before, system_before) = process.cpu_times();
    let started = Instant::now();
    // In a namespace, the bot reaches the server at the veth address.
    let (mut command, base) = match network {
        Some(network) => (network.command(bot), format!("http://{}:{}", network.host_ip, process.port)),
        None => (tokio::process::Command::new(bot), server.base.clone()),
    };
    let output = command
        .args(["--server", &base, "--email", &format!("{tag}@example.com"), "--password", PASSWORD])
        .args(["--room", &room_id, "--participants", &size.to_string(), "--seconds", &SECONDS.to_string()])
        .args(["--video", &file.display().to_string(), "--fps", &FPS.to_string(), "--decode", "none"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the bot starts");
    // The server's peak memory, sampled while the call runs.
    let mut peak_rss = idle_rss;
    let waiting = output.wait_with_output();
    tokio::pin!(waiting);
    let output = loop {
        tokio::select! {
            done = &mut waiting => break done.expect("the bot ran"),
            () = tokio::time::sleep(Duration::from_millis(500)) => peak_rss = peak_rss.max(process.rss_bytes()),
        }
    };
    let wall = started.elapsed();
    let (user_after, system_after) = process.cpu_times();
    let (user, system) = (user_after.saturating_sub(user_before), system_after.saturating_sub(system_before));
    let cpu = user + system;
    let forwarding = match capture {
        Some(capture) => {
            let mut latencies = capture.finish().await;
            percentiles(&mut latencies)
        }
        None => Value::Null,
    };
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    let reports: Vec<Value> = match size {
        1 => vec![report],
        _ => report["participants"].as_array().cloned().unwrap_or_default(),
    };
    let mut joined: Vec<Duration> =
        reports.iter().filter_map(|r| r["joined_ms"].as_u64()).map(Duration::from_millis).collect();
    let mut first: Vec<Duration> = reports
        .iter()
        .filter_map(|r| r["first_remote_frame_ms"].as_u64())
        .map(Duration::from_millis)
        .collect();
    let mut round_trips: Vec<Duration> = reports
        .iter()
        .filter_map(|r| r["round_trip_ms"].as_f64())
        .map(|ms| Duration::from_secs_f64(ms / 1000.0))
        .collect();
    // How many connections ICE put on each transport.
    let mut transports: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    for report in &reports {
        for connection in ["publish", "receive"] {
            if let Some(protocol) = report["transport"][connection].as_str() {
                *transports.entry(protocol.to_owned()).or_default() += 1;
            }
        }
    }
    let mut frames = 0u64;
    let mut lost = 0u64;
    let mut packets = 0u64;
    for report in &reports {
        for remote in report["received"].as_array().into_iter().flatten() {
            for track in remote["tracks"].as_array().into_iter().flatten() {
                if track["kind"] == "camera" {
                    frames += track["frames"].as_u64().unwrap_or(0);
                }
                lost += track["packets_lost"].as_u64().unwrap_or(0);
                packets += track["packets"].as_u64().unwrap_or(0);
            }
        }
    }
    // Every participant receives every other's camera for the call's length.
    let expected = (size * (size - 1)) as u64 * SECONDS * u64::from(FPS);
    let mut errors: Vec<String> = reports
        .iter()
        .flat_map(|r| r["errors"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e.as_str().map(str::to_owned))
        .collect();
    errors.sort();
    errors.dedup();
    let mb = |b: u64| (b as f64 / 1_048_576.0 * 10.0).round() / 10.0;
    json!({
        "participants": size,
        "joined": reports.iter().filter(|r| r["joined_ms"].is_u64()).count(),
        "join_ms": percentiles(&mut joined),
        "first_remote_frame_ms": percentiles(&mut first),
        "round_trip_ms": percentiles(&mut round_trips),
        "connections_by_transport": transports,
        "video_frames_delivered_pct": (frames as f64 * 1000.0 / expected.max(1) as f64).round() / 10.0,
        "packets_lost": lost,
        // What the subscribers received, i.e. what the SFU forwarded and delivered.
        "packets_received_per_s": (packets as f64 / wall.as_secs_f64()).round(),
        "server_cpu_us_per_received_packet": (cpu.as_secs_f64() * 1e7 / packets.max(1) as f64).round() / 10.0,
        // The kernel's part: UDP sends, and on loopback the receivers' side of each delivery too.
        "server_system_us_per_received_packet": (system.as_secs_f64() * 1e7 / packets.max(1) as f64).round() / 10.0,
        "forwarding_latency_ms": forwarding,
        "errors": errors,
        "server_cpu_pct_of_one_core": (cpu.as_secs_f64() * 1000.0 / wall.as_secs_f64()).round() / 10.0,
        "server_rss_mb": {"idle": mb(idle_rss), "peak": mb(peak_rss), "per_participant": mb(peak_rss.saturating_sub(idle_rss) / size as u64)},
    })
}
