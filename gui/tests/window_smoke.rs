//! The real `concord` binary in a real X window (Xvfb): log in by typing
//! into the window with xdotool, see the server count the user online, and
//! take a screenshot that is not blank.

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

mod support;

use std::path::Path;
use std::time::Duration;

use reqwest::Method;
use support::x11::{launch_and_log_in, run, start_xvfb, unique_colors, wait_until};
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
}
