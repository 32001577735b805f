//! The real `concord` binary in a real X window (Xvfb): log in by typing
//! into the window with xdotool, see the server count the user online, take
//! a screenshot that is not blank, and share that window in a call test.

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

mod support;

use std::path::Path;
use std::time::Duration;

use reqwest::Method;
use support::x11::{screenshot, start_window_manager, start_xvfb, wait_until, RunningApp};
use support::Server;

/// The `concord` binary in a real window on `display`, logged in as ada by
/// keyboard; returns once her friend (`friend_token`) sees her online, i.e.
/// once the server has her connection.
fn ada_online_in_a_window(server: &Server, display: &str, friend_token: &str) -> RunningApp {
    ada_online_in_a_window_with(server, display, friend_token, None)
}

/// [`ada_online_in_a_window`], the app starting from `persisted` (what a
/// previous run saved).
fn ada_online_in_a_window_with(
    server: &Server,
    display: &str,
    friend_token: &str,
    persisted: Option<&concord_gui::state::Persisted>,
) -> RunningApp {
    let app = support::x11::launch_and_log_in(
        env!("CARGO_BIN_EXE_concord"),
        display,
        &server.url(),
        "ada@example.com",
        "correct horse",
        persisted,
    );
    wait_until("ada to come online", Duration::from_secs(30), || {
        let friends = server.api(Method::GET, "/api/friends", Some(friend_token), None);
        friends[0]["online"] == true
    });
    app
}

/// Joins `room`'s call by keyboard: Ctrl+K, the room's name, Return opens
/// the room; Ctrl+Shift+J joins its call. The app may not have its room
/// list yet when the server already counts ada online, and the room opens
/// only on the frame that handles Return: the whole sequence is typed again
/// until `in_call` (the server has ada in the call; once in it, a repeat
/// changes nothing).
fn join_call_by_keyboard(display: &str, room: &str, mut in_call: impl FnMut() -> bool) {
    wait_until("ada in the call", Duration::from_secs(40), || {
        support::x11::xdotool(display, &["key", "Escape"]);
        support::x11::xdotool(display, &["key", "ctrl+k"]);
        support::x11::xdotool(display, &["type", "--delay", "15", room]);
        support::x11::xdotool(display, &["key", "Return"]);
        support::x11::xdotool(display, &["key", "ctrl+shift+j"]);
        in_call()
    });
}

#[test]
fn the_desktop_binary_logs_in_by_keyboard_in_a_real_window() {
    let server = Server::start();
    let (_, watcher_token) = server.friends("ada", "watcher");
    let (_xvfb, display) = start_xvfb();
    // The server sees Ada's client connect: her friend is told she is online.
    let app = ada_online_in_a_window(&server, &display, &watcher_token);
    std::thread::sleep(Duration::from_millis(500));

    let colors = screenshot(&display, &app.home, "window-smoke.png");
    let keep = Path::new(env!("CARGO_TARGET_TMPDIR")).join("window-smoke.png");
    assert!(colors > 50, "the screenshot looks blank ({colors} colours); see {}", keep.display());

    // Sharing this window: the call test captures the Concord window (xcap)
    // by its title, encodes and decodes it. Windows are listed by the window
    // manager, so one takes over the display now.
    let _wm = start_window_manager(&display);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_concord"))
        .args(["selftest", "--screen", "Window: Concord", "--camera", "off", "--microphone", "off"])
        .args(["--frames", "10", "--seconds", "60", "--resolution", "640x360"])
        .env("DISPLAY", &display)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert!(out.status.success(), "{}\n{report:#}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(report["screen"]["source"], "Window: Concord", "{report:#}");
    assert!(report["screen"]["frames_decoded"].as_u64().unwrap_or(0) >= 1, "{report:#}");
    let captured = report["screen"]["frames_sent"].as_u64().unwrap()
        + report["screen"]["frames_skipped"].as_u64().unwrap();
    assert!(captured >= 10, "the window was captured repeatedly: {report:#}");
    drop(app);
}

/// A call in the real window: the app (no camera or sound card under Xvfb)
/// joins a room's call by keyboard (Ctrl+K to the room, Ctrl+Shift+J),
/// two bots join it, and the window shows their tiles: the screenshot
/// gains the test pattern's thousands of colours over the call without them.
#[test]
fn a_call_with_bots_is_drawn_in_a_real_window() {
    use concord_call::options::MediaOptions;
    use concord_call::participant::{self, Account};

    let server = Server::start();
    let (ada_token, bob_token, carol_token) = server.ada_bob_and_carol();
    let room_id = server.room_with(&ada_token, "Game night", &[&bob_token, &carol_token]);
    let in_call = |server: &Server| -> usize {
        let rooms = server.api(Method::GET, "/api/rooms", Some(&bob_token), None);
        rooms["rooms"][0]["in_call"].as_array().map_or(0, Vec::len)
    };

    let (_xvfb, display) = start_xvfb();
    let app = ada_online_in_a_window(&server, &display, &bob_token);
    join_call_by_keyboard(&display, "Game night", || in_call(&server) == 1);
    // A repeat may have opened something else over the room (a friend's
    // conversation): Ctrl+Shift+J also brings back the call I am in.
    support::x11::xdotool(&display, &["key", "Escape"]);
    support::x11::xdotool(&display, &["key", "ctrl+shift+j"]);
    let shot = |name: &str| screenshot(&display, &app.home, name);
    let alone = shot("call-alone.png");
    assert!(alone > 50, "the window looks blank ({alone} colours)");

    // The bots stay until the window has shown their video (20 s at most).
    let (seen, stop) = tokio::sync::watch::channel(false);
    let bots: Vec<_> = ["bob", "carol"]
        .into_iter()
        .map(|name| {
            let mut stop = stop.clone();
            let account = Account {
                server: server.url(),
                email: format!("{name}@example.com"),
                password: "correct horse".into(),
                register_as: None,
            };
            server.runtime.spawn(participant::run_until(
                account,
                room_id,
                MediaOptions::default(),
                Duration::from_secs(20),
                async move {
                    let _ = stop.wait_for(|seen| *seen).await;
                },
            ))
        })
        .collect();
    wait_until("both bots in the call", Duration::from_secs(30), || in_call(&server) == 3);
    // Avatars and rings add a few hundred colours; a decoded test pattern
    // in a tile adds tens of thousands.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut with_bots = shot("call-with-bots.png");
    while with_bots < alone + 10_000 && std::time::Instant::now() < deadline {
        with_bots = shot("call-with-bots.png");
    }
    let log = std::fs::read_to_string(app.home.join("concord.log")).unwrap_or_default();
    assert!(
        with_bots >= alone + 10_000,
        "no video in the tiles: {with_bots} colours with the bots, {alone} alone; the app's log:\n{log}"
    );
    let _ = seen.send(true);
    for bot in bots {
        let report = server.runtime.block_on(bot).unwrap();
        assert!(report.joined_ms.is_some(), "{report:?}");
    }
    drop(app);
}

/// Push-to-talk in the real window under X: ada (the test tone as her
/// microphone, push-to-talk on F8, saved by a "previous run") joins a room's
/// call by keyboard; the server reports her speaking only after xdotool
/// holds F8 down (under X the app takes F8 as a global key) and reports her
/// silent again once F8 is let go.
#[test]
fn push_to_talk_opens_the_microphone_only_while_the_key_is_held() {
    use concord_common::events::{CallParticipantJoined, CallParticipantUpdated, CallSpeaking};
    use concord_common::ServerEvent;
    use concord_gui::state::Persisted;

    let server = Server::start();
    let (ada_token, bob_token) = server.friends("ada", "bob");
    let room_id = server.room_with(&ada_token, "Radio night", &[&bob_token]);
    let ada_id = server.user_id(&ada_token);
    let in_call = |server: &Server| -> usize {
        let rooms = server.api(Method::GET, "/api/rooms", Some(&bob_token), None);
        rooms["rooms"][0]["in_call"].as_array().map_or(0, Vec::len)
    };
    // Bob listens on a websocket in the call: he hears who speaks.
    let mut bob = server.join_call(&bob_token, &room_id.to_string());

    let persisted = Persisted { media: support::push_to_talk_with_the_test_tone(), ..Persisted::default() };
    let (_xvfb, display) = start_xvfb();
    // Online first: keys typed while the login is still on screen would land in its fields.
    let app = ada_online_in_a_window_with(&server, &display, &bob_token, Some(&persisted));
    join_call_by_keyboard(&display, "Radio night", || in_call(&server) == 2);
    // Her microphone is open on her side (the roster has her unmuted) before
    // the key goes down, and until then nobody heard her speak.
    let speaking_of_ada = |event: &ServerEvent| match event {
        ServerEvent::CallSpeaking(CallSpeaking { user_id, speaking, .. }) if *user_id == ada_id => {
            Some(*speaking)
        }
        _ => None,
    };
    let unmuted_ada = |event: &ServerEvent| match event {
        ServerEvent::CallParticipantJoined(CallParticipantJoined { participant, .. })
        | ServerEvent::CallParticipantUpdated(CallParticipantUpdated { participant, .. }) => {
            participant.user_id == ada_id && !participant.media.muted
        }
        _ => false,
    };
    let mut before_key = Vec::new();
    server.runtime.block_on(async {
        loop {
            let event = bob.try_next(Duration::from_secs(20)).await.expect("ada in the roster, unmuted");
            before_key.extend(speaking_of_ada(&event));
            if unmuted_ada(&event) {
                break;
            }
        }
    });
    assert!(before_key.is_empty(), "ada was heard before the key went down: {before_key:?}");

    // The key, through the X server as a person's keyboard would send it.
    support::x11::xdotool(&display, &["keydown", "F8"]);
    let mut heard = Vec::new();
    server.runtime.block_on(async {
        while heard.last() != Some(&true) {
            let event = bob.try_next(Duration::from_secs(15)).await.expect("ada speaking while F8 is held");
            heard.extend(speaking_of_ada(&event));
        }
    });
    support::x11::xdotool(&display, &["keyup", "F8"]);
    server.runtime.block_on(async {
        while heard.last() != Some(&false) {
            let event = bob.try_next(Duration::from_secs(15)).await.expect("ada silent once F8 is up");
            heard.extend(speaking_of_ada(&event));
        }
    });
    assert_eq!(heard, [true, false], "speaking while held, then not");
    drop(app);
}
