//! Browser entry point (wasm32): starts the app on the page's canvas and
//! replaces the page's loading message with a readable error if it cannot.

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
        .start(canvas, eframe::WebOptions::default(), Box::new(|cc| Ok(Box::new(crate::ConcordApp::new(cc)))))
        .await
        .map_err(|e| e.as_string().unwrap_or_else(|| format!("{e:?}")))
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
