//! The media actor: device lists and the call test, answered off the UI
//! thread and apart from the network actor. Same shape as the network side:
//! [`MediaCommand`]s in, [`MediaEvent`]s out, a wake-up call when one lands.

use std::sync::mpsc;

use concord_client::Wake;

use crate::settings::{CallTestSummary, DeviceChoices, MediaSettings};

/// What the app asks of the media side.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaCommand {
    /// List cameras, screens, microphones and speakers.
    ListDevices,
    /// Run the call test with these devices.
    RunCallTest(MediaSettings),
}

/// What the media side reports.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaEvent {
    /// The devices this machine has (none in a browser: it picks them itself).
    Devices(Vec<DeviceChoices>),
    /// The call test finished, or could not run.
    CallTestFinished(Result<CallTestSummary, String>),
}

/// The app's handle on the media side.
pub struct Media {
    tx: mpsc::Sender<MediaEvent>,
    events: mpsc::Receiver<MediaEvent>,
    wake: Wake,
}

impl Media {
    /// A media side that calls `wake` when it has something to report.
    pub fn start(wake: Wake) -> Self {
        let (tx, events) = mpsc::channel();
        Self { tx, events, wake }
    }

    /// Starts `command`; its answer arrives as a [`MediaEvent`].
    pub fn send(&self, command: MediaCommand) {
        let (tx, wake) = (self.tx.clone(), self.wake.clone());
        let answer = move |event| {
            if tx.send(event).is_ok() {
                wake();
            }
        };
        #[cfg(not(target_arch = "wasm32"))]
        {
            // Both block (device probing, a few seconds of call): a thread each.
            let started = std::thread::Builder::new().name("concord-media-command".into()).spawn(move || {
                answer(match command {
                    MediaCommand::ListDevices => MediaEvent::Devices(crate::media_bridge::list_devices()),
                    MediaCommand::RunCallTest(settings) => {
                        MediaEvent::CallTestFinished(crate::media_bridge::run_call_test(&settings))
                    }
                });
            });
            if let Err(e) = started {
                eprintln!("concord: cannot start a media thread: {e}");
            }
        }
        #[cfg(target_arch = "wasm32")]
        answer(match command {
            MediaCommand::ListDevices => MediaEvent::Devices(Vec::new()),
            MediaCommand::RunCallTest(_) => MediaEvent::CallTestFinished(Err(
                "The call test runs in the desktop app. In the browser, your browser asks for the camera \
                 and microphone when you join a call."
                    .to_owned(),
            )),
        });
    }

    /// The next pending event, without waiting.
    pub fn try_recv(&mut self) -> Option<MediaEvent> {
        self.events.try_recv().ok()
    }
}
