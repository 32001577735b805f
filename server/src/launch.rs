//! Running a Concord server inside another program — the integration tests of
//! this crate and of the client start real servers on real ports this way.

use std::net::TcpListener;
use std::time::Duration;

use rocket::figment::Figment;

/// A server launched by [`start`]; stops when [`RunningServer::stop`] is
/// called or when dropped.
pub struct RunningServer {
    /// The port it listens on (127.0.0.1 unless configured otherwise).
    pub port: u16,
    shutdown: Option<rocket::Shutdown>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// A TCP port that was free a moment ago.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Builds, ignites and launches the server configured by `figment` (which
/// must name a concrete `port`) on the current tokio runtime, and returns once
/// it accepts connections.
pub async fn start(figment: Figment) -> Result<RunningServer, String> {
    let rocket = crate::build(figment).ignite().await.map_err(|e| format!("server did not start: {e}"))?;
    let port = rocket.config().port;
    let address = rocket.config().address;
    let shutdown = rocket.shutdown();
    let task = tokio::spawn(async move {
        if let Err(e) = rocket.launch().await {
            eprintln!("concord-server: {e}");
        }
    });
    for _ in 0..400 {
        if tokio::net::TcpStream::connect((address, port)).await.is_ok() {
            return Ok(RunningServer { port, shutdown: Some(shutdown), task: Some(task) });
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    shutdown.notify();
    Err(format!("server did not accept connections on port {port}"))
}

impl RunningServer {
    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops the server and waits (up to 10 s) until it has released its port.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            shutdown.notify();
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            shutdown.notify();
        }
    }
}
