//! Two `concord-server` instances on one MariaDB and one Redis, and bots in
//! their calls: what `across_instances` and the soak (test and benchmark)
//! share. The server binary is the workspace's own build, found beside
//! `concord-bot` (the suite builds the workspace; a benchmark needs
//! `cargo build --release -p concord-server` first).

#![allow(dead_code)] // each including target uses its own part

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use concord_call::until::RECEIVED_LINE;
use concord_common::{RoomId, UserId};
use concord_testkit::process::{child_env, ChildServer};
use concord_testkit::redis::RedisServer;
use concord_testkit::server::{Account, TestServer, PASSWORD};
use concord_testkit::Database;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin};
use tokio::sync::mpsc;

/// A bot process that has not said what it waits for by then is stuck.
pub const SAY_DEADLINE: Duration = Duration::from_secs(90);
/// The lease of these instances (and so of their calls): a killed host's
/// calls are free this long after its last renewal.
pub const LEASE_SECS: &str = "2";
/// The most a bot process stays: it leaves when its standard input closes.
const MAX_STAY_SECS: &str = "7200";
/// Small pictures: six decoding bots and two debug servers share 2 cores.
pub const BOT_MEDIA: [&str; 6] = ["--resolution", "160x90", "--fps", "10", "--audio-processing", "off"];

/// `concord-server` as built beside `concord-bot`.
pub fn server_binary() -> PathBuf {
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_concord-bot")).with_file_name("concord-server");
    assert!(
        binary.exists(),
        "{} is missing: build the workspace (cargo build -p concord-server)",
        binary.display()
    );
    binary
}

/// The environment of instance `instance` on `db` and `redis`, at `port` (0: any).
pub fn instance_env(
    db: &Database,
    redis: &RedisServer,
    prefix: &str,
    instance: u16,
    port: u16,
) -> Vec<(String, String)> {
    let mut env = child_env(&db.url, &db.dir);
    env.retain(|(key, _)| key != "ROCKET_PORT");
    env.extend([
        ("ROCKET_PORT".to_owned(), port.to_string()),
        ("ROCKET_REDIS_URL".to_owned(), redis.url()),
        ("ROCKET_REDIS_PREFIX".to_owned(), prefix.to_owned()),
        ("ROCKET_INSTANCE_ID".to_owned(), instance.to_string()),
        ("ROCKET_PRESENCE_LEASE_SECS".to_owned(), LEASE_SECS.to_owned()),
        ("ROCKET_MEDIA_ENGINES".to_owned(), "1".to_owned()),
    ]);
    env
}

/// Starts the server with exactly `env`; panics with its log if it does not start.
pub fn start_instance(env: &[(String, String)]) -> ChildServer {
    let binary = server_binary();
    ChildServer::spawn(&binary.display().to_string(), env)
        .unwrap_or_else(|log| panic!("the instance did not start: {log:#?}"))
}

/// A room whose members are `a+1..=a+n` and `b+1..=b+n` (the bots) and an
/// observer, all friends of `a+1`, who owns it.
pub async fn room_for(
    server: &TestServer,
    tag: &str,
    n: usize,
) -> (RoomId, Vec<Account>, Vec<Account>, Account) {
    let register = |side: &'static str| {
        (1..=n).map(move |i| (format!("{tag}{side}-{i}"), format!("{tag}{side}+{i}@example.com")))
    };
    let mut a = Vec::new();
    for (name, email) in register("a") {
        a.push(server.register_as(&name, &email).await);
    }
    let mut b = Vec::new();
    for (name, email) in register("b") {
        b.push(server.register_as(&name, &email).await);
    }
    let observer = server.register_as(&format!("{tag}o"), &format!("{tag}o@example.com")).await;
    let owner = &a[0];
    let (status, room) = server.post("/api/rooms", &owner.token, json!({"label": tag})).await;
    assert_eq!(status, 201, "{room}");
    let room_id: RoomId = serde_json::from_value(room["id"].clone()).expect("a room id");
    for other in a[1..].iter().chain(&b).chain([&observer]) {
        server.befriend(owner, other).await;
        let path = format!("/api/rooms/{room_id}/members");
        let (status, body) = server.post(&path, &owner.token, json!({"user_id": other.id()})).await;
        assert!(status.is_success(), "{body}");
    }
    (room_id, a, b, observer)
}

/// A `concord-bot` process of `accounts.len()` participants (`{tag}+i@…`)
/// at `base`, waiting for 10 frames of each other's camera and a second of
/// their voice — theirs and `from`'s —, then staying until its standard
/// input closes.
pub struct Bots {
    child: Child,
    stdin: Option<ChildStdin>,
    said: mpsc::Receiver<()>,
}

impl Bots {
    pub fn start(base: &str, room: RoomId, email: &str, accounts: &[Account], from: &[&Account]) -> Bots {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_concord-bot"));
        command
            .args(["--server", base, "--email", email, "--password", PASSWORD])
            .args([
                "--room",
                &room.to_string(),
                "--seconds",
                MAX_STAY_SECS,
                "--participants",
                &accounts.len().to_string(),
            ])
            .args(["--until-received", "10", "--until-stdin-closes"])
            .args(BOT_MEDIA)
            .args(from.iter().flat_map(|account| ["--from".to_owned(), account.id().to_string()]))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("the bot starts");
        let stderr = child.stderr.take().expect("standard error piped");
        let (tell, said) = mpsc::channel(16);
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if line == RECEIVED_LINE {
                    let _ = tell.send(()).await;
                }
                eprintln!("{line}");
            }
        });
        let stdin = child.stdin.take();
        Bots { child, stdin, said }
    }

    /// Waits until the process says it has what it waits for.
    pub async fn received(&mut self, what: &str) {
        tokio::time::timeout(SAY_DEADLINE, self.said.recv())
            .await
            .unwrap_or_else(|_| panic!("{what}: the bots did not receive what they wait for"))
            .expect("the bot process is running");
    }

    /// What they wait for must arrive anew — but from `gone`.
    pub async fn again(&mut self, gone: &[&Account]) {
        let stdin = self.stdin.as_mut().expect("standard input open");
        let ids: Vec<String> = gone.iter().map(|account| account.id().to_string()).collect();
        let line = format!("again {}\n", ids.join(" "));
        stdin.write_all(line.as_bytes()).await.expect("the bot reads its input");
        stdin.flush().await.expect("flushed");
    }

    /// Lets them leave; each participant's report.
    pub async fn reports(mut self) -> Vec<Value> {
        drop(self.stdin.take());
        let output = tokio::time::timeout(SAY_DEADLINE, self.child.wait_with_output())
            .await
            .expect("the bots left in time")
            .expect("the bots ran");
        let json: Value = serde_json::from_slice(&output.stdout).expect("the report is JSON");
        match json["participants"].as_array() {
            Some(participants) => participants.clone(),
            None => vec![json],
        }
    }
}

/// The longest time `report`'s participant went without `sender`'s camera,
/// from its first frame to its last, across the tracks of each rejoin.
pub fn longest_video_gap(report: &Value, sender: UserId) -> Duration {
    let mut tracks: Vec<(u64, u64, u64)> = report["received"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|remote| remote["user_id"] == json!(sender))
        .flat_map(|remote| remote["tracks"].as_array().cloned().unwrap_or_default())
        .filter(|track| track["kind"] == "camera")
        .filter_map(|track| {
            Some((
                track["first_frame_ms"].as_u64()?,
                track["last_frame_ms"].as_u64()?,
                track["max_frame_gap"].as_u64()?,
            ))
        })
        .collect();
    assert!(!tracks.is_empty(), "{sender}'s camera reached {}: {report:#}", report["user_id"]);
    tracks.sort_unstable();
    eprintln!(
        "{} received {sender}'s camera (first ms, last ms, longest gap ms): {tracks:?}",
        report["user_id"]
    );
    let within = tracks.iter().map(|(_, _, gap)| *gap).max().unwrap_or(0);
    let between = tracks.windows(2).map(|pair| pair[1].0.saturating_sub(pair[0].1)).max().unwrap_or(0);
    Duration::from_millis(within.max(between))
}
