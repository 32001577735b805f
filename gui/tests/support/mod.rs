//! Fixtures for the client tests: a real Concord server started in-process on
//! a free port with a temporary SQLite database, and helpers that drive the
//! real app through egui_kittest by accessibility label.

#![allow(dead_code, clippy::unwrap_used)]

pub mod x11;

use std::path::PathBuf;
use std::time::Duration;

use concord_gui::state::Persisted;
use concord_gui::ConcordApp;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use rocket::figment::Figment;

/// How long a test waits for something the user would see.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// A server with its own runtime and data directory, restartable on the same port.
pub struct Server {
    pub runtime: tokio::runtime::Runtime,
    pub port: u16,
    pub dir: PathBuf,
    running: Option<concord_server::launch::RunningServer>,
}

impl Server {
    pub fn start() -> Server {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let dir = std::env::temp_dir().join(format!(
            "concord-gui-test-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        // Port 0 on the first start: the system picks a free one, which
        // later restarts reuse so clients find the server where it was.
        let mut server = Server { runtime, port: 0, dir, running: None };
        server.resume();
        server
    }

    fn figment(&self) -> Figment {
        Figment::new()
            .merge(("address", "127.0.0.1"))
            .merge(("port", self.port))
            .merge(("log_level", "off"))
            .merge(("shutdown.grace", 1))
            .merge(("shutdown.mercy", 1))
            .merge(("shutdown.ctrlc", false))
            .merge(("data_dir", self.dir.display().to_string()))
            .merge((
                "databases.main.url",
                format!("sqlite://{}?mode=rwc", self.dir.join("concord.db").display()),
            ))
    }

    /// Starts (again) on the same port and data (any free port the first time).
    pub fn resume(&mut self) {
        let figment = self.figment();
        let mut last = String::new();
        for _ in 0..50 {
            match self.runtime.block_on(concord_server::launch::start(figment.clone())) {
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

    /// Calls the public API directly (as a second client or a bot would).
    pub fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> serde_json::Value {
        let url = format!("{}{path}", self.url());
        self.runtime.block_on(async move {
            let mut request = reqwest::Client::new().request(method, url);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request.send().await.unwrap();
            let status = response.status();
            let text = response.text().await.unwrap();
            assert!(status.is_success(), "{path}: {status} {text}");
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
        })
    }

    /// Registers an account through the API; returns (token, user id).
    pub fn register(&self, name: &str) -> (String, String) {
        let body = serde_json::json!({"email": format!("{name}@example.com"), "username": name, "password": "correct horse"});
        let auth = self.api(reqwest::Method::POST, "/api/auth/register", None, Some(body));
        (auth["token"].as_str().unwrap().to_owned(), auth["user"]["id"].as_str().unwrap().to_owned())
    }
}

impl Server {
    /// Registers two accounts and makes them friends; returns their tokens.
    pub fn friends(&self, a: &str, b: &str) -> (String, String) {
        let (a_token, _) = self.register(a);
        let (b_token, _) = self.register(b);
        self.befriend(&a_token, b, &b_token);
        (a_token, b_token)
    }

    /// `a` invites `b` (by name) and `b` accepts, through the API.
    pub fn befriend(&self, a_token: &str, b: &str, b_token: &str) {
        let body = serde_json::json!({"email": format!("{b}@example.com")});
        let invite = self.api(reqwest::Method::POST, "/api/invites", Some(a_token), Some(body));
        let id = invite["invite"]["id"].as_str().unwrap();
        self.api(reqwest::Method::POST, &format!("/api/invites/{id}/accept"), Some(b_token), None);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The real app in a kittest harness.
pub fn app(persisted: Persisted) -> Harness<'static, ConcordApp> {
    Harness::builder()
        .with_size(egui::vec2(1000.0, 700.0))
        .build_eframe(move |cc| ConcordApp::with_persisted(cc.egui_ctx.clone(), persisted))
}

/// Steps frames until `done` holds; panics after [`PATIENCE`].
pub fn wait_for(
    harness: &mut Harness<'_, ConcordApp>,
    what: &str,
    done: impl Fn(&Harness<'_, ConcordApp>) -> bool,
) {
    let deadline = std::time::Instant::now() + PATIENCE;
    while std::time::Instant::now() < deadline {
        harness.step();
        if done(harness) {
            harness.step();
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("timed out waiting for: {what}");
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
