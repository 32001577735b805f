//! One call across two server instances (`concord-server` child processes
//! on one MariaDB and one Redis): bots whose websockets are on different
//! instances are in the same call and see and hear each other; the call
//! moves when the instance hosting it is killed (SIGKILL) or restarted
//! (SIGTERM), and its participants carry on.
//!
//! In the `calls` test group (one at a time, `.ci/nextest.toml`), like
//! `sfu_calls`. The server binary is the workspace's own build, found
//! beside `concord-bot`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use concord_call::until::RECEIVED_LINE;
use concord_common::events::{CallParticipantJoined, CallParticipantLeft};
use concord_common::{RoomId, ServerEvent, UserId};
use concord_testkit::balancer::{free_port, Balancer};
use concord_testkit::process::{child_env, ChildServer};
use concord_testkit::redis::RedisServer;
use concord_testkit::server::{Account, TestServer, PASSWORD};
use concord_testkit::ws::Ws;
use concord_testkit::{unique, Backend, Database};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin};
use tokio::sync::mpsc;

/// A bot process that has not said what it waits for by then is stuck.
const SAY_DEADLINE: Duration = Duration::from_secs(90);
/// The lease of these instances (and so of their calls): a killed host's
/// calls are free this long after its last renewal.
const LEASE_SECS: &str = "2";
/// Small pictures: six decoding bots and two debug servers share 2 cores.
const BOT_MEDIA: [&str; 6] = ["--resolution", "160x90", "--fps", "10", "--audio-processing", "off"];

/// `concord-server` as built beside `concord-bot` (the suite builds the workspace).
fn server_binary() -> PathBuf {
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_concord-bot")).with_file_name("concord-server");
    assert!(
        binary.exists(),
        "{} is missing: build the workspace (cargo build -p concord-server)",
        binary.display()
    );
    binary
}

/// The environment of instance `instance` on `db` and `redis`, at `port` (0: any).
fn instance_env(
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

fn start_instance(env: &[(String, String)]) -> ChildServer {
    let binary = server_binary();
    ChildServer::spawn(&binary.display().to_string(), env)
        .unwrap_or_else(|log| panic!("the instance did not start: {log:#?}"))
}

/// A room whose members are `a+1..=a+n` and `b+1..=b+n` (the bots) and an
/// observer, all friends of `a+1`, who owns it.
async fn room_for(server: &TestServer, tag: &str, n: usize) -> (RoomId, Vec<Account>, Vec<Account>, Account) {
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
struct Bots {
    child: Child,
    stdin: Option<ChildStdin>,
    said: mpsc::Receiver<()>,
}

impl Bots {
    fn start(base: &str, room: RoomId, email: &str, accounts: &[Account], from: &[&Account]) -> Bots {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_concord-bot"));
        command
            .args(["--server", base, "--email", email, "--password", PASSWORD])
            .args([
                "--room",
                &room.to_string(),
                "--seconds",
                "240",
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
    async fn received(&mut self, what: &str) {
        tokio::time::timeout(SAY_DEADLINE, self.said.recv())
            .await
            .unwrap_or_else(|_| panic!("{what}: the bots did not receive what they wait for"))
            .expect("the bot process is running");
    }

    /// What they wait for must arrive anew — but from `gone`.
    async fn again(&mut self, gone: &[&Account]) {
        let stdin = self.stdin.as_mut().expect("standard input open");
        let ids: Vec<String> = gone.iter().map(|account| account.id().to_string()).collect();
        let line = format!("again {}\n", ids.join(" "));
        stdin.write_all(line.as_bytes()).await.expect("the bot reads its input");
        stdin.flush().await.expect("flushed");
    }

    /// Lets them leave; each participant's report.
    async fn reports(mut self) -> Vec<Value> {
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
fn longest_video_gap(report: &Value, sender: UserId) -> Duration {
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

/// Who joined and left `room`'s call, as `ws` (a member's socket) is told, until `until` holds.
async fn roster_until(
    ws: &mut Ws,
    room: RoomId,
    within: Duration,
    what: &str,
    mut until: impl FnMut(&[(UserId, bool)]) -> bool,
) -> Vec<(UserId, bool)> {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    while !until(&seen) {
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = ws
            .next_frame_within(left)
            .await
            .unwrap_or_else(|code| panic!("{what}: closed ({code:?}); saw {seen:?}"));
        match frame.event {
            ServerEvent::CallParticipantJoined(CallParticipantJoined { room_id, participant })
                if room_id == room =>
            {
                seen.push((participant.user_id, true));
            }
            ServerEvent::CallParticipantLeft(CallParticipantLeft { room_id, user_id, .. })
                if room_id == room =>
            {
                seen.push((user_id, false));
            }
            _ => {}
        }
    }
    seen
}

fn joined_count(seen: &[(UserId, bool)], user: UserId) -> usize {
    seen.iter().filter(|(who, joined)| *who == user && *joined).count()
}

/// 2 + 1, then 3 + 3 across two instances; the host is killed and the call
/// goes on at the other one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(skip_mysql, ignore = "CONCORD_TEST_SKIP_MYSQL=1")]
async fn a_call_spans_two_instances_and_goes_on_when_its_host_is_killed() {
    let redis = RedisServer::start();
    let db = Database::create(Backend::MariaDb).await;
    let prefix = unique("concord-calls");
    let mut a = start_instance(&instance_env(&db, &redis, &prefix, 1, 0));
    let b = start_instance(&instance_env(&db, &redis, &prefix, 2, 0));
    let (api_a, api_b) = (TestServer::remote(a.port), TestServer::remote(b.port));
    let (room, side_a, side_b, observer) = room_for(&api_a, "span", 3).await;
    let (mut watch, _) = api_b.connect(&observer).await;

    // 2 + 1: two on A (they join first: A hosts), one on B.
    let mut first = Bots::start(&a.base_url(), room, "spana@example.com", &side_a[..2], &[&side_b[0]]);
    roster_until(&mut watch, room, SAY_DEADLINE, "A's two join", |seen| {
        side_a[..2].iter().all(|u| joined_count(seen, u.id()) == 1)
    })
    .await;
    let mut second =
        Bots::start(&b.base_url(), room, "spanb+1@example.com", &side_b[..1], &[&side_a[0], &side_a[1]]);
    first.received("2 + 1, on A").await;
    second.received("2 + 1, on B").await;
    for report in first.reports().await.into_iter().chain(second.reports().await) {
        assert_eq!(report["rejoins"], 0, "{report:#}");
        assert_eq!(report["errors"], json!([]), "{report:#}");
    }

    // 3 + 3.
    let a_ids: Vec<&Account> = side_a.iter().collect();
    let b_ids: Vec<&Account> = side_b.iter().collect();
    let mut on_a = Bots::start(&a.base_url(), room, "spana@example.com", &side_a, &b_ids);
    roster_until(&mut watch, room, SAY_DEADLINE, "A's three join", |seen| {
        side_a.iter().all(|u| joined_count(seen, u.id()) >= 1)
    })
    .await;
    let mut on_b = Bots::start(&b.base_url(), room, "spanb@example.com", &side_b, &a_ids);
    roster_until(&mut watch, room, SAY_DEADLINE, "B's three join A's call", |seen| {
        side_b.iter().all(|u| joined_count(seen, u.id()) >= 1)
    })
    .await;
    on_a.received("3 + 3, on A").await;
    on_b.received("3 + 3, on B").await;

    // The host is killed: B's three carry on at B.
    a.kill();
    let killed = Instant::now();
    drop(on_a);
    on_b.again(&a_ids).await;
    // Everyone sees the same roster: A's three are told gone (they were
    // on the killed instance), B's three in the call again.
    let seen = roster_until(&mut watch, room, SAY_DEADLINE, "B's three join B, A's three leave", |seen| {
        side_b.iter().all(|u| joined_count(seen, u.id()) >= 1)
            && side_a.iter().all(|u| seen.contains(&(u.id(), false)))
    })
    .await;
    on_b.received("after the kill, on B").await;
    eprintln!("the call went on at B {:?} after the kill; roster: {seen:?}", killed.elapsed());
    let reports = on_b.reports().await;
    for report in &reports {
        // One rejoin each (told the call moved, or their connection to A failed), not two.
        assert_eq!(report["rejoins"], 1, "{report:#}");
        let me = &report["user_id"];
        for other in side_b.iter().filter(|u| json!(u.id()) != *me) {
            let gap = longest_video_gap(report, other.id());
            assert!(gap <= Duration::from_secs(10), "{me} went {gap:?} without {}'s camera", other.id());
        }
    }
    // Each of B's three joined B's call once; nobody else did.
    for user in &side_b {
        assert_eq!(joined_count(&seen, user.id()), 1, "{seen:?}");
    }
    let (_, listed) = api_b.get("/api/rooms", &observer.token).await;
    let listed =
        listed["rooms"].as_array().and_then(|rooms| rooms.iter().find(|r| r["id"] == json!(room))).cloned();
    let in_call = listed.as_ref().and_then(|room| room["in_call"].as_array()).map(Vec::len);
    assert_eq!(in_call, Some(0), "everyone left: {listed:?}");
}

/// Six in a call through two balancers (three prefer A, three B); A is
/// restarted (SIGTERM, then started again), then B: nobody goes more than
/// 3 s without anybody's camera.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(skip_mysql, ignore = "CONCORD_TEST_SKIP_MYSQL=1")]
async fn a_rolling_restart_keeps_everyone_in_the_call() {
    let redis = RedisServer::start();
    let db = Database::create(Backend::MariaDb).await;
    let prefix = unique("concord-roll");
    let (port_a, port_b) = (free_port(), free_port());
    let (env_a, env_b) =
        (instance_env(&db, &redis, &prefix, 1, port_a), instance_env(&db, &redis, &prefix, 2, port_b));
    let mut a = start_instance(&env_a);
    let mut b = start_instance(&env_b);
    let via_a = Balancer::start(vec![port_a, port_b]).await;
    let via_b = Balancer::start(vec![port_b, port_a]).await;
    let api = TestServer::remote(port_b);
    let (room, side_a, side_b, observer) = room_for(&api, "roll", 3).await;
    let (mut watch, _) = api.connect(&observer).await;

    let a_ids: Vec<&Account> = side_a.iter().collect();
    let b_ids: Vec<&Account> = side_b.iter().collect();
    let began = Instant::now();
    let mut first = Bots::start(&via_a.base_url(), room, "rolla@example.com", &side_a, &b_ids);
    roster_until(&mut watch, room, SAY_DEADLINE, "A's three join", |seen| {
        side_a.iter().all(|u| joined_count(seen, u.id()) >= 1)
    })
    .await;
    let mut second = Bots::start(&via_b.base_url(), room, "rollb@example.com", &side_b, &a_ids);
    first.received("before the restarts").await;
    second.received("before the restarts").await;
    eprintln!("{:?}: everyone receives everyone", began.elapsed());
    drop(watch);

    for (name, instance, env) in [("A", &mut a, &env_a), ("B", &mut b, &env_b)] {
        let stopped = Instant::now();
        eprintln!("{:?}: {name} stops", began.elapsed());
        instance.terminate();
        assert!(
            instance.exit_within(Duration::from_secs(1)).is_some_and(|status| status.success()),
            "{name} exited 0"
        );
        *instance = start_instance(env);
        eprintln!("{name} restarted in {:?}", stopped.elapsed());
        first.again(&[]).await;
        second.again(&[]).await;
        first.received(&format!("after {name}'s restart")).await;
        second.received(&format!("after {name}'s restart")).await;
        eprintln!("{:?}: everyone receives everyone again after {name}'s restart", began.elapsed());
    }

    let reports: Vec<Value> = first.reports().await.into_iter().chain(second.reports().await).collect();
    let everyone: Vec<&Account> = side_a.iter().chain(&side_b).collect();
    for report in &reports {
        eprintln!("{}: rejoins {}, errors {}", report["user_id"], report["rejoins"], report["errors"]);
    }
    for report in &reports {
        assert_eq!(report["errors"], json!([]), "{report:#}");
        let me = &report["user_id"];
        for other in everyone.iter().filter(|u| json!(u.id()) != *me) {
            let gap = longest_video_gap(report, other.id());
            assert!(gap <= Duration::from_secs(3), "{me} went {gap:?} without {}'s camera", other.id());
        }
    }
}
