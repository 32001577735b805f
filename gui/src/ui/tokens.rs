//! Design tokens: every colour, space, radius and size the screens use, in
//! one place, for a dark and a light theme. Screens read them through
//! [`palette`] and the constants here, never as literals; `theme` turns them
//! into egui's `Visuals` and `Style`.

use egui::Color32;

/// The colours of one theme, by role.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Palette {
    /// Behind the conversation (the central panel).
    pub background: Color32,
    /// The sidebar and the top bar.
    pub panel: Color32,
    /// Cards, dialogs and text fields.
    pub surface: Color32,
    /// A row or button under the pointer.
    pub hover: Color32,
    /// Lines between areas, field outlines.
    pub border: Color32,
    /// Body text.
    pub text: Color32,
    /// Secondary text: times, hints, section titles.
    pub text_muted: Color32,
    /// Primary buttons, links, focus, the selected row.
    pub accent: Color32,
    /// Text and icons drawn on `accent`.
    pub on_accent: Color32,
    /// Presence: online.
    pub online: Color32,
    /// Presence: offline.
    pub offline: Color32,
    /// Errors.
    pub error: Color32,
    /// Warnings (the reconnect banner, an unavailable device).
    pub warning: Color32,
    /// Unread badge.
    pub badge: Color32,
    /// Text on the unread badge.
    pub on_badge: Color32,
}

/// The dark theme.
pub const DARK: Palette = Palette {
    background: Color32::from_rgb(0x31, 0x33, 0x38),
    panel: Color32::from_rgb(0x2b, 0x2d, 0x31),
    surface: Color32::from_rgb(0x1e, 0x1f, 0x22),
    hover: Color32::from_rgb(0x3a, 0x3c, 0x42),
    border: Color32::from_rgb(0x3f, 0x41, 0x47),
    text: Color32::from_rgb(0xdb, 0xde, 0xe1),
    text_muted: Color32::from_rgb(0x94, 0x9b, 0xa4),
    accent: Color32::from_rgb(0x58, 0x65, 0xf2),
    on_accent: Color32::WHITE,
    online: Color32::from_rgb(0x23, 0xa5, 0x5a),
    offline: Color32::from_rgb(0x80, 0x84, 0x8e),
    error: Color32::from_rgb(0xf2, 0x3f, 0x43),
    warning: Color32::from_rgb(0xf0, 0xb2, 0x32),
    badge: Color32::from_rgb(0xf2, 0x3f, 0x43),
    on_badge: Color32::WHITE,
};

/// The light theme.
pub const LIGHT: Palette = Palette {
    background: Color32::from_rgb(0xff, 0xff, 0xff),
    panel: Color32::from_rgb(0xf2, 0xf3, 0xf5),
    surface: Color32::from_rgb(0xeb, 0xed, 0xef),
    hover: Color32::from_rgb(0xe0, 0xe2, 0xe6),
    border: Color32::from_rgb(0xd4, 0xd7, 0xdc),
    text: Color32::from_rgb(0x31, 0x33, 0x38),
    text_muted: Color32::from_rgb(0x5c, 0x5e, 0x66),
    accent: Color32::from_rgb(0x4e, 0x5b, 0xe8),
    on_accent: Color32::WHITE,
    online: Color32::from_rgb(0x1f, 0x8b, 0x4c),
    offline: Color32::from_rgb(0x80, 0x84, 0x8e),
    error: Color32::from_rgb(0xd8, 0x3c, 0x3e),
    warning: Color32::from_rgb(0xa8, 0x6b, 0x00),
    badge: Color32::from_rgb(0xd8, 0x3c, 0x3e),
    on_badge: Color32::WHITE,
};

/// The palette of `theme`.
pub fn palette_of(theme: egui::Theme) -> &'static Palette {
    match theme {
        egui::Theme::Dark => &DARK,
        egui::Theme::Light => &LIGHT,
    }
}

/// The palette of the theme `ui` is drawn in.
pub fn palette(ui: &egui::Ui) -> &'static Palette {
    palette_of(ui.ctx().theme())
}

/// Avatar backgrounds; a person's is picked by their id, so it never changes.
pub const AVATAR_COLORS: [Color32; 8] = [
    Color32::from_rgb(0x58, 0x65, 0xf2),
    Color32::from_rgb(0x3b, 0xa5, 0x5d),
    Color32::from_rgb(0xe6, 0x7e, 0x22),
    Color32::from_rgb(0xd9, 0x3f, 0x7a),
    Color32::from_rgb(0x1a, 0x9c, 0xa8),
    Color32::from_rgb(0x9b, 0x59, 0xb6),
    Color32::from_rgb(0xc0, 0x39, 0x2b),
    Color32::from_rgb(0x5d, 0x6d, 0x7e),
];

/// The spacing scale, in points.
pub mod space {
    /// Between an icon and its label; inside dense rows.
    pub const XS: f32 = 4.0;
    /// Between related items.
    pub const S: f32 = 8.0;
    /// Between groups within a section; inner margin of cards.
    pub const M: f32 = 12.0;
    /// Between sections.
    pub const L: f32 = 16.0;
    /// Around a card; above a message group.
    pub const XL: f32 = 24.0;
    /// Margins of a centred screen.
    pub const XXL: f32 = 40.0;
}

/// Corner radii, in points.
pub mod radius {
    /// Buttons, fields, rows.
    pub const S: u8 = 4;
    /// Banners, menus.
    pub const M: u8 = 8;
    /// Cards and windows.
    pub const L: u8 = 12;
}

/// The type scale, in points.
pub mod text {
    /// Times, hints, section titles.
    pub const SMALL: f32 = 12.0;
    /// Messages, labels, buttons.
    pub const BODY: f32 = 14.5;
    /// A conversation's title, window titles.
    pub const HEADING: f32 = 19.0;
    /// The welcome title.
    pub const TITLE: f32 = 26.0;
}

/// Sizes of recurring elements, in points.
pub mod size {
    /// The log-in card's width.
    pub const CARD_WIDTH: f32 = 380.0;
    /// The Settings window's starting width.
    pub const SETTINGS_WIDTH: f32 = 520.0;
    /// The sidebar's starting width.
    pub const SIDEBAR_WIDTH: f32 = 260.0;
    /// Narrower windows (phones) show one column at a time: the list, or
    /// the open conversation with a back button.
    pub const NARROW_WIDTH: f32 = 600.0;
    /// Longest line of a message before it wraps (readable on wide windows).
    pub const READABLE_WIDTH: f32 = 760.0;
    /// A friend row in the sidebar.
    pub const ROW_HEIGHT: f32 = 36.0;
    /// Avatar in the sidebar and invites.
    pub const AVATAR_SMALL: f32 = 26.0;
    /// Avatar at the head of a message group.
    pub const AVATAR_MESSAGE: f32 = 36.0;
    /// Height of a primary button.
    pub const BUTTON_HEIGHT: f32 = 32.0;
    /// Height a single-line field is drawn at.
    pub const FIELD_HEIGHT: f32 = 30.0;
    /// The composer's Send button.
    pub const SEND_WIDTH: f32 = 84.0;
    /// An action shown on a hovered row ("Copy").
    pub const ROW_ACTION_WIDTH: f32 = 56.0;
    /// The unread badge's radius.
    pub const BADGE_RADIUS: f32 = 10.0;
    /// The tallest the search window's list of hits grows before it scrolls.
    pub const SEARCH_RESULTS_HEIGHT: f32 = 420.0;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// WCAG relative luminance of an sRGB colour.
    fn luminance(c: Color32) -> f32 {
        let channel = |v: u8| {
            let v = f32::from(v) / 255.0;
            if v <= 0.039_28 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(c.r()) + 0.7152 * channel(c.g()) + 0.0722 * channel(c.b())
    }

    fn contrast(a: Color32, b: Color32) -> f32 {
        let (a, b) = (luminance(a), luminance(b));
        (a.max(b) + 0.05) / (a.min(b) + 0.05)
    }

    /// Text stays readable on every background it is drawn on (WCAG AA:
    /// 4.5:1 for body text, 3:1 for secondary text, badges and accents).
    #[test]
    fn both_themes_keep_text_readable() {
        for (name, p) in [("dark", DARK), ("light", LIGHT)] {
            for (bg_name, bg) in [("background", p.background), ("panel", p.panel), ("surface", p.surface)] {
                assert!(contrast(p.text, bg) >= 4.5, "{name}: text on {bg_name}: {}", contrast(p.text, bg));
                let muted = contrast(p.text_muted, bg);
                assert!(muted >= 3.0, "{name}: muted text on {bg_name}: {muted}");
            }
            assert!(contrast(p.on_accent, p.accent) >= 4.5, "{name}: text on accent");
            assert!(contrast(p.on_badge, p.badge) >= 3.0, "{name}: badge");
            assert!(contrast(p.error, p.background) >= 3.0, "{name}: error on background");
            assert!(contrast(p.warning, p.panel) >= 3.0, "{name}: warning on panel");
        }
    }
}
