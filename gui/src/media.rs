//! The media actor: device lists, the call test and the call itself,
//! answered off the UI thread and apart from the network actor. Same shape
//! as the network side: [`MediaCommand`]s in, [`MediaEvent`]s out, a
//! wake-up call when one lands. The call's signaling goes straight to the
//! network actor through a [`CommandSender`]; the app forwards the call's
//! network events here ([`MediaCommand::CallNet`]).

use std::sync::{mpsc, Arc};

use concord_client::{CommandSender, NetEvent, Wake};
use concord_common::events::{CallMedia, TrackSource};
use concord_common::{RoomId, UserId};

use crate::settings::{CallTestSummary, DeviceChoices, MediaSettings};

/// What the app asks of the media side.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaCommand {
    /// List cameras, screens, microphones and speakers.
    ListDevices,
    /// Run the call test with these devices.
    RunCallTest(MediaSettings),
    /// Join a room's call (leaving the one in progress, if any).
    JoinCall(CallStart),
    /// Change what is switched on in the call.
    SetCallMedia(CallMedia),
    /// The picked devices changed: the call's sources open again from these.
    SetCallDevices(MediaSettings),
    /// Leave the call.
    LeaveCall,
    /// A network event the call needs (its frames, the websocket's state).
    CallNet(NetEvent),
}

/// Everything a call needs to start.
#[derive(Debug, Clone, PartialEq)]
pub struct CallStart {
    /// The room.
    pub room: RoomId,
    /// Who I am.
    pub me: UserId,
    /// The server (`http://host:port`).
    pub server: String,
    /// What to switch on.
    pub want: CallMedia,
    /// Which devices to use.
    pub devices: MediaSettings,
}

/// What the media side reports.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaEvent {
    /// The devices this machine has (none in a browser: it picks them itself).
    Devices(Vec<DeviceChoices>),
    /// The call test finished, or could not run.
    CallTestFinished(Result<CallTestSummary, String>),
    /// News of `room`'s call.
    Call {
        /// The room.
        room: RoomId,
        /// What happened.
        report: CallReport,
    },
}

/// News of the call in progress.
#[derive(Debug, Clone, PartialEq)]
pub enum CallReport {
    /// Media flows.
    Connected,
    /// The connection was lost; joining again.
    Rejoining,
    /// What is really switched on (a source may have failed to open).
    Media(CallMedia),
    /// Something went wrong, in words.
    Problem(String),
    /// A remote video track's picture lives in `texture` from now on.
    Video {
        /// Whose.
        user: UserId,
        /// Camera or screen.
        source: TrackSource,
        /// Updated in place as frames are decoded.
        texture: VideoTexture,
    },
    /// Every remote track is gone (a rejoin).
    VideosCleared,
    /// One sample per remote track, once a second.
    Stats(Vec<TrackStats>),
    /// The call is over; `reason` when it ended by itself.
    Ended {
        /// Why, in words.
        reason: Option<String>,
    },
}

/// A remote video's texture: the decoder thread writes every new picture
/// into it, so the UI thread never waits for or copies a frame.
#[derive(Clone)]
pub struct VideoTexture {
    /// The picture.
    pub texture: egui::TextureHandle,
}

impl VideoTexture {
    /// The picture's size in pixels.
    pub fn size(&self) -> egui::Vec2 {
        self.texture.size_vec2()
    }
}

impl std::fmt::Debug for VideoTexture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VideoTexture({:?})", self.texture.id())
    }
}

impl PartialEq for VideoTexture {
    fn eq(&self, other: &Self) -> bool {
        self.texture.id() == other.texture.id()
    }
}

/// One second of one remote track, for the stats overlay.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackStats {
    /// Whose track.
    pub user: UserId,
    /// Which.
    pub source: TrackSource,
    /// Kilobits per second received.
    pub kbps: f32,
    /// Frames decoded per second (audio: packets per second).
    pub fps: f32,
    /// Packets lost in that second, in percent of those expected.
    pub loss_percent: f32,
    /// Round-trip time to the server on the receiving connection.
    pub rtt_ms: Option<f32>,
}

/// How media tasks post an event and wake the app.
pub type Post = Arc<dyn Fn(MediaEvent) + Send + Sync>;

/// The app's handle on the media side.
pub struct Media {
    post: Post,
    events: mpsc::Receiver<MediaEvent>,
    #[cfg(not(target_arch = "wasm32"))]
    context: egui::Context,
    #[cfg(not(target_arch = "wasm32"))]
    commands: CommandSender,
    #[cfg(not(target_arch = "wasm32"))]
    call: Option<crate::call_bridge::CallHost>,
}

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
        #[cfg(target_arch = "wasm32")]
        let _ = (context, commands);
        Self {
            post,
            events,
            #[cfg(not(target_arch = "wasm32"))]
            context,
            #[cfg(not(target_arch = "wasm32"))]
            commands,
            #[cfg(not(target_arch = "wasm32"))]
            call: None,
        }
    }

    /// Starts `command`; its answers arrive as [`MediaEvent`]s.
    pub fn send(&mut self, command: MediaCommand) {
        let post = Arc::clone(&self.post);
        #[cfg(not(target_arch = "wasm32"))]
        match command {
            MediaCommand::ListDevices | MediaCommand::RunCallTest(_) => {
                // Both block (device probing, a few seconds of call): a thread each.
                let started =
                    std::thread::Builder::new().name("concord-media-command".into()).spawn(move || {
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
            MediaCommand::JoinCall(start) => {
                if let Some(call) = self.call.take() {
                    call.leave();
                }
                let room = start.room;
                match crate::call_bridge::CallHost::start(
                    start,
                    self.commands.clone(),
                    self.context.clone(),
                    post,
                ) {
                    Ok(call) => self.call = Some(call),
                    Err(reason) => (self.post)(MediaEvent::Call {
                        room,
                        report: CallReport::Ended { reason: Some(reason) },
                    }),
                }
            }
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
        #[cfg(target_arch = "wasm32")]
        match command {
            MediaCommand::ListDevices => post(MediaEvent::Devices(Vec::new())),
            MediaCommand::RunCallTest(_) => post(MediaEvent::CallTestFinished(Err(
                "The call test runs in the desktop app. In the browser, your browser asks for the camera \
                 and microphone when you join a call."
                    .to_owned(),
            ))),
            // The browser build offers no call to join yet (the room says so).
            MediaCommand::JoinCall(_)
            | MediaCommand::SetCallMedia(_)
            | MediaCommand::SetCallDevices(_)
            | MediaCommand::LeaveCall
            | MediaCommand::CallNet(_) => {}
        }
    }

    /// The next pending event, without waiting.
    pub fn try_recv(&mut self) -> Option<MediaEvent> {
        self.events.try_recv().ok()
    }
}
