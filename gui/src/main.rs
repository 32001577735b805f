//! `concord`: the desktop client; `concord selftest` runs the call test.

#[cfg(not(target_arch = "wasm32"))]
fn main() -> eframe::Result {
    concord_gui::platform::install_logging();
    concord_gui::platform::install_crypto_provider();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("selftest") {
        std::process::exit(concord_gui::selftest_cli::main(&args[1..]));
    }
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Concord")
            .with_inner_size([1000.0, 700.0])
            .with_min_inner_size([480.0, 360.0]),
        ..Default::default()
    };
    eframe::run_native("Concord", options, Box::new(|cc| Ok(Box::new(concord_gui::ConcordApp::new(cc)))))
}

// In the browser: `.ci/build-web` and `trunk serve` both build this binary
// for wasm32; wasm-bindgen's loader runs `main` when the module has loaded.
#[cfg(target_arch = "wasm32")]
fn main() {
    concord_gui::web::start();
}
