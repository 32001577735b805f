//! Desktop: notifications through the desktop's daemon, the chime through cpal.

pub use concord_client::runtime::install_crypto_provider;

/// Logs to stderr: readable lines, or JSON with `CONCORD_LOG_FORMAT=json`;
/// levels from `RUST_LOG` (default: warnings, and Concord's own info lines).
pub fn install_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("warn,concord_gui=info,concord_client=info,concord_media=info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let installed = if std::env::var("CONCORD_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    if installed.is_err() {
        eprintln!("concord: a log subscriber was already installed");
    }
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

/// Plays a call's join or leave sound, like [`play_message_sound`].
pub fn play_call_sound(sound: crate::state::CallSound) {
    let _ = std::thread::Builder::new().name("concord-sound".into()).spawn(move || {
        // No sound card is normal (the message chime already said so once).
        let _ = play(crate::sound::call_wav(sound));
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

/// The desktop app has no page: its devices are always its own to open.
pub fn calls_unavailable() -> Option<crate::state::CallsUnavailable> {
    None
}

/// Only a web page can be opened on the register form.
pub fn wants_register() -> bool {
    false
}

/// Desktop notifications need no permission.
pub fn ask_notification_permission() {}
