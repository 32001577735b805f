//! No camera, no sound card, no display: normal states, reported, never a
//! panic; a source that disappears mid-call ends its track cleanly while the
//! rest of the call goes on; mute stops the microphone's packets.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use concord_media::devices::{self, CameraSource, MicrophoneSource, ScreenSource, SpeakerSink};
use concord_media::selftest::{self, SelftestOptions};
use concord_media::send::{AudioSender, MediaEvent, VideoSender};
use concord_media::source::{PatternSource, RawVideoFrame, ToneSource, VideoSource};
use concord_media::synthetic::ToneGenerator;
use concord_media::transport::{MediaPeer, PeerOptions, PeerState, TrackKind, TransportEvent};
use concord_media::video_codec::EncoderSettings;
use concord_media::{DeviceKind, MediaError};
use tokio::sync::mpsc;

fn assert_unavailable<T>(result: Result<T, MediaError>, kind: DeviceKind) {
    match result {
        Err(MediaError::Unavailable { kind: k, reason }) => {
            assert_eq!(k, kind);
            assert!(!reason.is_empty());
        }
        Err(other) => panic!("expected {kind} unavailable, got {other}"),
        Ok(_) => panic!("expected {kind} unavailable, but it opened"),
    }
}

#[test]
fn every_missing_device_is_reported_and_the_selftest_still_answers() {
    // This test is about a machine without a display.
    std::env::remove_var("DISPLAY");
    std::env::remove_var("WAYLAND_DISPLAY");

    let lists = devices::list_all();
    assert_eq!(lists.len(), 4);
    for list in &lists {
        if list.names.is_empty() {
            assert!(list.unavailable.is_some(), "{list:?} has no devices and no reason");
        }
    }
    let missing = |kind| lists.iter().any(|l| l.kind == kind && l.names.is_empty());
    if missing(DeviceKind::Camera) {
        assert_unavailable(CameraSource::open(None, 1280, 720, 30), DeviceKind::Camera);
    }
    if missing(DeviceKind::Microphone) {
        assert_unavailable(MicrophoneSource::open(None), DeviceKind::Microphone);
    }
    if missing(DeviceKind::Speaker) {
        assert_unavailable(SpeakerSink::open(None), DeviceKind::Speaker);
    }
    assert_unavailable(ScreenSource::open(None, 15), DeviceKind::Screen);
    assert!(matches!(
        CameraSource::open(Some("No Such Camera"), 640, 480, 30),
        Err(MediaError::NoSuchDevice { .. } | MediaError::Unavailable { .. })
    ));

    let report =
        selftest::run_blocking(SelftestOptions { seconds: 1, ..Default::default() }.with_devices()).unwrap();
    assert!(report.unavailable.iter().any(|u| u.contains("screen")), "{:?}", report.unavailable);
    assert!(report.screen.is_none());
    if missing(DeviceKind::Camera) && missing(DeviceKind::Microphone) {
        assert!(report.camera.is_none() && report.audio.is_none());
        assert_eq!(report.frames_sent, 0);
    }
}

/// A camera that is unplugged after a few frames.
struct UnpluggedCamera {
    inner: PatternSource,
    frames_left: u32,
}

impl VideoSource for UnpluggedCamera {
    fn name(&self) -> String {
        "USB camera".into()
    }
    fn frame_interval(&self) -> Duration {
        self.inner.frame_interval()
    }
    fn capture(&mut self) -> concord_media::Result<RawVideoFrame> {
        if self.frames_left == 0 {
            return Err(MediaError::unavailable(DeviceKind::Camera, "camera stopped: No such device"));
        }
        self.frames_left -= 1;
        self.inner.capture()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unplugged_camera_ends_its_track_and_audio_goes_on() {
    let runtime = tokio::runtime::Handle::current();
    let (sender_events, _sender_rx) = mpsc::channel(64);
    let (receiver_events, mut receiver_rx) = mpsc::channel(64);
    let sender = MediaPeer::new(PeerOptions::loopback(), sender_events).await.unwrap();
    let receiver = MediaPeer::new(PeerOptions::loopback(), receiver_events).await.unwrap();
    let video = Arc::new(sender.add_track("camera", "alice", TrackKind::Video).await.unwrap());
    let audio = Arc::new(sender.add_track("microphone", "alice", TrackKind::Audio).await.unwrap());
    let answer = receiver.accept_offer(sender.create_offer().await.unwrap()).await.unwrap();
    sender.accept_answer(answer).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !matches!(
        tokio::time::timeout_at(deadline.into(), receiver_rx.recv()).await.unwrap(),
        Some(TransportEvent::State(PeerState::Connected))
    ) {}

    let (media_tx, mut media_rx) = mpsc::channel(8);
    let camera = UnpluggedCamera { inner: PatternSource::new(320, 180, 30), frames_left: 10 };
    let video_sender = VideoSender::start(
        Box::new(camera),
        video,
        EncoderSettings::camera(320, 180, 30.0),
        None,
        runtime.clone(),
        media_tx.clone(),
    )
    .unwrap();
    let tone = ToneSource::new(ToneGenerator::continuous(440.0, 0.5));
    let audio_sender = AudioSender::start(Box::new(tone), audio, runtime.clone(), media_tx).unwrap();

    let ended = tokio::time::timeout(Duration::from_secs(5), media_rx.recv()).await.unwrap().unwrap();
    let MediaEvent::SourceEnded { track_id, reason } = ended;
    assert_eq!(track_id, "camera");
    assert!(reason.contains("No such device"), "{reason}");
    let sent_before = video_sender.stats().sent.load(std::sync::atomic::Ordering::Relaxed);
    assert!(sent_before > 0 && sent_before <= 10);

    // The remote audio track keeps delivering after the camera is gone.
    let audio_track = loop {
        match tokio::time::timeout_at(deadline.into(), receiver_rx.recv()).await.unwrap().unwrap() {
            TransportEvent::RemoteTrack(track) if track.kind == TrackKind::Audio => break track,
            _ => {}
        }
    };
    let mut packets = 0;
    let listen_until = Instant::now() + Duration::from_millis(600);
    while let Ok(Some(_)) = tokio::time::timeout_at(listen_until.into(), audio_track.next_packet()).await {
        packets += 1;
    }
    assert!(packets >= 15, "only {packets} audio packets in 600 ms after the camera ended");

    // Mute stops the microphone's packets; unmute brings them back.
    let count_for = |ms: u64| {
        let track = audio_track.clone();
        async move {
            let until = Instant::now() + Duration::from_millis(ms);
            let mut n = 0;
            while let Ok(Some(_)) = tokio::time::timeout_at(until.into(), track.next_packet()).await {
                n += 1;
            }
            n
        }
    };
    audio_sender.set_muted(true);
    count_for(100).await;
    let while_muted = count_for(400).await;
    assert!(while_muted <= 1, "{while_muted} packets arrived while muted");
    audio_sender.set_muted(false);
    let after = count_for(400).await;
    assert!(after >= 10, "only {after} packets after unmuting");
    video_sender.stop();
    assert_eq!(video_sender.stats().sent.load(std::sync::atomic::Ordering::Relaxed), sent_before);
    sender.close().await;
    receiver.close().await;
}
