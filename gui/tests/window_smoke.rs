//! The real `concord` binary in a real X window (Xvfb): log in by typing
//! into the window with xdotool, see the server count the user online, and
//! take a screenshot that is not blank.

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use support::Server;

/// Kills a child process when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run(display: &str, program: &str, args: &[&str]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .env("DISPLAY", display)
        .output()
        .unwrap_or_else(|e| panic!("{program} is needed for this test (.ci/setup installs it): {e}"))
}

fn xdotool(display: &str, args: &[&str]) {
    let out = run(display, "xdotool", args);
    assert!(out.status.success(), "xdotool {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn start_xvfb() -> (Guard, String) {
    let mut xvfb = Command::new("Xvfb")
        .args(["-displayfd", "1", "-screen", "0", "1024x768x24", "-nolisten", "tcp"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("Xvfb is needed for this test (.ci/setup installs it): {e}"));
    let mut line = String::new();
    BufReader::new(xvfb.stdout.take().unwrap()).read_line(&mut line).unwrap();
    (Guard(xvfb), format!(":{}", line.trim()))
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out waiting for {what}");
}

fn unique_colors(display: &str, png: &Path) -> usize {
    let out = run(display, "convert", &[png.to_str().unwrap(), "-format", "%k", "info:"]);
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0)
}

#[test]
fn the_desktop_binary_logs_in_by_keyboard_in_a_real_window() {
    let server = Server::start();
    let (ada_token, _) = server.register("ada");
    let (watcher_token, _) = server.register("watcher");
    let invite = server.api(
        Method::POST,
        "/api/invites",
        Some(&ada_token),
        Some(json!({"email": "watcher@example.com"})),
    );
    let id = invite["invite"]["id"].as_str().unwrap();
    server.api(Method::POST, &format!("/api/invites/{id}/accept"), Some(&watcher_token), None);

    let (_xvfb, display) = start_xvfb();
    let home = std::env::temp_dir().join(format!("concord-window-{}", std::process::id()));
    let runtime_dir = home.join("runtime");
    std::fs::create_dir_all(&runtime_dir).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&runtime_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let log = std::fs::File::create(home.join("concord.log")).unwrap();
    let app = Command::new(env!("CARGO_BIN_EXE_concord"))
        .env("DISPLAY", &display)
        .env("HOME", &home)
        .env("XDG_RUNTIME_DIR", &runtime_dir)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env_remove("WAYLAND_DISPLAY")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let _app = Guard(app);

    let mut window = String::new();
    wait_until("the Concord window", Duration::from_secs(60), || {
        let out = run(&display, "xdotool", &["search", "--name", "^Concord$"]);
        window = String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or_default().to_owned();
        !window.is_empty()
    });
    // Give the first frame (software Vulkan) time to appear.
    std::thread::sleep(Duration::from_secs(2));
    xdotool(&display, &["windowfocus", "--sync", &window]);

    // First-run screen: the address field has focus.
    xdotool(&display, &["key", "ctrl+a"]);
    xdotool(&display, &["type", "--delay", "15", &server.url()]);
    xdotool(&display, &["key", "Return"]);
    std::thread::sleep(Duration::from_millis(700));
    // Login screen: the email field has focus; Tab to the password; Enter logs in.
    xdotool(&display, &["type", "--delay", "15", "ada@example.com"]);
    xdotool(&display, &["key", "Tab"]);
    xdotool(&display, &["type", "--delay", "15", "correct horse"]);
    xdotool(&display, &["key", "Return"]);

    // The server sees Ada's client connect: her friend is told she is online.
    wait_until("ada to come online", Duration::from_secs(30), || {
        let friends = server.api(Method::GET, "/api/friends", Some(&watcher_token), None);
        friends[0]["online"] == true
    });
    std::thread::sleep(Duration::from_millis(500));

    let shot = home.join("window.png");
    let out = run(&display, "import", &["-window", "root", shot.to_str().unwrap()]);
    assert!(out.status.success(), "screenshot failed: {}", String::from_utf8_lossy(&out.stderr));
    let colors = unique_colors(&display, &shot);
    let keep = Path::new(env!("CARGO_TARGET_TMPDIR")).join("window-smoke.png");
    let _ = std::fs::copy(&shot, &keep);
    assert!(colors > 50, "the screenshot looks blank ({colors} colours); see {}", keep.display());
    let _ = std::fs::remove_dir_all(&home);
}
