//! A real Concord server in this process on a port the system picked, with
//! REST helpers; accounts and friendships go through the client library.

use std::time::Duration;

use concord_client::rest::Api;
use concord_common::{
    events, ClientEvent, CreateInviteResponse, RegisterRequest, RoomId, ServerEvent, User, UserId,
};
use reqwest::{Method, StatusCode};
use rocket::figment::Figment;
use serde_json::{json, Value};

use crate::db::{unique, Database};
use crate::ws::{Ws, EVENT_TIMEOUT};

/// The signing secret every test server uses, so tests can mint tokens.
pub const SECRET: &str = "test-secret-test-secret-test-secret-0123456789";

/// The password of every account the kit registers.
pub const PASSWORD: &str = "correct horse";

/// Settings every test server gets (port 0: the system picks one).
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
        // Each test server its own media port (tests run in parallel).
        .merge(("media_udp_address", "127.0.0.1:0"))
}

/// No settings beyond [`test_figment`]'s.
pub fn no_extra() -> Figment {
    Figment::new()
}

/// A registered user.
#[derive(Clone, Debug)]
pub struct Account {
    /// Bearer token.
    pub token: String,
    /// The account as the server returned it.
    pub user: User,
}

impl Account {
    /// The account's id.
    pub fn id(&self) -> UserId {
        self.user.id
    }
}

/// A running server (or a client of one running elsewhere).
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The port it listens on.
    pub port: u16,
    /// A plain HTTP client for calls the typed client does not make (bad input).
    pub http: reqwest::Client,
    /// Its `data_dir` (`None` for a server running in another process).
    pub data_dir: Option<std::path::PathBuf>,
    /// `None` for a server running in another process.
    server: Option<concord_server::launch::RunningServer>,
}

impl TestServer {
    /// Starts a server on `db` with test settings plus `extra`.
    pub async fn start_on(db: &Database, extra: Figment) -> TestServer {
        TestServer::start(test_figment(&db.url, &db.dir, 0).merge(extra)).await.unwrap()
    }

    /// Starts a server with exactly `figment` (a restart passes the old port).
    pub async fn start(figment: Figment) -> Result<TestServer, String> {
        let data_dir = figment.extract_inner("data_dir").ok();
        let server = concord_server::launch::start(figment).await?;
        Ok(TestServer {
            base: server.base_url(),
            port: server.port,
            http: reqwest::Client::new(),
            data_dir,
            server: Some(server),
        })
    }

    /// A client of a server running elsewhere (another process) on `port`.
    pub fn remote(port: u16) -> TestServer {
        TestServer {
            base: format!("http://127.0.0.1:{port}"),
            port,
            http: reqwest::Client::new(),
            data_dir: None,
            server: None,
        }
    }

    /// Stops the server and waits until it has let go of its port.
    pub async fn stop(self) {
        if let Some(server) = self.server {
            server.stop().await;
        }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The typed client library, as `token`'s owner.
    pub fn api(&self, token: Option<&str>) -> Api {
        Api::new(&self.base, token.map(str::to_owned))
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

    /// `GET` as `token`'s owner.
    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    /// `POST` a JSON body as `token`'s owner.
    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// `PATCH` a JSON body as `token`'s owner.
    pub async fn patch(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(token), Some(body)).await
    }

    /// `DELETE` as `token`'s owner.
    pub async fn delete(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// `POST /api/auth/login` with any JSON values; returns the status and body.
    pub async fn login(
        &self,
        email: impl serde::Serialize,
        password: impl serde::Serialize,
    ) -> (StatusCode, Value) {
        let body = json!({"email": email, "password": password});
        self.call(Method::POST, "/api/auth/login", None, Some(body)).await
    }

    /// Registers a fresh account named `name` with an email no one else has.
    pub async fn register(&self, name: &str) -> Account {
        let email = format!("{}@example.com", unique(name).to_lowercase());
        self.register_as(name, &email).await
    }

    /// Registers `name` with exactly `email` (password [`PASSWORD`]).
    pub async fn register_as(&self, name: &str, email: &str) -> Account {
        let request = RegisterRequest {
            email: email.to_owned(),
            username: name.to_owned(),
            password: PASSWORD.to_owned(),
        };
        let auth = self.api(None).register(&request).await.unwrap_or_else(|e| panic!("register {name}: {e}"));
        Account { token: auth.token, user: auth.user }
    }

    /// A room of `n` fresh accounts, `tag-1` … `tag-n` (`tag+k@example.com`),
    /// made by the first, whose friends the others become: the room and
    /// its members, the maker first.
    pub async fn room_of(&self, tag: &str, n: usize) -> (RoomId, Vec<Account>) {
        let mut accounts = Vec::new();
        for i in 1..=n {
            accounts.push(self.register_as(&format!("{tag}-{i}"), &format!("{tag}+{i}@example.com")).await);
        }
        let owner = &accounts[0];
        for other in &accounts[1..] {
            self.befriend(owner, other).await;
        }
        let (status, room) = self.post("/api/rooms", &owner.token, json!({"label": tag})).await;
        assert_eq!(status, 201, "{room}");
        let room_id: RoomId = serde_json::from_value(room["id"].clone()).expect("a room id");
        for other in &accounts[1..] {
            let path = format!("/api/rooms/{room_id}/members");
            let (status, body) = self.post(&path, &owner.token, json!({"user_id": other.id()})).await;
            assert!(status.is_success(), "{body}");
        }
        (room_id, accounts)
    }

    /// Makes `a` and `b` friends: `a` invites, `b` accepts.
    pub async fn befriend(&self, a: &Account, b: &Account) {
        let invite = match self.api(Some(&a.token)).invite(&b.user.email).await {
            Ok(CreateInviteResponse::Invited { invite }) => invite,
            other => panic!("{} invites {}: {other:?}", a.user.username, b.user.username),
        };
        let accept = format!("/api/invites/{}/accept", invite.id);
        self.api(Some(&b.token)).act(Method::POST, &accept).await.unwrap();
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

    /// `ws://127.0.0.1:PORT/api/ws`.
    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/api/ws", self.port)
    }

    /// Opens a websocket and identifies; returns it with its `ready` event.
    pub async fn connect(&self, account: &Account) -> (Ws, ServerEvent) {
        let mut ws = self.ws().await;
        ws.send(&ClientEvent::Identify(events::Identify { token: account.token.clone() })).await;
        let ready = ws.next().await;
        assert!(matches!(ready, ServerEvent::Ready(_)), "expected ready, got {ready:?}");
        (ws, ready)
    }

    /// Opens a websocket without identifying.
    pub async fn ws(&self) -> Ws {
        Ws::connect(&self.ws_url()).await
    }
}
