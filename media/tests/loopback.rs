//! Two peers on loopback in one process, through the real pipeline:
//! synthetic camera + screen + tone → I420 → H.264/Opus → WebRTC on
//! 127.0.0.1 → depacketise → decode → frame numbers, PSNR and the tone read
//! back from what the receiver got.
//!
//! Each test runs alone (`.ci/nextest.toml`): two 720p calls at once would
//! share 2 cores and measure the machine, not the pipeline.

#![allow(clippy::unwrap_used)]

use concord_media::selftest::{self, SelftestOptions, TONE_HZ};

fn options(seconds: u32, loss_percent: f64) -> SelftestOptions {
    SelftestOptions {
        seconds,
        width: 1280,
        height: 720,
        fps: 30,
        loss_percent,
        bitrate_bps: Some(1_500_000),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synthetic_call_arrives_whole_sharp_and_audible() {
    // Until each video track has sent 60 frames (2 s at 30 fps; longer
    // on a busy machine, whose encoder keeps the newest frame and skips).
    let report = selftest::run(SelftestOptions { frames: Some(60), ..options(60, 0.0) }).await.unwrap();
    println!("{}", serde_json::to_string_pretty(&report).unwrap());

    let camera = report.camera.as_ref().expect("the camera track was received");
    assert!(camera.frames_sent >= 60, "the camera sent {} frames within 60 s", camera.frames_sent);
    assert!(
        camera.frames_decoded * 10 >= camera.frames_sent * 9,
        "only {} of {} camera frames decoded",
        camera.frames_decoded,
        camera.frames_sent
    );
    // The stated bound: a busy encoder may skip a few captured frames (newest
    // frame wins), but nothing sent is lost on a lossless path.
    let gap = camera.max_frame_gap.expect("frame numbers were read back from the decoded pictures");
    assert!(gap <= 5, "frame numbers jumped by {gap}");
    let psnr = camera.psnr_db.expect("PSNR was measured");
    assert!(psnr >= 30.0, "720p at 1.5 Mbps should be >= 30 dB, got {psnr:.1}");
    assert!(camera.glass_to_glass_ms.is_some(), "capture timestamps were read back");

    let screen = report.screen.as_ref().expect("the screen track was received alongside the camera");
    assert!(screen.frames_decoded * 10 >= screen.frames_sent * 9, "screen: {screen:?}");

    let audio = report.audio.as_ref().expect("the audio track was received");
    let heard = audio.tone_hz_detected.expect("the tone was heard in the played-out audio");
    assert!((heard - TONE_HZ).abs() <= 5.0, "sent {TONE_HZ} Hz, heard {heard:.1} Hz");
    assert!(audio.mouth_to_ear_ms.is_some(), "tone onsets were found in the output");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_two_percent_loss_video_recovers_within_a_second() {
    let report = selftest::run(options(5, 2.0)).await.unwrap();
    println!("{}", serde_json::to_string_pretty(&report).unwrap());

    assert!(report.measured_loss_percent >= 0.5, "the relay dropped {:.2}%", report.measured_loss_percent);
    let camera = report.camera.as_ref().unwrap();
    assert!(
        camera.max_freeze_ms < 1000.0,
        "the picture froze for {:.0} ms: loss was not recovered (NACK/keyframe) within 1 s",
        camera.max_freeze_ms
    );
    assert!(camera.frames_decoded * 10 >= camera.frames_sent * 7, "camera: {camera:?}");
    let audio = report.audio.as_ref().unwrap();
    let heard = audio.tone_hz_detected.expect("the tone survived the loss");
    assert!((heard - TONE_HZ).abs() <= 5.0, "heard {heard:.1} Hz");
}
