//! A MariaDB server of the test's own (`mariadbd` on a fresh data directory
//! and a free port), which a test can kill and start again without touching
//! the machine's MariaDB that the other tests share.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::unique;

/// How long a fresh or restarted server may take to answer.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// A `mariadbd` child process.
pub struct MariaDbServer {
    child: Option<Child>,
    /// Its data directory (removed when it is dropped).
    pub dir: PathBuf,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl MariaDbServer {
    /// Makes a data directory (`mariadb-install-db`; root without a password),
    /// starts the server on a free port and waits until it answers.
    pub fn start() -> MariaDbServer {
        let dir = std::env::temp_dir().join(unique("concord-mariadb"));
        std::fs::create_dir_all(&dir).unwrap();
        let install = Command::new("mariadb-install-db")
            .args([
                "--no-defaults",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--user=root",
            ])
            .arg(format!("--datadir={}", dir.join("data").display()))
            .stdout(Stdio::null())
            .output()
            .expect("mariadb-install-db is installed (Debian's mariadb-server)");
        assert!(install.status.success(), "mariadb-install-db: {}", String::from_utf8_lossy(&install.stderr));
        let port = crate::balancer::free_port();
        let mut server = MariaDbServer { child: None, dir, port };
        server.resume();
        server
    }

    /// `mysql://root@127.0.0.1:PORT` (no database).
    pub fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}", self.port)
    }

    /// Kills it (SIGKILL): every connection drops; what was committed stays
    /// on disk (InnoDB flushes its log at each commit).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it (again) on the same data and port, and waits until it
    /// answers (after crash recovery, if it was killed).
    pub fn resume(&mut self) {
        let data = self.dir.join("data");
        let child = Command::new("mariadbd")
            .args(["--no-defaults", "--user=root", "--bind-address=127.0.0.1", "--skip-name-resolve"])
            .args(["--innodb-buffer-pool-size=128M", "--max-connections=500"])
            .arg(format!("--port={}", self.port))
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", self.dir.join("mariadb.sock").display()))
            .arg(format!("--pid-file={}", self.dir.join("mariadb.pid").display()))
            .arg(format!("--log-error={}", self.dir.join("error.log").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mariadbd is installed (Debian's mariadb-server)");
        self.child = Some(child);
        let deadline = Instant::now() + START_DEADLINE;
        while Instant::now() < deadline {
            if self.answers() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default();
        panic!("mariadbd did not answer on {} within {START_DEADLINE:?}: {log}", self.port);
    }

    /// Whether it accepts a connection and a query now.
    fn answers(&self) -> bool {
        Command::new("mariadb")
            .args(["--no-defaults", "-h127.0.0.1", "-uroot", "-e", "SELECT 1"])
            .arg(format!("-P{}", self.port))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    }
}

impl Drop for MariaDbServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
