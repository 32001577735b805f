//! Calls through the server's SFU with real participants: a real server on
//! SQLite, `concord-bot` processes sending H.264 test patterns and Opus
//! tones over loopback WebRTC, and what each of them received, read back
//! from its JSON report.

use std::process::Stdio;
use std::time::Duration;

use concord_common::{RoomId, UserId};
use concord_testkit::db::{Backend, Database};
use concord_testkit::server::{no_extra, Account, TestServer, PASSWORD};
use serde_json::{json, Value};

/// How long each bot stays in the call.
const SECONDS: &str = "6";
/// A bot that has not printed its report by then is stuck.
const BOT_DEADLINE: Duration = Duration::from_secs(90);

/// `n` accounts `tag+1@example.com` … (the bot's naming for `--participants n`),
/// friends of the first, all members of one room the first owns.
async fn room_of(server: &TestServer, tag: &str, n: usize) -> (RoomId, Vec<Account>) {
    let mut accounts = Vec::new();
    for i in 1..=n {
        accounts.push(server.register_as(&format!("{tag}-{i}"), &format!("{tag}+{i}@example.com")).await);
    }
    let owner = &accounts[0];
    for other in &accounts[1..] {
        server.befriend(owner, other).await;
    }
    let (status, room) = server.post("/api/rooms", &owner.token, json!({"label": tag})).await;
    assert_eq!(status, 201, "{room}");
    let room_id: RoomId = serde_json::from_value(room["id"].clone()).expect("room id");
    for other in &accounts[1..] {
        let path = format!("/api/rooms/{room_id}/members");
        let (status, body) = server.post(&path, &owner.token, json!({"user_id": other.id()})).await;
        assert!(status.is_success(), "{body}");
    }
    (room_id, accounts)
}

/// Runs `concord-bot` for `participants` participants of `tag` with `extra`
/// options; returns each participant's report and the exit status.
async fn bot(
    server: &TestServer,
    room: RoomId,
    tag: &str,
    participants: usize,
    extra: &[&str],
) -> (Vec<Value>, bool) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_concord-bot"));
    command
        .args(["--server", &server.base, "--email", &format!("{tag}@example.com"), "--password", PASSWORD])
        .args([
            "--room",
            &room.to_string(),
            "--seconds",
            SECONDS,
            "--participants",
            &participants.to_string(),
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let output = tokio::time::timeout(BOT_DEADLINE, command.output())
        .await
        .expect("the bot finished in time")
        .expect("the bot ran");
    let json: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!("the bot's output is JSON ({e}): {}", String::from_utf8_lossy(&output.stdout))
    });
    let reports = if participants == 1 {
        vec![json]
    } else {
        json["participants"].as_array().expect("participants").clone()
    };
    (reports, output.status.success())
}

/// The tracks `report` received from `user`.
fn tracks_from(report: &Value, user: UserId) -> Vec<Value> {
    report["received"]
        .as_array()
        .expect("received")
        .iter()
        .filter(|r| r["user_id"] == json!(user.to_string()))
        .flat_map(|r| r["tracks"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// Every participant received every other's camera (decoded, stamps read
/// back in order) and microphone (the other's own tone heard).
fn assert_everyone_received_everyone(reports: &[Value], accounts: &[Account]) {
    for (i, report) in reports.iter().enumerate() {
        assert!(report["errors"].as_array().is_some_and(Vec::is_empty), "participant {i}: {report:#}");
        assert!(report["joined_ms"].is_u64(), "participant {i} joined: {report:#}");
        assert!(report["sent"]["video_frames"].as_u64() > Some(0), "participant {i} sent video");
        for (j, other) in accounts.iter().enumerate() {
            if i == j {
                continue;
            }
            let tracks = tracks_from(report, other.id());
            let camera = tracks.iter().find(|t| t["kind"] == "camera").unwrap_or_else(|| {
                panic!("participant {i} got no camera from {j}: {report:#}");
            });
            assert!(camera["frames"].as_u64() >= Some(10), "{i} ← {j} camera: {camera}");
            assert_eq!(camera["frame_numbers_ok"], json!(true), "{i} ← {j} camera stamps: {camera}");
            let microphone = tracks.iter().find(|t| t["kind"] == "microphone").unwrap_or_else(|| {
                panic!("participant {i} got no microphone from {j}: {report:#}");
            });
            let expected = 440.0 + 110.0 * j as f64;
            let heard =
                microphone["tone_hz"].as_f64().unwrap_or_else(|| panic!("{i} ← {j}: no tone: {microphone}"));
            assert!((heard - expected).abs() < 15.0, "{i} ← {j}: heard {heard} Hz, sent {expected} Hz");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_participants_see_and_hear_each_other_through_the_sfu() {
    let db = Database::create(Backend::Sqlite).await;
    let server = TestServer::start_on(&db, no_extra()).await;
    let (room, accounts) = room_of(&server, "pair", 2).await;
    let (reports, ok) = bot(&server, room, "pair", 2, &[]).await;
    assert!(ok, "{reports:#?}");
    assert_everyone_received_everyone(&reports, &accounts);
    // Both spoke (a continuous tone) and the server said so.
    for report in &reports {
        for account in &accounts {
            assert!(
                report["speaking_seen"]
                    .as_array()
                    .is_some_and(|s| s.contains(&json!(account.id().to_string()))),
                "{report:#}"
            );
        }
    }
    server.stop().await;
}
