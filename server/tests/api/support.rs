//! Shared fixtures: start a server on a free port with a fresh database,
//! register users, call the API, and read websocket events.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use concord_common::{AuthResponse, ClientEvent, ClientFrame, ServerEvent, ServerFrame, User, UserId};
use futures_util::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use rocket::figment::Figment;
use serde_json::{json, Value};
use sqlx::Connection;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The signing secret every test server uses, so tests can mint tokens.
pub const SECRET: &str = "test-secret-test-secret-test-secret-0123456789";
/// How long a test waits for an event that should come.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(5);

/// Which database a test server uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    MariaDb,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name no other test (or test run) uses.
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}_{}_{}_{n}", std::process::id(), rand::random::<u32>())
}

/// MariaDB server URL (no database), `CONCORD_TEST_MYSQL_URL` or the local default.
pub fn mysql_server_url() -> String {
    std::env::var("CONCORD_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// A database created for one test and dropped afterwards.
pub struct Database {
    pub url: String,
    mysql_name: Option<String>,
    pub dir: PathBuf,
}

impl Database {
    pub async fn create(backend: Backend) -> Database {
        let dir = std::env::temp_dir().join(unique("concord-test"));
        std::fs::create_dir_all(&dir).unwrap();
        match backend {
            Backend::Sqlite => Database {
                url: format!("sqlite://{}?mode=rwc", dir.join("concord.db").display()),
                mysql_name: None,
                dir,
            },
            Backend::MariaDb => {
                let name = unique("concord_test");
                let mut conn =
                    sqlx::MySqlConnection::connect(&mysql_server_url()).await.unwrap_or_else(|e| {
                        panic!(
                            "MariaDB is not reachable at {} ({e}). Start it, set CONCORD_TEST_MYSQL_URL, \
                         or set CONCORD_TEST_SKIP_MYSQL=1 to run the SQLite half only.",
                            mysql_server_url()
                        )
                    });
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                )))
                .execute(&mut conn)
                .await
                .unwrap();
                Database { url: format!("{}/{name}", mysql_server_url()), mysql_name: Some(name), dir }
            }
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(name) = self.mysql_name.take() {
            // Drop runs outside async context: use a private runtime on a thread.
            let _ = std::thread::Builder::new()
                .name("drop-test-db".into())
                .spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                    rt.block_on(async move {
                        if let Ok(mut conn) = sqlx::MySqlConnection::connect(&mysql_server_url()).await {
                            let _ =
                                sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}")))
                                    .execute(&mut conn)
                                    .await;
                        }
                    });
                })
                .map(|h| h.join());
        }
    }
}

/// A running server.
pub struct TestServer {
    pub base: String,
    pub port: u16,
    pub http: reqwest::Client,
    /// `None` for a server running in another process.
    server: Option<concord_server::launch::RunningServer>,
}

/// Settings every test server gets; `extra` overrides them.
pub fn test_figment(db_url: &str, data_dir: &std::path::Path, port: u16) -> Figment {
    Figment::new()
        .merge(("address", "127.0.0.1"))
        .merge(("port", port))
        .merge(("log_level", "off"))
        .merge(("workers", 4))
        .merge(("shutdown.grace", 1))
        .merge(("shutdown.mercy", 1))
        .merge(("shutdown.ctrlc", false))
        .merge(("data_dir", data_dir.display().to_string()))
        .merge(("jwt_secret", SECRET))
        .merge(("databases.main.url", db_url))
        .merge(("databases.main.max_connections", 8))
}

impl TestServer {
    /// Starts a server on `db` with test settings plus `extra`.
    pub async fn start_on(db: &Database, extra: Figment) -> TestServer {
        let figment = test_figment(&db.url, &db.dir, 0).merge(extra);
        let server = concord_server::launch::start(figment).await.unwrap();
        TestServer {
            base: server.base_url(),
            port: server.port,
            http: reqwest::Client::new(),
            server: Some(server),
        }
    }

    /// Waits until the server counts `n` open websockets (`/api/health`).
    pub async fn wait_for_connections(&self, n: u64) {
        let deadline = tokio::time::Instant::now() + EVENT_TIMEOUT;
        loop {
            let (_, health) = self.call(Method::GET, "/api/health", None, None).await;
            if health["connections"] == n {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "never {n} connections: {health}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// A client of a server running elsewhere (another process) on `port`.
    pub fn remote(port: u16) -> TestServer {
        TestServer {
            base: format!("http://127.0.0.1:{port}"),
            port,
            http: reqwest::Client::new(),
            server: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the server and waits until it has let go of its port.
    pub async fn stop(self) {
        if let Some(server) = self.server {
            server.stop().await;
        }
    }

    /// Sends a request; returns the status and the JSON body (`Null` if empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON body ({status}): {text}"))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// `POST /api/auth/login`; returns the status and body.
    pub async fn login(
        &self,
        email: impl serde::Serialize,
        password: impl serde::Serialize,
    ) -> (StatusCode, Value) {
        let body = json!({"email": email, "password": password});
        self.call(Method::POST, "/api/auth/login", None, Some(body)).await
    }

    /// Registers a fresh account.
    pub async fn register(&self, name: &str) -> Account {
        let email = format!("{}@example.com", unique(name).to_lowercase());
        let (status, body) = self
            .call(
                Method::POST,
                "/api/auth/register",
                None,
                Some(json!({"email": email, "username": name, "password": "correct horse"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let auth: AuthResponse = serde_json::from_value(body).unwrap();
        Account { token: auth.token, user: auth.user }
    }

    /// Makes `a` and `b` friends through the API.
    pub async fn befriend(&self, a: &Account, b: &Account) {
        let (status, body) = self.post("/api/invites", &a.token, json!({"email": b.user.email})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let id = body["invite"]["id"].as_str().unwrap().to_owned();
        let (status, body) = self.post(&format!("/api/invites/{id}/accept"), &b.token, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// Sends a DM; returns the status and body.
    pub async fn send_dm(
        &self,
        from: &Account,
        to: UserId,
        content: &str,
        nonce: &str,
    ) -> (StatusCode, Value) {
        self.post(
            &format!("/api/dms/{to}/messages"),
            &from.token,
            json!({"content": content, "nonce": nonce}),
        )
        .await
    }

    /// Opens a websocket and identifies; returns it with its `ready` event.
    pub async fn connect(&self, account: &Account) -> (Ws, ServerEvent) {
        let mut ws = self.ws().await;
        ws.send(&ClientEvent::Identify { token: account.token.clone() }).await;
        let ready = ws.next().await;
        assert!(matches!(ready, ServerEvent::Ready { .. }), "expected ready, got {ready:?}");
        (ws, ready)
    }

    /// Opens a websocket without identifying.
    pub async fn ws(&self) -> Ws {
        let (stream, _) =
            tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/api/ws", self.port)).await.unwrap();
        Ws { stream }
    }
}

/// A registered user.
#[derive(Clone, Debug)]
pub struct Account {
    pub token: String,
    pub user: User,
}

impl Account {
    pub fn id(&self) -> UserId {
        self.user.id
    }
}

/// A test websocket client.
pub struct Ws {
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Ws {
    pub async fn send(&mut self, event: &ClientEvent) {
        self.send_text(&serde_json::to_string(event).unwrap()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.stream.send(Message::text(text)).await.unwrap();
    }

    /// Sends `event` with a `request_id`.
    pub async fn send_request(&mut self, request_id: &str, event: ClientEvent) {
        let frame = ClientFrame { request_id: Some(request_id.to_owned()), event };
        self.send_text(&serde_json::to_string(&frame).unwrap()).await;
    }

    /// The next frame, with its `request_id`, within `wait`; `Err` with the
    /// close code (or `None` for a reset or a timeout) if the socket ended.
    pub async fn next_frame_within(&mut self, wait: Duration) -> Result<ServerFrame, Option<u16>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => {
                    return Ok(serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad frame {text}: {e}")))
                }
                Ok(Some(Ok(Message::Close(frame)))) => return Err(frame.map(|f| f.code.into())),
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(_))) | Ok(None) | Err(_) => return Err(None),
            }
        }
    }

    /// Asserts that the very next frame (within `wait`) is `what`: nothing
    /// else may come first. Returns it.
    pub async fn expect_next_within<F: Fn(&ServerFrame) -> bool>(
        &mut self,
        wait: Duration,
        what: &str,
        pred: F,
    ) -> ServerFrame {
        match self.next_frame_within(wait).await {
            Ok(frame) if pred(&frame) => frame,
            Ok(frame) => panic!("expected {what} next, got {frame:?}"),
            Err(code) => panic!("expected {what} next, but the socket ended (close code {code:?})"),
        }
    }

    /// [`Ws::expect_next_within`] with [`EVENT_TIMEOUT`], on the event alone.
    pub async fn expect_next<F: Fn(&ServerEvent) -> bool>(&mut self, what: &str, pred: F) -> ServerEvent {
        self.expect_next_within(EVENT_TIMEOUT, what, |f| pred(&f.event)).await.event
    }

    /// The next server event (pings skipped); panics after [`EVENT_TIMEOUT`].
    pub async fn next(&mut self) -> ServerEvent {
        match self.try_next(EVENT_TIMEOUT).await {
            Some(event) => event,
            None => panic!("no event within {EVENT_TIMEOUT:?}"),
        }
    }

    /// The next server event within `wait`, if any (`None` on timeout or close).
    pub async fn try_next(&mut self, wait: Duration) -> Option<ServerEvent> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.stream.next()).await.ok()??;
            match frame {
                Ok(Message::Text(text)) => {
                    return Some(
                        serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad event {text}: {e}")),
                    )
                }
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    }

    /// Proves by order that nothing is queued for this connection: sends a
    /// heartbeat with a fresh `request_id` and asserts that its answer is the
    /// very next frame. Effects of a REST call are queued before the call
    /// returns, so this is exact right after one (no waiting for silence).
    pub async fn assert_nothing_queued(&mut self) {
        let marker = unique("nothing-queued");
        self.send_request(&marker, ClientEvent::Heartbeat).await;
        self.expect_next_within(EVENT_TIMEOUT, "the marker heartbeat's answer, nothing before it", |f| {
            f.request_id.as_deref() == Some(marker.as_str())
        })
        .await;
    }

    /// Waits for the server to close the connection; returns the close code.
    pub async fn closed(&mut self) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + EVENT_TIMEOUT;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| f.code.into()),
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(_))) | Ok(None) => return None,
                Err(_) => panic!("the server did not close the websocket"),
            }
        }
    }
}

/// Runs each named `async fn(TestServer)` once on SQLite and once on MariaDB.
macro_rules! both_databases {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use crate::support::{Backend, Database, TestServer};
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = Database::create(Backend::Sqlite).await;
                super::$name(TestServer::start_on(&db, rocket::figment::Figment::new()).await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(skip_mysql, ignore = "CONCORD_TEST_SKIP_MYSQL=1")]
            async fn mariadb() {
                let db = Database::create(Backend::MariaDb).await;
                super::$name(TestServer::start_on(&db, rocket::figment::Figment::new()).await).await;
            }
        }
    )*};
}
pub(crate) use both_databases;
