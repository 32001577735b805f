//! The desktop call UI against a real server and real participants: the
//! app (driven through kittest by accessibility label, with the synthetic
//! camera and tone as its devices) joins a room's call with two bots
//! (`concord-call` participants over loopback WebRTC through the server's
//! SFU). Their tiles show their video, mute states reach every screen, a
//! bot that leaves takes its tile with it, the in-call chat works, the
//! stats overlay fills, and the bots decode the app's camera and hear its
//! tone.

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

mod support;

use std::time::Duration;

use concord_call::options::{MediaOptions, VideoChoice};
use concord_call::participant::{self, Account};
use concord_common::events::TrackSource;
use concord_common::RoomId;
use concord_gui::settings::{MediaSettings, Pick};
use concord_gui::state::{CallPhase, Persisted};
use egui_kittest::kittest::{NodeT, Queryable};
use reqwest::Method;
use serde_json::json;
use support::{app, click, log_in, press, shows, type_into, Server};

type App = egui_kittest::Harness<'static, concord_gui::ConcordApp>;

/// Steps frames until `done` holds, for at most `within`.
fn wait_within(
    app: &mut App,
    within: Duration,
    what: &str,
    done: impl Fn(&egui_kittest::Harness<'_, concord_gui::ConcordApp>) -> bool,
) {
    support::wait_for_within(app, within, what, done, |app| {
        let tiles: Vec<String> =
            app.query_all_by_label_contains("'s camera").filter_map(|n| n.accesskit_node().label()).collect();
        format!("(tiles: {tiles:?})")
    });
}

/// Whether a widget whose label contains `text` is on screen.
fn shows_part(app: &egui_kittest::Harness<'_, concord_gui::ConcordApp>, text: &str) -> bool {
    app.query_all_by_label_contains(text).next().is_some()
}

/// Ada's app, logged in, with the room labelled `room` open. Her devices:
/// the moving test pattern and the test tone (this machine has no camera or
/// sound card), no speaker.
fn ada_in_room(server: &Server, room: &str) -> App {
    let media = MediaSettings {
        camera: Pick::Synthetic,
        screen: Pick::Synthetic,
        microphone: Pick::Synthetic,
        speaker: Pick::Off,
        ..MediaSettings::default()
    };
    let mut ada = app(Persisted { media, ..Persisted::default() });
    log_in(&mut ada, &server.url(), "ada", false);
    wait_within(&mut ada, Duration::from_secs(15), "the room", |h| shows(h, room));
    click(&mut ada, room);
    ada
}

fn bot(
    server: &Server,
    name: &str,
    media: MediaOptions,
    seconds: u64,
    room: RoomId,
) -> tokio::task::JoinHandle<concord_call::report::ParticipantReport> {
    bot_until(server, name, media, seconds, room, std::future::pending())
}

/// A bot that also leaves when `stop` completes (`seconds` at most).
fn bot_until(
    server: &Server,
    name: &str,
    media: MediaOptions,
    seconds: u64,
    room: RoomId,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<concord_call::report::ParticipantReport> {
    let account = Account {
        server: server.url(),
        email: format!("{name}@example.com"),
        password: "correct horse".into(),
        register_as: None,
    };
    server.runtime.spawn(participant::run_until(account, room, media, Duration::from_secs(seconds), stop))
}

#[test]
fn the_app_holds_a_call_with_two_bots() {
    let server = Server::start();
    let (ada_token, bob_token, carol_token) = server.ada_bob_and_carol();
    let room_id = server.room_with(&ada_token, "Game night", &[&bob_token, &carol_token]);
    let user_id = |token: &str| server.user_id(token);
    let (ada_id, bob_id, carol_id) = (user_id(&ada_token), user_id(&bob_token), user_id(&carol_token));

    let mut ada = ada_in_room(&server, "Game night, 3 members");
    wait_within(&mut ada, Duration::from_secs(15), "the call bar", |h| shows(h, "Join the call"));
    assert!(shows_part(&ada, "Nobody is in the call."));

    click(&mut ada, "Join the call");
    wait_within(&mut ada, Duration::from_secs(30), "ada connected", |h| {
        h.state().state().call.as_ref().is_some_and(|c| c.phase == CallPhase::Connected)
    });
    wait_within(&mut ada, Duration::from_secs(10), "her own camera in her tile", |h| {
        shows_part(h, "ada's camera, video")
    });

    // Bob sends his camera and a 660 Hz tone; carol her camera, muted, and
    // she leaves first.
    let bob_media = MediaOptions { tone_hz: Some(660.0), ..MediaOptions::default() };
    let carol_media = MediaOptions { tone_hz: None, video: VideoChoice::Pattern, ..MediaOptions::default() };
    // Bob stays until ada has left (the test then reads what he received).
    let (ada_left, bob_stop) = tokio::sync::oneshot::channel::<()>();
    let bob = bot_until(&server, "bob", bob_media, 60, room_id, async {
        let _ = bob_stop.await;
    });
    let carol = bot(&server, "carol", carol_media, 14, room_id);
    wait_within(&mut ada, Duration::from_secs(30), "bob's and carol's video", |h| {
        shows_part(h, "bob's camera, video") && shows_part(h, "carol's camera, video, muted")
    });
    let call = ada.state().state().call.as_ref().unwrap();
    assert!(call.videos.contains_key(&(bob_id, TrackSource::Camera)));
    assert!(
        call.videos[&(bob_id, TrackSource::Camera)].size().x >= 320.0,
        "a real picture, not a placeholder"
    );
    // Ada's call_view gives the size bob's tile is drawn at (the server
    // sends each simulcast camera in the layer that fills its tile).
    let told = &call.view_told;
    assert!(
        told.iter().any(|t| t.user_id == bob_id && !t.hidden && t.size.is_some_and(|s| s.width >= 64)),
        "{told:?}"
    );
    wait_within(&mut ada, Duration::from_secs(15), "bob speaking", |h| {
        shows_part(h, "bob's camera, video, speaking")
    });

    // Ada mutes: her tile says so on her screen, and the roster (every
    // member's devices) has it.
    click(&mut ada, "Mute (Ctrl+Shift+M)");
    wait_within(&mut ada, Duration::from_secs(10), "ada muted", |h| {
        shows_part(h, "ada's camera, video, muted")
    });
    let rooms = server.api(Method::GET, "/api/rooms", Some(&bob_token), None);
    let in_call = rooms["rooms"][0]["in_call"].as_array().unwrap();
    let ada_entry = in_call.iter().find(|p| p["user_id"] == ada_id.to_string()).unwrap();
    assert_eq!(ada_entry["muted"], true, "{in_call:?}");
    press_keys(&mut ada, egui::Modifiers::COMMAND | egui::Modifiers::SHIFT, egui::Key::M);
    wait_within(&mut ada, Duration::from_secs(10), "ada unmuted", |h| {
        shows_part(h, "ada's camera, video") && !shows_part(h, "ada's camera, video, muted")
    });

    // The in-call chat beside the grid: both ways.
    type_into(&mut ada, "Message", "can you hear me?");
    press(&mut ada, egui::Key::Enter);
    // Bob answers what he has seen: once the server stored Ada's message
    // (it left her outbox), not while it may still be on its way.
    wait_within(&mut ada, Duration::from_secs(10), "ada's message stored", |h| {
        h.state().state().room_chats.get(&room_id).is_some_and(|chat| {
            chat.pending.is_empty() && chat.messages.values().any(|m| m.content == "can you hear me?")
        })
    });
    let body = json!({"content": "loud and clear", "nonce": "b1"});
    server.api(Method::POST, &format!("/api/rooms/{room_id}/messages"), Some(&bob_token), Some(body));
    wait_within(&mut ada, Duration::from_secs(10), "bob's answer in the call chat", |h| {
        shows(h, "loud and clear")
    });
    let history = server.api(Method::GET, &format!("/api/rooms/{room_id}/messages"), Some(&bob_token), None);
    assert_eq!(history["messages"][1]["content"], "can you hear me?", "{history}");

    // The stats overlay: a sample a second per track, with real figures.
    click(&mut ada, "Show stats");
    wait_within(&mut ada, Duration::from_secs(10), "bob's stats", |h| {
        let call = h.state().state().call.as_ref().unwrap();
        call.stats
            .get(&(bob_id, TrackSource::Camera))
            .is_some_and(|s| s.len() >= 2 && s.back().unwrap().kbps > 10.0)
    });

    // Carol's bot leaves: her tile goes, nobody's picture freezes in its place.
    wait_within(&mut ada, Duration::from_secs(30), "carol's tile gone", |h| !shows_part(h, "carol's camera"));
    assert!(!ada
        .state()
        .state()
        .call
        .as_ref()
        .unwrap()
        .videos
        .contains_key(&(carol_id, TrackSource::Camera)));
    assert!(shows_part(&ada, "bob's camera, video"));
    let carol = server.runtime.block_on(carol).unwrap();
    assert!(carol.errors.is_empty(), "{:?}", carol.errors);

    // Ada leaves; bob's bot decoded her camera (stamps in order) and heard
    // her tone.
    click(&mut ada, "Leave the call");
    assert!(ada.state().state().call.is_none());
    wait_within(&mut ada, Duration::from_secs(10), "the call bar again", |h| shows(h, "Join the call"));
    let _ = ada_left.send(());
    let bob = server.runtime.block_on(bob).unwrap();
    let from_ada = bob.received.iter().find(|r| r.user_id == ada_id).unwrap_or_else(|| panic!("{bob:#?}"));
    let camera = from_ada.tracks.iter().find(|t| t.kind == "camera").unwrap();
    assert!(camera.frames >= 30 && camera.frame_numbers_ok == Some(true), "{camera:?}");
    let microphone = from_ada.tracks.iter().find(|t| t.kind == "microphone").unwrap();
    let heard = microphone.tone_hz.unwrap_or_default();
    assert!((heard - 440.0).abs() < 15.0, "bob heard {heard} Hz from ada: {microphone:?}");
}

fn press_keys(app: &mut App, modifiers: egui::Modifiers, key: egui::Key) {
    app.key_press_modifiers(modifiers, key);
    app.step();
    app.step();
}

/// The server restarts mid-call: the app says it is joining again, the
/// tiles go with the old call (none left frozen), and once the server is
/// back the app and the bot rejoin by themselves — the bot's video is in
/// its tile again and ada is still muted, on her screen and in the roster.
#[test]
fn after_a_server_restart_the_call_comes_back_with_its_mute_state() {
    let mut server = Server::start();
    let (ada_token, bob_token) = server.friends("ada", "bob");
    let room_id = server.room_with(&ada_token, "Standup", &[&bob_token]);
    let bob_id = server.user_id(&bob_token).to_string();
    let mut ada = ada_in_room(&server, "Standup, 2 members");
    click(&mut ada, "Join with the microphone only");
    let bob = bot(&server, "bob", MediaOptions::default(), 60, room_id);
    wait_within(&mut ada, Duration::from_secs(30), "bob's video", |h| shows_part(h, "bob's camera, video"));
    click(&mut ada, "Mute (Ctrl+Shift+M)");
    wait_within(&mut ada, Duration::from_secs(10), "ada muted", |h| {
        shows_part(h, "ada's camera, no video, muted")
    });

    server.stop();
    wait_within(&mut ada, Duration::from_secs(20), "the connection lost", |h| {
        matches!(h.state().state().connection, Some(concord_gui::net::Connection::Reconnecting { .. }))
    });
    server.resume();
    // The restarted server's roster starts empty: ada is in it again only
    // once her app has joined again by itself (how long "joining again"
    // shows depends on the machine's speed, so it is not waited for).
    let in_call = |server: &Server| {
        let rooms = server.api(Method::GET, "/api/rooms", Some(&bob_token), None);
        rooms["rooms"][0]["in_call"].as_array().map_or(0, Vec::len)
    };
    wait_within(&mut ada, Duration::from_secs(40), "the call back, bob's video in his tile", |h| {
        h.state().state().call.as_ref().is_some_and(|c| c.phase == CallPhase::Connected)
            && shows_part(h, "bob's camera, video")
            && in_call(&server) == 2
    });
    assert!(shows_part(&ada, "ada's camera, no video, muted"), "the mute switch survived the rejoin");
    let rooms = server.api(Method::GET, "/api/rooms", Some(&bob_token), None);
    let in_call = rooms["rooms"][0]["in_call"].as_array().unwrap().clone();
    assert_eq!(in_call.len(), 2, "{in_call:?}");
    assert!(in_call.iter().any(|p| p["muted"] == true && p["user_id"] != json!(bob_id)), "{in_call:?}");
    click(&mut ada, "Leave the call");
    bob.abort();
}

/// The web client (headless Chromium with fake devices, driven by
/// `gui/web-tests/participant.mjs`) and the desktop app in one call: each
/// shows the other's camera in a tile, and each one's mute reaches the
/// other's screen. Needs the web client built with `test-hooks`
/// (`CONCORD_WEB_ROOT`), node and Chromium: `.ci/test` runs it after
/// building the web client.
#[test]
#[ignore = "needs the web client built (CONCORD_WEB_ROOT), node and chromium: run by .ci/test"]
fn a_browser_and_the_desktop_app_see_each_others_tiles_and_mute_states() {
    let web_root =
        std::env::var_os("CONCORD_WEB_ROOT").expect("CONCORD_WEB_ROOT: the web client built with test-hooks");
    let server = Server::start_serving(Some(web_root.into()));
    let (ada_token, bob_token) = server.friends("ada", "bob");
    server.room_with(&ada_token, "Standup", &[&bob_token]);
    let mut ada = ada_in_room(&server, "Standup, 2 members");
    click(&mut ada, "Join the call");
    wait_within(&mut ada, Duration::from_secs(30), "ada connected", |h| {
        h.state().state().call.as_ref().is_some_and(|c| c.phase == CallPhase::Connected)
    });

    let mut bob = WebParticipant::start(&server.url(), "bob@example.com", "Standup");
    wait_within(
        &mut ada,
        Duration::from_secs(60),
        "bob's browser camera in his tile, and ada's in his page",
        |h| {
            shows_part(h, "bob's camera, video")
                && bob.state_has(|s| {
                    s["call_videos"].as_array().is_some_and(|v| v.contains(&json!("ada:Camera")))
                })
        },
    );
    // Bob mutes in his browser: ada's screen says so.
    bob.send("mute");
    wait_within(&mut ada, Duration::from_secs(15), "bob muted on ada's screen", |h| {
        shows_part(h, "bob's camera, video, muted")
    });
    // Ada mutes on the desktop: bob's page has her muted in the call.
    click(&mut ada, "Mute (Ctrl+Shift+M)");
    let ada_muted = |s: &serde_json::Value| {
        s["rooms"][0]["in_call"]
            .as_array()
            .is_some_and(|people| people.iter().any(|p| p["name"] == "ada" && p["media"]["muted"] == true))
    };
    wait_within(&mut ada, Duration::from_secs(15), "ada muted in bob's page", |_| bob.state_has(ada_muted));
    // Bob leaves from his browser: his tile goes from ada's screen.
    bob.send("leave");
    wait_within(&mut ada, Duration::from_secs(15), "bob's tile gone", |h| !shows_part(h, "bob's camera"));
    bob.quit();
    click(&mut ada, "Leave the call");
}

/// `gui/web-tests/participant.mjs` as a child process: its latest state
/// (read on a thread of its own), commands to it.
struct WebParticipant {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    state: std::sync::Arc<std::sync::Mutex<serde_json::Value>>,
}

impl WebParticipant {
    fn start(base: &str, email: &str, room: &str) -> WebParticipant {
        use std::io::BufRead;
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/web-tests");
        let mut child = std::process::Command::new("node")
            .current_dir(dir)
            .args(["participant.mjs", base, email, "correct horse", room])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("node runs (apt-get install nodejs; .ci/setup does)");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let state = std::sync::Arc::new(std::sync::Mutex::new(serde_json::Value::Null));
        let latest = std::sync::Arc::clone(&state);
        std::thread::Builder::new()
            .name("web-participant-state".into())
            .spawn(move || {
                for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                    if let Ok(value) = serde_json::from_str(&line) {
                        *latest.lock().unwrap() = value;
                    }
                }
            })
            .expect("a thread");
        WebParticipant { child, stdin, state }
    }

    fn state_has(&self, test: impl Fn(&serde_json::Value) -> bool) -> bool {
        test(&self.state.lock().unwrap())
    }

    fn send(&mut self, command: &str) {
        use std::io::Write;
        writeln!(self.stdin, "{command}").expect("the web participant is running");
    }

    fn quit(mut self) {
        self.send("quit");
        let _ = self.child.wait();
    }
}

impl Drop for WebParticipant {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// The latest level ada's mixer played bob's tone at (dBFS), once it has
/// samples; `None` while nothing of him was mixed in the last second.
fn bob_heard(
    app: &egui_kittest::Harness<'_, concord_gui::ConcordApp>,
    bob: concord_common::UserId,
) -> Option<f32> {
    let call = app.state().state().call.as_ref()?;
    call.stats.get(&(bob, TrackSource::Microphone))?.back()?.heard_dbfs
}

/// Per-person volume from bob's tile menu (right-click): at 50 % ada's mixer
/// plays him 6 dB down, "Mute for me" silences him for her only, and after a
/// restart of the app (its persisted settings) he is still muted in the next
/// call. Ada's speaker is the silent one, which mixes and measures.
#[test]
fn a_person_turned_down_or_muted_for_me_is_mixed_so_and_it_is_remembered() {
    let server = Server::start();
    let (ada_token, bob_token) = server.friends("ada", "bob");
    let room_id = server.room_with(&ada_token, "Quiet please", &[&bob_token]);
    let bob_id = server.user_id(&bob_token);
    let media = MediaSettings {
        camera: Pick::Off,
        screen: Pick::Off,
        microphone: Pick::Off,
        speaker: Pick::Synthetic,
        ..MediaSettings::default()
    };
    let join = |persisted: Persisted| {
        let restarted = persisted.session.is_some();
        let mut ada = app(persisted);
        if !restarted {
            log_in(&mut ada, &server.url(), "ada", false);
        }
        // Bob may already be in its call: "Quiet please, 2 members, 1 in the call".
        wait_within(&mut ada, Duration::from_secs(15), "the room", |h| {
            shows_part(h, "Quiet please, 2 members")
        });
        ada.get_by_label_contains("Quiet please, 2 members").click();
        ada.run_steps(3);
        wait_within(&mut ada, Duration::from_secs(15), "the call bar", |h| shows(h, "Join the call"));
        click(&mut ada, "Join the call");
        ada
    };
    // Bob: a steady tone as sent (no processing), no camera; he stays until told.
    let bob_media = MediaOptions {
        tone_hz: Some(660.0),
        video: VideoChoice::None,
        audio_processing: concord_media::voice::VoiceSettings::OFF,
        ..MediaOptions::default()
    };
    let (stop_bob, bob_stop) = tokio::sync::oneshot::channel::<()>();
    let bob = bot_until(&server, "bob", bob_media, 90, room_id, async {
        let _ = bob_stop.await;
    });

    let mut ada = join(Persisted { media, ..Persisted::default() });
    wait_within(&mut ada, Duration::from_secs(30), "bob heard", |h| {
        bob_heard(h, bob_id).is_some_and(|l| l > -30.0)
    });
    let full = bob_heard(&ada, bob_id).unwrap();

    ada.get_by_label_contains("bob's camera").click_secondary();
    ada.run_steps(3);
    for slider in ada.query_all_by_label("Volume") {
        slider.set_value_accesskit(50.0);
    }
    ada.run_steps(3);
    assert_eq!(ada.state().state().persisted.media.volume(bob_id).percent, 50);
    wait_within(&mut ada, Duration::from_secs(10), "bob at 50 %", |h| {
        bob_heard(h, bob_id).is_some_and(|l| (l - (full - 6.0)).abs() < 1.0)
    });

    click(&mut ada, "Mute for me");
    wait_within(&mut ada, Duration::from_secs(10), "bob muted for ada", |h| {
        bob_heard(h, bob_id).is_some_and(|l| l < -100.0)
    });
    assert!(ada.state().state().persisted.media.volume(bob_id).muted);

    // A restart: the app comes back from what it saved; the next call has bob muted from the start.
    let saved = ada.state().state().persisted.clone();
    click(&mut ada, "Leave the call");
    drop(ada);
    let mut ada = join(saved);
    wait_within(&mut ada, Duration::from_secs(30), "bob mixed, muted", |h| {
        bob_heard(h, bob_id).is_some_and(|l| l < -100.0)
    });
    assert!(ada.state().state().persisted.media.volume(bob_id).muted);
    click(&mut ada, "Leave the call");
    let _ = stop_bob.send(());
    let bob = server.runtime.block_on(bob).unwrap();
    assert!(bob.errors.is_empty(), "{:?}", bob.errors);
}

/// Push-to-talk in the window: with the mode on and the key (F8) up, ada's
/// test tone is not sent and nobody sees her speak; held, the meter says
/// "sending" and the server's speaking ring lights for her on her own
/// screen; let go, both go out again after the short release delay.
#[test]
fn push_to_talk_sends_only_while_the_key_is_held_and_the_speaking_ring_follows() {
    let server = Server::start();
    let (ada_token, bob_token) = server.friends("ada", "bob");
    let room_id = server.room_with(&ada_token, "Radio", &[&bob_token]);
    let ada_id = server.user_id(&ada_token);
    let mut ada =
        app(Persisted { media: support::push_to_talk_with_the_test_tone(), ..Persisted::default() });
    log_in(&mut ada, &server.url(), "ada", false);
    wait_within(&mut ada, Duration::from_secs(15), "the room", |h| shows_part(h, "Radio, 2 members"));
    ada.get_by_label_contains("Radio, 2 members").click();
    ada.run_steps(3);
    wait_within(&mut ada, Duration::from_secs(15), "the call bar", |h| shows(h, "Join the call"));
    click(&mut ada, "Join the call");
    // Bob listens, so ada's track is forwarded to someone.
    let (stop_bob, bob_stop) = tokio::sync::oneshot::channel::<()>();
    let listener = MediaOptions { tone_hz: None, video: VideoChoice::None, ..MediaOptions::default() };
    let bob = bot_until(&server, "bob", listener, 90, room_id, async {
        let _ = bob_stop.await;
    });
    let sending = |h: &egui_kittest::Harness<'_, concord_gui::ConcordApp>| {
        h.state().state().call.as_ref().and_then(|c| c.input_level).map(|l| l.sending)
    };
    let speaking = |h: &egui_kittest::Harness<'_, concord_gui::ConcordApp>| {
        h.state().state().is_speaking(room_id, ada_id)
    };
    wait_within(&mut ada, Duration::from_secs(30), "the tone measured, not sent", |h| {
        sending(h) == Some(false)
    });
    assert!(!speaking(&ada));

    ada.key_down(egui::Key::F8);
    wait_within(&mut ada, Duration::from_secs(10), "the key held: sending", |h| sending(h) == Some(true));
    wait_within(&mut ada, Duration::from_secs(10), "her speaking ring", speaking);
    ada.key_up(egui::Key::F8);
    wait_within(&mut ada, Duration::from_secs(10), "let go: not sending", |h| sending(h) == Some(false));
    wait_within(&mut ada, Duration::from_secs(10), "her ring out", |h| !speaking(h));

    click(&mut ada, "Leave the call");
    let _ = stop_bob.send(());
    let bob = server.runtime.block_on(bob).unwrap();
    assert!(bob.errors.is_empty(), "{:?}", bob.errors);
}
