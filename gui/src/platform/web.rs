//! Browser: notifications, the chime through an `<audio>` element, the page's
//! address, and fonts fetched after the first paint.

use wasm_bindgen::JsCast as _;

/// Shows a browser notification if the user allowed them.
pub fn notify(title: &str, body: &str) {
    let options = web_sys::NotificationOptions::new();
    options.set_body(body);
    if web_sys::Notification::permission() == web_sys::NotificationPermission::Granted {
        let _ = web_sys::Notification::new_with_options(title, &options);
    }
}

/// Plays the new-message sound through an `<audio>` element (browsers may
/// refuse until the user has interacted with the page; that is fine).
pub fn play_message_sound() {
    play(crate::sound::MESSAGE_WAV);
}

/// Plays a call's join or leave sound, like [`play_message_sound`].
pub fn play_call_sound(sound: crate::state::CallSound) {
    play(crate::sound::call_wav(sound));
}

fn play(wav: &[u8]) {
    let bytes = js_sys::Uint8Array::from(wav);
    let Ok(blob) = web_sys::Blob::new_with_u8_array_sequence(&js_sys::Array::of1(&bytes)) else { return };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else { return };
    if let Ok(audio) = web_sys::HtmlAudioElement::new_with_src(&url) {
        let _ = audio.play();
    }
}

/// The server this page was loaded from: the web client talks to its own origin.
pub fn page_origin() -> Option<String> {
    web_sys::window()?.location().origin().ok()
}

/// Puts the app's state in `document.title` for browser tests (feature `test-hooks`).
#[cfg(feature = "test-hooks")]
pub fn publish_test_state(summary: &str) {
    if let Some(document) = web_sys::window().and_then(|w| w.document()) {
        document.set_title(&format!("concord:{summary}"));
    }
}

/// Why this page cannot make calls, if it cannot: the browser hands out
/// cameras and microphones only to a secure context (https, or
/// localhost), and a browser without `RTCPeerConnection` has no WebRTC.
pub fn calls_unavailable() -> Option<crate::state::CallsUnavailable> {
    use crate::state::CallsUnavailable;
    let window = web_sys::window()?;
    if !window.is_secure_context() {
        return Some(CallsUnavailable::InsecurePage);
    }
    let webrtc = js_sys::Reflect::get(&window, &"RTCPeerConnection".into()).is_ok_and(|v| v.is_function());
    (!webrtc).then_some(CallsUnavailable::NoWebRtc)
}

/// Whether the page was opened with `?register` (a "create an account" link).
pub fn wants_register() -> bool {
    web_sys::window().and_then(|w| w.location().search().ok()).is_some_and(|q| q.contains("register"))
}

/// Asks the browser for permission to show notifications (once; the browser
/// remembers the answer). Called after logging in.
pub fn ask_notification_permission() {
    if web_sys::Notification::permission() == web_sys::NotificationPermission::Default {
        let _ = web_sys::Notification::request_permission();
    }
}

/// Fetches the font at `url` (relative to the page) and adds it to every
/// text family at `place`. The first paint does not wait for it:
/// until it arrives, egui's fonts (and the browser's, for glyphs they lack)
/// draw. The server sends it compressed and revalidates it by `ETag`.
pub fn add_font_later(
    ctx: &egui::Context,
    name: &'static str,
    url: &'static str,
    place: crate::ui::theme::FontPlace,
) {
    let ctx = ctx.clone();
    wasm_bindgen_futures::spawn_local(async move {
        match fetch_bytes(url).await {
            Ok(bytes) => {
                crate::ui::theme::add_font(&ctx, name, bytes, place);
                ctx.request_repaint();
            }
            Err(error) => {
                web_sys::console::warn_2(&format!("Concord: the font {url} did not load:").into(), &error);
            }
        }
    });
}

async fn fetch_bytes(url: &str) -> Result<Vec<u8>, wasm_bindgen::JsValue> {
    let window = web_sys::window().ok_or("no window")?;
    let response: web_sys::Response =
        wasm_bindgen_futures::JsFuture::from(window.fetch_with_str(url)).await?.dyn_into()?;
    if !response.ok() {
        return Err(format!("HTTP {}", response.status()).into());
    }
    let buffer = wasm_bindgen_futures::JsFuture::from(response.array_buffer()?).await?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}
