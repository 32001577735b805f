//! One participant on a slow downlink, one on an open link, through the
//! SFU of a server in this process (SQLite): the slow one's bot runs in a
//! network namespace of the bench's own whose downlink `tc tbf` narrows
//! (root needed); both publish a simulcast camera and a tone. Prints, for
//! each link rate, what each received of the other (frames, decoded size,
//! longest gap, keyframes asked, the tone) and the `call_video_quality`
//! events the slow one was told, as JSON lines — with and without the
//! SFU's bandwidth estimation (`media_bandwidth_estimation`).
//!
//! ```text
//! cargo bench -p concord-call --bench slow_downlink                       # 150 and 700 kbit/s, 20 s each
//! CONCORD_BENCH_KBIT=250 CONCORD_BENCH_SECONDS=30 cargo bench -p concord-call --bench slow_downlink
//! CONCORD_BENCH_RESOLUTION=640x360 cargo bench -p concord-call --bench slow_downlink
//! ```

use std::process::Stdio;

use concord_testkit::db::{Backend, Database};
use concord_testkit::netns::TestNetwork;
use concord_testkit::server::{TestServer, PASSWORD};
use serde_json::{json, Value};

fn main() {
    let rates: Vec<u32> = std::env::var("CONCORD_BENCH_KBIT")
        .unwrap_or_else(|_| "150,700".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let seconds = std::env::var("CONCORD_BENCH_SECONDS").unwrap_or_else(|_| "20".into());
    let resolution = std::env::var("CONCORD_BENCH_RESOLUTION").unwrap_or_else(|_| "1280x720".into());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async {
        for kbit in rates {
            for estimation in [false, true] {
                let line = run(kbit, estimation, &seconds, &resolution).await;
                println!("{line}");
            }
        }
    });
}

/// One call of `seconds` over a downlink of `kbit`; its figures as one JSON object.
async fn run(kbit: u32, estimation: bool, seconds: &str, resolution: &str) -> Value {
    let network = TestNetwork::create(false);
    network.shape_downlink(kbit);
    let db = Database::create(Backend::Sqlite).await;
    let settings = network.server_settings().merge(("media_bandwidth_estimation", estimation));
    let server = TestServer::start_on(&db, settings).await;
    let port = server.base.rsplit(':').next().expect("a port");
    let inside = format!("http://{}:{port}", network.host_ip);
    let tag = format!("slow{kbit}{}", u8::from(estimation));
    let (room, accounts) = server.room_of(&tag, 2).await;
    let options = ["--simulcast", "--resolution", resolution, "--seconds", seconds];
    let bot = env!("CARGO_BIN_EXE_concord-bot");
    let spawn = |mut command: tokio::process::Command, base: &str, i: usize, tone: &str| {
        command
            .args(["--server", base, "--email", &format!("{tag}+{i}@example.com"), "--password", PASSWORD])
            .args(["--room", &room.to_string(), "--tone-hz", tone])
            .args(options)
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
    json!({
        "bench": "slow_downlink", "downlink_kbit": kbit, "bandwidth_estimation": estimation,
        "seconds": seconds, "resolution": resolution,
        "slow_received": received(&slow, 0), "open_received": received(&open, 1),
        "slow_was_told": slow["video_quality"],
    })
}
