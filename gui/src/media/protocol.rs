//! What the app and the media side say to each other: [`MediaCommand`]s in,
//! [`MediaEvent`]s (with a call's [`CallReport`]s) out, and the plain data
//! they carry. The desktop's call (`call_bridge`) and the browser's
//! (`web_call`) speak this protocol without knowing the actor that hosts them.

use std::sync::Arc;

use concord_client::NetEvent;
use concord_common::events::{CallMedia, TileView, TrackSource, VideoQuality};
use concord_common::{RoomId, UserId};

use crate::settings::{CallTestSummary, DeviceChoices, MediaSettings};

/// What the app asks of the media side.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaCommand {
    /// List cameras, screens, microphones and speakers.
    ListDevices,
    /// Run the call test with these devices.
    RunCallTest(MediaSettings),
    /// "Let me hear myself": play the microphone back through the voice
    /// chain with these settings (again from the start if it runs).
    StartMicCheck(MediaSettings),
    /// Stop hearing myself.
    StopMicCheck,
    /// Join a room's call (leaving the one in progress, if any).
    JoinCall(CallStart),
    /// Change what is switched on in the call.
    SetCallMedia(CallMedia),
    /// The picked devices changed: the call's sources open again from these.
    SetCallDevices(MediaSettings),
    /// The push-to-talk key went down (`true`) or up (in the call, or
    /// while I hear myself).
    PushToTalk(bool),
    /// My volume for one person in the call changed (0 muted for me … 2).
    SetVolume {
        /// Whose.
        user: UserId,
        /// The factor their audio is mixed at.
        gain: f32,
    },
    /// Which of the others' videos the call shows (hidden ones are not sent).
    SetCallView(Vec<TileView>),
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
    /// The devices this machine (or browser) has.
    Devices(Vec<DeviceChoices>),
    /// The call test finished, or could not run.
    CallTestFinished(Result<CallTestSummary, String>),
    /// News of "Let me hear myself".
    MicCheck(MicCheckReport),
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
    /// My own camera or screen is sent reduced or not at all for my uplink,
    /// or in full again (desktop).
    Uplink {
        /// Which of my videos.
        source: TrackSource,
        /// How it is sent now.
        quality: VideoQuality,
    },
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
    /// My microphone's level and whether it is sent (desktop).
    InputLevel(InputLevel),
    /// The call is over; `reason` when it ended by itself.
    Ended {
        /// Why, in words.
        reason: Option<String>,
    },
}

/// News of "Let me hear myself" (desktop).
#[derive(Debug, Clone, PartialEq)]
pub enum MicCheckReport {
    /// My microphone's level after processing, ten times a second.
    Level(InputLevel),
    /// It stopped by itself (could not start, or the microphone failed), in words.
    Ended(String),
}

/// A video's picture, kept current off the UI thread's work: drawing it
/// copies nothing. On the desktop a decoder thread writes each new picture
/// into an egui texture; in the browser the `<video>` element playing the
/// track is uploaded to the GPU as the tile is painted (`web_call::video`).
#[derive(Clone)]
pub struct VideoTexture {
    picture: Picture,
}

#[derive(Clone)]
enum Picture {
    Texture(egui::TextureHandle),
    #[cfg(target_arch = "wasm32")]
    Element(crate::web_call::video::VideoKey),
}

impl VideoTexture {
    /// A picture the owner of `texture` keeps current.
    pub fn new(texture: egui::TextureHandle) -> Self {
        Self { picture: Picture::Texture(texture) }
    }

    /// The browser's `<video>` element registered as `key`.
    #[cfg(target_arch = "wasm32")]
    pub fn element(key: crate::web_call::video::VideoKey) -> Self {
        Self { picture: Picture::Element(key) }
    }

    /// The picture's size in pixels.
    pub fn size(&self) -> egui::Vec2 {
        match &self.picture {
            Picture::Texture(texture) => texture.size_vec2(),
            #[cfg(target_arch = "wasm32")]
            Picture::Element(key) => crate::web_call::video::size(*key),
        }
    }

    /// Frames shown so far, where the picture counts them (the browser's
    /// video elements do; a desktop texture does not).
    pub fn frames_presented(&self) -> Option<u64> {
        match &self.picture {
            Picture::Texture(_) => None,
            #[cfg(target_arch = "wasm32")]
            Picture::Element(key) => Some(crate::web_call::video::frames_presented(*key)),
        }
    }

    /// Draws the picture stretched over `rect`.
    pub fn paint(&self, painter: &egui::Painter, rect: egui::Rect) {
        match &self.picture {
            Picture::Texture(texture) => {
                let uv = egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0));
                painter.image(texture.id(), rect, uv, egui::Color32::WHITE);
            }
            #[cfg(target_arch = "wasm32")]
            Picture::Element(key) => {
                painter.add(crate::web_call::video::paint_callback(*key, rect));
            }
        }
    }
}

impl std::fmt::Debug for VideoTexture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.picture {
            Picture::Texture(texture) => write!(f, "VideoTexture({:?})", texture.id()),
            #[cfg(target_arch = "wasm32")]
            Picture::Element(key) => write!(f, "VideoTexture(video {key})"),
        }
    }
}

impl PartialEq for VideoTexture {
    fn eq(&self, other: &Self) -> bool {
        match (&self.picture, &other.picture) {
            (Picture::Texture(a), Picture::Texture(b)) => a.id() == b.id(),
            #[cfg(target_arch = "wasm32")]
            (Picture::Element(a), Picture::Element(b)) => a == b,
            #[cfg(target_arch = "wasm32")]
            _ => false,
        }
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
    /// Audio: how loud they were as mixed for me in that second (after my
    /// volume for them), in dBFS; `None` with nothing played (no speaker).
    pub heard_dbfs: Option<f32>,
}

/// My microphone as the call sends it, ten times a second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InputLevel {
    /// The latest frame's level after processing, in dBFS.
    pub level_db: f32,
    /// Voice activity's threshold in effect, in dBFS.
    pub threshold_db: f32,
    /// Whether that frame was sent (voice activity or the key).
    pub sending: bool,
}

/// How media tasks post an event and wake the app.
pub type Post = Arc<dyn Fn(MediaEvent) + Send + Sync>;
