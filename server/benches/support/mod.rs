//! Shared pieces of the server benchmarks: run the release `concord-server`
//! binary as a child process on a free port, register users, connect
//! websockets, and summarise latencies.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use concord_common::{AuthResponse, ClientEvent, UserId};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

pub const SECRET: &str = "bench-secret-bench-secret-bench-secret-0123456789";

/// A `concord-server` child process.
pub struct ServerProcess {
    child: Child,
    pub port: u16,
    pub base: String,
    pub data_dir: PathBuf,
    pub db_url: String,
    mysql_db: Option<String>,
}

/// `sqlite` or `mariadb`, from `CONCORD_BENCH_DB` (default: both).
pub fn backends() -> Vec<&'static str> {
    match std::env::var("CONCORD_BENCH_DB").as_deref() {
        Ok("sqlite") => vec!["sqlite"],
        Ok("mariadb") => vec!["mariadb"],
        _ => vec!["sqlite", "mariadb"],
    }
}

fn mysql_server_url() -> String {
    std::env::var("CONCORD_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

impl ServerProcess {
    /// Starts the server on a fresh database of kind `backend` with extra
    /// `ROCKET_*` settings.
    pub async fn start(backend: &str, env: &[(&str, &str)]) -> ServerProcess {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let data_dir = std::env::temp_dir().join(format!("concord-bench-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&data_dir).unwrap();
        let (db_url, mysql_db) = match backend {
            "mariadb" => {
                use sqlx::Connection;
                let name = format!("concord_bench_{}_{port}", std::process::id());
                let mut conn = sqlx::MySqlConnection::connect(&mysql_server_url()).await.unwrap();
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                )))
                .execute(&mut conn)
                .await
                .unwrap();
                (format!("{}/{name}", mysql_server_url()), Some(name))
            }
            _ => (format!("sqlite://{}?mode=rwc", data_dir.join("concord.db").display()), None),
        };
        // CONCORD_BENCH_SERVER_BIN runs another build (e.g. an older commit's) under the same load.
        let binary = std::env::var("CONCORD_BENCH_SERVER_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_concord-server").to_owned());
        let mut command = Command::new("sh");
        command
            .arg("-c")
            // CONCORD_BENCH_WRAPPER (e.g. "valgrind --tool=massif") profiles the server.
            .arg(format!(
                "ulimit -n 20000 2>/dev/null; exec {} {binary}",
                std::env::var("CONCORD_BENCH_WRAPPER").unwrap_or_default()
            ))
            .env("ROCKET_CONFIG", data_dir.join("no-such-Rocket.toml"))
            .env("ROCKET_ADDRESS", "127.0.0.1")
            .env("ROCKET_PORT", port.to_string())
            .env("ROCKET_LOG_LEVEL", "off")
            .env("ROCKET_DATA_DIR", &data_dir)
            .env("ROCKET_JWT_SECRET", SECRET)
            .env("ROCKET_DATABASES", format!("{{main={{url=\"{db_url}\"}}}}"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().unwrap();
        let server = ServerProcess {
            child,
            port,
            base: format!("http://127.0.0.1:{port}"),
            data_dir,
            db_url,
            mysql_db,
        };
        let http = reqwest::Client::new();
        for _ in 0..2400 {
            if let Ok(r) = http.get(server.url("/api/health")).send().await {
                if r.status().is_success() {
                    return server;
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("concord-server did not start");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/api/ws", self.port)
    }

    /// Resident memory of the server process, in bytes.
    pub fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // SIGTERM first: a graceful exit lets a profiler wrapper write its report.
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data_dir);
        if let Some(name) = self.mysql_db.take() {
            let _ = Command::new("mysql")
                .args(["-h127.0.0.1", "-uroot", "-e", &format!("DROP DATABASE IF EXISTS {name}")])
                .status();
        }
    }
}

/// A registered account.
#[derive(Clone)]
pub struct Account {
    pub token: String,
    pub id: UserId,
    pub email: String,
}

pub async fn register(http: &reqwest::Client, server: &ServerProcess, name: &str) -> Account {
    let email = format!("{name}@bench.example");
    let response = http
        .post(server.url("/api/auth/register"))
        .json(&json!({"email": email, "username": name, "password": "bench password"}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "register {name}: {}", response.status());
    let auth: AuthResponse = response.json().await.unwrap();
    Account { token: auth.token, id: auth.user.id, email }
}

pub async fn befriend(http: &reqwest::Client, server: &ServerProcess, a: &Account, b: &Account) {
    let invite: serde_json::Value = http
        .post(server.url("/api/invites"))
        .bearer_auth(&a.token)
        .json(&json!({"email": b.email}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = invite["invite"]["id"].as_str().unwrap();
    let response = http
        .post(server.url(&format!("/api/invites/{id}/accept")))
        .bearer_auth(&b.token)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
}

pub type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects and identifies; returns the stream after `ready`.
pub async fn connect(server: &ServerProcess, token: &str) -> WsStream {
    let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
    let (mut ws, _) =
        tokio_tungstenite::connect_async_with_config(server.ws_url(), Some(config), false).await.unwrap();
    let identify = serde_json::to_string(&ClientEvent::Identify { token: token.to_owned() }).unwrap();
    ws.send(Message::text(identify)).await.unwrap();
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) if text.contains("\"ready\"") => return ws,
            Some(Ok(_)) => continue,
            other => panic!("no ready: {other:?}"),
        }
    }
}

/// p50/p90/p99/max of a set of durations, in milliseconds.
pub fn percentiles(samples: &mut [Duration]) -> serde_json::Value {
    samples.sort_unstable();
    let at = |q: f64| {
        if samples.is_empty() {
            return 0.0;
        }
        let index = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[index].as_secs_f64() * 1000.0
    };
    json!({
        "count": samples.len(),
        "p50_ms": round3(at(0.50)),
        "p90_ms": round3(at(0.90)),
        "p99_ms": round3(at(0.99)),
        "max_ms": round3(at(1.0)),
    })
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}
