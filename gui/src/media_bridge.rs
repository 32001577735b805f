//! Desktop only: the settings screen's questions put to the media engine
//! (list devices, run the call test, "Let me hear myself"), answered as
//! plain [`crate::settings`] data and [`MediaEvent`]s.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use concord_media::devices::{self, SourceChoice};
use concord_media::selftest::{self, SelftestOptions, SelftestReport, VideoReport};
use concord_media::voice::{MicCheck, VoiceControl};
use concord_media::DeviceKind as MediaKind;

use crate::call_bridge;
use crate::media::protocol::{MediaEvent, MicCheckReport, Post};
use crate::settings::{CallTestSummary, DeviceChoices, DeviceKind, MediaSettings, Pick};

/// How often "Let me hear myself" reports the level (as a call does).
const LEVEL_EVERY: Duration = Duration::from_millis(100);

/// "Let me hear myself": the picked microphone through the voice chain and
/// the input mode, back out of the picked speaker (a [`MicCheck`]), its
/// level posted ten times a second. Stops when dropped.
pub struct MicCheckHost {
    control: VoiceControl,
    /// Dropped to stop the reporter at once (it waits on it between readings).
    stop: Option<mpsc::Sender<()>>,
    reporter: Option<JoinHandle<()>>,
}

impl MicCheckHost {
    /// Starts it with `settings`' microphone, speaker and voice choices.
    pub fn start(settings: &MediaSettings, post: Post) -> Result<Self, String> {
        let microphone = call_bridge::open_microphone(&settings.microphone)
            .ok_or("Your microphone is off: pick one under Call devices.")?
            .map_err(|e| format!("Your microphone could not be opened: {e}"))?;
        // No speaker picked: the level still shows, nothing is played.
        let speaker = match call_bridge::open_speaker(&settings.speaker) {
            Some(speaker) => speaker.map_err(|e| format!("Your speaker could not be opened: {e}"))?,
            None => call_bridge::silent_speaker(),
        };
        let control = VoiceControl::default();
        call_bridge::apply_input_mode(&control, &settings.voice);
        let processing = call_bridge::processing(settings);
        let check = MicCheck::start(microphone, speaker, processing, control.clone())
            .map_err(|e| format!("Hearing yourself could not start: {e}"))?;
        let (stop, stopped) = mpsc::channel();
        let reporter = {
            let control = control.clone();
            std::thread::Builder::new()
                .name("concord-mic-check-level".into())
                .spawn(move || report_levels(&check, &control, &stopped, &post))
                .map_err(|e| format!("Hearing yourself could not start: {e}"))?
        };
        Ok(Self { control, stop: Some(stop), reporter: Some(reporter) })
    }

    /// The push-to-talk key went down (`true`) or up.
    pub fn push_to_talk(&self, pressed: bool) {
        self.control.push_to_talk(pressed);
    }
}

impl Drop for MicCheckHost {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(reporter) = self.reporter.take() {
            let _ = reporter.join();
        }
    }
}

/// Posts the level when it changes, until `stopped` hangs up or the
/// microphone fails (then says why); the check stops when this returns.
fn report_levels(check: &MicCheck, control: &VoiceControl, stopped: &mpsc::Receiver<()>, post: &Post) {
    let mut last = None;
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(LEVEL_EVERY) {
        if let Some(reason) = check.ended() {
            post(MediaEvent::MicCheck(MicCheckReport::Ended(format!("Your microphone stopped: {reason}"))));
            return;
        }
        let reading = call_bridge::input_level(control);
        if last != Some(reading) {
            last = Some(reading);
            post(MediaEvent::MicCheck(MicCheckReport::Level(reading)));
        }
    }
}

/// How long the call test from settings lets media flow.
const CALL_TEST_SECONDS: u32 = 3;

/// Lists this machine's devices (blocking: call off the UI thread).
pub fn list_devices() -> Vec<DeviceChoices> {
    devices::list_all()
        .into_iter()
        .map(|list| DeviceChoices { kind: kind(list.kind), names: list.names, unavailable: list.unavailable })
        .collect()
}

/// Runs the call test with the chosen devices (blocking, a few seconds).
pub fn run_call_test(settings: &MediaSettings) -> Result<CallTestSummary, String> {
    let options = SelftestOptions {
        seconds: CALL_TEST_SECONDS,
        camera: choice(&settings.camera),
        screen: choice(&settings.screen),
        microphone: choice(&settings.microphone),
        speaker: match &settings.speaker {
            Pick::Synthetic => SourceChoice::Off,
            other => choice(other),
        },
        ..SelftestOptions::default()
    };
    let report = selftest::run_blocking(options).map_err(|e| format!("The call test could not run: {e}"))?;
    Ok(summarize(&report))
}

fn choice(pick: &Pick) -> SourceChoice {
    match pick {
        Pick::Default => SourceChoice::Default,
        Pick::Named(name) => SourceChoice::Named(name.clone()),
        Pick::Synthetic => SourceChoice::Synthetic,
        Pick::Off => SourceChoice::Off,
    }
}

fn kind(kind: MediaKind) -> DeviceKind {
    match kind {
        MediaKind::Camera => DeviceKind::Camera,
        MediaKind::Screen => DeviceKind::Screen,
        MediaKind::Microphone => DeviceKind::Microphone,
        MediaKind::Speaker => DeviceKind::Speaker,
    }
}

/// Turns a report into rows a person can read and a verdict.
pub fn summarize(report: &SelftestReport) -> CallTestSummary {
    let mut lines = Vec::new();
    let mut problems = Vec::new();
    for (label, video) in [("Camera", &report.camera), ("Screen", &report.screen)] {
        if let Some(video) = video {
            lines.push((label.to_owned(), video_line(video)));
            if video.frames_decoded == 0 {
                problems.push(format!("no {} picture arrived", label.to_lowercase()));
            }
        }
    }
    if let Some(audio) = &report.audio {
        let heard = match audio.tone_hz_detected {
            Some(hz) => format!("heard {hz:.0} Hz"),
            None => "nothing heard".to_owned(),
        };
        let latency =
            audio.mouth_to_ear_ms.map(|p| format!(", {:.0} ms mouth to ear", p.p50)).unwrap_or_default();
        lines.push(("Microphone".to_owned(), format!("{} — {heard}{latency}", audio.source)));
        if audio.tone_hz_sent.is_some() && audio.tone_hz_detected.is_none() {
            problems.push("the test tone was not heard".to_owned());
        }
    }
    if report.encode_fps > 0.0 {
        lines.push((
            "This computer".to_owned(),
            format!(
                "encodes {:.0} and decodes {:.0} frames/s at {}",
                report.encode_fps, report.decode_fps, report.resolution
            ),
        ));
    }
    for missing in &report.unavailable {
        lines.push(("Not available".to_owned(), missing.clone()));
    }
    let sent_anything = report.camera.is_some() || report.screen.is_some() || report.audio.is_some();
    let ok = sent_anything && problems.is_empty();
    let verdict = if !sent_anything {
        "Nothing to test: no camera, screen or microphone could be opened. You can still join calls to listen."
            .to_owned()
    } else if ok {
        "Your computer can hold a call with these devices.".to_owned()
    } else {
        format!("Something is wrong: {}.", problems.join(", "))
    };
    let json = serde_json::to_string_pretty(report).unwrap_or_default();
    CallTestSummary { ok, verdict, lines, json }
}

fn video_line(video: &VideoReport) -> String {
    let mut line =
        format!("{} — {} of {} frames arrived", video.source, video.frames_decoded, video.frames_sent);
    if let Some(psnr) = video.psnr_db {
        line.push_str(&format!(", {psnr:.0} dB"));
    }
    if let Some(latency) = video.glass_to_glass_ms {
        line.push_str(&format!(", {:.0} ms delay", latency.p50));
    }
    line
}
