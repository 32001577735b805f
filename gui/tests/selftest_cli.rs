//! `concord selftest`, the call test a person can run, as a real process:
//! synthetic sources by default; under Xvfb with `--devices`, the real screen
//! is captured through xcap while the missing camera, microphone and speaker
//! are reported and the test goes on with what exists.
//!
//! Each test runs alone (`.ci/nextest.toml`): two call tests at once share
//! 2 cores with Xvfb and measure the machine.

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

mod support;

use std::process::Command;

use serde_json::Value;
use support::x11::start_xvfb;

fn selftest(args: &[&str], display: Option<&str>) -> (i32, Value, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_concord"));
    command.arg("selftest").args(args).env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY");
    if let Some(display) = display {
        command.env("DISPLAY", display);
    }
    let out = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), json, String::from_utf8_lossy(&out.stderr).to_string())
}

#[test]
fn the_selftest_prints_one_json_report_of_a_whole_call() {
    let (code, report, stderr) = selftest(&["--seconds", "2", "--resolution", "640x360"], None);
    assert_eq!(code, 0, "{stderr}");
    for field in ["frames_sent", "frames_decoded", "max_frame_gap", "psnr_db", "encode_fps", "decode_fps"] {
        assert!(report[field].is_number(), "{field} missing in {report:#}");
    }
    assert!(report["glass_to_glass_ms"]["p95"].is_number());
    assert!(report["frames_decoded"].as_u64().unwrap() > 20, "{report:#}");
    assert!(report["psnr_db"].as_f64().unwrap() >= 30.0);
    assert_eq!(report["audio"]["tone_hz_sent"], 440.0);
    let heard = report["audio"]["tone_hz_detected"].as_f64().unwrap();
    assert!((heard - 440.0).abs() < 5.0, "heard {heard} Hz");
    assert!(report["audio"]["mouth_to_ear_ms"]["p95"].is_number());
    // The receiver's jitter buffer played the 2 s of tone, at a delay in its range.
    let playout = &report["audio"]["playout"];
    assert!(playout["played"].as_u64().unwrap() >= 50, "{playout}");
    assert!((10.0..=200.0).contains(&playout["target_ms"].as_f64().unwrap()), "{playout}");
    assert!(report["devices"].is_array());
}

#[test]
fn with_devices_the_real_screen_is_captured_and_missing_devices_are_named() {
    let (_xvfb, display) = start_xvfb();
    let (code, report, stderr) =
        selftest(&["--devices", "--seconds", "3", "--resolution", "640x360"], Some(&display));
    assert_eq!(code, 0, "{stderr}");
    let devices = report["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 4, "{report:#}");
    let screens = devices.iter().find(|d| d["kind"] == "screen").unwrap();
    assert!(!screens["names"].as_array().unwrap().is_empty(), "Xvfb's screen is listed: {screens}");
    let screen = &report["screen"];
    assert!(
        screen["frames_decoded"].as_u64().unwrap() > 5,
        "the Xvfb screen was sent and decoded: {report:#}"
    );
    assert!(screen["psnr_db"].is_null(), "no PSNR for a real screen (no reference)");

    // This machine has no camera and no sound card: named, not fatal.
    let unavailable: Vec<&str> =
        report["unavailable"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    for kind in ["camera", "microphone", "speaker"] {
        let listed = devices.iter().find(|d| d["kind"] == kind).unwrap();
        if listed["names"].as_array().unwrap().is_empty() {
            assert!(
                unavailable.iter().any(|u| u.starts_with(kind)),
                "{kind} not reported in {unavailable:?}"
            );
        }
    }
}

#[test]
fn bad_options_explain_themselves() {
    let (code, _, stderr) = selftest(&["--resolution", "big"], None);
    assert_eq!(code, 2);
    assert!(stderr.contains("invalid value 'big' for '--resolution"), "{stderr}");
    assert!(stderr.contains("WxH expected (e.g. 1280x720)"), "{stderr}");
    assert!(stderr.contains("--help"), "where the usage is: {stderr}");
}
