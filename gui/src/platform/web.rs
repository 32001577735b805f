//! Browser: tasks run on the page's event loop.

use std::future::Future;
use std::time::Duration;

/// Runs the network actor on the browser's event loop.
pub fn start_network(actor: impl Future<Output = ()> + 'static) {
    wasm_bindgen_futures::spawn_local(actor);
}

/// Spawns a task on the browser's event loop.
pub fn spawn(task: impl Future<Output = ()> + 'static) {
    wasm_bindgen_futures::spawn_local(task);
}

/// Waits on a browser timer.
pub async fn sleep(duration: Duration) {
    gloo_timers::future::sleep(duration).await;
}

/// The websocket connector for this platform.
pub fn ws_connector() -> ezsockets::ClientConnectorWasm {
    ezsockets::ClientConnectorWasm::default()
}

/// Shows a browser notification if the user allowed them.
pub fn notify(title: &str, body: &str) {
    let options = web_sys::NotificationOptions::new();
    options.set_body(body);
    if web_sys::Notification::permission() == web_sys::NotificationPermission::Granted {
        let _ = web_sys::Notification::new_with_options(title, &options);
    }
}
