//! Desktop: a tokio runtime on its own named thread runs the network tasks.

use std::future::Future;
use std::time::Duration;

/// Picks rustls' crypto provider once per process. The media stack brings
/// `ring` and reqwest brings `aws-lc-rs`; with both compiled in, rustls
/// cannot choose and a `wss://` connection would panic.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// The machine's devices (the listing blocks, so it runs off the async workers).
pub async fn list_devices() -> Vec<crate::settings::DeviceChoices> {
    tokio::task::spawn_blocking(crate::media_bridge::list_devices).await.unwrap_or_default()
}

/// Runs the call test on a blocking thread (it owns its own media threads and runtime).
pub async fn run_call_test(
    settings: crate::settings::MediaSettings,
) -> Result<crate::settings::CallTestSummary, String> {
    tokio::task::spawn_blocking(move || crate::media_bridge::run_call_test(&settings))
        .await
        .unwrap_or_else(|e| Err(format!("The call test stopped unexpectedly: {e}")))
}

/// Runs the network actor on a dedicated runtime thread until it returns.
pub fn start_network(actor: impl Future<Output = ()> + Send + 'static) {
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

/// Plays the new-message sound on the default output device, on its own
/// thread. No sound card (or no audio server) is normal: nothing plays.
pub fn play_message_sound() {
    let _ = std::thread::Builder::new().name("concord-sound".into()).spawn(|| {
        if let Err(e) = play(crate::sound::MESSAGE_WAV) {
            eprintln!("concord: no notification sound: {e}");
        }
    });
}

fn play(wav: &[u8]) -> Result<(), String> {
    use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};

    let clip = crate::sound::decode_wav(wav).map_err(|e| e.to_string())?;
    let device = cpal::default_host().default_output_device().ok_or("no output device")?;
    let config = device.default_output_config().map_err(|e| format!("output device unavailable: {e}"))?;
    let channels = usize::from(config.channels()).max(1);
    let samples = clip.at_rate(config.sample_rate());
    let seconds = samples.len() as f32 / config.sample_rate().max(1) as f32;
    let mut position = 0;
    let stream = device
        .build_output_stream::<f32, _, _>(
            config.config(),
            move |out, _| {
                for frame in out.chunks_mut(channels) {
                    let value = samples.get(position).copied().unwrap_or(0.0);
                    position += 1;
                    frame.fill(value);
                }
            },
            |e| eprintln!("concord: sound output error: {e}"),
            None,
        )
        .map_err(|e| e.to_string())?;
    stream.play().map_err(|e| e.to_string())?;
    std::thread::sleep(std::time::Duration::from_secs_f32(seconds + 0.1));
    Ok(())
}

/// The server this page was loaded from (none on the desktop).
pub fn page_origin() -> Option<String> {
    None
}

/// Browser tests read state from the page title; the desktop has none.
#[cfg(feature = "test-hooks")]
pub fn publish_test_state(_summary: &str) {}

/// Only a web page can be opened on the register form.
pub fn wants_register() -> bool {
    false
}

/// Desktop notifications need no permission.
pub fn ask_notification_permission() {}
