//! Fixtures for the client tests: a real Concord server from the shared test
//! kit (in-process, free port, temporary SQLite database), and helpers that
//! drive the real app through egui_kittest by accessibility label.

#![allow(dead_code, clippy::unwrap_used)]

pub mod x11;

use std::time::Duration;

use concord_gui::state::Persisted;
use concord_gui::ConcordApp;
use concord_testkit::{test_figment, Backend, Database, TestServer};
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;

/// How long a test waits for something the user would see.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// A server from the shared test kit on SQLite, with its own runtime (the
/// app's tests are synchronous), restartable on the same port and data.
pub struct Server {
    pub runtime: tokio::runtime::Runtime,
    pub port: u16,
    db: Database,
    running: Option<TestServer>,
    /// The web client it serves, if any.
    web_root: Option<std::path::PathBuf>,
}

impl Server {
    pub fn start() -> Server {
        Server::start_serving(None)
    }

    /// A server that also serves the web client built in `web_root`.
    pub fn start_serving(web_root: Option<std::path::PathBuf>) -> Server {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let db = runtime.block_on(Database::create(Backend::Sqlite));
        // Port 0 on the first start: the system picks a free one, which
        // later restarts reuse so clients find the server where it was.
        let mut server = Server { runtime, port: 0, db, running: None, web_root };
        server.resume();
        server
    }

    /// Starts (again) on the same port and data (any free port the first time).
    pub fn resume(&mut self) {
        let mut figment = test_figment(&self.db.url, &self.db.dir, self.port);
        if let Some(root) = &self.web_root {
            figment = figment.merge(("web_root", root.display().to_string()));
        }
        let mut last = String::new();
        for _ in 0..50 {
            match self.runtime.block_on(TestServer::start(figment.clone())) {
                Ok(running) => {
                    self.port = running.port;
                    self.running = Some(running);
                    return;
                }
                // The port may still be held for a moment after a stop.
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("server did not restart: {last}");
    }

    /// Stops the server (its data stays).
    pub fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            self.runtime.block_on(running.stop());
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn client(&self) -> &TestServer {
        self.running.as_ref().expect("the server is running")
    }

    /// Calls the public API directly (as a second client or a bot would);
    /// the call must succeed.
    pub fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> serde_json::Value {
        let (status, value) = self.runtime.block_on(self.client().call(method, path, token, body));
        assert!(status.is_success(), "{path}: {status} {value}");
        value
    }

    /// A websocket of `token`'s owner (another device or a bot) that joins
    /// `room`'s call muted; dropping it leaves the call.
    pub fn join_call(&self, token: &str, room: &str) -> concord_testkit::Ws {
        use concord_common::events::{CallJoin, CallMedia};
        let url = format!("ws://127.0.0.1:{}/api/ws", self.port);
        self.runtime.block_on(async {
            let mut ws = concord_testkit::Ws::identified_lean(&url, token).await;
            let media = CallMedia { muted: true, ..Default::default() };
            ws.send_request(
                "join",
                concord_common::ClientEvent::CallJoin(CallJoin { room_id: room.parse().unwrap(), media }),
            )
            .await;
            // Its own arrival, as every member's device hears it, then the answer.
            ws.expect_next("call_participant_joined", |e| {
                matches!(e, concord_common::ServerEvent::CallParticipantJoined(_))
            })
            .await;
            ws.expect_next_within(concord_testkit::EVENT_TIMEOUT, "call_joined", |f| {
                f.request_id.as_deref() == Some("join")
            })
            .await;
            ws
        })
    }

    /// Registers `name` as `NAME@example.com` (what [`log_in`] types);
    /// returns (token, user id).
    pub fn register(&self, name: &str) -> (String, String) {
        let account = self.runtime.block_on(self.client().register_as(name, &format!("{name}@example.com")));
        (account.token, account.user.id.to_string())
    }

    /// Registers two accounts and makes them friends; returns their tokens.
    pub fn friends(&self, a: &str, b: &str) -> (String, String) {
        let (a_token, _) = self.register(a);
        let (b_token, _) = self.register(b);
        self.befriend(&a_token, b, &b_token);
        (a_token, b_token)
    }

    /// Ada, friends with bob and with carol; returns their tokens.
    pub fn ada_bob_and_carol(&self) -> (String, String, String) {
        let (ada, bob) = self.friends("ada", "bob");
        let (carol, _) = self.register("carol");
        self.befriend(&ada, "carol", &carol);
        (ada, bob, carol)
    }

    /// The id of `token`'s owner.
    pub fn user_id(&self, token: &str) -> concord_common::UserId {
        let me = self.api(reqwest::Method::GET, "/api/users/me", Some(token), None);
        me["id"].as_str().unwrap().parse().unwrap()
    }

    /// `owner` makes a room called `label` and adds the owners of `members`
    /// (the owner's friends); returns its id.
    pub fn room_with(&self, owner: &str, label: &str, members: &[&str]) -> concord_common::RoomId {
        let body = serde_json::json!({ "label": label });
        let room = self.api(reqwest::Method::POST, "/api/rooms", Some(owner), Some(body));
        let room_id: concord_common::RoomId = room["id"].as_str().unwrap().parse().unwrap();
        for member in members {
            let body = serde_json::json!({ "user_id": self.user_id(member).to_string() });
            self.api(
                reqwest::Method::POST,
                &format!("/api/rooms/{room_id}/members"),
                Some(owner),
                Some(body),
            );
        }
        room_id
    }

    /// `a` invites `b` (by name) and `b` accepts, through the client library.
    pub fn befriend(&self, a_token: &str, b: &str, b_token: &str) {
        let client = self.client();
        self.runtime.block_on(async {
            let invite = match client.api(Some(a_token)).invite(&format!("{b}@example.com")).await {
                Ok(concord_common::CreateInviteResponse::Invited { invite }) => invite,
                other => panic!("invite {b}: {other:?}"),
            };
            let accept = format!("/api/invites/{}/accept", invite.id);
            client.api(Some(b_token)).act(reqwest::Method::POST, &accept).await.unwrap();
        });
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The real app in a kittest harness.
pub fn app(persisted: Persisted) -> Harness<'static, ConcordApp> {
    Harness::builder()
        .with_size(egui::vec2(1000.0, 700.0))
        .build_eframe(move |cc| ConcordApp::with_persisted(cc.egui_ctx.clone(), persisted))
}

/// Devices for the push-to-talk tests: the test tone as the microphone,
/// push-to-talk on (the default key, F8), nothing else.
pub fn push_to_talk_with_the_test_tone() -> concord_gui::settings::MediaSettings {
    use concord_gui::settings::{InputModeChoice, MediaSettings, Pick, VoiceChoices};
    MediaSettings {
        camera: Pick::Off,
        screen: Pick::Off,
        microphone: Pick::Synthetic,
        speaker: Pick::Off,
        voice: VoiceChoices { input_mode: InputModeChoice::PushToTalk, ..VoiceChoices::default() },
        ..MediaSettings::default()
    }
}

/// Steps frames until `done` holds; panics after [`PATIENCE`].
pub fn wait_for(
    harness: &mut Harness<'_, ConcordApp>,
    what: &str,
    done: impl Fn(&Harness<'_, ConcordApp>) -> bool,
) {
    wait_for_within(harness, PATIENCE, what, done, |_| String::new());
}

/// Steps frames until `done` holds; after `within`, panics saying what was
/// awaited and what `scene` reads off the screen then.
pub fn wait_for_within(
    harness: &mut Harness<'_, ConcordApp>,
    within: Duration,
    what: &str,
    done: impl Fn(&Harness<'_, ConcordApp>) -> bool,
    scene: impl Fn(&Harness<'_, ConcordApp>) -> String,
) {
    let deadline = std::time::Instant::now() + within;
    while std::time::Instant::now() < deadline {
        harness.step();
        if done(harness) {
            harness.step();
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("timed out waiting for: {what} {}", scene(harness));
}

/// Whether a widget with exactly this accessible label is on screen.
pub fn shows(harness: &Harness<'_, ConcordApp>, label: &str) -> bool {
    harness.query_by_label(label).is_some()
}

/// Types into the field labelled `label`.
pub fn type_into(harness: &mut Harness<'_, ConcordApp>, label: &str, text: &str) {
    harness.get_by_label(label).click();
    harness.step();
    harness.get_by_label(label).type_text(text);
    harness.step();
    harness.step();
}

/// Clicks the widget labelled `label`.
pub fn click(harness: &mut Harness<'_, ConcordApp>, label: &str) {
    harness.get_by_label(label).click();
    // One frame handles the click, the next shows its result.
    harness.step();
    harness.step();
}

/// Presses a key in the focused widget.
pub fn press(harness: &mut Harness<'_, ConcordApp>, key: egui::Key) {
    harness.key_press(key);
    harness.step();
    harness.step();
}

/// Goes through the first-run screen and logs in (or registers) through the UI.
pub fn log_in(harness: &mut Harness<'_, ConcordApp>, server: &str, name: &str, register: bool) {
    wait_for(harness, "the first-run screen", |h| shows(h, "Server address"));
    harness.get_by_label("Server address").click();
    harness.step();
    // Replace the suggested address.
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    harness.get_by_label("Server address").type_text(server);
    harness.step();
    click(harness, "Continue");
    if register {
        click(harness, "New here? Create an account");
    }
    type_into(harness, "Email", &format!("{name}@example.com"));
    if register {
        type_into(harness, "Username", name);
    }
    type_into(harness, "Password", "correct horse");
    click(harness, if register { "Create account" } else { "Log in" });
    wait_for(harness, "the main screen, connected", |h| {
        h.state().state().logged_in()
            && h.state().state().connection == Some(concord_gui::net::Connection::Online)
    });
}
