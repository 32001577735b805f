//! Icons: Phosphor's (regular weight, MIT licence), from the small font
//! `assets/fonts/concord-icons.ttf` that holds exactly these (made by
//! `assets/fonts/make-icons.sh`). They are text: put one in a `RichText` or a
//! button label. An icon-only button gets a tooltip and an accessible name
//! ([`icon_button`]).

/// Add a friend.
pub const USER_PLUS: &str = "\u{E4D0}";
/// Accept.
pub const CHECK: &str = "\u{E182}";
/// Reject, close.
pub const X: &str = "\u{E4F6}";
/// The menu.
pub const LIST: &str = "\u{E2F0}";
/// Send a message.
pub const PAPER_PLANE_RIGHT: &str = "\u{E396}";
/// Copy.
pub const COPY: &str = "\u{E1CA}";
/// Settings.
pub const GEAR: &str = "\u{E270}";
/// Log out.
pub const SIGN_OUT: &str = "\u{E42A}";
/// Microphone on / muted (calls).
pub const MICROPHONE: &str = "\u{E326}";
/// Microphone muted.
pub const MICROPHONE_SLASH: &str = "\u{E328}";
/// Camera on.
pub const VIDEO_CAMERA: &str = "\u{E4DA}";
/// Camera off.
pub const VIDEO_CAMERA_SLASH: &str = "\u{E4DC}";
/// Share the screen.
pub const MONITOR: &str = "\u{E32E}";
/// Sound on.
pub const SPEAKER_HIGH: &str = "\u{E44A}";
/// Deafened.
pub const SPEAKER_SLASH: &str = "\u{E45A}";
/// Leave the call.
pub const PHONE_DISCONNECT: &str = "\u{E3BC}";
/// People in a room.
pub const USERS: &str = "\u{E4D6}";
/// Back (to the list, on a phone-sized window).
pub const ARROW_LEFT: &str = "\u{E058}";
/// Join a call.
pub const PHONE: &str = "\u{E3B8}";
/// In-call chat.
pub const CHAT_TEXT: &str = "\u{E17A}";
/// Create (a room).
pub const PLUS: &str = "\u{E3D4}";
/// Rename.
pub const PENCIL_SIMPLE: &str = "\u{E3B4}";
/// Delete.
pub const TRASH: &str = "\u{E4A6}";
/// Remove someone.
pub const USER_MINUS: &str = "\u{E4CE}";

/// Every icon, for the test that the font has them all.
pub const ALL: [&str; 24] = [
    USER_PLUS,
    CHECK,
    X,
    LIST,
    PAPER_PLANE_RIGHT,
    COPY,
    GEAR,
    SIGN_OUT,
    MICROPHONE,
    MICROPHONE_SLASH,
    VIDEO_CAMERA,
    VIDEO_CAMERA_SLASH,
    MONITOR,
    SPEAKER_HIGH,
    SPEAKER_SLASH,
    PHONE_DISCONNECT,
    USERS,
    ARROW_LEFT,
    PHONE,
    CHAT_TEXT,
    PLUS,
    PENCIL_SIMPLE,
    TRASH,
    USER_MINUS,
];

/// The icon font's bytes (a few kilobytes; both builds embed it).
pub const FONT: &[u8] = include_bytes!("../../../assets/fonts/concord-icons.ttf");

/// An icon-only button whose tooltip and accessible name say what it does
/// (tests and screen readers find it by `name`).
pub fn icon_button(ui: &mut egui::Ui, icon: &str, name: &str) -> egui::Response {
    super::named(ui.button(icon).on_hover_text(name), name)
}
