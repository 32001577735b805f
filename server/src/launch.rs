//! Running a Concord server inside another program — the integration tests of
//! this crate and of the client start real servers on real ports this way.

use std::time::Duration;

use rocket::fairing::AdHoc;
use rocket::figment::Figment;
use tokio::sync::oneshot;

/// A server launched by [`start`]; stops when [`RunningServer::stop`] is
/// called or when dropped.
pub struct RunningServer {
    /// The port it listens on (127.0.0.1 unless configured otherwise).
    pub port: u16,
    shutdown: Option<rocket::Shutdown>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Builds, ignites and launches the server configured by `figment` on the
/// current tokio runtime, and returns once it listens. With `port = 0` the
/// system picks a free port, reported in [`RunningServer::port`].
pub async fn start(figment: Figment) -> Result<RunningServer, String> {
    let (bound_tx, bound) = oneshot::channel();
    let bound_tx = std::sync::Mutex::new(Some(bound_tx));
    let report_port = AdHoc::on_liftoff("Report the bound port", move |rocket| {
        let port = rocket.config().port;
        if let Some(tx) = crate::lock(&bound_tx).take() {
            let _ = tx.send(port);
        }
        Box::pin(async {})
    });
    let rocket = crate::build(figment)
        .attach(report_port)
        .ignite()
        .await
        .map_err(|e| format!("server did not start: {e}"))?;
    let shutdown = rocket.shutdown();
    let task = tokio::spawn(async move {
        if let Err(e) = rocket.launch().await {
            eprintln!("concord-server: {e}");
        }
    });
    match tokio::time::timeout(Duration::from_secs(10), bound).await {
        Ok(Ok(port)) => Ok(RunningServer { port, shutdown: Some(shutdown), task: Some(task) }),
        _ => {
            shutdown.notify();
            Err("server did not start listening".into())
        }
    }
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
