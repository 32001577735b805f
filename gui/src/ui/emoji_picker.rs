//! The emoji picker, for reactions ("More reactions" on a message) and the
//! composer (its 🙂 button): a search by name or shortcode (Enter picks the
//! first hit), the recently used ones, a skin tone for every emoji that has
//! them, and the emoji by group — only those the fonts can draw.

use egui::RichText;
use emojis::{Emoji, Group, SkinTone};

use super::tokens::{self, space};
use crate::state::{AppState, Effect};

/// The skin tones offered, with their names.
const TONES: [(SkinTone, &str); 6] = [
    (SkinTone::Default, "default"),
    (SkinTone::Light, "light"),
    (SkinTone::MediumLight, "medium-light"),
    (SkinTone::Medium, "medium"),
    (SkinTone::MediumDark, "medium-dark"),
    (SkinTone::Dark, "dark"),
];
/// Emoji on a row of the grid.
const PER_ROW: usize = 9;
/// One emoji's square, in points.
const CELL: f32 = 34.0;
/// Most hits a search shows.
const MAX_HITS: usize = 90;

/// A group's name and the emoji on its tab.
fn group_label(group: Group) -> (&'static str, &'static str) {
    match group {
        Group::SmileysAndEmotion => ("Smileys & emotion", "😀"),
        Group::PeopleAndBody => ("People & body", "👋"),
        Group::AnimalsAndNature => ("Animals & nature", "🐱"),
        Group::FoodAndDrink => ("Food & drink", "🍕"),
        Group::TravelAndPlaces => ("Travel & places", "🚗"),
        Group::Activities => ("Activities", "⚽"),
        Group::Objects => ("Objects", "💡"),
        Group::Symbols => ("Symbols", "❤"),
        Group::Flags => ("Flags", "🏁"),
    }
}

/// `emoji` in skin tone `tone`, where it has one.
fn toned(emoji: &'static Emoji, tone: SkinTone) -> &'static Emoji {
    emoji.with_skin_tone(tone).unwrap_or(emoji)
}

/// Whether `query` (lower case, words) finds `emoji` by its name or a shortcode.
fn matches(emoji: &Emoji, query: &str) -> bool {
    query
        .split_whitespace()
        .all(|word| emoji.name().contains(word) || emoji.shortcodes().any(|code| code.contains(word)))
}

/// The picker, while open; what it picked.
pub fn emoji_picker_ui(ctx: &egui::Context, state: &mut AppState) -> Vec<Effect> {
    let tone_index = usize::from(state.persisted.emoji.skin_tone).min(TONES.len() - 1);
    let tone = TONES[tone_index].0;
    let recent = state.persisted.emoji.recent.clone();
    let Some(picker) = state.emoji_picker.as_mut() else { return vec![] };
    let group_id = egui::Id::unique("emoji picker group");
    let mut group: usize = ctx.data(|d| d.get_temp(group_id)).unwrap_or(0);
    let mut picked: Option<String> = None;
    let mut new_tone = None;
    let palette = tokens::palette_of(ctx.theme());
    let modal = egui::Modal::new(egui::Id::unique("emoji picker")).show(ctx, |ui| {
        ui.set_width(PER_ROW as f32 * CELL);
        let search = ui.add(
            egui::TextEdit::singleline(&mut picker.query)
                .hint_text("Search emoji")
                .desired_width(f32::INFINITY),
        );
        search.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, "Search emoji"));
        if std::mem::take(&mut picker.focus) {
            search.request_focus();
        }
        let entered = search.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        ui.horizontal(|ui| {
            ui.label(RichText::new("Skin tone").small().color(palette.text_muted));
            for (index, (choice, name)) in TONES.iter().enumerate() {
                let sample = emojis::get("👋").map(|e| toned(e, *choice).as_str()).unwrap_or("👋");
                let button =
                    egui::Button::new(sample).selected(index == tone_index).frame(index == tone_index);
                if super::named(ui.add(button).on_hover_text(*name), &format!("Skin tone: {name}")).clicked()
                {
                    new_tone = Some(index as u8);
                }
            }
        });
        let query = picker.query.trim().to_lowercase();
        let ctx = ui.ctx().clone();
        let drawable = |list: Vec<&'static Emoji>| drawable(&ctx, list);
        let shown: Vec<&'static Emoji> = if query.is_empty() {
            if !recent.is_empty() {
                ui.label(RichText::new("Recently used").small().color(palette.text_muted));
                let recent: Vec<&'static Emoji> = recent.iter().filter_map(|e| emojis::get(e)).collect();
                if let Some(hit) = grid_ui(ui, "recent", &recent, None, None) {
                    picked = Some(hit);
                }
            }
            ui.horizontal_wrapped(|ui| {
                for (index, g) in Group::iter().enumerate() {
                    let (name, icon) = group_label(g);
                    let tab = egui::Button::new(icon).selected(index == group).frame(index == group);
                    if super::named(ui.add(tab).on_hover_text(name), &format!("Emoji group: {name}"))
                        .clicked()
                    {
                        group = index;
                    }
                }
            });
            let chosen = Group::iter().nth(group).unwrap_or(Group::SmileysAndEmotion);
            ui.label(RichText::new(group_label(chosen).0).small().color(palette.text_muted));
            drawable(chosen.emojis().collect())
        } else {
            let hits: Vec<&'static Emoji> = emojis::iter().filter(|e| matches(e, &query)).collect();
            let mut hits = drawable(hits);
            hits.truncate(MAX_HITS);
            if hits.is_empty() {
                ui.label(
                    RichText::new(format!("No emoji named “{}”.", picker.query.trim()))
                        .color(palette.text_muted),
                );
            }
            hits
        };
        if entered {
            picked = shown.first().map(|e| toned(e, tone).as_str().to_owned());
        }
        if let Some(hit) = grid_ui(ui, "all", &shown, Some(tone), Some(7.0 * CELL)) {
            picked = Some(hit);
        }
        ui.add_space(space::XS);
    });
    ctx.data_mut(|d| d.insert_temp(group_id, group));
    if let Some(tone) = new_tone {
        state.set_skin_tone(tone);
    }
    if let Some(emoji) = picked {
        return state.pick_emoji(&emoji);
    }
    if modal.should_close() {
        state.close_emoji_picker();
    }
    vec![]
}

/// The emoji of `list` the fonts draw as one picture: no missing-glyph
/// boxes, and a joined sequence (👩‍🚀) only where the colour font shapes it
/// into one glyph rather than its parts side by side. Each emoji is checked
/// once (the answer is kept in egui's memory).
fn drawable(ctx: &egui::Context, list: Vec<&'static Emoji>) -> Vec<&'static Emoji> {
    let font = egui::FontId::proportional(tokens::text::BODY);
    let invisible = |c: char| matches!(c, '\u{fe0e}' | '\u{fe0f}' | '\u{200d}');
    let memory = egui::Id::unique("emoji drawn as one picture");
    let mut known: std::collections::HashMap<&'static str, bool> =
        ctx.data_mut(|d| d.get_temp(memory)).unwrap_or_default();
    let mut unknown: Vec<&'static str> =
        list.iter().map(|e| e.as_str()).filter(|e| !known.contains_key(e)).collect();
    unknown.dedup();
    if !unknown.is_empty() {
        ctx.fonts_mut(|fonts| {
            for emoji in unknown {
                let every_glyph = emoji.chars().filter(|c| !invisible(*c)).all(|c| fonts.has_glyph(&font, c));
                // (Laid out only when every part has a glyph: a missing one is a tofu box.)
                let one_picture = every_glyph && {
                    let layout = fonts.layout_no_wrap(emoji.to_owned(), font.clone(), egui::Color32::WHITE);
                    layout.rows.iter().flat_map(|r| &r.glyphs).filter(|g| g.advance_width > 0.0).count() == 1
                };
                known.insert(emoji, one_picture);
            }
        });
        ctx.data_mut(|d| d.insert_temp(memory, known.clone()));
    }
    list.into_iter().filter(|e| known.get(e.as_str()).copied().unwrap_or(false)).collect()
}

/// A grid of `list` (in `tone` where given), scrolling past `height`; the emoji clicked.
fn grid_ui(
    ui: &mut egui::Ui,
    salt: &str,
    list: &[&'static Emoji],
    tone: Option<SkinTone>,
    height: Option<f32>,
) -> Option<String> {
    let mut picked = None;
    let rows = list.len().div_ceil(PER_ROW);
    let mut draw_rows = |ui: &mut egui::Ui, range: std::ops::Range<usize>| {
        for row in range {
            ui.horizontal(|ui| {
                ui.spacing_mut().item_spacing.x = 0.0;
                for emoji in list.iter().skip(row * PER_ROW).take(PER_ROW) {
                    let shown = tone.map_or(*emoji, |tone| toned(emoji, tone));
                    let button = egui::Button::new(RichText::new(shown.as_str()).size(20.0)).frame(false);
                    let response = ui.add_sized([CELL, CELL], button).on_hover_text(shown.name());
                    if super::named(response, &format!("{} {}", shown.as_str(), shown.name())).clicked() {
                        picked = Some(shown.as_str().to_owned());
                    }
                }
            });
        }
    };
    match height {
        Some(height) => {
            egui::ScrollArea::vertical().id_salt(("emoji grid", salt)).max_height(height).show_rows(
                ui,
                CELL,
                rows,
                |ui, range| draw_rows(ui, range),
            );
        }
        None => draw_rows(ui, 0..rows),
    }
    picked
}
