//! `concord-server` as a child process, for what an in-process server cannot
//! show: a SIGKILL, a refusal to start read from its log, or the memory of
//! the server alone (benchmarks). The port comes from its start-up line.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::server::SECRET;

/// A `concord-server` child process.
pub struct ChildServer {
    child: Child,
    /// Every line it wrote to stderr so far.
    pub log: Arc<Mutex<Vec<String>>>,
    /// The port it listens on, read from its start-up line.
    pub port: u16,
}

/// Environment for a child server on `db_url` with `data_dir`, port 0.
pub fn child_env(db_url: &str, data_dir: &Path) -> Vec<(String, String)> {
    [
        ("ROCKET_ADDRESS", "127.0.0.1".to_owned()),
        ("ROCKET_PORT", "0".to_owned()),
        ("ROCKET_MEDIA_UDP_ADDRESS", "127.0.0.1:0".to_owned()),
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

/// What a media benchmark's server adds to [`child_env`]: one media engine
/// (a room's call on one UDP port) and quiet logs (its CPU is what is measured).
pub fn bench_media_env(env: &mut Vec<(String, String)>) {
    for (key, value) in
        [("ROCKET_MEDIA_ENGINES", "1"), ("ROCKET_LOG_LEVEL", "off"), ("RUST_LOG", "warn,concord_server=info")]
    {
        env.retain(|(k, _)| k != key);
        env.push((key.to_owned(), value.to_owned()));
    }
}

impl ChildServer {
    /// Runs the server binary at `binary` with exactly `env` (no Rocket.toml).
    pub fn spawn(binary: &str, env: &[(String, String)]) -> Result<ChildServer, Vec<String>> {
        let mut command = Command::new(binary);
        command.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        ChildServer::spawn_command(command)
    }

    /// Runs `command` (a server binary, or a shell that execs one) until it
    /// exits or listens; `Err` holds its log if it exited first.
    pub fn spawn_command(mut command: Command) -> Result<ChildServer, Vec<String>> {
        let mut child = command
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
        // Generous: a start that builds the search index of a large history (benches) takes a while.
        let deadline = Instant::now() + Duration::from_secs(240);
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

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then SIGKILL if it has not exited within 10 s (a profiler
    /// wrapping the server writes its report on a graceful exit).
    pub fn terminate(&mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        if self.exit_within(Duration::from_secs(10)).is_none() {
            self.kill();
        }
    }

    /// Waits up to `limit` for it to exit by itself; its exit status, if it did.
    pub fn exit_within(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Log lines containing `needle`.
    pub fn lines_with(&self, needle: &str) -> Vec<String> {
        self.log.lock().unwrap().iter().filter(|l| l.contains(needle)).cloned().collect()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time the process has used so far (user + system).
    pub fn cpu_time(&self) -> Duration {
        let (user, system) = self.cpu_times();
        user + system
    }

    /// CPU time the process has used so far in user space and in the
    /// kernel (its system calls, and what the kernel does on its behalf).
    pub fn cpu_times(&self) -> (Duration, Duration) {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the command name (which may hold spaces) end with ')'.
        let fields: Vec<&str> =
            stat.rsplit_once(')').map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        (Duration::from_millis(ticks(11) * 10), Duration::from_millis(ticks(12) * 10))
    }

    /// Resident memory of the process, in bytes.
    pub fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
    }
}

/// The port in the start-up line ("... listening on http://127.0.0.1:PORT; ...",
/// or https:// with a certificate).
fn listening_port(line: &str) -> Option<u16> {
    let rest =
        line.split("listening on http://").nth(1).or_else(|| line.split("listening on https://").nth(1))?;
    let address = rest.split(';').next()?;
    address.rsplit(':').next()?.parse().ok()
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        self.kill();
    }
}
