//! Browser: notifications, the chime through an `<audio>` element, the page's address.

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
    let bytes = js_sys::Uint8Array::from(crate::sound::MESSAGE_WAV);
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
