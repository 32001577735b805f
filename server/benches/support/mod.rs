//! What the server benchmarks add to the shared test kit: the release
//! `concord-server` binary (or `CONCORD_BENCH_SERVER_BIN`) as a child process
//! on a fresh database, so its memory is the server's alone.

#![allow(dead_code, clippy::unwrap_used)]

use std::ops::Deref;
use std::process::Command;

use concord_testkit::process::{child_env, ChildServer};
use concord_testkit::{Backend, Database, TestServer};

/// A `concord-server` child process with its own database; derefs to a
/// [`TestServer`] client of it (register, befriend, call, ...).
pub struct ServerProcess {
    client: TestServer,
    process: ChildServer,
    /// The database URL it runs on.
    pub db_url: String,
    db: Database,
}

/// `sqlite` or `mariadb`, from `CONCORD_BENCH_DB` (default: both).
pub fn backends() -> Vec<Backend> {
    match std::env::var("CONCORD_BENCH_DB").as_deref() {
        Ok("sqlite") => vec![Backend::Sqlite],
        Ok("mariadb") => vec![Backend::MariaDb],
        _ => vec![Backend::Sqlite, Backend::MariaDb],
    }
}

impl ServerProcess {
    /// Starts the server on a fresh database of kind `backend` with extra
    /// `ROCKET_*` settings.
    pub async fn start(backend: Backend, extra_env: &[(&str, &str)]) -> ServerProcess {
        let db = Database::create(backend).await;
        let process = spawn(&db, extra_env);
        ServerProcess { client: TestServer::remote(process.port), process, db_url: db.url.clone(), db }
    }

    /// Stops the server and starts it again on the same database (what it
    /// does at start-up is then measured by the wait).
    pub fn restart(&mut self, extra_env: &[(&str, &str)]) {
        self.process.terminate();
        self.process = spawn(&self.db, extra_env);
        self.client = TestServer::remote(self.process.port);
    }

    /// Resident memory of the server process, in bytes.
    pub fn rss_bytes(&self) -> u64 {
        self.process.rss_bytes()
    }
}

/// The server binary on `db`, started, with extra `ROCKET_*` settings.
fn spawn(db: &Database, extra_env: &[(&str, &str)]) -> ChildServer {
    // CONCORD_BENCH_SERVER_BIN runs another build (e.g. an older commit's) under the same load.
    let binary = std::env::var("CONCORD_BENCH_SERVER_BIN")
        .ok()
        .filter(|bin| !bin.is_empty())
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_concord-server").to_owned());
    // CONCORD_BENCH_WRAPPER (e.g. "valgrind --tool=massif") profiles the server.
    let wrapper = std::env::var("CONCORD_BENCH_WRAPPER").unwrap_or_default();
    let mut command = Command::new("sh");
    command.arg("-c").arg(format!("ulimit -n \"$(ulimit -Hn)\" 2>/dev/null; exec {wrapper} {binary}"));
    for (key, value) in child_env(&db.url, &db.dir) {
        command.env(key, value);
    }
    // The start-up line (for the port) and warnings; no per-request lines.
    command.env("RUST_LOG", "warn,concord_server=info");
    for (key, value) in extra_env {
        command.env(key, value);
    }
    ChildServer::spawn_command(command).unwrap_or_else(|log| panic!("{log:#?}"))
}

impl Deref for ServerProcess {
    type Target = TestServer;
    fn deref(&self) -> &TestServer {
        &self.client
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // Gracefully, so a profiler wrapper writes its report; the database goes after.
        self.process.terminate();
    }
}

/// Id of the first message [`seed_dms`] writes (below any the server mints now).
pub const FIRST_SEEDED_ID: i64 = 1_000_000_000;

/// Writes `count` direct messages straight into the database at `db_url`
/// (the API would take hours), 1,000 rows an INSERT and 20 INSERTs a
/// transaction: message `n` gets id `FIRST_SEEDED_ID + n`, nonce `s{n}`,
/// the (sender, recipient, text) `message(n)` gives, and a time `n` ms after
/// the first. The text goes into the SQL as it is: no quotes in it.
pub async fn seed_dms(db_url: &str, count: usize, message: impl Fn(usize) -> (i64, i64, String)) {
    use sqlx::Executor;
    const ROWS_PER_INSERT: usize = 1000;
    let pool = sqlx::AnyPool::connect(db_url).await.unwrap();
    let mut done = 0;
    while done < count {
        let mut tx = pool.begin().await.unwrap();
        for _ in 0..20 {
            if done >= count {
                break;
            }
            let rows = ROWS_PER_INSERT.min(count - done);
            let values: Vec<String> = (done..done + rows)
                .map(|n| {
                    let (sender, recipient, text) = message(n);
                    let (low, high) = (sender.min(recipient), sender.max(recipient));
                    let id = FIRST_SEEDED_ID + n as i64;
                    let at = 1_700_000_000_000i64 + n as i64;
                    format!("({id},{low},{high},{sender},{recipient},'s{n}','{text}',{at})")
                })
                .collect();
            let sql = format!(
                "INSERT INTO direct_messages (id, user_low, user_high, sender_id, recipient_id, nonce, content, \
                 created_at_ms) VALUES {}",
                values.join(",")
            );
            tx.execute(sqlx::AssertSqlSafe(sql)).await.unwrap();
            done += rows;
        }
        tx.commit().await.unwrap();
    }
    pool.close().await;
}

/// A raw websocket stream.
pub type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects with small buffers and identifies; returns the stream after `ready`.
pub async fn connect(server: &ServerProcess, token: &str) -> WsStream {
    concord_testkit::Ws::identified_lean(&server.ws_url(), token).await.stream
}
