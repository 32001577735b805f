//! Servers as separate processes, for faults an in-process server cannot
//! show: `concord-server` killed with SIGKILL, start-up refusals read from
//! its log, and a Redis of the test's own that can be restarted.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::SECRET;

/// A `concord-server` child process.
pub struct ChildServer {
    child: Child,
    /// Every line it wrote to stderr so far.
    pub log: Arc<Mutex<Vec<String>>>,
    /// The port it listens on, read from its start-up line.
    pub port: u16,
}

/// Environment for a child server on `db_url` with `data_dir`.
pub fn child_env(db_url: &str, data_dir: &std::path::Path) -> Vec<(String, String)> {
    [
        ("ROCKET_ADDRESS", "127.0.0.1".to_owned()),
        ("ROCKET_PORT", "0".to_owned()),
        ("ROCKET_LOG_LEVEL", "normal".to_owned()),
        ("ROCKET_JWT_SECRET", SECRET.to_owned()),
        ("ROCKET_DATA_DIR", data_dir.display().to_string()),
        ("ROCKET_DATABASES", format!("{{main={{url=\"{db_url}\"}}}}")),
        ("ROCKET_SHUTDOWN", "{ctrlc=false,grace=1,mercy=1}".to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Runs `concord-server` with `env` until it exits or listens; returns its
/// log lines and, if it listens, the running child.
pub fn spawn_server(env: &[(String, String)]) -> Result<ChildServer, Vec<String>> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_concord-server"))
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env_remove("ROCKET_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("concord-server runs");
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    let lines = log.clone();
    let reader = std::thread::Builder::new().name("child-server-log".into()).spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let port = listening_port(&line);
            lines.lock().unwrap().push(line);
            if let Some(port) = port {
                let _ = port_tx.send(port);
            }
        }
    });
    let reader = reader.expect("a thread to read the child's log");
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(port) = port_rx.recv_timeout(Duration::from_millis(50)) {
            return Ok(ChildServer { child, log, port });
        }
        if let Ok(Some(_)) = child.try_wait() {
            // Exited: the reader ends at the pipe's end, with every line taken.
            let _ = reader.join();
            return Err(log.lock().unwrap().clone());
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("concord-server neither listened nor exited: {:?}", log.lock().unwrap());
}

/// The port in the start-up line ("... listening on http://127.0.0.1:PORT; ...").
fn listening_port(line: &str) -> Option<u16> {
    let rest = line.split("listening on http://").nth(1)?;
    let address = rest.split(';').next()?;
    address.rsplit(':').next()?.parse().ok()
}

impl ChildServer {
    /// SIGKILL: no shutdown code runs.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Log lines containing `needle`.
    pub fn lines_with(&self, needle: &str) -> Vec<String> {
        self.log.lock().unwrap().iter().filter(|l| l.contains(needle)).cloned().collect()
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `redis-server` of the test's own, on a free port, keeping nothing on disk.
pub struct RedisServer {
    child: Option<Child>,
    /// Its port.
    pub port: u16,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut redis = RedisServer { child: None, port };
        redis.resume();
        redis
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it (SIGKILL): every connection drops and all data is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it (again) on the same port, empty, and waits until it answers.
    pub fn resume(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &self.port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (.ci/setup installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not listen on {}", self.port);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
