//! One participant on a slow link, one on an open link, through the SFU of
//! a server in this process (SQLite): the slow one's bot runs in a network
//! namespace of the bench's own whose downlink (or, with
//! `CONCORD_BENCH_SLOW=uplink`, uplink) `tc tbf` narrows (root needed); both
//! publish a simulcast camera and a tone. Prints, for each link rate, what
//! each received of the other (frames, decoded size, longest gap, keyframes
//! asked, the tone), what the slow one sent per layer with its uplink
//! estimate, and the `call_video_quality` events it was told, as JSON lines
//! — a slow downlink with and without the SFU's bandwidth estimation
//! (`media_bandwidth_estimation`), a slow uplink with the encoders
//! following the uplink estimate and without (`--fixed-uplink`).
//!
//! ```text
//! cargo bench -p concord-call --bench slow_link                       # downlinks of 150 and 700 kbit/s, 20 s each
//! CONCORD_BENCH_KBIT=250 CONCORD_BENCH_SECONDS=30 cargo bench -p concord-call --bench slow_link
//! CONCORD_BENCH_RESOLUTION=640x360 cargo bench -p concord-call --bench slow_link
//! CONCORD_BENCH_SLOW=uplink CONCORD_BENCH_KBIT=250,400 cargo bench -p concord-call --bench slow_link
//! ```

use std::process::Stdio;

use concord_testkit::db::{Backend, Database};
use concord_testkit::netns::TestNetwork;
use concord_testkit::server::{TestServer, PASSWORD};
use serde_json::{json, Value};

fn main() {
    // RUST_LOG=concord_sfu=debug shows the server's side (layers chosen, keyframes asked).
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let rates: Vec<u32> = std::env::var("CONCORD_BENCH_KBIT")
        .unwrap_or_else(|_| "150,700".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let seconds = std::env::var("CONCORD_BENCH_SECONDS").unwrap_or_else(|_| "20".into());
    let resolution = std::env::var("CONCORD_BENCH_RESOLUTION").unwrap_or_else(|_| "1280x720".into());
    let uplink = std::env::var("CONCORD_BENCH_SLOW").is_ok_and(|slow| slow == "uplink");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async {
        for kbit in rates {
            for adapting in [false, true] {
                let line = run(kbit, uplink, adapting, &seconds, &resolution).await;
                println!("{line}");
            }
        }
    });
}

/// One call of `seconds` over a downlink (or `uplink`) of `kbit`, with the
/// side that sends into it `adapting` to its estimate or not; its figures
/// as one JSON object.
async fn run(kbit: u32, uplink: bool, adapting: bool, seconds: &str, resolution: &str) -> Value {
    let network = TestNetwork::create(false);
    if uplink {
        network.shape_uplink(kbit);
    } else {
        network.shape_downlink(kbit);
    }
    let db = Database::create(Backend::Sqlite).await;
    let estimation = adapting && !uplink;
    let settings = network.server_settings().merge(("media_bandwidth_estimation", estimation));
    let server = TestServer::start_on(&db, settings).await;
    let port = server.base.rsplit(':').next().expect("a port");
    let inside = format!("http://{}:{port}", network.host_ip);
    let tag = format!("slow{kbit}{}{}", u8::from(uplink), u8::from(adapting));
    let (room, accounts) = server.room_of(&tag, 2).await;
    let mut options = vec!["--simulcast", "--resolution", resolution, "--seconds", seconds];
    if uplink && !adapting {
        options.push("--fixed-uplink");
    }
    let bot = env!("CARGO_BIN_EXE_concord-bot");
    let spawn = |mut command: tokio::process::Command, base: &str, i: usize, tone: &str| {
        command
            .args(["--server", base, "--email", &format!("{tag}+{i}@example.com"), "--password", PASSWORD])
            .args(["--room", &room.to_string(), "--tone-hz", tone])
            .args(&options)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the bot starts")
    };
    let open = spawn(tokio::process::Command::new(bot), &server.base, 1, "440");
    let slow = spawn(network.command(bot), &inside, 2, "550");
    let report = |output: std::process::Output| -> Value {
        serde_json::from_slice(&output.stdout).unwrap_or_else(|_| json!({"error": "no report"}))
    };
    let (open, slow) = (
        report(open.wait_with_output().await.expect("ran")),
        report(slow.wait_with_output().await.expect("ran")),
    );
    server.stop().await;
    let received = |report: &Value, from: usize| -> Value {
        let id = accounts[from].id().to_string();
        let tracks = report["received"].as_array().into_iter().flatten();
        let theirs = tracks
            .filter(|r| r["user_id"] == json!(id))
            .flat_map(|r| r["tracks"].as_array().cloned().unwrap_or_default());
        let summary: Vec<Value> = theirs
            .map(|t| {
                json!({"kind": t["kind"], "frames": t["frames"], "width": t["width"], "height": t["height"],
                       "max_frame_gap_ms": t["max_frame_gap"], "keyframes_asked": t["keyframes_asked"],
                       "tone_hz": t["tone_hz"], "packets_lost": t["packets_lost"]})
            })
            .collect();
        json!(summary)
    };
    let (link, adapting_to) =
        if uplink { ("uplink", "encoders_follow_estimate") } else { ("downlink", "bandwidth_estimation") };
    json!({
        "bench": "slow_link", "slow": link, "kbit": kbit, adapting_to: adapting,
        "seconds": seconds, "resolution": resolution,
        "slow_received": received(&slow, 0), "open_received": received(&open, 1),
        "slow_sent": slow["sent"], "slow_was_told": slow["video_quality"],
    })
}
