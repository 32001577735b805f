//! Browser entry point (wasm32): starts the app on the page's canvas and
//! replaces the page's loading message with a readable error if it cannot;
//! hands pictures pasted on the page to the open composer (eframe's web
//! runner forwards only pasted text).

use wasm_bindgen::JsCast;

/// The canvas the app draws on (`index.html`).
pub const CANVAS_ID: &str = "concord_canvas";

/// Starts the app: called by the wasm `main` (`src/main.rs`), which
/// wasm-bindgen's generated loader runs once the module is instantiated
/// (`index.html` from `.ci/build-web`, and `trunk serve`).
pub fn start() {
    wasm_bindgen_futures::spawn_local(async {
        match run().await {
            Ok(()) => set_status(None),
            Err(message) => set_status(Some(&format!("Concord could not start: {message}"))),
        }
    });
}

async fn run() -> Result<(), String> {
    let document = web_sys::window().and_then(|w| w.document()).ok_or("no document")?;
    let canvas = document
        .get_element_by_id(CANVAS_ID)
        .ok_or("the page has no #concord_canvas")?
        .dyn_into::<web_sys::HtmlCanvasElement>()
        .map_err(|_| "#concord_canvas is not a canvas")?;
    eframe::WebRunner::new()
        .start(
            canvas,
            eframe::WebOptions::default(),
            Box::new(|cc| {
                listen_for_pasted_pictures(cc.egui_ctx.clone());
                Ok(Box::new(crate::ConcordApp::new(cc)))
            }),
        )
        .await
        .map_err(|e| e.as_string().unwrap_or_else(|| format!("{e:?}")))
}

/// Ctrl+V with a picture on the clipboard: its bytes go to the composer of
/// the open conversation (as `pasted.png`, like the desktop's).
fn listen_for_pasted_pictures(ctx: egui::Context) {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else { return };
    let on_paste = wasm_bindgen::closure::Closure::<dyn FnMut(web_sys::ClipboardEvent)>::new(
        move |event: web_sys::ClipboardEvent| {
            let Some(files) = event.clipboard_data().and_then(|data| data.files()) else { return };
            for file in (0..files.length()).filter_map(|i| files.get(i)) {
                let Some(kind) = file.type_().strip_prefix("image/").map(str::to_owned) else { continue };
                let name = format!("pasted.{}", if kind == "jpeg" { "jpg" } else { kind.as_str() });
                let ctx = ctx.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    let bytes = wasm_bindgen_futures::JsFuture::from(file.array_buffer())
                        .await
                        .map(|buffer| js_sys::Uint8Array::new(&buffer).to_vec())
                        .map_err(|_| "the browser could not read it".to_owned());
                    crate::ui::paste_in_browser(&ctx, name, bytes);
                });
            }
        },
    );
    let _ = document.add_event_listener_with_callback("paste", on_paste.as_ref().unchecked_ref());
    // Lives as long as the page.
    on_paste.forget();
}

/// Hides the loading message (`None`) or shows an error in its place.
fn set_status(error: Option<&str>) {
    let Some(status) =
        web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id("status"))
    else {
        return;
    };
    match error {
        None => {
            let _ = status.set_attribute("hidden", "");
        }
        Some(message) => {
            status.set_text_content(Some(message));
            let _ = status.set_attribute("class", "error");
        }
    }
}
