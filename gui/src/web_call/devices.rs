//! The browser's devices for Settings' pickers (`enumerateDevices`), and
//! the constraint that opens the one picked. The browser names devices
//! only once the page may use them (after the first call asked), so the
//! list may hold just "System default" until then; the screen to share is
//! always picked in the browser's own prompt.

use wasm_bindgen::{JsCast as _, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{MediaDeviceInfo, MediaDeviceKind, MediaDevices};

use crate::media::protocol::{MediaEvent, Post};
use crate::settings::{DeviceChoices, DeviceKind, Pick};

/// Why the screen has no list in the browser.
const SCREEN_IN_THE_BROWSER: &str = "the browser asks which screen, window or tab when you share";

/// The page's devices.
pub fn media_devices() -> Result<MediaDevices, String> {
    web_sys::window()
        .map(|w| w.navigator())
        .and_then(|n| n.media_devices().ok())
        .ok_or_else(|| "this browser gives the page no devices".to_owned())
}

/// Lists cameras, microphones and speakers; posts them as [`MediaEvent::Devices`].
pub fn list(post: Post) {
    wasm_bindgen_futures::spawn_local(async move {
        let found = enumerate().await;
        let mut lists = Vec::new();
        for (kind, browser_kind) in [
            (DeviceKind::Camera, MediaDeviceKind::Videoinput),
            (DeviceKind::Microphone, MediaDeviceKind::Audioinput),
            (DeviceKind::Speaker, MediaDeviceKind::Audiooutput),
        ] {
            let (names, unavailable) = match &found {
                Ok(devices) => {
                    let names: Vec<String> = devices
                        .iter()
                        .filter(|d| {
                            d.kind() == browser_kind && !d.label().is_empty() && d.device_id() != "default"
                        })
                        .map(|d| d.label())
                        .collect();
                    (names, None)
                }
                Err(error) => (Vec::new(), Some(error.clone())),
            };
            lists.push(DeviceChoices { kind, names, unavailable });
        }
        lists.push(DeviceChoices {
            kind: DeviceKind::Screen,
            names: Vec::new(),
            unavailable: Some(SCREEN_IN_THE_BROWSER.to_owned()),
        });
        post(MediaEvent::Devices(lists));
    });
}

async fn enumerate() -> Result<Vec<MediaDeviceInfo>, String> {
    let promise = media_devices()?.enumerate_devices().map_err(super::js_error)?;
    let devices = JsFuture::from(promise).await.map_err(super::js_error)?;
    let devices: js_sys::Array = devices.dyn_into().map_err(|_| "no device list".to_owned())?;
    Ok(devices.iter().filter_map(|d| d.dyn_into::<MediaDeviceInfo>().ok()).collect())
}

/// The `deviceId` constraint for `pick` (`None`: the browser's default).
pub async fn device_id(pick: &Pick, kind: MediaDeviceKind) -> Option<JsValue> {
    let Pick::Named(label) = pick else { return None };
    let devices = enumerate().await.ok()?;
    let device = devices.into_iter().find(|d| d.kind() == kind && d.label() == *label)?;
    let exact = js_sys::Object::new();
    js_sys::Reflect::set(&exact, &"exact".into(), &device.device_id().into()).ok()?;
    Some(exact.into())
}

/// The `deviceId` of the speaker `pick` names (`None`: the default output).
pub async fn speaker_id(pick: &Pick) -> Option<String> {
    let Pick::Named(label) = pick else { return None };
    let devices = enumerate().await.ok()?;
    devices
        .into_iter()
        .find(|d| d.kind() == MediaDeviceKind::Audiooutput && d.label() == *label)
        .map(|d| d.device_id())
}

/// Plays `element` on the speaker `sink` (`setSinkId`, where the browser has it).
pub fn set_speaker(element: &web_sys::HtmlMediaElement, sink: &str) {
    let Ok(set_sink) = js_sys::Reflect::get(element, &"setSinkId".into()) else { return };
    if let Some(set_sink) = set_sink.dyn_ref::<js_sys::Function>() {
        let _ = set_sink.call1(element, &sink.into());
    }
}
