//! The media actor: device lists, the call test, "Let me hear myself" and the call itself,
//! answered off the UI thread and apart from the network actor. Same shape
//! as the network side: [`MediaCommand`]s in, [`MediaEvent`]s out, a
//! wake-up call when one lands. The call's signaling goes straight to the
//! network actor through a [`CommandSender`]; the app forwards the call's
//! network events here ([`MediaCommand::CallNet`]).

use std::sync::{mpsc, Arc};

use concord_client::{CommandSender, Wake};

use super::protocol::{CallStart, MediaCommand, MediaEvent, MicCheckReport, Post};

/// The app's handle on the media side.
pub struct Media {
    post: Post,
    events: mpsc::Receiver<MediaEvent>,
    context: egui::Context,
    commands: CommandSender,
    call: Option<CallHandle>,
    /// "Let me hear myself", while it runs (desktop).
    #[cfg(not(target_arch = "wasm32"))]
    mic_check: Option<crate::media_bridge::MicCheckHost>,
}

/// The call in progress: on the media engine (desktop) or the browser's WebRTC;
/// both take the same inputs (`set_media`, `set_devices`, `forward`, `leave`).
#[cfg(not(target_arch = "wasm32"))]
type CallHandle = crate::call_bridge::CallHost;
#[cfg(target_arch = "wasm32")]
type CallHandle = crate::web_call::WebCall;

impl Media {
    /// A media side that calls `wake` when it has something to report, makes
    /// its textures in `context` and sends a call's signaling through `commands`.
    pub fn start(wake: Wake, context: egui::Context, commands: CommandSender) -> Self {
        let (tx, events) = mpsc::channel();
        let post: Post = Arc::new(move |event| {
            if tx.send(event).is_ok() {
                wake();
            }
        });
        Self {
            post,
            events,
            context,
            commands,
            call: None,
            #[cfg(not(target_arch = "wasm32"))]
            mic_check: None,
        }
    }

    /// Starts `command`; its answers arrive as [`MediaEvent`]s.
    pub fn send(&mut self, command: MediaCommand) {
        let post = Arc::clone(&self.post);
        match command {
            MediaCommand::ListDevices | MediaCommand::RunCallTest(_) => self.ask_devices(command, post),
            MediaCommand::JoinCall(start) => {
                self.stop_mic_check();
                if let Some(call) = self.call.take() {
                    call.leave();
                }
                self.call = self.start_call(start, post);
            }
            MediaCommand::StartMicCheck(settings) => self.start_mic_check(settings, post),
            MediaCommand::StopMicCheck => self.stop_mic_check(),
            MediaCommand::SetCallMedia(want) => {
                if let Some(call) = &self.call {
                    call.set_media(want);
                }
            }
            MediaCommand::SetCallDevices(devices) => {
                if let Some(call) = &self.call {
                    call.set_devices(devices);
                }
            }
            MediaCommand::SetVolume { user, gain } => {
                if let Some(call) = &self.call {
                    call.set_volume(user, gain);
                }
            }
            MediaCommand::PushToTalk(pressed) => {
                if let Some(call) = &self.call {
                    call.push_to_talk(pressed);
                }
                #[cfg(not(target_arch = "wasm32"))]
                if let Some(check) = &self.mic_check {
                    check.push_to_talk(pressed);
                }
            }
            MediaCommand::SetCallView(view) => {
                if let Some(call) = &self.call {
                    call.set_view(view);
                }
            }
            MediaCommand::LeaveCall => {
                if let Some(call) = self.call.take() {
                    call.leave();
                }
            }
            MediaCommand::CallNet(event) => {
                if let Some(call) = &self.call {
                    call.forward(event);
                }
            }
        }
    }

    /// Lists devices or runs the call test (both block on the desktop: a thread each).
    #[cfg(not(target_arch = "wasm32"))]
    fn ask_devices(&self, command: MediaCommand, post: Post) {
        let started = std::thread::Builder::new().name("concord-media-command".into()).spawn(move || {
            post(match command {
                MediaCommand::RunCallTest(settings) => {
                    MediaEvent::CallTestFinished(crate::media_bridge::run_call_test(&settings))
                }
                _ => MediaEvent::Devices(crate::media_bridge::list_devices()),
            });
        });
        if let Err(e) = started {
            eprintln!("concord: cannot start a media thread: {e}");
        }
    }

    /// Lists the browser's devices; the call test is the desktop app's.
    #[cfg(target_arch = "wasm32")]
    fn ask_devices(&self, command: MediaCommand, post: Post) {
        match command {
            MediaCommand::RunCallTest(_) => post(MediaEvent::CallTestFinished(Err(
                "The call test runs in the desktop app. In the browser, your browser asks for the camera \
                 and microphone when you join a call."
                    .to_owned(),
            ))),
            _ => crate::web_call::devices::list(post),
        }
    }

    /// Plays the microphone back through the voice chain (again from the
    /// start if it runs), or says why it cannot.
    #[cfg(not(target_arch = "wasm32"))]
    fn start_mic_check(&mut self, settings: crate::settings::MediaSettings, post: Post) {
        self.stop_mic_check();
        match crate::media_bridge::MicCheckHost::start(&settings, Arc::clone(&post)) {
            Ok(check) => self.mic_check = Some(check),
            Err(reason) => post(MediaEvent::MicCheck(MicCheckReport::Ended(reason))),
        }
    }

    /// The browser processes its microphone itself; Settings offers no check there.
    #[cfg(target_arch = "wasm32")]
    fn start_mic_check(&mut self, _settings: crate::settings::MediaSettings, post: Post) {
        post(MediaEvent::MicCheck(MicCheckReport::Ended(
            "Hearing yourself is a desktop app feature; in the browser, join a call to see your level."
                .to_owned(),
        )));
    }

    fn stop_mic_check(&mut self) {
        #[cfg(not(target_arch = "wasm32"))]
        drop(self.mic_check.take());
    }

    /// The call on the media engine, or its end at once if it cannot start.
    #[cfg(not(target_arch = "wasm32"))]
    fn start_call(&self, start: CallStart, post: Post) -> Option<CallHandle> {
        let room = start.room;
        match crate::call_bridge::CallHost::start(start, self.commands.clone(), self.context.clone(), post) {
            Ok(call) => Some(call),
            Err(reason) => {
                (self.post)(MediaEvent::Call {
                    room,
                    report: super::protocol::CallReport::Ended { reason: Some(reason) },
                });
                None
            }
        }
    }

    /// The call through the browser's WebRTC.
    #[cfg(target_arch = "wasm32")]
    fn start_call(&self, start: CallStart, post: Post) -> Option<CallHandle> {
        Some(crate::web_call::WebCall::start(start, self.commands.clone(), self.context.clone(), post))
    }

    /// The next pending event, without waiting.
    pub fn try_recv(&mut self) -> Option<MediaEvent> {
        self.events.try_recv().ok()
    }
}
