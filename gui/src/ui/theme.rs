//! Colours, spacing and fonts in one place.

use egui::Color32;
#[cfg(not(target_arch = "wasm32"))]
use egui::{FontData, FontDefinitions, FontFamily};

/// Accent (links, notices, own messages).
pub const ACCENT: Color32 = Color32::from_rgb(88, 101, 242);
/// Secondary text.
pub const MUTED: Color32 = Color32::from_rgb(140, 144, 150);
/// Presence: online.
pub const ONLINE: Color32 = Color32::from_rgb(35, 165, 90);
/// Presence: offline.
pub const OFFLINE: Color32 = Color32::from_rgb(116, 127, 141);
/// Errors.
pub const ERROR: Color32 = Color32::from_rgb(237, 66, 69);
/// Warnings (the reconnect banner).
pub const WARNING: Color32 = Color32::from_rgb(240, 178, 50);
/// Unread badge.
pub const BADGE: Color32 = Color32::from_rgb(237, 66, 69);

/// A monochrome font with wide emoji and symbol coverage (Symbola), used as
/// a fallback after egui's own fonts. Desktop only: at 3 MB it would double
/// the web client's download, which relies on egui's built-in Noto Emoji.
#[cfg(not(target_arch = "wasm32"))]
const EMOJI_FONT: &[u8] = include_bytes!("../../../assets/fonts/Symbola.ttf");

/// Installs Concord's fonts: egui's defaults, then the emoji fallback.
#[cfg(target_arch = "wasm32")]
pub fn install_fonts(_ctx: &egui::Context) {}

/// Installs Concord's fonts: egui's defaults, then the emoji fallback.
#[cfg(not(target_arch = "wasm32"))]
pub fn install_fonts(ctx: &egui::Context) {
    let mut fonts = FontDefinitions::default();
    fonts.font_data.insert("symbola".into(), FontData::from_static(EMOJI_FONT).into());
    for family in [FontFamily::Proportional, FontFamily::Monospace] {
        fonts.families.entry(family).or_default().push("symbola".into());
    }
    ctx.set_fonts(fonts);
}
