//! Driving the real `concord` binary in an Xvfb display: start X, launch
//! the app with a private home, type into it with xdotool, take screenshots.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills a child process when dropped.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs an X client program on `display`.
pub fn run(display: &str, program: &str, args: &[&str]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .env("DISPLAY", display)
        .output()
        .unwrap_or_else(|e| panic!("{program} is needed here (.ci/setup installs it): {e}"))
}

/// Runs xdotool; panics if it fails.
pub fn xdotool(display: &str, args: &[&str]) {
    let out = run(display, "xdotool", args);
    assert!(out.status.success(), "xdotool {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Starts Xvfb on a free display; returns it and the display name.
pub fn start_xvfb() -> (Guard, String) {
    let mut xvfb = Command::new("Xvfb")
        .args(["-displayfd", "1", "-screen", "0", "1024x768x24", "-nolisten", "tcp"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("Xvfb is needed here (.ci/setup installs it): {e}"));
    let mut line = String::new();
    BufReader::new(xvfb.stdout.take().unwrap()).read_line(&mut line).unwrap();
    (Guard(xvfb), format!(":{}", line.trim()))
}

/// Starts a window manager (openbox) on `display`: xcap lists windows from
/// the manager's client list, so window sharing needs one.
pub fn start_window_manager(display: &str) -> Guard {
    let wm = Command::new("openbox")
        .args(["--sm-disable"])
        .env("DISPLAY", display)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("openbox is needed here (.ci/setup installs it): {e}"));
    // It takes over the existing windows within a moment.
    std::thread::sleep(Duration::from_secs(1));
    Guard(wm)
}

/// Polls `done` every 200 ms; panics after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out waiting for {what}");
}

/// How many distinct colours a PNG has (a blank screen has one or two).
pub fn unique_colors(display: &str, png: &Path) -> usize {
    let out = run(display, "convert", &[png.to_str().unwrap(), "-format", "%k", "info:"]);
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0)
}

/// A screenshot of the whole `display` as `dir/name` (kept beside the
/// target directory's test files too); returns how many colours it has.
pub fn screenshot(display: &str, dir: &Path, name: &str) -> usize {
    let path = dir.join(name);
    let out = run(display, "import", &["-window", "root", path.to_str().unwrap()]);
    assert!(out.status.success(), "screenshot failed: {}", String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::copy(&path, Path::new(env!("CARGO_TARGET_TMPDIR")).join(name));
    unique_colors(display, &path)
}

/// The desktop app running in `display` with a private home directory.
pub struct RunningApp {
    pub process: Guard,
    pub home: PathBuf,
}

/// Launches `binary` and logs in by typing: server address, email, Tab,
/// password, Enter. Returns once the window has taken the keystrokes. With
/// `persisted`, the app starts from it, as if a previous run had saved it
/// (eframe's `app.ron` under XDG_DATA_HOME).
pub fn launch_and_log_in(
    binary: &str,
    display: &str,
    server: &str,
    email: &str,
    password: &str,
    persisted: Option<&concord_gui::state::Persisted>,
) -> RunningApp {
    let home = std::env::temp_dir().join(format!(
        "concord-window-{}-{}",
        std::process::id(),
        display.trim_start_matches(':')
    ));
    let runtime_dir = home.join("runtime");
    std::fs::create_dir_all(&runtime_dir).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&runtime_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    if let Some(persisted) = persisted {
        let saved = std::collections::BTreeMap::from([(
            concord_gui::app::STORAGE_KEY.to_owned(),
            ron::to_string(persisted).unwrap(),
        )]);
        let dir = home.join("data").join("concord");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("app.ron"), ron::to_string(&saved).unwrap()).unwrap();
    }
    let log = std::fs::File::create(home.join("concord.log")).unwrap();
    let process = Command::new(binary)
        .env("DISPLAY", display)
        .env("HOME", &home)
        .env("XDG_RUNTIME_DIR", &runtime_dir)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env_remove("WAYLAND_DISPLAY")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut process = Guard(process);
    let mut window = String::new();
    let log_path = home.join("concord.log");
    wait_until("the Concord window", Duration::from_secs(60), || {
        // An app that ended before its window showed will not show it: say why now.
        if let Ok(Some(status)) = process.0.try_wait() {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let xvfb_sockets = std::fs::read_dir("/tmp/.X11-unix")
                .map(|d| {
                    d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect()
                })
                .unwrap_or_else(|_| Vec::new());
            panic!("the app exited ({status}) before its window showed on {display} (X sockets: {xvfb_sockets:?}):\n{log}");
        }
        let out = run(display, "xdotool", &["search", "--name", "^Concord$"]);
        window = String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or_default().to_owned();
        !window.is_empty()
    });
    // Give the first frame (software Vulkan) time to appear.
    std::thread::sleep(Duration::from_secs(2));
    xdotool(display, &["windowfocus", "--sync", &window]);
    // The app puts the cursor in the first field once its window has focus:
    // give it a frame or two, as a person would take a moment to start typing.
    std::thread::sleep(Duration::from_secs(1));
    // First-run screen: the address field has focus.
    xdotool(display, &["key", "ctrl+a"]);
    xdotool(display, &["type", "--delay", "15", server]);
    xdotool(display, &["key", "Return"]);
    std::thread::sleep(Duration::from_secs(1));
    // Login screen: the email field has focus; Tab to the password; Enter logs in.
    xdotool(display, &["type", "--delay", "15", email]);
    // Typed straight on after Tab, as auto-type does: the app holds what
    // follows a Tab until focus has moved (`ui::defer_events_after_tab`).
    xdotool(display, &["key", "Tab"]);
    xdotool(display, &["type", "--delay", "15", password]);
    xdotool(display, &["key", "Return"]);
    RunningApp { process, home }
}

impl Drop for RunningApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.home);
    }
}
