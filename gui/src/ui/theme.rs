//! Turns the design tokens (`tokens`) into egui's look for both themes,
//! follows the theme the person chose (or the system's), and installs the
//! fonts.

use egui::{
    Color32, CornerRadius, FontData, FontDefinitions, FontFamily, FontId, Stroke, TextStyle, Theme, Visuals,
};

use super::icons;
use super::tokens::{self, radius, space, text, Palette};
use crate::settings::ThemeChoice;

/// A monochrome font with wide emoji and symbol coverage (Symbola), used as
/// a fallback after egui's own fonts. Built into the desktop binary; the web
/// client fetches it after its first paint (3 MB would double the download).
#[cfg(not(target_arch = "wasm32"))]
const EMOJI_FONT: &[u8] = include_bytes!("../../../assets/fonts/Symbola.ttf");

/// Where `.ci/build-web` puts the emoji font, relative to the page.
#[cfg(target_arch = "wasm32")]
const EMOJI_FONT_URL: &str = "fonts/Symbola.ttf";

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
/// family's first font, then the emoji fallback (built in on the desktop,
/// fetched after the first paint in the browser).
fn install_fonts(ctx: &egui::Context) {
    let mut fonts = FontDefinitions::default();
    fonts.font_data.insert("icons".into(), FontData::from_static(icons::FONT).into());
    #[cfg(not(target_arch = "wasm32"))]
    fonts.font_data.insert("symbola".into(), FontData::from_static(EMOJI_FONT).into());
    for family in [FontFamily::Proportional, FontFamily::Monospace] {
        let list = fonts.families.entry(family).or_default();
        list.insert(list.len().min(1), "icons".into());
        #[cfg(not(target_arch = "wasm32"))]
        list.push("symbola".into());
    }
    ctx.set_fonts(fonts);
    #[cfg(target_arch = "wasm32")]
    crate::platform::add_font_later(ctx, "symbola", EMOJI_FONT_URL);
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

    /// Every icon the screens use is in the embedded icon font.
    #[test]
    fn every_icon_has_a_glyph() {
        assert_eq!(emoji_without_glyphs(&installed(), &icons::ALL), Vec::<String>::new());
    }
}
