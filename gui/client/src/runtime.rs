//! Where the client's tasks run: a tokio runtime on its own named thread on
//! the desktop, the page's event loop in the browser. Timers and the
//! websocket connector differ the same way.

use std::future::Future;
use std::time::Duration;

/// Picks rustls' crypto provider once per process. A program that links the
/// media stack has `ring` beside reqwest's `aws-lc-rs`; with both compiled
/// in, rustls cannot choose and a `wss://` connection would panic.
#[cfg(not(target_arch = "wasm32"))]
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Runs the network actor on a dedicated runtime thread until it returns.
#[cfg(not(target_arch = "wasm32"))]
pub fn start(actor: impl Future<Output = ()> + Send + 'static) {
    install_crypto_provider();
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

/// Runs the network actor on the browser's event loop.
#[cfg(target_arch = "wasm32")]
pub fn start(actor: impl Future<Output = ()> + 'static) {
    wasm_bindgen_futures::spawn_local(actor);
}

/// Spawns a task beside the actor (call from within it).
#[cfg(not(target_arch = "wasm32"))]
pub fn spawn(task: impl Future<Output = ()> + Send + 'static) {
    tokio::spawn(task);
}

/// Spawns a task on the browser's event loop.
#[cfg(target_arch = "wasm32")]
pub fn spawn(task: impl Future<Output = ()> + 'static) {
    wasm_bindgen_futures::spawn_local(task);
}

/// Waits without blocking the runtime.
pub async fn sleep(duration: Duration) {
    #[cfg(not(target_arch = "wasm32"))]
    tokio::time::sleep(duration).await;
    #[cfg(target_arch = "wasm32")]
    gloo_timers::future::sleep(duration).await;
}

/// The websocket connector for this platform.
#[cfg(not(target_arch = "wasm32"))]
pub fn ws_connector() -> ezsockets::ClientConnectorTokio {
    ezsockets::ClientConnectorTokio::default()
}

/// The websocket connector for this platform.
#[cfg(target_arch = "wasm32")]
pub fn ws_connector() -> ezsockets::ClientConnectorWasm {
    ezsockets::ClientConnectorWasm::default()
}
