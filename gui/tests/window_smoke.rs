//! The real `concord` binary in a real X window (Xvfb): log in by typing
//! into the window with xdotool, see the server count the user online, take
//! a screenshot that is not blank, and share that window in a call test.

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

mod support;

use std::path::Path;
use std::time::Duration;

use reqwest::Method;
use support::x11::{launch_and_log_in, run, start_window_manager, start_xvfb, unique_colors, wait_until};
use support::Server;

#[test]
fn the_desktop_binary_logs_in_by_keyboard_in_a_real_window() {
    let server = Server::start();
    let (_, watcher_token) = server.friends("ada", "watcher");
    let (_xvfb, display) = start_xvfb();
    let app = launch_and_log_in(
        env!("CARGO_BIN_EXE_concord"),
        &display,
        &server.url(),
        "ada@example.com",
        "correct horse",
    );

    // The server sees Ada's client connect: her friend is told she is online.
    wait_until("ada to come online", Duration::from_secs(30), || {
        let friends = server.api(Method::GET, "/api/friends", Some(&watcher_token), None);
        friends[0]["online"] == true
    });
    std::thread::sleep(Duration::from_millis(500));

    let shot = app.home.join("window.png");
    let out = run(&display, "import", &["-window", "root", shot.to_str().unwrap()]);
    assert!(out.status.success(), "screenshot failed: {}", String::from_utf8_lossy(&out.stderr));
    let colors = unique_colors(&display, &shot);
    let keep = Path::new(env!("CARGO_TARGET_TMPDIR")).join("window-smoke.png");
    let _ = std::fs::copy(&shot, &keep);
    assert!(colors > 50, "the screenshot looks blank ({colors} colours); see {}", keep.display());

    // Sharing this window: the call test captures the Concord window (xcap)
    // by its title, encodes and decodes it. Windows are listed by the window
    // manager, so one takes over the display now.
    let _wm = start_window_manager(&display);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_concord"))
        .args(["selftest", "--screen", "Window: Concord", "--camera", "off", "--microphone", "off"])
        .args(["--seconds", "2", "--resolution", "640x360"])
        .env("DISPLAY", &display)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert!(out.status.success(), "{}\n{report:#}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(report["screen"]["source"], "Window: Concord", "{report:#}");
    assert!(report["screen"]["frames_decoded"].as_u64().unwrap_or(0) >= 1, "{report:#}");
    let captured = report["screen"]["frames_sent"].as_u64().unwrap()
        + report["screen"]["frames_skipped"].as_u64().unwrap();
    assert!(captured >= 10, "the window was captured repeatedly: {report:#}");
    drop(app);
}
