//! Desktop: a tokio runtime on its own named thread runs the network tasks.

use std::future::Future;
use std::time::Duration;

/// Runs the network actor on a dedicated runtime thread until it returns.
pub fn start_network(actor: impl Future<Output = ()> + Send + 'static) {
    let started = std::thread::Builder::new().name("concord-net".into()).spawn(move || {
        match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("concord-net-worker")
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime.block_on(actor),
            Err(e) => eprintln!("concord: cannot start the network runtime: {e}"),
        }
    });
    if let Err(e) = started {
        eprintln!("concord: cannot start the network thread: {e}");
    }
}

/// Spawns a task on the network runtime (call from within it).
pub fn spawn(task: impl Future<Output = ()> + Send + 'static) {
    tokio::spawn(task);
}

/// Waits without blocking the runtime.
pub async fn sleep(duration: Duration) {
    tokio::time::sleep(duration).await;
}

/// The websocket connector for this platform.
pub fn ws_connector() -> ezsockets::ClientConnectorTokio {
    ezsockets::ClientConnectorTokio::default()
}

/// Shows a desktop notification (best effort: no notification daemon is fine).
pub fn notify(title: &str, body: &str) {
    let (title, body) = (title.to_owned(), body.to_owned());
    // The D-Bus round trip can take a while: keep it off the UI thread.
    let _ = std::thread::Builder::new().name("concord-notify".into()).spawn(move || {
        let _ = notify_rust::Notification::new().appname("Concord").summary(&title).body(&body).show();
    });
}
