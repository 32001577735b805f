//! Settings kept across restarts: the theme, and which camera, screen,
//! microphone and speaker to use; and the call test's state.
//!
//! The types here are plain data so the browser build shares them; the
//! desktop fills them from the media engine (`media_bridge`).

use std::collections::BTreeMap;

use concord_common::UserId;
use serde::{Deserialize, Serialize};

/// What a conversation notifies me of (per DM and per room; a DM's default
/// is every message, a room's the messages that mention me).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NotifyLevel {
    /// Every message from someone else.
    All,
    /// Only messages that mention me.
    Mentions,
    /// Nothing (the room's @ badge still counts mentions).
    Nothing,
}

impl NotifyLevel {
    /// The choices, in the order the menu shows them.
    pub const ALL: [NotifyLevel; 3] = [NotifyLevel::All, NotifyLevel::Mentions, NotifyLevel::Nothing];

    /// The label in the menu.
    pub fn label(self) -> &'static str {
        match self {
            Self::All => "All messages",
            Self::Mentions => "Only @mentions",
            Self::Nothing => "Nothing",
        }
    }
}

/// Which theme Concord draws in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ThemeChoice {
    /// Follow the system (desktop) or the browser (`prefers-color-scheme`).
    #[default]
    System,
    /// Always dark.
    Dark,
    /// Always light.
    Light,
}

impl ThemeChoice {
    /// The choices, in the order Settings shows them.
    pub const ALL: [ThemeChoice; 3] = [ThemeChoice::System, ThemeChoice::Dark, ThemeChoice::Light];

    /// The label in Settings.
    pub fn label(self) -> &'static str {
        match self {
            Self::System => "Match system",
            Self::Dark => "Dark",
            Self::Light => "Light",
        }
    }
}

/// What to use for one kind of device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Pick {
    /// The system default.
    #[default]
    Default,
    /// A device by name.
    Named(String),
    /// The synthetic source: a moving test pattern, or a test tone.
    Synthetic,
    /// None.
    Off,
}

/// The device kinds, in the order settings shows them.
pub const KINDS: [DeviceKind; 4] =
    [DeviceKind::Camera, DeviceKind::Screen, DeviceKind::Microphone, DeviceKind::Speaker];

/// A kind of device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DeviceKind {
    /// Camera.
    Camera,
    /// Screen to share.
    Screen,
    /// Microphone.
    Microphone,
    /// Speaker or headphones.
    Speaker,
}

impl DeviceKind {
    /// The label in settings.
    pub fn label(self) -> &'static str {
        match self {
            Self::Camera => "Camera",
            Self::Screen => "Screen",
            Self::Microphone => "Microphone",
            Self::Speaker => "Speaker",
        }
    }

    /// What the synthetic choice is called for this kind (the browser has
    /// only its own devices).
    pub fn synthetic_label(self) -> Option<&'static str> {
        if cfg!(target_arch = "wasm32") {
            return None;
        }
        match self {
            Self::Camera | Self::Screen => Some("Test pattern"),
            Self::Microphone => Some("Test tone"),
            Self::Speaker => Some("Silent (measure only)"),
        }
    }
}

/// The noise filter on my microphone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum NoiseChoice {
    /// WebRTC's noise suppressor: fans, hum, hiss.
    #[default]
    Standard,
    /// The standard suppressor and RNNoise: keyboards, streets, loud rooms.
    Strong,
    /// None.
    Off,
}

impl NoiseChoice {
    /// The choices, in the order Settings shows them.
    pub const ALL: [NoiseChoice; 3] = [NoiseChoice::Standard, NoiseChoice::Strong, NoiseChoice::Off];

    /// The label in Settings.
    pub fn label(self) -> &'static str {
        match self {
            Self::Standard => "Standard",
            Self::Strong => "Strong",
            Self::Off => "Off",
        }
    }
}

/// How my microphone opens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum InputModeChoice {
    /// Sent while I speak louder than the input sensitivity.
    #[default]
    VoiceActivity,
    /// Sent only while I hold the push-to-talk key.
    PushToTalk,
}

impl InputModeChoice {
    /// The choices, in the order Settings shows them.
    pub const ALL: [InputModeChoice; 2] = [InputModeChoice::VoiceActivity, InputModeChoice::PushToTalk];

    /// The label in Settings.
    pub fn label(self) -> &'static str {
        match self {
            Self::VoiceActivity => "Voice activity",
            Self::PushToTalk => "Push to talk",
        }
    }
}

/// Keys offered for push-to-talk: ones no text field or shortcut uses.
pub const PUSH_TO_TALK_KEYS: [egui::Key; 8] = [
    egui::Key::F8,
    egui::Key::F9,
    egui::Key::F10,
    egui::Key::F11,
    egui::Key::F12,
    egui::Key::Backtick,
    egui::Key::Insert,
    egui::Key::Pause,
];

/// The push-to-talk key when none was chosen.
pub const DEFAULT_PUSH_TO_TALK_KEY: &str = "F8";

/// What runs on my microphone before it is sent (desktop: the media
/// engine's voice processing; the browser does its own), and when it is sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VoiceChoices {
    /// Cancel the call's sound coming back from my speakers.
    pub echo_cancellation: bool,
    /// The noise filter.
    pub noise: NoiseChoice,
    /// Bring a quiet microphone up (and a loud one down).
    pub gain_control: bool,
    /// Voice activity or push-to-talk.
    pub input_mode: InputModeChoice,
    /// Voice activity's threshold in dBFS; `None`: automatic.
    pub sensitivity_db: Option<f32>,
    /// The push-to-talk key, by egui's name for it (e.g. "F8").
    pub push_to_talk_key: String,
}

impl Default for VoiceChoices {
    fn default() -> Self {
        Self {
            echo_cancellation: true,
            noise: NoiseChoice::Standard,
            gain_control: true,
            input_mode: InputModeChoice::VoiceActivity,
            sensitivity_db: None,
            push_to_talk_key: DEFAULT_PUSH_TO_TALK_KEY.to_owned(),
        }
    }
}

/// How loud I hear one person (persisted per person, across calls).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PersonVolume {
    /// 0 to 200 %.
    pub percent: u16,
    /// Muted for me only (they still speak to everyone else).
    pub muted: bool,
}

impl Default for PersonVolume {
    fn default() -> Self {
        Self { percent: 100, muted: false }
    }
}

impl PersonVolume {
    /// The most a person can be turned up.
    pub const MAX_PERCENT: u16 = 200;

    /// The factor their audio is mixed at.
    pub fn gain(self) -> f32 {
        if self.muted {
            0.0
        } else {
            f32::from(self.percent.min(Self::MAX_PERCENT)) / 100.0
        }
    }
}

/// The chosen devices and voice processing (persisted).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MediaSettings {
    /// Camera.
    pub camera: Pick,
    /// Screen.
    pub screen: Pick,
    /// Microphone.
    pub microphone: Pick,
    /// Speaker.
    pub speaker: Pick,
    /// Voice processing on the microphone.
    pub voice: VoiceChoices,
    /// My volume for people I have turned up, down or muted (the rest: 100 %).
    pub volumes: BTreeMap<UserId, PersonVolume>,
}

impl MediaSettings {
    /// My volume for `user`.
    pub fn volume(&self, user: UserId) -> PersonVolume {
        self.volumes.get(&user).copied().unwrap_or_default()
    }
}

impl MediaSettings {
    /// The pick for one kind.
    pub fn pick_mut(&mut self, kind: DeviceKind) -> &mut Pick {
        match kind {
            DeviceKind::Camera => &mut self.camera,
            DeviceKind::Screen => &mut self.screen,
            DeviceKind::Microphone => &mut self.microphone,
            DeviceKind::Speaker => &mut self.speaker,
        }
    }
}

/// The devices of one kind this machine has, or why it has none.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceChoices {
    /// Which kind.
    pub kind: DeviceKind,
    /// Device names.
    pub names: Vec<String>,
    /// Why there are none (no camera, no display, no sound card).
    pub unavailable: Option<String>,
}

/// A finished call test, ready to show.
#[derive(Debug, Clone, PartialEq)]
pub struct CallTestSummary {
    /// Whether a call would work with these devices.
    pub ok: bool,
    /// One sentence for the person.
    pub verdict: String,
    /// (what, result) rows.
    pub lines: Vec<(String, String)>,
    /// The full report, as `concord selftest` prints it.
    pub json: String,
}

/// The Settings window's state.
#[derive(Debug, Clone, Default)]
pub struct SettingsPanel {
    /// Shown?
    pub open: bool,
    /// Devices found (empty until listed).
    pub devices: Vec<DeviceChoices>,
    /// A listing is in flight.
    pub listing: bool,
    /// A call test is running.
    pub testing: bool,
    /// The last call test's result.
    pub result: Option<Result<CallTestSummary, String>>,
    /// "Let me hear myself" runs (desktop, outside a call).
    pub mic_check: bool,
    /// The microphone's level while it runs.
    pub mic_level: Option<crate::media::protocol::InputLevel>,
    /// Whether the push-to-talk key is held while it runs.
    pub mic_check_key_down: bool,
    /// Why it stopped by itself, in words.
    pub mic_check_problem: Option<String>,
}

impl SettingsPanel {
    /// The devices found for one kind.
    pub fn choices(&self, kind: DeviceKind) -> Option<&DeviceChoices> {
        self.devices.iter().find(|d| d.kind == kind)
    }
}
