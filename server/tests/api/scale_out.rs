//! Several server instances sharing one database and one Redis: events and
//! presence cross instances, and the faults of a deployment — a killed
//! instance, a Redis restart, a duplicate `instance_id` — leave nobody
//! online for good, lose nothing, and say what to change.

use std::time::{Duration, Instant};

use concord_common::events::{self, CallLeftReason, CallMedia};
use concord_common::{ClientEvent, ErrorCode, RoomId, ServerEvent, ServerFrame, UserId};
use reqwest::StatusCode;
use rocket::figment::Figment;
use serde_json::json;

use crate::support::{child_env, spawn_server, RedisServer};
use crate::support::{unique, Account, Backend, Database, TestServer, Ws, EVENT_TIMEOUT};

fn shared_redis_url() -> String {
    std::env::var("CONCORD_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn redis_settings(url: &str, prefix: &str, instance: u16) -> Figment {
    Figment::new()
        .merge(("redis_url", url))
        .merge(("redis_prefix", prefix))
        .merge(("instance_id", instance))
        .merge(("presence_lease_secs", 2))
}

fn is_presence(event: &ServerEvent, who: UserId, online: bool) -> bool {
    matches!(event, ServerEvent::Presence(events::Presence { user_id, online: o }) if *user_id == who && *o == online)
}

async fn two_instances_share_events_and_presence(backend: Backend) {
    let db = Database::create(backend).await;
    let prefix = unique("concord-test");
    let a = TestServer::start_on(&db, redis_settings(&shared_redis_url(), &prefix, 1)).await;
    let b = TestServer::start_on(&db, redis_settings(&shared_redis_url(), &prefix, 2)).await;
    let (_, health) = a.call(reqwest::Method::GET, "/api/health", None, None).await;
    assert_eq!(health["bus"], "redis");

    let ada = a.register("ada").await;
    let bob = b.register("bob").await;
    // Invite on A reaches Bob's socket on B.
    let (mut bob_ws, _) = b.connect(&bob).await;
    let (status, body) = a.post("/api/invites", &ada.token, json!({"email": bob.user.email})).await;
    assert_eq!(status, StatusCode::CREATED);
    bob_ws
        .expect_next("invite via redis", |e| {
            matches!(e, ServerEvent::InviteCreated(events::InviteCreated { .. }))
        })
        .await;
    let id = body["invite"]["id"].as_str().unwrap();
    assert_eq!(b.post(&format!("/api/invites/{id}/accept"), &bob.token, json!({})).await.0, StatusCode::OK);
    bob_ws
        .expect_next("invite accepted", |e| {
            matches!(e, ServerEvent::InviteRemoved(events::InviteRemoved { .. }))
        })
        .await;
    bob_ws
        .expect_next("friend added", |e| matches!(e, ServerEvent::FriendAdded(events::FriendAdded { .. })))
        .await;

    // Ada comes online on A: Bob on B sees it.
    let (mut ada_a, _) = a.connect(&ada).await;
    bob_ws.expect_next("presence via redis", |e| is_presence(e, ada.id(), true)).await;
    // A second device on B does not flip presence; B's snapshot agrees she is online.
    let (mut ada_b, _) = b.connect(&ada).await;
    let (_, friends) = b.get("/api/friends", &bob.token).await;
    assert_eq!(friends[0]["online"], true);

    // A DM posted on A reaches Bob on B, and Ada's device on B.
    let (status, sent) = a.send_dm(&ada, bob.id(), "across instances", "x1").await;
    assert_eq!(status, StatusCode::CREATED);
    for ws in [&mut bob_ws, &mut ada_b] {
        let event = ws
            .expect_next("dm via redis", |e| {
                matches!(e, ServerEvent::MessageCreated(events::MessageCreated { .. }))
            })
            .await;
        let ServerEvent::MessageCreated(events::MessageCreated { message }) = event else { unreachable!() };
        assert_eq!(serde_json::to_value(message).unwrap(), sent);
    }
    // Bob's reply on B reaches Ada on A exactly once: the next thing after
    // it is the answer to a heartbeat sent later.
    b.send_dm(&bob, ada.id(), "got it", "x2").await;
    let is_reply = |e: &ServerEvent| matches!(e, ServerEvent::MessageCreated(events::MessageCreated { message }) if message.content == "got it");
    let own_dm = |e: &ServerEvent| matches!(e, ServerEvent::MessageCreated(events::MessageCreated { message }) if message.content == "across instances");
    // Bob accepted on B before Ada's device on A attached, and B published
    // `invite_removed` then `friend_added` for her through Redis. If they were
    // still on their way when she attached, they arrive after her `ready`
    // (which already lists Bob; the client applies them idempotently): they
    // may come first, in that order, and nothing else may.
    let mut next = ada_a.next().await;
    if matches!(next, ServerEvent::InviteRemoved(_)) {
        next = ada_a.next().await;
        assert!(
            matches!(next, ServerEvent::FriendAdded(_)),
            "friend_added follows invite_removed, got {next:?}"
        );
        next = ada_a.next().await;
    } else if matches!(&next, ServerEvent::FriendAdded(events::FriendAdded { friend }) if friend.user.id == bob.id())
    {
        next = ada_a.next().await;
    }
    assert!(own_dm(&next), "expected her own DM next, got {next:?}");
    ada_a.expect_next("reply via redis", is_reply).await;
    ada_a.send_request("after-reply", concord_common::ClientEvent::Heartbeat).await;
    ada_a
        .expect_next_within(crate::support::EVENT_TIMEOUT, "the heartbeat's answer", |f| {
            f.request_id.as_deref() == Some("after-reply")
        })
        .await;
    bob_ws.expect_next("own reply", is_reply).await;

    // Ada leaves A: still online (B). Leaves B: offline, seen on B — and
    // that offline event is the first presence change Bob hears.
    drop(ada_a);
    drop(ada_b);
    bob_ws.expect_next("offline via redis", |e| is_presence(e, ada.id(), false)).await;
    bob_ws.send_request("after-offline", concord_common::ClientEvent::Heartbeat).await;
    bob_ws
        .expect_next_within(
            crate::support::EVENT_TIMEOUT,
            "the heartbeat's answer, not a second offline",
            |f| f.request_id.as_deref() == Some("after-offline"),
        )
        .await;
    let (_, friends) = a.get("/api/friends", &bob.token).await;
    assert_eq!(friends[0]["online"], false);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_sqlite_share_events_and_presence() {
    two_instances_share_events_and_presence(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(skip_mysql, ignore = "CONCORD_TEST_SKIP_MYSQL=1")]
async fn two_instances_on_mariadb_share_events_and_presence() {
    two_instances_share_events_and_presence(Backend::MariaDb).await;
}

/// Ada on instance A (a separate process), Bob on instance B (in this one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_of_a_killed_instance_go_offline_for_friends_elsewhere() {
    let redis = RedisServer::start();
    let db = Database::create(Backend::Sqlite).await;
    let prefix = unique("concord-kill");
    let b = TestServer::start_on(&db, redis_settings(&redis.url(), &prefix, 2)).await;
    let mut env = child_env(&db.url, &db.dir);
    env.extend([
        ("ROCKET_REDIS_URL".to_owned(), redis.url()),
        ("ROCKET_REDIS_PREFIX".to_owned(), prefix.clone()),
        ("ROCKET_INSTANCE_ID".to_owned(), "1".to_owned()),
        ("ROCKET_PRESENCE_LEASE_SECS".to_owned(), "2".to_owned()),
    ]);
    let mut a_process = spawn_server(&env).unwrap_or_else(|log| panic!("instance A did not start: {log:?}"));
    let start_line = a_process.lines_with("listening on");
    assert_eq!(start_line.len(), 1, "one start-up line: {start_line:?}");
    for part in ["database: SQLite file", "redis: on (127.0.0.1:", "instance_id: 1", "media: udp 127.0.0.1:"]
    {
        assert!(start_line[0].contains(part), "{part} in {}", start_line[0]);
    }
    let a = TestServer::remote(a_process.port);

    let ada = a.register("ada").await;
    let bob = b.register("bob").await;
    b.befriend(&bob, &ada).await;
    let (mut bob_ws, _) = b.connect(&bob).await;
    let (_ada_ws, _) = a.connect(&ada).await;
    bob_ws.expect_next("ada online", |e| is_presence(e, ada.id(), true)).await;

    a_process.kill();
    let killed = Instant::now();
    // The lease (2 s here, 15 s by default) runs out and B reaps A's share.
    let within = Duration::from_secs(30);
    bob_ws.expect_next_within(within, "ada offline", |f| is_presence(&f.event, ada.id(), false)).await;
    eprintln!("offline seen {:?} after the kill", killed.elapsed());
    let (_, friends) = b.get("/api/friends", &bob.token).await;
    assert_eq!(friends[0]["online"], false, "{friends}");

    // Ada comes back through B: online again, and only once.
    let (_ada_again, _) = b.connect(&ada).await;
    bob_ws.expect_next("ada online again", |e| is_presence(e, ada.id(), true)).await;
    b.stop().await;
}

/// Reads Bob's socket after a Redis restart: the DM sent meanwhile arrives
/// live, or the server closes the socket with 1012 to make the client
/// resync. Presence changes caused by the restart may come first.
async fn live_or_resync(ws: &mut Ws, content: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match ws.next_frame_within(left).await {
            Ok(frame) => match frame.event {
                ServerEvent::MessageCreated(events::MessageCreated { message })
                    if message.content == content =>
                {
                    return true
                }
                ServerEvent::Presence(events::Presence { .. }) => continue,
                other => panic!("expected the DM or a resync, got {other:?}"),
            },
            Err(Some(1012)) => return false,
            Err(code) => {
                panic!("expected the DM or a resync close (1012), got the socket ending with {code:?}")
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_loses_no_dm_between_instances() {
    let mut redis = RedisServer::start();
    let db = Database::create(Backend::Sqlite).await;
    let prefix = unique("concord-restart");
    let a = TestServer::start_on(&db, redis_settings(&redis.url(), &prefix, 1)).await;
    let b = TestServer::start_on(&db, redis_settings(&redis.url(), &prefix, 2)).await;
    let ada = a.register("ada").await;
    let bob = b.register("bob").await;
    a.befriend(&ada, &bob).await;
    let (_ada_ws, _) = a.connect(&ada).await;
    let (mut bob_ws, _) = b.connect(&bob).await;

    redis.kill();
    let (status, _) = a.send_dm(&ada, bob.id(), "while redis was down", "down-1").await;
    assert_eq!(status, StatusCode::CREATED, "stored even with the bus down");
    redis.resume();

    if !live_or_resync(&mut bob_ws, "while redis was down").await {
        // Told to resync: a reconnecting client finds the message in history.
        let (_, page) = b.get(&format!("/api/dms/{}/messages", ada.id()), &bob.token).await;
        assert_eq!(page["messages"][0]["content"], "while redis was down");
        let (fresh, _) = b.connect(&bob).await;
        bob_ws = fresh;
    }

    // With Redis back, a new DM from A reaches Bob on B within 15 s.
    let sent_at = Instant::now();
    let (status, _) = a.send_dm(&ada, bob.id(), "after the restart", "up-1").await;
    assert_eq!(status, StatusCode::CREATED);
    loop {
        let left = Duration::from_secs(15).saturating_sub(sent_at.elapsed());
        let frame = match bob_ws.next_frame_within(left).await {
            Ok(frame) => frame,
            // The resync close may also come after the first DM arrived live
            // (B's subscriber and A's publisher retry race): the client
            // reconnects, and finds the DM in history or live on the new socket.
            Err(Some(1012)) => {
                let (_, page) = b.get(&format!("/api/dms/{}/messages", ada.id()), &bob.token).await;
                if page["messages"][0]["content"] == "after the restart" {
                    break;
                }
                bob_ws = b.connect(&bob).await.0;
                continue;
            }
            Err(code) => panic!("the DM after the restart did not arrive (socket ended: {code:?})"),
        };
        match frame.event {
            ServerEvent::MessageCreated(events::MessageCreated { message })
                if message.content == "after the restart" =>
            {
                break
            }
            // The earlier DM, delivered late by the publisher's retry after
            // this socket took its snapshot: clients apply events by id.
            ServerEvent::MessageCreated(events::MessageCreated { message })
                if message.content == "while redis was down" =>
            {
                continue
            }
            ServerEvent::Presence(events::Presence { .. }) => continue,
            other => panic!("expected the DM, got {other:?}"),
        }
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_ids_are_required_in_range_and_unique() {
    let redis = RedisServer::start();
    let db = Database::create(Backend::Sqlite).await;
    let prefix = unique("concord-ids");
    let base = {
        let mut env = child_env(&db.url, &db.dir);
        env.extend([
            ("ROCKET_REDIS_URL".to_owned(), redis.url()),
            ("ROCKET_REDIS_PREFIX".to_owned(), prefix.clone()),
            // A short lease: the first start on this fresh Redis waits one out.
            ("ROCKET_PRESENCE_LEASE_SECS".to_owned(), "2".to_owned()),
        ]);
        env
    };
    let with_id = |id: &str| {
        let mut env = base.clone();
        env.push(("ROCKET_INSTANCE_ID".to_owned(), id.to_owned()));
        env
    };
    let refused = |log: Vec<String>, needle: &str| {
        assert!(log.iter().any(|l| l.contains(needle)), "expected {needle:?} in the log: {log:?}");
    };

    let Err(log) = spawn_server(&base) else { panic!("started without an instance_id") };
    refused(log, "instance_id is required when redis_url is set");
    let Err(log) = spawn_server(&with_id("1024")) else { panic!("started with instance_id 1024") };
    refused(log, "instance_id 1024 is out of range");

    let first = spawn_server(&with_id("7")).unwrap_or_else(|log| panic!("{log:?}"));
    let Err(log) = spawn_server(&with_id("7")) else { panic!("a second instance 7 started") };
    refused(log, "instance_id 7 is already used by another running Concord instance");
    // The first one is unharmed.
    let api = TestServer::remote(first.port);
    let (status, _) = api.call(reqwest::Method::GET, "/api/health", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let ada = api.register("ada").await;
    assert_eq!(api.get("/api/users/me", &ada.token).await.0, StatusCode::OK);
}

/// How long `redis` has been up, by its own count (whole seconds).
fn redis_uptime(redis: &RedisServer) -> u64 {
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &redis.port.to_string(), "INFO", "server"])
        .output()
        .expect("redis-cli runs");
    let info = String::from_utf8_lossy(&out.stdout);
    info.lines()
        .find_map(|l| l.strip_prefix("uptime_in_seconds:"))
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// The race tried from outside: Redis restarts under a running instance 7,
/// and a newcomer with id 7 starts at once, and again once Redis has been up
/// for 2 s (before and after the running one's next renewal): refused both
/// times, and the running one serves on. Then another process takes id 7's
/// lease from under it: the running one stops at once, saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_two_live_instances_ever_share_an_instance_id() {
    let mut redis = RedisServer::start();
    let db = Database::create(Backend::Sqlite).await;
    let prefix = unique("concord-race");
    let mut env = child_env(&db.url, &db.dir);
    env.extend([
        ("ROCKET_REDIS_URL".to_owned(), redis.url()),
        ("ROCKET_REDIS_PREFIX".to_owned(), prefix.clone()),
        ("ROCKET_INSTANCE_ID".to_owned(), "7".to_owned()),
        ("ROCKET_PRESENCE_LEASE_SECS".to_owned(), "2".to_owned()),
    ]);
    let mut first = spawn_server(&env).unwrap_or_else(|log| panic!("{log:?}"));
    let api = TestServer::remote(first.port);
    let ada = api.register("ada").await;

    redis.kill();
    redis.resume();
    let refused = |attempt: &str| {
        let Err(log) = spawn_server(&env) else { panic!("a second instance 7 started ({attempt})") };
        assert!(
            log.iter()
                .any(|l| l.contains("instance_id 7 is already used by another running Concord instance")),
            "{attempt}: {log:?}"
        );
    };
    refused("at once after the restart");
    let deadline = Instant::now() + Duration::from_secs(20);
    while redis_uptime(&redis) < 2 {
        assert!(Instant::now() < deadline, "redis never reached 2 s of uptime");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    refused("2 s after the restart");
    assert_eq!(api.get("/api/users/me", &ada.token).await.0, StatusCode::OK, "the first one serves on");

    // Someone else's lease on id 7 (as a newcomer that won a race would hold).
    let taken = std::process::Command::new("redis-cli")
        .args([
            "-p",
            &redis.port.to_string(),
            "SET",
            &format!("{prefix}:instance:7"),
            "intruder",
            "PX",
            "60000",
        ])
        .output()
        .expect("redis-cli runs");
    assert!(taken.status.success());
    let status = tokio::task::block_in_place(|| first.exit_within(Duration::from_secs(10)));
    assert_eq!(status.map(|s| s.code()), Some(Some(1)), "the instance whose id was taken stopped");
    let said = first.lines_with("stopping so that no two instances write under one id");
    assert!(!said.is_empty(), "it says why: {:?}", first.lines_with("instance_id"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_count_across_instances() {
    let db = Database::create(Backend::Sqlite).await;
    let prefix = unique("concord-limit");
    let settings =
        |id| redis_settings(&shared_redis_url(), &prefix, id).merge(("login_failures_per_account", 3));
    let a = TestServer::start_on(&db, settings(1)).await;
    let b = TestServer::start_on(&db, settings(2)).await;
    let ada: Account = a.register("ada").await;
    let email = ada.user.email.clone();
    assert_eq!(a.login(&email, "wrong one").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(b.login(&email, "wrong two").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(a.login(&email, "wrong three").await.0, StatusCode::UNAUTHORIZED);
    // Three failures in all, spread over two instances: both refuse now.
    for server in [&a, &b] {
        let (status, body) = server.login(&email, "correct horse").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert_eq!(body["error"]["code"], "rate_limited");
    }
    a.stop().await;
    b.stop().await;
}

/// The next frame on `ws`, which must be `what`.
async fn next_is(ws: &mut Ws, what: &str, pred: impl Fn(&ServerFrame) -> bool) -> ServerFrame {
    ws.expect_next_within(EVENT_TIMEOUT, what, pred).await
}

fn is_call_event(frame: &ServerFrame, room: RoomId, who: UserId, joined: bool) -> bool {
    match &frame.event {
        ServerEvent::CallParticipantJoined(j) => joined && j.room_id == room && j.participant.user_id == who,
        ServerEvent::CallParticipantLeft(l) => {
            !joined && l.room_id == room && l.user_id == who && l.reason == CallLeftReason::Moved
        }
        _ => false,
    }
}

/// Ada's websocket on A, Bob's on B: one call. A hosts it (Ada joined
/// first); Bob's requests are answered through A — his joining, switches
/// and a refused SDP alike — and B lists the call as A wrote it. A stops:
/// both are told the call moved, and Bob's rejoin makes B its host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_call_spans_two_instances_and_moves_when_its_host_stops() {
    let db = Database::create(Backend::Sqlite).await;
    let prefix = unique("concord-call");
    let a = TestServer::start_on(&db, redis_settings(&shared_redis_url(), &prefix, 1)).await;
    let b = TestServer::start_on(&db, redis_settings(&shared_redis_url(), &prefix, 2)).await;
    let ada = a.register("ada").await;
    let bob = b.register("bob").await;
    a.befriend(&ada, &bob).await;
    let (status, room) = a.post("/api/rooms", &ada.token, json!({"label": "Across"})).await;
    assert_eq!(status, StatusCode::CREATED, "{room}");
    let room: RoomId = serde_json::from_value(room["id"].clone()).unwrap();
    let (status, body) =
        a.post(&format!("/api/rooms/{room}/members"), &ada.token, json!({"user_id": bob.id()})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut ada_ws = Ws::identified_lean(&a.ws_url(), &ada.token).await;
    let mut bob_ws = Ws::identified_lean(&b.ws_url(), &bob.token).await;
    next_is(&mut ada_ws, "Bob online", |f| is_presence(&f.event, bob.id(), true)).await;
    let media = CallMedia { muted: false, deafened: false, camera: true, screen: false };

    ada_ws.send_request("a1", ClientEvent::CallJoin(events::CallJoin { room_id: room, media })).await;
    next_is(&mut ada_ws, "Ada's arrival", |f| is_call_event(f, room, ada.id(), true)).await;
    next_is(&mut ada_ws, "Ada's answer", |f| f.request_id.as_deref() == Some("a1")).await;
    next_is(&mut bob_ws, "Ada's arrival, on B", |f| is_call_event(f, room, ada.id(), true)).await;

    // Bob joins through B: the same call.
    bob_ws.send_request("b1", ClientEvent::CallJoin(events::CallJoin { room_id: room, media })).await;
    next_is(&mut bob_ws, "Bob's arrival", |f| is_call_event(f, room, bob.id(), true)).await;
    let answer = next_is(&mut bob_ws, "Bob's answer", |f| f.request_id.as_deref() == Some("b1")).await;
    let ServerEvent::CallJoined(joined) = answer.event else { panic!("{answer:?}") };
    let users: Vec<UserId> = joined.participants.iter().map(|p| p.user_id).collect();
    assert_eq!(users, [ada.id(), bob.id()]);
    next_is(&mut ada_ws, "Bob's arrival, on A", |f| is_call_event(f, room, bob.id(), true)).await;

    // B lists the call as its host wrote it.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, listed) = b.get("/api/rooms", &bob.token).await;
        let listed = listed["rooms"]
            .as_array()
            .and_then(|rooms| rooms.iter().find(|r| r["id"] == json!(room)))
            .cloned()
            .unwrap_or_default();
        if listed["in_call"].as_array().map(Vec::len) == Some(2) {
            break;
        }
        assert!(Instant::now() < deadline, "B never listed the call: {listed}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Bob's switches and a bad SDP, answered by A.
    let muted = CallMedia { muted: true, ..media };
    bob_ws
        .send_request("b2", ClientEvent::CallUpdate(events::CallUpdate { room_id: room, media: muted }))
        .await;
    let updated = |f: &ServerFrame| matches!(&f.event, ServerEvent::CallParticipantUpdated(u) if u.participant.user_id == bob.id() && u.participant.media == muted);
    next_is(&mut bob_ws, "Bob's update", updated).await;
    let answer = next_is(&mut bob_ws, "the update's answer", |f| f.request_id.as_deref() == Some("b2")).await;
    assert!(matches!(answer.event, ServerEvent::CallUpdated(_)), "{answer:?}");
    next_is(&mut ada_ws, "Bob's update, on A", updated).await;
    let publish = events::CallPublish { room_id: room, sdp: "not sdp".into(), tracks: Vec::new() };
    bob_ws.send_request("b3", ClientEvent::CallPublish(publish)).await;
    let refused = next_is(&mut bob_ws, "the refusal", |f| f.request_id.as_deref() == Some("b3")).await;
    let ServerEvent::Error(error) = refused.event else { panic!("{refused:?}") };
    assert_eq!(error.error.code, ErrorCode::InvalidSdp, "{error:?}");

    // A stops: Ada's socket is told to reconnect; Bob is told the call
    // moved, and sees both leave it.
    a.stop().await;
    next_is(&mut bob_ws, "Ada moved", |f| is_call_event(f, room, ada.id(), false)).await;
    let moved = |f: &ServerFrame| matches!(&f.event, ServerEvent::CallLeft(l) if l.room_id == room && l.reason == CallLeftReason::Moved);
    next_is(&mut bob_ws, "call_left moved", moved).await;
    next_is(&mut bob_ws, "Bob moved", |f| is_call_event(f, room, bob.id(), false)).await;

    // Bob rejoins: B hosts the call now.
    bob_ws.send_request("b4", ClientEvent::CallJoin(events::CallJoin { room_id: room, media })).await;
    next_is(&mut bob_ws, "Bob's arrival at B", |f| is_call_event(f, room, bob.id(), true)).await;
    let answer = next_is(&mut bob_ws, "Bob's answer at B", |f| f.request_id.as_deref() == Some("b4")).await;
    let ServerEvent::CallJoined(joined) = answer.event else { panic!("{answer:?}") };
    let users: Vec<UserId> = joined.participants.iter().map(|p| p.user_id).collect();
    assert_eq!(users, [bob.id()]);
    b.stop().await;
}
