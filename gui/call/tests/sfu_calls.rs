//! Calls through the server's SFU with real participants: a real server on
//! SQLite, `concord-bot` processes sending H.264 test patterns and Opus
//! tones over loopback WebRTC, and what each of them received, read back
//! from its JSON report.
//!
//! One room at a time: `.ci/nextest.toml` puts these tests in the `calls`
//! group (one at a time). Eight participants decoding seven streams each in
//! a debug build use most of 2 cores, and a room beside it starved its
//! participants (late streams, a leaver never heard before it left).

use std::process::Stdio;
use std::time::{Duration, Instant};

use concord_call::until::RECEIVED_LINE;
use concord_common::events::{CallLeftReason, CallParticipantLeft, CallSpeaking};
use concord_common::{ErrorCode, RoomId, ServerEvent, UserId};
use concord_testkit::db::{Backend, Database};
use concord_testkit::netns::TestNetwork;
use concord_testkit::server::{no_extra, Account, TestServer, PASSWORD};
use concord_testkit::ws::Ws;
use serde_json::{json, Value};
use tokio::process::Child;

/// How long each bot stays in the call.
const SECONDS: &str = "6";
/// A bot that has not printed its report by then is stuck.
const BOT_DEADLINE: Duration = Duration::from_secs(90);

/// Starts `concord-bot` as `email` (with `participants` > 1: `tag+1@…` …)
/// for `seconds`, with `extra` options.
fn spawn_bot(
    server: &TestServer,
    room: RoomId,
    email: &str,
    participants: usize,
    seconds: &str,
    extra: &[&str],
) -> Child {
    spawn_bot_in(None, &server.base, room, email, participants, seconds, extra)
}

/// [`spawn_bot`] inside `network` (if any), reaching the server at `base`.
fn spawn_bot_in(
    network: Option<&TestNetwork>,
    base: &str,
    room: RoomId,
    email: &str,
    participants: usize,
    seconds: &str,
    extra: &[&str],
) -> Child {
    bot_command(network, base, room, email, participants, seconds, extra).spawn().expect("the bot starts")
}

/// [`spawn_bot_in`] for [`once_all_received`]: its standard error is read
/// (and passed on) for [`RECEIVED_LINE`].
fn spawn_waiting_bot_in(
    network: Option<&TestNetwork>,
    base: &str,
    room: RoomId,
    email: &str,
    seconds: &str,
    extra: &[&str],
) -> Child {
    let mut command = bot_command(network, base, room, email, 1, seconds, extra);
    command.stderr(Stdio::piped()).spawn().expect("the bot starts")
}

/// Bot processes that wait for each other (`--until-received N --from …
/// --until-stdin-closes`, one participant each): once every one has said it
/// has what it waits for, all leave ([`once_all_said`]). Their reports, in
/// order; a process that never gets there ends at its `--seconds`, and its
/// report says why.
async fn once_all_received(mut children: Vec<Child>) -> Vec<(Vec<Value>, bool)> {
    let lines = vec![RECEIVED_LINE; children.len()];
    once_all_said(&mut children, &lines).await;
    let mut reports = Vec::new();
    for child in children {
        reports.push(reports_of(child, 1).await);
    }
    reports
}

/// What `call_with_aiortc.py` says on standard error once it has what it
/// waits for (with `CONCORD_UNTIL_STDIN_CLOSES=1`).
const AIORTC_RECEIVED_LINE: &str = "aiortc: received what it waits for";

/// Clients that stay until their standard input closes: once each has
/// written its `lines[i]` on standard error (which is read and passed on),
/// every one's standard input is closed — none leaves while another still
/// waits for it. One that exits first, or never says it within
/// [`BOT_DEADLINE`], is not waited for.
async fn once_all_said(children: &mut [Child], lines: &[&'static str]) {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut said = Vec::new();
    for (child, wanted) in children.iter_mut().zip(lines) {
        let stderr = child.stderr.take().expect("standard error piped");
        let (received, said_it) = tokio::sync::oneshot::channel();
        let wanted = *wanted;
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            let mut received = Some(received);
            while let Ok(Some(line)) = lines.next_line().await {
                if line == wanted {
                    if let Some(received) = received.take() {
                        let _ = received.send(());
                    }
                }
                eprintln!("{line}");
            }
        });
        said.push(said_it);
    }
    let deadline = tokio::time::Instant::now() + BOT_DEADLINE;
    for said_it in said {
        let _ = tokio::time::timeout_at(deadline, said_it).await;
    }
    for child in children.iter_mut() {
        drop(child.stdin.take());
    }
}

/// The bot's command line (standard input and output piped, standard error passed on).
fn bot_command(
    network: Option<&TestNetwork>,
    base: &str,
    room: RoomId,
    email: &str,
    participants: usize,
    seconds: &str,
    extra: &[&str],
) -> tokio::process::Command {
    let bot = env!("CARGO_BIN_EXE_concord-bot");
    let mut command = match network {
        Some(network) => network.command(bot),
        None => tokio::process::Command::new(bot),
    };
    command
        .args(["--server", base, "--email", email, "--password", PASSWORD])
        .args([
            "--room",
            &room.to_string(),
            "--seconds",
            seconds,
            "--participants",
            &participants.to_string(),
        ])
        .args(extra)
        // Closed when the test waits for it (`--until-stdin-closes` leaves then).
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    command
}

/// Waits for a bot; returns each participant's report and whether it exited 0.
async fn reports_of(child: Child, participants: usize) -> (Vec<Value>, bool) {
    let output = tokio::time::timeout(BOT_DEADLINE, child.wait_with_output())
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

/// Runs `concord-bot` for `participants` participants of `tag` with `extra`
/// options; returns each participant's report and the exit status.
async fn bot(
    server: &TestServer,
    room: RoomId,
    tag: &str,
    participants: usize,
    extra: &[&str],
) -> (Vec<Value>, bool) {
    // The bots leave once each has 10 frames of every other's camera, a
    // second of its microphone, and was told each speaks; 60 s is only the deadline.
    let extra: Vec<&str> = ["--until-received", "10"].into_iter().chain(extra.iter().copied()).collect();
    let child = spawn_bot(server, room, &format!("{tag}@example.com"), participants, "60", &extra);
    reports_of(child, participants).await
}

/// A condition on a websocket event.
type EventTest = Box<dyn Fn(&ServerEvent) -> bool>;

/// The next event on `ws` within `wait`.
async fn ws_event(ws: &mut Ws, wait: Duration, what: &str) -> ServerEvent {
    ws.try_next(wait).await.unwrap_or_else(|| panic!("no {what} within {wait:?}"))
}

/// Reads `ws` until an event matches `pred`, for at most `wait`.
async fn until(ws: &mut Ws, wait: Duration, what: &str, pred: impl Fn(&ServerEvent) -> bool) -> ServerEvent {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match ws.try_next(left).await {
            Some(event) if pred(&event) => return event,
            Some(_) => {}
            None => panic!("no {what} within {wait:?}"),
        }
    }
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

/// Each participant `i`'s report of participant `j`'s camera (`i ≠ j`), as
/// (`i`, `j`, the track's report); a missing camera fails the test.
fn cameras_received(reports: &[Value], accounts: &[Account]) -> Vec<(usize, usize, Value)> {
    let mut cameras = Vec::new();
    for (i, report) in reports.iter().enumerate() {
        for (j, account) in accounts.iter().enumerate().filter(|(j, _)| *j != i) {
            let camera = tracks_from(report, account.id()).into_iter().find(|t| t["kind"] == "camera");
            cameras.push((
                i,
                j,
                camera.unwrap_or_else(|| panic!("{i} received no camera from {j}: {report:#}")),
            ));
        }
    }
    cameras
}

/// Every participant received every other's camera (decoded, stamps read
/// back in order) and microphone (the other's own tone heard: participant
/// `j` of a bot sends 440 + 110·j Hz).
fn assert_everyone_received_everyone(reports: &[Value], accounts: &[Account]) {
    let tones: Vec<Option<f64>> = (0..accounts.len()).map(|j| Some(440.0 + 110.0 * j as f64)).collect();
    assert_received(reports, accounts, &tones);
}

/// As [`assert_everyone_received_everyone`], with each sender's tone given
/// (`None`: sends no microphone).
fn assert_received(reports: &[Value], accounts: &[Account], tones: &[Option<f64>]) {
    for (i, report) in reports.iter().enumerate() {
        assert!(report["errors"].as_array().is_some_and(Vec::is_empty), "participant {i}: {report:#}");
        assert!(report["joined_ms"].is_u64(), "participant {i} joined: {report:#}");
        assert_eq!(report["rejoins"], 0, "participant {i} never lost the call: {report:#}");
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
            let microphone = tracks.iter().find(|t| t["kind"] == "microphone");
            let Some(expected) = tones[j] else {
                assert!(microphone.is_none(), "{j} sends no microphone, yet {i} got one: {report:#}");
                continue;
            };
            let microphone = microphone
                .unwrap_or_else(|| panic!("participant {i} got no microphone from {j}: {report:#}"));
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
    let (room, accounts) = server.room_of("pair", 2).await;
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

/// Both bots hide the first one's video (`call_view`): the second receives
/// none of it and still hears it; the first sees the second's; and the first,
/// told nobody watches its camera (`call_video_wanted`), stops encoding it.
/// They leave once each has what it does not hide.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hidden_video_is_not_sent_and_the_voice_still_is() {
    let db = Database::create(Backend::Sqlite).await;
    let server = TestServer::start_on(&db, no_extra()).await;
    let (room, accounts) = server.room_of("hide", 2).await;
    let hidden = accounts[0].id().to_string();
    let extra = ["--until-received", "30", "--hide", hidden.as_str()];
    let (reports, ok) = reports_of(spawn_bot(&server, room, "hide@example.com", 2, "60", &extra), 2).await;
    assert!(ok, "{reports:#?}");
    let kind = |tracks: &[Value], kind: &str| tracks.iter().find(|t| t["kind"] == kind).cloned();
    let seen = tracks_from(&reports[0], accounts[1].id());
    let camera = kind(&seen, "camera").expect("the first sees the second");
    assert!(camera["frames"].as_u64().unwrap_or(0) >= 30, "{camera}");
    let heard = tracks_from(&reports[1], accounts[0].id());
    let voice = kind(&heard, "microphone").expect("the second hears the first");
    assert!(voice["frames"].as_u64().unwrap_or(0) >= 50, "{voice}");
    let frames = kind(&heard, "camera").map_or(0, |camera| camera["frames"].as_u64().unwrap_or(0));
    assert_eq!(frames, 0, "the hidden camera was not sent: {heard:?}");
    // Nobody watched the first one's camera: most of what it captured was not encoded.
    let sent = &reports[0]["sent"];
    let (encoded, rested) = (sent["video_frames"].as_u64(), sent["video_frames_unwatched"].as_u64());
    assert!(rested > encoded, "{sent}");
    let sent = &reports[1]["sent"];
    assert!(sent["video_frames"].as_u64() >= Some(30), "the watched camera is encoded: {sent}");
    server.stop().await;
}

/// Three bots, each publishing its camera in three simulcast layers
/// (160×90, 320×180 and 640×360), each drawing the first one's camera in a
/// 160×90 tile (`--tile`): the other two receive that camera in its
/// smallest layer, and every other camera whole; a layer nobody receives
/// is not encoded. They leave once each has 45 frames of every other
/// camera (three seconds: the switch to the small layer takes one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulcast_camera_reaches_each_in_the_layer_its_tile_needs() {
    let db = Database::create(Backend::Sqlite).await;
    let server = TestServer::start_on(&db, no_extra()).await;
    let (room, accounts) = server.room_of("simulcast", 3).await;
    let small = format!("{}=160x90", accounts[0].id());
    let extra = ["--until-received", "45", "--simulcast", "--tile", small.as_str()];
    let child = spawn_bot(&server, room, "simulcast@example.com", 3, "60", &extra);
    let (reports, ok) = reports_of(child, 3).await;
    assert!(ok, "{reports:#?}");
    for (i, j, camera) in cameras_received(&reports, &accounts) {
        let size = (camera["width"].as_u64(), camera["height"].as_u64());
        let expected = if j == 0 { (Some(160), Some(90)) } else { (Some(640), Some(360)) };
        assert_eq!(size, expected, "{i} receives {j}'s camera: {camera}");
        assert!(camera["frames"].as_u64() >= Some(45), "{i} from {j}: {camera}");
    }
    // Nobody receives the first one's two larger layers, nor the others'
    // two smaller ones: after the first moments they were not encoded.
    let layer_frames = |i: usize| -> Vec<u64> {
        let frames = reports[i]["sent"]["camera_layer_frames"].as_array().expect("per layer").clone();
        frames.iter().map(|n| n.as_u64().unwrap_or(0)).collect()
    };
    for i in 0..3 {
        eprintln!("simulcast: {i} encoded per layer (q, h, f) {:?}", layer_frames(i));
    }
    let first = layer_frames(0);
    assert!(first[0] >= 45 && first[2] * 3 < first[0], "the first encodes its smallest layer: {first:?}");
    for i in [1, 2] {
        let frames = layer_frames(i);
        assert!(frames[2] >= 45 && frames[0] * 3 < frames[2], "{i} encodes its largest layer: {frames:?}");
    }
    server.stop().await;
}

/// `--tile WxH` alone draws everybody else's videos at that size, told
/// again as people join: three bots publishing simulcast each receive both
/// others' cameras in the 160×90 layer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tile_size_for_everybody_brings_every_camera_in_its_smallest_layer() {
    let db = Database::create(Backend::Sqlite).await;
    let server = TestServer::start_on(&db, no_extra()).await;
    let (room, accounts) = server.room_of("everysmall", 3).await;
    let extra = ["--until-received", "30", "--simulcast", "--tile", "160x90"];
    let child = spawn_bot(&server, room, "everysmall@example.com", 3, "60", &extra);
    let (reports, ok) = reports_of(child, 3).await;
    assert!(ok, "{reports:#?}");
    for (i, j, camera) in cameras_received(&reports, &accounts) {
        let size = (camera["width"].as_u64(), camera["height"].as_u64());
        assert_eq!(size, (Some(160), Some(90)), "{i} receives {j}'s camera: {camera}");
    }
    server.stop().await;
}

/// Three bots in a room, each its own process: A says 440 Hz (as a
/// speech-like voice: AEC3 deliberately leaves a steady pure tone in the far
/// end alone, see `SpeechLikeSource`), B says 660 Hz
/// in a simulated room whose echo path is `echo_path` (what B hears of A
/// comes back into B's microphone), with `processing` on B's microphone; C
/// only listens. Returns, for A's and C's reports, B's microphone as heard
/// there: its peaks (strongest first).
async fn echo_call(
    server: &TestServer,
    tag: &str,
    echo_path: &str,
    processing: &str,
) -> Vec<Vec<(f64, f64)>> {
    let (room, accounts) = server.room_of(tag, 3).await;
    let email = |i: usize| format!("{tag}+{i}@example.com");
    let seconds = "9";
    let a = ["--video", "none", "--audio", "voice", "--tone-hz", "440", "--audio-processing", "off"];
    let b =
        ["--video", "none", "--tone-hz", "660", "--echo-path", echo_path, "--audio-processing", processing];
    let c = ["--video", "none", "--audio", "none"];
    let bots = [
        spawn_bot(server, room, &email(1), 1, seconds, &a),
        spawn_bot(server, room, &email(2), 1, seconds, &b),
        spawn_bot(server, room, &email(3), 1, seconds, &c),
    ];
    let mut heard_b = Vec::new();
    for (i, child) in bots.into_iter().enumerate() {
        let (reports, ok) = reports_of(child, 1).await;
        let report = &reports[0];
        assert!(ok && report["errors"].as_array().is_some_and(Vec::is_empty), "bot {i}: {report:#}");
        if i == 1 {
            continue;
        }
        let tracks = tracks_from(report, accounts[1].id());
        let microphone = tracks.iter().find(|t| t["kind"] == "microphone").unwrap_or_else(|| {
            panic!("bot {i} got no microphone from B: {report:#}");
        });
        let peaks: Vec<(f64, f64)> = microphone["peaks"]
            .as_array()
            .unwrap_or_else(|| panic!("no peaks: {microphone}"))
            .iter()
            .map(|p| (p["hz"].as_f64().expect("hz"), p["dbfs"].as_f64().expect("dbfs")))
            .collect();
        heard_b.push(peaks);
    }
    heard_b
}

/// The level of the peak near `hz` (within 15 Hz).
fn level_near(peaks: &[(f64, f64)], hz: f64) -> Option<f64> {
    peaks.iter().find(|(at, _)| (at - hz).abs() <= 15.0).map(|(_, dbfs)| *dbfs)
}

/// With processing off, B's simulated room sends A's voice back: what A and
/// C hear of B has B's own 660 Hz strongest and A's 440 Hz within 30 dB of it
/// (the echo path at −6 dB with its reflections): the echo test below can fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participants_room_sends_the_others_voice_back_when_processing_is_off() {
    let db = Database::create(Backend::Sqlite).await;
    let server = TestServer::start_on(&db, no_extra()).await;
    let echoed = echo_call(&server, "echo-off", "60:-6", "off").await;
    assert_eq!(echoed.len(), 2, "A and C each heard B");
    for peaks in &echoed {
        let voice = level_near(peaks, 660.0).unwrap_or_else(|| panic!("no 660 Hz from B: {peaks:?}"));
        assert_eq!(level_near(&peaks[..1], 660.0), Some(voice), "660 Hz is B's strongest: {peaks:?}");
        let echo =
            level_near(peaks, 440.0).unwrap_or_else(|| panic!("processing off: no echo of A: {peaks:?}"));
        assert!(echo > voice - 30.0, "processing off: A's echo at {echo} dBFS, B at {voice}: {peaks:?}");
    }
    server.stop().await;
}

/// With B's echo cancellation on (`--audio-processing aec`), what A and C
/// hear of B is B's 660 Hz and nothing at 440 Hz within 30 dB of it: A's
/// voice does not come back to A, nor reach C. Through a laptop's 60 ms and
/// a Bluetooth headset's 250 ms alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participants_echo_canceller_keeps_the_others_voice_out_at_60_and_250_ms() {
    let db = Database::create(Backend::Sqlite).await;
    let server = TestServer::start_on(&db, no_extra()).await;
    for (tag, path) in [("echo-laptop", "60:-6"), ("echo-bluetooth", "250:-6")] {
        let echoed = echo_call(&server, tag, path, "aec").await;
        assert_eq!(echoed.len(), 2, "A and C each heard B");
        for peaks in &echoed {
            let voice =
                level_near(peaks, 660.0).unwrap_or_else(|| panic!("{path}: no 660 Hz from B: {peaks:?}"));
            assert_eq!(
                level_near(&peaks[..1], 660.0),
                Some(voice),
                "{path}: 660 Hz is B's strongest: {peaks:?}"
            );
            match level_near(peaks, 440.0) {
                Some(echo) => {
                    assert!(echo < voice - 30.0, "{path}: A's echo at {echo} dBFS, B at {voice}: {peaks:?}");
                }
                // Not among the strongest peaks reported, the weakest of which
                // is more than 30 dB down: any echo is quieter still.
                None => {
                    let weakest = peaks.last().map_or(f64::NEG_INFINITY, |(_, dbfs)| *dbfs);
                    assert!(weakest < voice - 30.0, "{path}: the echo may hide among {peaks:?}");
                }
            }
        }
    }
    server.stop().await;
}

/// Four participants: three send camera and tone (one bot process), the
/// fourth its camera, no microphone, and two seconds in starts sharing its
/// screen (another process: its publishing connection renegotiates
/// mid-call). Everyone gets everything from everyone else; the screen
/// arrives as a second video track; only the three with a tone are reported
/// speaking.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_participants_with_a_screen_beside_a_camera_and_one_silent() {
    let db = Database::create(Backend::Sqlite).await;
    let server = TestServer::start_on(&db, no_extra()).await;
    let (room, accounts) = server.room_of("quad", 4).await;
    let three = spawn_bot(&server, room, "quad@example.com", 3, SECONDS, &["--resolution", "320x180"]);
    let fourth = spawn_bot(
        &server,
        room,
        "quad+4@example.com",
        1,
        SECONDS,
        &["--resolution", "320x180", "--screen", "pattern", "--screen-after", "2", "--audio", "none"],
    );
    let ((mut reports, ok_three), (fourth, ok_fourth)) =
        tokio::join!(reports_of(three, 3), reports_of(fourth, 1));
    reports.extend(fourth);
    assert!(ok_three && ok_fourth, "{reports:#?}");
    assert_received(&reports, &accounts, &[Some(440.0), Some(550.0), Some(660.0), None]);
    let silent = accounts[3].id();
    for (i, report) in reports.iter().enumerate().take(3) {
        let screen: Vec<Value> =
            tracks_from(report, silent).into_iter().filter(|t| t["kind"] == "screen").collect();
        assert_eq!(screen.len(), 1, "participant {i} got the screen as its own track: {report:#}");
        assert!(screen[0]["frames"].as_u64() >= Some(10), "{}", screen[0]);
        assert_eq!(screen[0]["frame_numbers_ok"], json!(true), "{}", screen[0]);
    }
    for report in &reports {
        let seen = report["speaking_seen"].as_array().expect("speaking_seen");
        for (j, account) in accounts.iter().enumerate() {
            let id = json!(account.id().to_string());
            assert_eq!(seen.contains(&id), j < 3, "speaking reported for {j}: {report:#}");
        }
    }
    server.stop().await;
}

/// Eight participants in one room, each decoding the seven others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_participants_each_receive_the_seven_others() {
    let db = Database::create(Backend::Sqlite).await;
    let server = TestServer::start_on(&db, no_extra()).await;
    let (room, accounts) = server.room_of("octet", 8).await;
    let (reports, ok) = bot(&server, room, "octet", 8, &["--resolution", "160x90", "--fps", "10"]).await;
    assert!(ok, "{reports:#?}");
    assert_everyone_received_everyone(&reports, &accounts);
    server.stop().await;
}

/// One participant leaves, one is killed (SIGKILL: its websocket closes),
/// one freezes (SIGSTOP: its websocket stays open but its media stops, as
/// when a network vanishes): the rest are told of each within 10 s, with
/// the right reason, and the two who stay keep receiving each other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_killed_and_frozen_participants_are_gone_within_ten_seconds() {
    let db = Database::create(Backend::Sqlite).await;
    let server = TestServer::start_on(&db, no_extra()).await;
    let (room, accounts) = server.room_of("fault", 5).await;
    let (mut observer, _) = server.connect(&accounts[0]).await;
    let small = ["--resolution", "160x90", "--fps", "10"];
    let stayers = spawn_bot(&server, room, "fault@example.com", 2, "24", &small);
    let mut leaver = spawn_bot(&server, room, "fault+3@example.com", 1, "4", &small);
    let mut killed = spawn_bot(&server, room, "fault+4@example.com", 1, "60", &small);
    let frozen = spawn_bot(&server, room, "fault+5@example.com", 1, "60", &small);
    let speaking = |user: UserId| move |e: &ServerEvent| matches!(e, ServerEvent::CallSpeaking(CallSpeaking { user_id, speaking: true, .. }) if *user_id == user);
    let left = |user: UserId, why: CallLeftReason| {
        move |e: &ServerEvent| {
            matches!(e, ServerEvent::CallParticipantLeft(CallParticipantLeft { user_id, reason, .. })
                if *user_id == user && *reason == why)
        }
    };
    // The server hears each of them (their media flows through the SFU), and
    // the leaver's four seconds end: it leaves by itself.
    let mut awaited: Vec<EventTest> =
        accounts[2..].iter().map(|a| Box::new(speaking(a.id())) as EventTest).collect();
    awaited.push(Box::new(left(accounts[2].id(), CallLeftReason::Left)));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    while !awaited.is_empty() {
        let wait = deadline.saturating_duration_since(tokio::time::Instant::now());
        let event = ws_event(&mut observer, wait, "speaking, then the leaver leaving").await;
        awaited.retain(|pred| !pred(&event));
    }
    assert!(leaver.wait().await.expect("the leaver exits").success());

    killed.start_kill().expect("SIGKILL");
    let started = Instant::now();
    until(
        &mut observer,
        Duration::from_secs(10),
        "the killed one gone",
        left(accounts[3].id(), CallLeftReason::Disconnected),
    )
    .await;
    eprintln!("killed participant gone after {:?}", started.elapsed());

    let pid = frozen.id().expect("the frozen bot's pid").to_string();
    let stopped = std::process::Command::new("kill").args(["-STOP", &pid]).status().expect("kill -STOP");
    assert!(stopped.success());
    let started = Instant::now();
    until(
        &mut observer,
        Duration::from_secs(10),
        "the frozen one gone",
        left(accounts[4].id(), CallLeftReason::Disconnected),
    )
    .await;
    eprintln!("frozen participant gone after {:?}", started.elapsed());
    let _ = std::process::Command::new("kill").args(["-KILL", &pid]).status();

    let (reports, ok) = reports_of(stayers, 2).await;
    assert!(ok, "{reports:#?}");
    assert_received(&reports, &accounts[..2], &[Some(440.0), Some(550.0)]);
    for (i, report) in reports.iter().enumerate() {
        let other = accounts[1 - i].id();
        for track in tracks_from(report, other) {
            // Nobody else's departure held up what the stayers send each other.
            assert!(track["max_frame_gap"].as_u64() < Some(1_000), "{i}: {track}");
        }
    }
    server.stop().await;
}

/// A WebRTC implementation we did not write — Python's aiortc, driven by a
/// script written from docs/API.md — calls a `concord-bot` through the SFU:
/// each decodes the other's video and hears the other's tone, across two
/// stacks that number payload types and header extensions their own way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aiortc_client_and_a_bot_call_each_other() {
    let db = Database::create(Backend::Sqlite).await;
    let server = TestServer::start_on(&db, no_extra()).await;
    let aiortc = aiortc_calls_a_bot(&server, "mixed", false).await;
    assert_eq!(aiortc["ice_servers"], json!([]), "no relay is configured");
    server.stop().await;
}

/// aiortc, driven by the script written from docs/API.md that changes
/// nothing in any SDP, receives three publishers at once: its receiving
/// connection carries six media sections from three people, and each
/// camera decodes and each tone is heard. (With the SFU's candidates in the
/// first media section only, aiortc's connections stay "connecting", here
/// and in the two-party call.) The bots stay until aiortc has what it waits
/// for and has left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aiortc_client_receives_three_publishers() {
    let db = Database::create(Backend::Sqlite).await;
    let server = TestServer::start_on(&db, no_extra()).await;
    let (room, accounts) = server.room_of("three", 4).await;
    let options = ["--until-stdin-closes", "--resolution", "320x180"];
    let mut bots = spawn_bot(&server, room, "three@example.com", 3, "90", &options);
    let bots_stay = bots.stdin.take();
    let aiortc = run_aiortc(None, &server.base, "three+4@example.com", room, "60", &["direct", "3"]).await;
    drop(bots_stay);
    let (reports, bots_ok) = reports_of(bots, 3).await;
    assert_eq!(aiortc["subscriber_state"], "connected", "{aiortc:#}");
    assert!(bots_ok, "{reports:#?}");
    for (j, publisher) in accounts[..3].iter().enumerate() {
        assert_aiortc_received(&aiortc, publisher.id(), 440.0 + 110.0 * j as f64);
    }
    assert_everyone_received_everyone(&reports, &accounts[..3]);
    server.stop().await;
}

/// Runs `server/tests/clients/call_with_aiortc.py` (inside the network
/// namespace `netns`, if any) as `email` in `room`'s call at `base`, for
/// `seconds` at most, with the script's further arguments `extra`; its
/// report, once it exited 0.
async fn run_aiortc(
    netns: Option<&str>,
    base: &str,
    email: &str,
    room: RoomId,
    seconds: &str,
    extra: &[&str],
) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../server/tests/clients/call_with_aiortc.py");
    let room = room.to_string();
    let python = python3_in(netns)
        .args([script, base, email, PASSWORD, &room, seconds])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .output()
        .await
        .expect("python3 runs");
    let aiortc: Value = serde_json::from_slice(&python.stdout).unwrap_or_else(|e| {
        panic!("aiortc's report is JSON ({e}): {}", String::from_utf8_lossy(&python.stdout))
    });
    assert!(python.status.success(), "{aiortc:#}");
    aiortc
}

/// `python3`, run inside the network namespace `netns` if there is one.
fn python3_in(netns: Option<&str>) -> tokio::process::Command {
    match netns {
        Some(name) => {
            let mut command = tokio::process::Command::new("ip");
            command.args(["netns", "exec", name, "python3"]);
            command
        }
        None => tokio::process::Command::new("python3"),
    }
}

/// aiortc decoded at least 30 frames of `user`'s camera and heard `user`'s
/// tone at `hz` (within 20 Hz).
fn assert_aiortc_received(aiortc: &Value, user: UserId, hz: f64) {
    let tracks = aiortc["received"][user.to_string()].as_array().cloned().unwrap_or_default();
    let camera =
        tracks.iter().find(|t| t["kind"] == "camera").unwrap_or_else(|| panic!("{user}: {aiortc:#}"));
    assert!(camera["frames"].as_u64() >= Some(30), "{user}'s camera: {aiortc:#}");
    let audio =
        tracks.iter().find(|t| t["kind"] == "microphone").unwrap_or_else(|| panic!("{user}: {aiortc:#}"));
    let heard = audio["tone_hz"].as_f64().unwrap_or_else(|| panic!("no tone from {user}: {aiortc:#}"));
    assert!((heard - hz).abs() < 20.0, "aiortc heard {heard} Hz from {user}, who sends {hz}");
}

/// aiortc (`server/tests/clients/call_with_aiortc.py`, with `relay`: through
/// the relays `call_joined` hands out, and nothing else) and a bot in a
/// fresh room of two: each decodes the other's video and hears its tone.
/// Both stay until both have what they wait for (60 s only the deadline).
/// Returns aiortc's report.
async fn aiortc_calls_a_bot(server: &TestServer, tag: &str, relay: bool) -> Value {
    let mode = if relay { "relay" } else { "direct" };
    aiortc_calls_a_bot_from(server, tag, mode, None, &server.base).await
}

/// [`aiortc_calls_a_bot`] with the script's ICE `mode`, run inside the
/// network namespace `netns` (if any), reaching the server at `base`.
async fn aiortc_calls_a_bot_from(
    server: &TestServer,
    tag: &str,
    mode: &str,
    netns: Option<&str>,
    base: &str,
) -> Value {
    let (room, accounts) = server.room_of(tag, 2).await;
    let aiortc_id = accounts[1].id().to_string();
    let options =
        ["--resolution", "320x180", "--until-received", "30", "--until-stdin-closes", "--from", &aiortc_id];
    let bot = spawn_waiting_bot_in(None, &server.base, room, &format!("{tag}+1@example.com"), "60", &options);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../server/tests/clients/call_with_aiortc.py");
    let python = python3_in(netns)
        .args([script, base, &format!("{tag}+2@example.com"), PASSWORD, &room.to_string(), "60", mode, "1"])
        .env("CONCORD_UNTIL_STDIN_CLOSES", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs");
    let mut clients = [bot, python];
    once_all_said(&mut clients, &[RECEIVED_LINE, AIORTC_RECEIVED_LINE]).await;
    let [bot, python] = clients;
    let (output, (reports, bot_ok)) = tokio::join!(python.wait_with_output(), reports_of(bot, 1));
    let python = output.expect("python3 ran");
    let aiortc: Value = serde_json::from_slice(&python.stdout).unwrap_or_else(|e| {
        panic!("aiortc's report is JSON ({e}): {}", String::from_utf8_lossy(&python.stdout))
    });
    assert!(python.status.success(), "{aiortc:#}");
    assert!(bot_ok, "{reports:#?}");

    // What the bot got from aiortc: its picture (no stamps: only counted) and its 1000 Hz tone.
    let from_aiortc = tracks_from(&reports[0], accounts[1].id());
    let camera =
        from_aiortc.iter().find(|t| t["kind"] == "camera").unwrap_or_else(|| panic!("{:#}", reports[0]));
    assert!(camera["frames"].as_u64() >= Some(30), "{camera}");
    let microphone =
        from_aiortc.iter().find(|t| t["kind"] == "microphone").unwrap_or_else(|| panic!("{:#}", reports[0]));
    let heard = microphone["tone_hz"].as_f64().expect("a tone");
    assert!((heard - 1000.0).abs() < 20.0, "the bot heard {heard} Hz from aiortc");

    // What aiortc got from the bot: its video decoded and its 440 Hz tone.
    assert_aiortc_received(&aiortc, accounts[0].id(), 440.0);
    aiortc
}

/// A coturn from Debian's package on loopback, run with the TURN REST API's
/// shared secret (`use-auth-secret`), as a deployment would.
struct Coturn {
    _process: Child,
    ip: String,
    port: u16,
}

const TURN_SECRET: &str = "north-north-north-north-north-north";

impl Coturn {
    async fn start() -> Coturn {
        Coturn::start_on("127.0.0.1").await
    }

    /// A coturn listening (UDP and TCP) and relaying on `ip`.
    async fn start_on(ip: &str) -> Coturn {
        let port = std::net::UdpSocket::bind((ip, 0)).and_then(|s| s.local_addr()).expect("a port").port();
        let pid_file = std::env::temp_dir().join(format!("concord-turn-{}-{port}.pid", std::process::id()));
        let process = tokio::process::Command::new("turnserver")
            .args([
                "-n",
                &format!("--listening-ip={ip}"),
                &format!("--relay-ip={ip}"),
                &format!("--listening-port={port}"),
            ])
            .args([
                "--use-auth-secret",
                &format!("--static-auth-secret={TURN_SECRET}"),
                "--realm=concord.test",
            ])
            // The SFU is on loopback here; a real deployment keeps coturn's default of refusing it.
            .args(["--allow-loopback-peers", "--no-tls", "--no-dtls", "--no-cli", "--no-tcp-relay"])
            .args(["--log-file=stdout", "--simple-log", &format!("--pidfile={}", pid_file.display())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("turnserver runs (apt-get install coturn; .ci/setup does)");
        let coturn = Coturn { _process: process, ip: ip.to_owned(), port };
        // Ready once it grants an allocation to a credential made with its secret.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let username = format!("{}:probe", unix_now() + 600);
            let answer = coturn.allocate(&username, &format!("sign:{TURN_SECRET}")).await;
            if answer["allocated"] == true {
                return coturn;
            }
            assert!(Instant::now() < deadline, "coturn did not start: {answer}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// What the relay answers an allocation request with this credential
    /// (`server/tests/clients/turn_allocate.py`).
    async fn allocate(&self, username: &str, password: &str) -> Value {
        self.allocate_from(None, username, password).await
    }

    /// [`Coturn::allocate`] over UDP from inside the network namespace `netns`.
    async fn allocate_from(&self, netns: Option<&str>, username: &str, password: &str) -> Value {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../server/tests/clients/turn_allocate.py");
        let output = python3_in(netns)
            .args([script, &self.ip, &self.port.to_string(), username, password])
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(Duration::from_secs(30), output)
            .await
            .expect("the probe answers within its own 10 s")
            .expect("python3 runs");
        serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A client that may use nothing but a TURN relay (ICE transport policy
/// `relay`, as behind a firewall that lets only the relay through) calls a
/// bot through a real coturn with the credential `call_joined` gave it, and
/// both see and hear each other. The relay grants that credential and one
/// properly signed, and refuses a forged one (the issued username with
/// another password, or signed with another secret) and an expired one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_only_client_calls_through_coturn_and_bad_credentials_are_refused() {
    let coturn = Coturn::start().await;
    let db = Database::create(Backend::Sqlite).await;
    let turn_url = format!("turn:127.0.0.1:{}?transport=udp", coturn.port);
    let settings = no_extra().merge(("turn_urls", [turn_url.as_str()])).merge(("turn_secret", TURN_SECRET));
    let server = TestServer::start_on(&db, settings).await;
    let aiortc = aiortc_calls_a_bot(&server, "relayed", true).await;
    assert_eq!(aiortc["offered_candidate_types"], json!(["relay"]), "{aiortc:#}");
    let issued = &aiortc["ice_servers"][0];
    assert_eq!(issued["urls"], json!([turn_url]), "{aiortc:#}");
    let (username, credential) =
        (issued["username"].as_str().unwrap(), issued["credential"].as_str().unwrap());
    let user = aiortc["user_id"].as_str().expect("aiortc's user id");
    assert!(username.ends_with(&format!(":{user}")), "{username}");
    // The receiving connection was made with the credential its offer brought.
    let offered = &aiortc["offer_ice_servers"][0];
    assert_eq!(offered["urls"], json!([turn_url]), "{aiortc:#}");
    assert!(offered["username"].as_str().is_some_and(|u| u.ends_with(&format!(":{user}"))), "{aiortc:#}");

    let granted = coturn.allocate(username, credential).await;
    assert_eq!(granted["allocated"], true, "the issued credential: {granted}");
    let refused = [
        ("the issued username with another password", username.to_owned(), "AAAA".to_owned() + credential),
        ("signed with another secret", username.to_owned(), "sign:south".to_owned()),
        ("expired a minute ago", format!("{}:{user}", unix_now() - 60), format!("sign:{TURN_SECRET}")),
    ];
    for (what, username, password) in refused {
        let answer = coturn.allocate(&username, &password).await;
        assert_eq!(answer["allocated"], false, "{what}: {answer}");
        assert!(answer["error"].as_str().is_some_and(|e| e.contains("401")), "{what}: {answer}");
    }
    server.stop().await;
}

/// `--video FILE.h264` replays a pre-encoded stream and `--decode none`
/// counts frames from RTP (what load tests use): both senders count the
/// other's frames, nothing is lost on loopback, and no stamps are claimed. A
/// third, listen-only participant (no camera, no microphone) joins and
/// receives both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_file_is_forwarded_and_counted_and_a_listener_joins_without_sending() {
    let db = Database::create(Backend::Sqlite).await;
    let server = TestServer::start_on(&db, no_extra()).await;
    let (room, accounts) = server.room_of("replay", 3).await;
    let file = std::env::temp_dir().join(format!("concord-replay-{}.h264", std::process::id()));
    concord_call::options::write_pattern_h264(&file, 320, 180, 15, 2).expect("the file is written");
    let file_arg = file.display().to_string();
    let senders = spawn_bot(
        &server,
        room,
        "replay@example.com",
        2,
        SECONDS,
        &["--video", &file_arg, "--decode", "none"],
    );
    let listener = spawn_bot(
        &server,
        room,
        "replay+3@example.com",
        1,
        SECONDS,
        &["--video", "none", "--audio", "none", "--decode", "none"],
    );
    let ((mut reports, ok), (listener, listener_ok)) =
        tokio::join!(reports_of(senders, 2), reports_of(listener, 1));
    let _ = std::fs::remove_file(&file);
    reports.extend(listener);
    assert!(ok && listener_ok, "{reports:#?}");
    for (i, report) in reports.iter().enumerate() {
        let others = (0..2).filter(|j| *j != i);
        for j in others {
            let tracks = tracks_from(report, accounts[j].id());
            let camera = tracks
                .iter()
                .find(|t| t["kind"] == "camera")
                .unwrap_or_else(|| panic!("{i} ← {j}: {report:#}"));
            assert!(camera["frames"].as_u64() >= Some(50), "{camera}");
            assert!(
                camera["packets"].as_u64() >= camera["frames"].as_u64(),
                "a frame is one packet or more: {camera}"
            );
            assert_eq!(camera["packets_lost"], json!(0), "{camera}");
            assert_eq!(camera["frame_numbers_ok"], Value::Null, "{camera}");
            assert!(
                tracks.iter().any(|t| t["kind"] == "microphone" && t["frames"].as_u64() >= Some(100)),
                "{report:#}"
            );
        }
    }
    // The senders count their frames; the listener sends nothing and nobody receives anything from it.
    assert!(reports[0]["sent"]["video_frames"].as_u64() >= Some(60), "{:#}", reports[0]);
    assert_eq!(
        reports[2]["sent"],
        json!({"video_frames": 0, "screen_frames": 0, "audio_frames": 0, "audio_frames_silent": 0,
               "video_frames_unwatched": 0})
    );
    for report in &reports[..2] {
        assert!(tracks_from(report, accounts[2].id()).is_empty(), "{report:#}");
    }
    server.stop().await;
}

/// The answer to request `id` on `ws`, skipping other frames (call events).
async fn answer_to(ws: &mut Ws, id: &str) -> ServerEvent {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let wait = deadline.saturating_duration_since(tokio::time::Instant::now());
        match ws.next_frame_within(wait).await {
            Ok(frame) if frame.request_id.as_deref() == Some(id) => return frame.event,
            Ok(_) => {}
            Err(code) => panic!("no answer to {id} (socket ended: {code:?})"),
        }
    }
}

fn refused_with(event: &ServerEvent, code: ErrorCode) -> bool {
    matches!(event, ServerEvent::Error(refused) if refused.error.code == code)
}

/// Bad signaling and garbage datagrams at the media port, from a member in
/// the call, while two bots talk: each bad request gets its typed error,
/// the SFU survives every datagram, and the bots' call is unharmed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signaling_and_garbage_datagrams_change_nothing_for_the_others() {
    use concord_common::events::{CallJoin, CallPublish, CallSubscribeAnswer};
    use concord_common::ClientEvent;

    let db = Database::create(Backend::Sqlite).await;
    let server = TestServer::start_on(&db, no_extra()).await;
    let (room, accounts) = server.room_of("rude", 3).await;
    // The bots stay until the test has done its worst (it closes their standard input
    // when it waits for them) and each has what it waits for; 60 s is only the deadline.
    let options = ["--resolution", "160x90", "--fps", "10", "--until-received", "10", "--until-stdin-closes"];
    let bots = spawn_bot(&server, room, "rude@example.com", 2, "60", &options);
    let mut rude = Ws::identified_lean(&server.ws_url(), &accounts[2].token).await;

    // Not in the call yet: publishing is refused.
    let publish =
        |sdp: &str| ClientEvent::CallPublish(CallPublish { room_id: room, sdp: sdp.into(), tracks: vec![] });
    rude.send_request("p0", publish("v=0")).await;
    assert!(refused_with(&answer_to(&mut rude, "p0").await, ErrorCode::NotInCall));
    rude.send_request("j", ClientEvent::CallJoin(CallJoin { room_id: room, media: Default::default() }))
        .await;
    assert!(matches!(answer_to(&mut rude, "j").await, ServerEvent::CallJoined(_)));

    // Garbage as SDP, and an answer to an offer nobody made.
    rude.send_request("p1", publish("this is not SDP")).await;
    assert!(refused_with(&answer_to(&mut rude, "p1").await, ErrorCode::InvalidSdp));
    let answer = |offer_id: u64, sdp: &str| {
        ClientEvent::CallSubscribeAnswer(CallSubscribeAnswer { room_id: room, offer_id, sdp: sdp.into() })
    };
    rude.send_request("a1", answer(999, "v=0")).await;
    assert!(refused_with(&answer_to(&mut rude, "a1").await, ErrorCode::StaleOffer));

    // The server offers the bots' tracks: answer it with garbage, then with a stale id.
    let offer = until(&mut rude, Duration::from_secs(30), "an offer", |e| {
        matches!(e, ServerEvent::CallSubscribeOffer(_))
    })
    .await;
    let ServerEvent::CallSubscribeOffer(offer) = offer else { unreachable!("matched above") };
    rude.send_request("a2", answer(offer.offer_id, "v=0\r\nnonsense")).await;
    assert!(refused_with(&answer_to(&mut rude, "a2").await, ErrorCode::InvalidSdp));
    rude.send_request("a3", answer(offer.offer_id + 1, "v=0")).await;
    assert!(refused_with(&answer_to(&mut rude, "a3").await, ErrorCode::StaleOffer));

    // Garbage at the media port the offer names: random bytes, STUN for
    // nobody, RTP and DTLS from a stranger, empty datagrams.
    let port: u16 = offer
        .sdp
        .lines()
        .find(|l| l.starts_with("a=candidate:") && l.contains("typ host"))
        .and_then(|l| l.split_whitespace().nth(5)?.parse().ok())
        .expect("the offer names the media port");
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut seed: u32 = 7;
    let mut next = || {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        seed
    };
    let mut stun = vec![0x00, 0x01, 0x00, 0x0c, 0x21, 0x12, 0xa4, 0x42];
    stun.extend_from_slice(&[9; 12]);
    stun.extend_from_slice(&[0x00, 0x06, 0x00, 0x08]);
    stun.extend_from_slice(b"nobody:x");
    for i in 0..3_000u32 {
        let datagram: Vec<u8> = match i % 5 {
            0 => (0..(next() % 1_400)).map(|_| next() as u8).collect(),
            1 => stun.clone(),
            2 => [0x80, 102].iter().copied().chain((0..200).map(|_| next() as u8)).collect(),
            3 => [22, 254, 253].iter().copied().chain((0..100).map(|_| next() as u8)).collect(),
            _ => Vec::new(),
        };
        let _ = socket.send_to(&datagram, ("127.0.0.1", port));
    }

    // The same at the TCP port (ICE-TCP): a framed binding request for
    // nobody and framed garbage get the connection closed; silent
    // connections and a torn frame change nothing for anyone else.
    let tcp_port: u16 = offer
        .sdp
        .lines()
        .find(|l| l.starts_with("a=candidate:") && l.contains(" tcp ") && l.contains("tcptype passive"))
        .and_then(|l| l.split_whitespace().nth(5)?.parse().ok())
        .expect("the offer names the media TCP port");
    let frame = |packet: &[u8]| {
        let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(packet);
        framed
    };
    let garbage: Vec<u8> = (0..600).map(|_| next() as u8).collect();
    for first in [frame(&stun), frame(&garbage), frame(&[0x80, 102, 0, 1])] {
        let mut connection =
            tokio::net::TcpStream::connect(("127.0.0.1", tcp_port)).await.expect("the TCP port");
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        connection.write_all(&first).await.expect("written");
        let mut buffer = [0u8; 64];
        let closed = tokio::time::timeout(Duration::from_secs(5), connection.read(&mut buffer)).await;
        assert!(
            matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
            "a connection that names nobody is closed: {closed:?}"
        );
    }
    let mut silent = Vec::new();
    for _ in 0..6 {
        silent.push(tokio::net::TcpStream::connect(("127.0.0.1", tcp_port)).await.expect("the TCP port"));
    }
    {
        use tokio::io::AsyncWriteExt;
        // Half a frame: a length promising more than ever comes.
        silent[0].write_all(&[0xff, 0xff, 1, 2, 3]).await.expect("written");
    }

    // The bots never noticed.
    let (reports, ok) = reports_of(bots, 2).await;
    assert!(ok, "{reports:#?}");
    assert_received(&reports, &accounts[..2], &[Some(440.0), Some(550.0)]);
    server.stop().await;
}

/// A loopback "network" in front of the SFU's port that loses `loss` of the
/// media packets (RTP and RTCP, both ways; STUN and DTLS pass): it listens
/// on `listen` (the address the server advertises) and gives each client
/// its own upstream socket to `sfu`, as a NAT would.
struct LossyNetwork {
    dropped: std::sync::Arc<std::sync::atomic::AtomicU64>,
    relayed: std::sync::Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl LossyNetwork {
    async fn start(listen: std::net::SocketAddr, sfu: std::net::SocketAddr, loss: f64) -> LossyNetwork {
        use std::collections::HashMap;
        use std::sync::atomic::{AtomicU64, Ordering};
        use std::sync::Arc;
        use tokio::net::UdpSocket;

        let front = Arc::new(UdpSocket::bind(listen).await.expect("the lossy network's address"));
        let (dropped, relayed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (task_dropped, task_relayed) = (Arc::clone(&dropped), Arc::clone(&relayed));
        let task = tokio::spawn(async move {
            // A fixed sequence of coin flips: every run loses the same packets.
            let mut seed = 0x2545_f491_4f6c_dd1d_u64;
            let mut lose = move || {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed % 10_000) as f64 / 10_000.0 < loss
            };
            let (back_tx, mut back_rx) = tokio::sync::mpsc::channel::<(Vec<u8>, std::net::SocketAddr)>(4096);
            let mut upstream: HashMap<std::net::SocketAddr, Arc<UdpSocket>> = HashMap::new();
            let mut buffer = vec![0u8; 65_536];
            loop {
                let (datagram, from_client, client) = tokio::select! {
                    received = front.recv_from(&mut buffer) => match received {
                        Ok((len, from)) => (buffer[..len].to_vec(), true, from),
                        Err(_) => return,
                    },
                    Some((datagram, client)) = back_rx.recv() => (datagram, false, client),
                };
                let media = datagram.first().is_some_and(|b| (128..=191).contains(b));
                if media && lose() {
                    task_dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                task_relayed.fetch_add(1, Ordering::Relaxed);
                if !from_client {
                    let _ = front.send_to(&datagram, client).await;
                    continue;
                }
                let socket = match upstream.get(&client) {
                    Some(socket) => Arc::clone(socket),
                    None => {
                        let socket =
                            Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("an upstream socket"));
                        let (reader, back) = (Arc::clone(&socket), back_tx.clone());
                        tokio::spawn(async move {
                            let mut buffer = vec![0u8; 65_536];
                            while let Ok((len, _)) = reader.recv_from(&mut buffer).await {
                                if back.send((buffer[..len].to_vec(), client)).await.is_err() {
                                    return;
                                }
                            }
                        });
                        upstream.insert(client, Arc::clone(&socket));
                        socket
                    }
                };
                let _ = socket.send_to(&datagram, sfu).await;
            }
        });
        LossyNetwork { dropped, relayed, task }
    }
}

impl Drop for LossyNetwork {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Two participants whose every media packet crosses a network that loses
/// 5 % of them, both ways: NACK retransmission and keyframe requests through
/// the SFU keep the video moving — 100 frames decoded, in order, no freeze
/// of a second, nobody rejoining — and the tone is heard. (The same with
/// `--simulcast` passes too, but 2 of its 36 freezes measured sat at 0.87
/// and 1.0 s: too near the bar for the suite until that tail is understood.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_over_a_network_that_loses_packets_keeps_its_video_moving() {
    use std::sync::atomic::Ordering;

    let db = Database::create(Backend::Sqlite).await;
    // The server listens on 127.0.0.1 and tells clients to send to
    // 127.0.0.2, where the lossy network waits, on the same port (one
    // engine: one port).
    let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let extra = no_extra()
        .merge(("media_engines", 1))
        .merge(("media_udp_address", format!("127.0.0.1:{port}")))
        .merge(("media_advertise_ip", "127.0.0.2"));
    let server = TestServer::start_on(&db, extra).await;
    let sfu = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let network = LossyNetwork::start(([127, 0, 0, 2], port).into(), sfu, 0.05).await;
    let (room, accounts) = server.room_of("lossy", 2).await;
    // They leave once each has decoded 100 frames of the other's camera; 60 s is only the deadline.
    let child = spawn_bot(&server, room, "lossy@example.com", 2, "60", &["--until-received", "100"]);
    let (reports, ok) = reports_of(child, 2).await;
    assert!(ok, "{reports:#?}");
    let (dropped, relayed) =
        (network.dropped.load(Ordering::Relaxed), network.relayed.load(Ordering::Relaxed));
    let total = dropped + relayed;
    // (About 7 s of a call; its STUN and DTLS pass, so under 5 % of all is lost.)
    assert!(total > 1000 && dropped * 100 >= total * 3, "the network lost {dropped} of {total} packets");
    assert_everyone_received_everyone(&reports, &accounts);
    for (i, report) in reports.iter().enumerate() {
        let other = accounts[1 - i].id();
        let camera = tracks_from(report, other).into_iter().find(|t| t["kind"] == "camera").unwrap();
        let frames = camera["frames"].as_u64().unwrap();
        assert!(frames >= 100, "{i} decoded only {frames} frames: {camera}");
        let gap = camera["max_frame_gap"].as_u64().unwrap();
        assert!(gap < 1000, "{i}'s video froze for {gap} ms: {camera}");
        eprintln!("over the lossy network ({dropped} of {total} dropped), {i} received {camera}");
    }
    server.stop().await;
}

/// `server`'s address as a process inside `network` reaches it (the host's end of its link).
fn base_from_inside(server: &TestServer, network: &TestNetwork) -> String {
    let port = server.base.rsplit(':').next().expect("a port");
    format!("http://{}:{port}", network.host_ip)
}

/// A participant whose uplink carries 250 kbit/s (its bot in a network
/// namespace of the test's own, `tc tbf` on the way out, 100 ms of queue)
/// publishes a 1280×720 camera in three layers and a tone, to one on the
/// open network who draws it large. Sent as they start — every layer, each
/// with a keyframe — they overflow the link (in most runs); the SFU's first
/// receiver report of heavy loss brings its encoders down to what arrived (a
/// smaller layer, which the SFU then forwards), and its budget grows from
/// there, so the other decodes the camera moving and hears the tone.
/// (With `--fixed-uplink` the same call decodes 2 frames in 20 s:
/// docs/BENCHMARKS.md, "uplink".) Both leave once the open one has 150
/// frames of the slow one's camera.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_behind_a_slow_uplink_sends_the_layers_that_fit_and_is_seen_moving() {
    let network = TestNetwork::create(false);
    network.shape_uplink(250);
    let db = Database::create(Backend::Sqlite).await;
    let server = TestServer::start_on(&db, network.server_settings()).await;
    let base = base_from_inside(&server, &network);
    let (room, accounts) = server.room_of("slowup", 2).await;
    let (open_id, slow_id) = (accounts[0].id().to_string(), accounts[1].id().to_string());
    let waiting = ["--until-stdin-closes", "--from"];
    let open_options =
        [&["--resolution", "320x180", "--until-received", "150"], &waiting[..], &[slow_id.as_str()]].concat();
    let open = spawn_waiting_bot_in(None, &server.base, room, "slowup+1@example.com", "60", &open_options);
    let slow_options = [
        &["--resolution", "1280x720", "--simulcast", "--tone-hz", "550", "--until-received", "1"],
        &waiting[..],
        &[open_id.as_str()],
    ]
    .concat();
    let slow = spawn_waiting_bot_in(Some(&network), &base, room, "slowup+2@example.com", "60", &slow_options);
    let done = once_all_received(vec![open, slow]).await;
    let (open, slow) = (&done[0].0[0], &done[1].0[0]);
    assert!(done.iter().all(|(_, ok)| *ok), "{open:#}\n{slow:#}");
    let sent = &slow["sent"];
    eprintln!("slow uplink: the slow one sent {sent}");
    let camera = tracks_from(open, accounts[1].id()).into_iter().find(|t| t["kind"] == "camera");
    eprintln!("slow uplink: the open one received {camera:?}");
    let camera = camera.expect("the slow one's camera arrived");
    assert!(camera["frames"].as_u64() >= Some(150), "{camera}");
    // Which layers fit depends on how the first seconds go: the full layer of
    // the test pattern (~190 kbit/s) with the voice is about the link's rate,
    // so its keyframes overflow the queue in most runs (then a receiver report
    // of heavy loss cuts the budget and a smaller layer goes out in its place)
    // and pass in some (then the budget rightly stays up and the full layer
    // is what arrives). Either way the camera is seen moving, which without
    // the uplink following the link it is not: 2 frames in 20 s (the bench).
    let lowest = sent["uplink_lowest_kbps"].as_u64().expect("an uplink budget");
    let layers: Vec<u64> =
        sent["camera_layer_frames"].as_array().expect("per layer").iter().filter_map(Value::as_u64).collect();
    if lowest < 500 {
        // The open one draws it large (nobody wants the smaller layers: each
        // is encoded for its first frames only), so a second and more of them
        // went out only because the top one did not fit.
        assert!(layers[0] + layers[1] >= 15, "no smaller layer was sent in place of the top one: {layers:?}");
    } else {
        assert_eq!(
            camera["width"], 1280,
            "the budget stayed up, yet the full layer was not what arrived: {sent}"
        );
    }
    // Each hears the other's tone; neither lost the call (frames lost on the
    // link are skipped, so the stamps are not all in order).
    for (i, (report, heard, hz)) in [(open, 1, 550.0), (slow, 0, 440.0)].into_iter().enumerate() {
        assert!(
            report["errors"].as_array().is_some_and(Vec::is_empty) && report["rejoins"] == 0,
            "{report:#}"
        );
        let tracks = tracks_from(report, accounts[heard].id());
        let microphone = tracks.iter().find(|t| t["kind"] == "microphone").expect("a microphone");
        let tone = microphone["tone_hz"].as_f64().unwrap_or_default();
        assert!((tone - hz).abs() < 15.0, "{i} heard {tone} Hz of {hz} Hz: {microphone}");
    }
    server.stop().await;
}

/// A participant whose microphone is on while nobody speaks (`--audio
/// silence`): Opus DTX says there is nothing to send, so it sends next to
/// nothing — silence costs neither its uplink nor the SFU's forwarding —
/// after its first half second, and the server never reports it speaking,
/// while the other, listening, receives its camera (both leave once it has
/// 90 frames, six seconds).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_microphone_costs_next_to_nothing_to_send_or_forward() {
    let db = Database::create(Backend::Sqlite).await;
    let server = TestServer::start_on(&db, no_extra()).await;
    let (room, accounts) = server.room_of("dtx", 2).await;
    let (quiet_id, listener_id) = (accounts[0].id().to_string(), accounts[1].id().to_string());
    let waiting = ["--until-stdin-closes", "--from"];
    let quiet_options =
        [&["--audio", "silence", "--until-received", "1"], &waiting[..], &[listener_id.as_str()]].concat();
    let quiet = spawn_waiting_bot_in(None, &server.base, room, "dtx+1@example.com", "60", &quiet_options);
    let listener_options =
        [&["--audio", "none", "--until-received", "90"], &waiting[..], &[quiet_id.as_str()]].concat();
    let listener =
        spawn_waiting_bot_in(None, &server.base, room, "dtx+2@example.com", "60", &listener_options);
    let done = once_all_received(vec![quiet, listener]).await;
    let (quiet, listener) = (&done[0].0[0], &done[1].0[0]);
    assert!(done.iter().all(|(_, ok)| *ok), "{quiet:#}\n{listener:#}");
    let sent = &quiet["sent"];
    let (audio, silent) =
        (sent["audio_frames"].as_u64().unwrap(), sent["audio_frames_silent"].as_u64().unwrap());
    eprintln!("silence: the quiet one sent {audio} audio frames and left out {silent}");
    // Six seconds and more of 20 ms frames, all left out but the first half
    // second's (Opus takes that long to decide it is silence: 24 frames).
    assert!(silent >= 250 && audio <= 30, "{sent}");
    let tracks = tracks_from(listener, accounts[0].id());
    let camera = tracks.iter().find(|t| t["kind"] == "camera").expect("the quiet one's camera");
    assert!(camera["frames"].as_u64() >= Some(90), "{camera}");
    // What arrived of the microphone is what was sent: the SFU forwarded no more.
    let packets =
        tracks.iter().find(|t| t["kind"] == "microphone").map_or(0, |m| m["packets"].as_u64().unwrap_or(0));
    assert!(packets <= audio, "{packets} audio packets arrived of {audio} sent");
    assert!(
        !listener["speaking_seen"].as_array().expect("a list").contains(&json!(quiet_id)),
        "{listener:#}"
    );
    server.stop().await;
}

/// A participant whose UDP to the server is dropped (in a network namespace
/// of this test's own) joins with policy "all" and the relay `call_joined`
/// names — coturn over TCP — and has media both ways with a bot on the open
/// network: its direct UDP path to the SFU fails, and ICE takes the relay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_whose_udp_is_blocked_calls_through_a_relay_over_tcp() {
    let network = TestNetwork::create(true);
    let coturn = Coturn::start_on(&network.host_ip).await;
    let db = Database::create(Backend::Sqlite).await;
    let turn_url = format!("turn:{}:{}?transport=tcp", network.host_ip, coturn.port);
    let settings = network
        .server_settings()
        .merge(("turn_urls", [turn_url.as_str()]))
        .merge(("turn_secret", TURN_SECRET));
    let server = TestServer::start_on(&db, settings).await;
    let base = base_from_inside(&server, &network);
    let aiortc = aiortc_calls_a_bot_from(&server, "blocked", "turn", Some(&network.name), &base).await;
    let types = aiortc["offered_candidate_types"].as_array().cloned().unwrap_or_default();
    assert!(types.contains(&json!("host")) && types.contains(&json!("relay")), "{aiortc:#}");
    // The block is real: from inside, not even the relay can be asked over UDP.
    let over_udp = coturn
        .allocate_from(
            Some(&network.name),
            &format!("{}:probe", unix_now() + 600),
            &format!("sign:{TURN_SECRET}"),
        )
        .await;
    assert_eq!(over_udp["allocated"], false, "UDP got out of the namespace: {over_udp}");
    server.stop().await;
}

/// A participant whose UDP to the server is dropped, with no relay anywhere
/// (nothing installed beside the Concord server): both its connections come
/// up over the SFU's TCP port (ICE-TCP) and it has media both ways with a
/// participant on the open network, which stays on UDP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_whose_udp_is_blocked_calls_over_the_sfus_tcp_port() {
    let network = TestNetwork::create(true);
    let db = Database::create(Backend::Sqlite).await;
    let server = TestServer::start_on(&db, network.server_settings()).await;
    an_open_and_a_fenced_bot_call(&server, &network, "tcponly", "tcp").await;
    server.stop().await;
}

/// Six participants behind one address (one bot process in a namespace
/// whose UDP to the server is dropped, as an office behind one NAT) join at
/// once: all twelve of their connections come up over the SFU's TCP port
/// and each hears the five others' tones, none losing the call on the way.
/// (The SFU once let only 8 connections from one address wait to name their
/// peer: 7 of 16 were closed in a room of 8.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_participants_behind_one_address_all_call_over_tcp() {
    let network = TestNetwork::create(true);
    let db = Database::create(Backend::Sqlite).await;
    let server = TestServer::start_on(&db, network.server_settings()).await;
    let base = base_from_inside(&server, &network);
    let participants = 6;
    let (room, accounts) = server.room_of("office", participants).await;
    // They leave once each has a second of every other's tone; 60 s is only the deadline.
    let options = ["--video", "none", "--audio", "tone", "--until-received", "1"];
    let fenced =
        spawn_bot_in(Some(&network), &base, room, "office@example.com", participants, "60", &options);
    let (reports, ok) = reports_of(fenced, participants).await;
    assert!(ok, "{reports:#?}");
    for (i, report) in reports.iter().enumerate() {
        assert!(report["errors"].as_array().is_some_and(Vec::is_empty), "participant {i}: {report:#}");
        // (Each leg once dialled the SFU's TCP port again with every offer, and a
        // handshake on the connection the client did not pick went unanswered until a rejoin.)
        assert_eq!(report["rejoins"], 0, "participant {i} never lost the call: {report:#}");
        assert_eq!(
            report["transport"],
            json!({"publish": "tcp", "receive": "tcp"}),
            "participant {i}: {report:#}"
        );
        for (j, other) in accounts.iter().enumerate().filter(|(j, _)| *j != i) {
            let tracks = tracks_from(report, other.id());
            let heard = tracks
                .iter()
                .find(|t| t["kind"] == "microphone")
                .and_then(|t| t["tone_hz"].as_f64())
                .unwrap_or_else(|| panic!("participant {i} heard no tone from {j}: {report:#}"));
            let sent = 440.0 + 110.0 * j as f64;
            assert!((heard - sent).abs() < 15.0, "{i} ← {j}: heard {heard} Hz, sent {sent} Hz");
        }
    }
    server.stop().await;
}

/// A bot on the open network and one inside `network` call each other until
/// each has 15 frames and a second of sound from the other (60 s only the
/// deadline): each hears the other's tone and sees its stamps, the open one's
/// connections are on UDP and the fenced one's on `fenced_transport`.
async fn an_open_and_a_fenced_bot_call(
    server: &TestServer,
    network: &TestNetwork,
    tag: &str,
    fenced_transport: &str,
) {
    let base = base_from_inside(server, network);
    let (room, accounts) = server.room_of(tag, 2).await;
    let (open_id, fenced_id) = (accounts[0].id().to_string(), accounts[1].id().to_string());
    let waiting = ["--resolution", "320x180", "--until-received", "15", "--until-stdin-closes", "--from"];
    let open_options = [&waiting[..], &[fenced_id.as_str()]].concat();
    let open =
        spawn_waiting_bot_in(None, &server.base, room, &format!("{tag}+1@example.com"), "60", &open_options);
    let fenced_options = [&waiting[..], &[open_id.as_str(), "--tone-hz", "550"]].concat();
    let fenced = spawn_waiting_bot_in(
        Some(network),
        &base,
        room,
        &format!("{tag}+2@example.com"),
        "60",
        &fenced_options,
    );
    let done = once_all_received(vec![open, fenced]).await;
    let reports = [done[0].0[0].clone(), done[1].0[0].clone()];
    assert!(done.iter().all(|(_, ok)| *ok), "{reports:#?}");
    // Neither left before it had what it waited for from the other process (`--from`).
    for (i, report) in reports.iter().enumerate() {
        let camera = tracks_from(report, accounts[1 - i].id()).into_iter().find(|t| t["kind"] == "camera");
        let frames = camera.as_ref().and_then(|c| c["frames"].as_u64());
        assert!(frames >= Some(15), "{i} ← {}: {camera:?}", 1 - i);
    }
    let fenced_expected = json!({"publish": fenced_transport, "receive": fenced_transport});
    assert_eq!(reports[1]["transport"], fenced_expected, "{:#}", reports[1]);
    assert_eq!(reports[0]["transport"], json!({"publish": "udp", "receive": "udp"}), "{:#}", reports[0]);
    assert_received(&reports, &accounts, &[Some(440.0), Some(550.0)]);
}

/// A desktop participant on a network whose firewall lets through the web
/// server and a TURN relay and nothing else — neither the SFU's UDP port
/// nor its TCP port — takes the relay `call_joined` and the offers name
/// (coturn over UDP, with the credential made for it) for both its
/// connections and has media both ways with a participant on the open
/// network, which stays on direct UDP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_who_reaches_only_a_relay_calls_through_it() {
    let network = TestNetwork::create(false);
    let coturn = Coturn::start_on(&network.host_ip).await;
    let db = Database::create(Backend::Sqlite).await;
    let turn_url = format!("turn:{}:{}?transport=udp", network.host_ip, coturn.port);
    let settings = network
        .server_settings()
        .merge(("turn_urls", [turn_url.as_str()]))
        .merge(("turn_secret", TURN_SECRET));
    let server = TestServer::start_on(&db, settings).await;
    let port = server.base.rsplit(':').next().expect("a port").parse().expect("a port number");
    network.allow_only(&[("tcp", port), ("udp", coturn.port)]);
    an_open_and_a_fenced_bot_call(&server, &network, "relayonly", "relay").await;
    server.stop().await;
}
