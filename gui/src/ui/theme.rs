//! Turns the design tokens (`tokens`) into egui's look for both themes,
//! follows the theme the person chose (or the system's), and installs the
//! fonts.

use egui::{
    Color32, CornerRadius, FontData, FontDefinitions, FontFamily, FontId, Stroke, TextStyle, Theme, Visuals,
};

use super::icons;
use super::tokens::{self, radius, space, text, Palette};
use crate::settings::ThemeChoice;

/// Colour emoji (Twemoji Mozilla, COLR): drawn in colour by egui's
/// `color_fonts`, joined sequences and skin tones shaped into one picture.
/// Built into the desktop binary; the web client fetches it after its first
/// paint (like Symbola), keeping the first download small.
#[cfg(not(target_arch = "wasm32"))]
const COLOR_EMOJI_FONT: &[u8] = include_bytes!("../../../assets/fonts/Twemoji.ttf");

/// A monochrome font with wide symbol coverage (Symbola), the last fallback:
/// arrows, maths, dingbats, and any emoji newer than the colour set.
#[cfg(not(target_arch = "wasm32"))]
const SYMBOL_FONT: &[u8] = include_bytes!("../../../assets/fonts/Symbola.ttf");

/// The fonts fetched after the first paint in the browser: name, where
/// `.ci/build-web` puts it (relative to the page), and its place.
#[cfg(target_arch = "wasm32")]
const FETCHED_FONTS: [(&str, &str, FontPlace); 2] = [
    ("twemoji", "fonts/Twemoji.ttf", FontPlace::AfterText),
    ("symbola", "fonts/Symbola.ttf", FontPlace::Last),
];

/// Where a font goes in each family's fallback list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FontPlace {
    /// Right after the text font and the icons (before egui's own emoji), so
    /// its emoji win while digits and letters stay the text font's.
    AfterText,
    /// After everything else.
    Last,
}

/// Adds font `name` to `fonts` at `place` in the proportional and monospace families.
fn place_font(fonts: &mut FontDefinitions, name: &str, data: FontData, place: FontPlace) {
    fonts.font_data.insert(name.to_owned(), data.into());
    for family in [FontFamily::Proportional, FontFamily::Monospace] {
        let list = fonts.families.entry(family).or_default();
        list.retain(|font| font != name);
        let at = match place {
            FontPlace::AfterText => {
                list.iter().position(|font| font == "icons").map_or(list.len().min(1), |i| i + 1)
            }
            FontPlace::Last => list.len(),
        };
        list.insert(at, name.to_owned());
    }
}

/// A font that arrived after start (the browser's fetched emoji): the fonts
/// in use, with it added at `place`.
pub fn add_font(ctx: &egui::Context, name: &str, bytes: Vec<u8>, place: FontPlace) {
    let mut fonts = ctx.fonts(|f| f.definitions().clone());
    place_font(&mut fonts, name, FontData::from_owned(bytes), place);
    ctx.set_fonts(fonts);
}

/// Everyday emoji people send (faces, hands, hearts, objects, flags, skin
/// tones): every one must draw in both builds, never as the missing-glyph box.
pub const EVERYDAY_EMOJI: &[&str] =
    &["🎉", "👋", "❤️", "🙂", "😂", "🚀", "👍", "🔥", "😀", "🙏", "👀", "✅", "🇫🇷", "🇯🇵", "🇺🇸", "👍🏽", "👋🏿"];

/// The emoji of `set` the installed fonts cannot draw, each of which would
/// show as the missing-glyph box. Variation selectors and joiners are not
/// drawn on their own, so they do not count.
pub fn emoji_without_glyphs(ctx: &egui::Context, set: &[&str]) -> Vec<String> {
    let font = FontId::new(text::BODY, FontFamily::Proportional);
    let invisible = |c: char| matches!(c, '\u{fe0e}' | '\u{fe0f}' | '\u{200d}');
    ctx.fonts_mut(|fonts| {
        set.iter()
            .filter(|emoji| emoji.chars().filter(|c| !invisible(*c)).any(|c| !fonts.has_glyph(&font, c)))
            .map(|emoji| (*emoji).to_owned())
            .collect()
    })
}

/// Installs Concord's look: fonts, and the styles of both themes.
pub fn install(ctx: &egui::Context) {
    install_fonts(ctx);
    ctx.set_visuals_of(Theme::Dark, visuals(&tokens::DARK, Visuals::dark()));
    ctx.set_visuals_of(Theme::Light, visuals(&tokens::LIGHT, Visuals::light()));
    ctx.all_styles_mut(|style| {
        style.spacing.item_spacing = egui::vec2(space::S, space::S * 0.75);
        style.spacing.button_padding = egui::vec2(space::M, space::XS + 1.0);
        style.spacing.window_margin = egui::Margin::same(space::L as i8);
        style.spacing.menu_margin = egui::Margin::same(space::S as i8);
        style.spacing.interact_size.y = tokens::size::FIELD_HEIGHT - space::S;
        style.text_styles = [
            (TextStyle::Small, FontId::new(text::SMALL, FontFamily::Proportional)),
            (TextStyle::Body, FontId::new(text::BODY, FontFamily::Proportional)),
            (TextStyle::Button, FontId::new(text::BODY, FontFamily::Proportional)),
            (TextStyle::Heading, FontId::new(text::HEADING, FontFamily::Proportional)),
            (TextStyle::Monospace, FontId::new(text::SMALL + 1.0, FontFamily::Monospace)),
        ]
        .into();
    });
}

/// Shows the theme `choice` asks for (the system's, or a fixed one).
pub fn follow(ctx: &egui::Context, choice: ThemeChoice) {
    let wanted = match choice {
        ThemeChoice::System => egui::ThemePreference::System,
        ThemeChoice::Dark => egui::ThemePreference::Dark,
        ThemeChoice::Light => egui::ThemePreference::Light,
    };
    if ctx.options(|o| o.theme_preference) != wanted {
        ctx.set_theme(wanted);
    }
}

/// egui's visuals for `palette`, starting from egui's own for that theme.
fn visuals(palette: &Palette, mut visuals: Visuals) -> Visuals {
    let small = CornerRadius::same(radius::S);
    visuals.panel_fill = palette.background;
    visuals.window_fill = palette.surface;
    visuals.window_stroke = Stroke::new(1.0, palette.border);
    visuals.window_corner_radius = CornerRadius::same(radius::L);
    visuals.menu_corner_radius = CornerRadius::same(radius::M);
    visuals.extreme_bg_color = palette.surface;
    visuals.faint_bg_color = palette.panel;
    visuals.hyperlink_color = palette.accent;
    visuals.error_fg_color = palette.error;
    visuals.warn_fg_color = palette.warning;
    visuals.selection.bg_fill = palette.accent.gamma_multiply(0.45);
    visuals.selection.stroke = Stroke::new(1.0, palette.on_accent);
    visuals.widgets.noninteractive.fg_stroke = Stroke::new(1.0, palette.text);
    visuals.widgets.noninteractive.bg_stroke = Stroke::new(1.0, palette.border);
    visuals.widgets.noninteractive.bg_fill = palette.panel;
    for (widget, fill) in [
        (&mut visuals.widgets.inactive, palette.hover),
        (&mut visuals.widgets.hovered, palette.hover.gamma_multiply(1.15)),
        (&mut visuals.widgets.active, palette.border),
        (&mut visuals.widgets.open, palette.hover),
    ] {
        widget.corner_radius = small;
        widget.weak_bg_fill = fill;
        widget.bg_fill = fill;
        widget.fg_stroke = Stroke::new(1.0, palette.text);
    }
    visuals.widgets.noninteractive.corner_radius = small;
    visuals.widgets.hovered.bg_stroke = Stroke::new(1.0, palette.accent.gamma_multiply(0.6));
    visuals.widgets.active.bg_stroke = Stroke::new(1.0, palette.accent);
    visuals.text_cursor.stroke = Stroke::new(2.0, palette.accent);
    visuals
}

/// A primary action button: accent fill, readable text, the token height.
pub fn primary_button(text: &str, palette: &Palette) -> egui::Button<'static> {
    egui::Button::new(egui::RichText::new(text.to_owned()).color(palette.on_accent).strong())
        .fill(palette.accent)
        .corner_radius(CornerRadius::same(radius::S))
        .min_size(egui::vec2(0.0, tokens::size::BUTTON_HEIGHT))
}

/// A colour `amount` of the way from `a` to `b` (for tints of a token).
pub fn mix(a: Color32, b: Color32, amount: f32) -> Color32 {
    let lerp = |x: u8, y: u8| (f32::from(x) + (f32::from(y) - f32::from(x)) * amount).round() as u8;
    Color32::from_rgb(lerp(a.r(), b.r()), lerp(a.g(), b.g()), lerp(a.b(), b.b()))
}

/// Installs Concord's fonts: egui's defaults, the icons right after each
/// family's first font, then colour emoji, and Symbola last (built in on the
/// desktop, fetched after the first paint in the browser).
fn install_fonts(ctx: &egui::Context) {
    let mut fonts = FontDefinitions::default();
    fonts.font_data.insert("icons".into(), FontData::from_static(icons::FONT).into());
    for family in [FontFamily::Proportional, FontFamily::Monospace] {
        let list = fonts.families.entry(family).or_default();
        list.insert(list.len().min(1), "icons".into());
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        place_font(&mut fonts, "twemoji", FontData::from_static(COLOR_EMOJI_FONT), FontPlace::AfterText);
        place_font(&mut fonts, "symbola", FontData::from_static(SYMBOL_FONT), FontPlace::Last);
    }
    ctx.set_fonts(fonts);
    #[cfg(target_arch = "wasm32")]
    for (name, url, place) in FETCHED_FONTS {
        crate::platform::add_font_later(ctx, name, url, place);
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    /// A context with Concord's look installed and its fonts loaded (one pass run).
    fn installed() -> egui::Context {
        let ctx = egui::Context::default();
        install(&ctx);
        let mut output = ctx.run_ui(egui::RawInput::default(), |_| {});
        output.textures_delta.clear();
        ctx
    }

    /// The desktop build draws every everyday emoji from its own fonts.
    #[test]
    fn every_everyday_emoji_has_a_glyph_on_the_desktop() {
        let ctx = installed();
        assert_eq!(emoji_without_glyphs(&ctx, EVERYDAY_EMOJI), Vec::<String>::new());
        // The check can fail: a private-use character has no glyph anywhere.
        assert_eq!(emoji_without_glyphs(&ctx, &["\u{e000}"]), vec!["\u{e000}".to_owned()]);
    }

    /// Emoji are drawn from the colour font, joined sequences and skin
    /// tones as one picture; digits stay the text font's.
    #[test]
    fn emoji_are_colour_pictures_and_sequences_are_one() {
        let ctx = installed();
        let font = FontId::new(text::BODY, FontFamily::Proportional);
        let width = |s: &str| {
            ctx.fonts_mut(|f| f.layout_no_wrap(s.to_owned(), font.clone(), Color32::WHITE)).size().x
        };
        let one = width("👍");
        for sequence in ["👍🏽", "👩‍🚀", "🇫🇷", "❤️"] {
            assert!(
                (width(sequence) - one).abs() < 1.0,
                "{sequence} is one picture: {} vs {one}",
                width(sequence)
            );
        }
        assert!(width("👩‍🚀") < width("👩🚀") * 0.75, "the joiner joins");
        let layout = ctx.fonts_mut(|f| f.layout_no_wrap("🚀 1".to_owned(), font.clone(), Color32::WHITE));
        let colors: Vec<bool> = layout.rows[0].glyphs.iter().map(|g| g.is_color).collect();
        assert_eq!(colors, [true, false, false], "the rocket in colour, the space and the digit as text");
    }

    /// Every icon the screens use is in the embedded icon font.
    #[test]
    fn every_icon_has_a_glyph() {
        assert_eq!(emoji_without_glyphs(&installed(), &icons::ALL), Vec::<String>::new());
    }
}
