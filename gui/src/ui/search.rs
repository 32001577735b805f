//! The message search window (Ctrl+F, or Search in the top bar): words,
//! "only in this conversation", then the hits newest first with the words
//! highlighted; a click (or Tab to it and Enter) opens the hit in context.

use concord_common::SearchHit;
use egui::text::LayoutJob;
use egui::{RichText, Sense, TextFormat};

use super::tokens::{self, size, space};
use crate::state::{AppState, Effect};

/// Widest the window grows, in points.
const WIDTH: f32 = 560.0;

/// The search window, when open.
pub fn search_ui(ctx: &egui::Context, state: &mut AppState) -> Vec<Effect> {
    if !state.search.open {
        return vec![];
    }
    let mut effects = Vec::new();
    let mut open = true;
    super::dialogs::dialog(ctx, "Search messages", WIDTH).resizable(false).open(&mut open).show(ctx, |ui| {
        let palette = tokens::palette(ui);
        if let Some(place) = state.open_place() {
            let name = state.place_name(place);
            ui.checkbox(&mut state.search.here_only, format!("Only in {name}"));
        }
        let label = ui.label("Words");
        let field = ui
            .add(
                egui::TextEdit::singleline(&mut state.search.words)
                    .hint_text("e.g. lunch friday")
                    .desired_width(ui.available_width()),
            )
            .labelled_by(label.id);
        if std::mem::take(&mut state.search.focus_field) {
            field.request_focus();
        }
        if super::enter_pressed(ui, &field) {
            effects.extend(state.submit_search());
            // The words stay at hand to refine; Tab goes on to the hits.
            field.request_focus();
        }
        if let Some(error) = &state.search.error {
            ui.label(RichText::new(error).color(palette.error));
        }
        ui.add_space(space::S);
        let search = &state.search;
        match &search.asked {
            None => {
                ui.label(
                    RichText::new(
                        "Finds messages in your DMs and rooms that hold every word; the last word may be \
                         the start of one. Press Enter to search.",
                    )
                    .color(palette.text_muted),
                );
            }
            Some(_) if search.hits.is_empty() && search.loading => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("Searching…");
                });
            }
            Some(_) if search.hits.is_empty() && search.error.is_none() => {
                ui.label(RichText::new("No messages hold these words.").color(palette.text_muted));
            }
            Some((words, _)) => {
                let words = words.clone();
                let mut chosen = None;
                let mut more = false;
                egui::ScrollArea::vertical().max_height(size::SEARCH_RESULTS_HEIGHT).show(ui, |ui| {
                    for hit in &state.search.hits {
                        if hit_ui(ui, state, hit, &words).clicked() {
                            chosen = Some((hit.conversation, hit.id));
                        }
                    }
                    if state.search.loading {
                        ui.spinner();
                    } else if state.search.has_more {
                        more = ui.button("Older results").clicked();
                    }
                });
                if let Some((place, id)) = chosen {
                    effects.extend(state.open_search_hit(place, id));
                }
                if more {
                    effects.extend(state.more_search_results());
                }
            }
        }
    });
    if !open {
        state.close_search();
    }
    effects
}

/// One hit: where, who and when, then its text with the words highlighted.
fn hit_ui(ui: &mut egui::Ui, state: &AppState, hit: &SearchHit, words: &str) -> egui::Response {
    let palette = tokens::palette(ui);
    let author = if state.me.as_ref().is_some_and(|me| me.id == hit.sender_id) {
        "you".to_owned()
    } else {
        state.user_name(hit.sender_id)
    };
    let meta = format!(
        "{}  ·  {author}  ·  {}",
        state.place_name(hit.conversation),
        super::conversation::format_day_and_time(hit.created_at_ms)
    );
    let text = super::markdown::plain_line(&hit.content);
    let frame = egui::Frame::new().inner_margin(space::S).corner_radius(tokens::radius::M);
    let shown = frame.show(ui, |ui| {
        ui.set_width(ui.available_width());
        ui.add(egui::Label::new(RichText::new(meta).small().color(palette.text_muted)).selectable(false));
        let job = highlighted(&text, words, ui.style(), palette.accent.gamma_multiply(0.35));
        ui.add(egui::Label::new(job).wrap().selectable(false));
    });
    let rect = shown.response.rect;
    let response = ui.interact(rect, ui.scope_id().with(("search_hit", hit.id)), Sense::click());
    if response.hovered() || response.has_focus() {
        ui.painter().rect_stroke(
            rect,
            tokens::radius::M,
            egui::Stroke::new(1.0, palette.accent),
            egui::StrokeKind::Inside,
        );
    }
    super::named(response.on_hover_cursor(egui::CursorIcon::PointingHand), &format!("Open: {text}"))
}

/// `text` with every word that starts with one of `words` (case and accents
/// aside, roughly as the server matches) on a highlight.
fn highlighted(text: &str, words: &str, style: &egui::Style, highlight: egui::Color32) -> LayoutJob {
    let wanted: Vec<String> =
        words.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(fold).collect();
    let plain = TextFormat::simple(egui::TextStyle::Body.resolve(style), style.visuals.text_color());
    let marked = TextFormat { background: highlight, ..plain.clone() };
    let mut job = LayoutJob::default();
    let mut rest = text;
    while !rest.is_empty() {
        // A run of word characters, or of everything else.
        let in_word = rest.starts_with(char::is_alphanumeric);
        let end = rest.find(|c: char| c.is_alphanumeric() != in_word).unwrap_or(rest.len());
        let (run, tail) = rest.split_at(end);
        let hit = in_word && wanted.iter().any(|w| fold(run).starts_with(w.as_str()));
        job.append(run, 0.0, if hit { marked.clone() } else { plain.clone() });
        rest = tail;
    }
    job
}

/// Lower case without the common accents (é → e), for highlighting only.
fn fold(word: &str) -> String {
    word.to_lowercase()
        .chars()
        .map(|c| match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
            'ç' => 'c',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ñ' => 'n',
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            'ý' | 'ÿ' => 'y',
            other => other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_words_searched_for_are_highlighted_and_nothing_else() {
        let style = egui::Style::default();
        let job = highlighted("Crème brûlée, then Brunch!", "creme bru", &style, egui::Color32::RED);
        let marked: Vec<&str> = job
            .sections
            .iter()
            .filter(|s| s.format.background == egui::Color32::RED)
            .map(|s| &job.text[s.byte_range.start.0..s.byte_range.end.0])
            .collect();
        assert_eq!(marked, ["Crème", "brûlée", "Brunch"]);
        assert_eq!(job.text, "Crème brûlée, then Brunch!");
    }
}
