//! Avatars: a person's initials on a colour derived from their id (stable
//! across devices and sessions), with an optional presence dot.

use concord_common::UserId;
use egui::{Align2, FontId, Sense, Stroke};

use super::tokens::{self, AVATAR_COLORS};

/// Up to two initials of `name`: the first letters of its first two words,
/// or its first two letters if it is one word ("ada lovelace" → "AL",
/// "bob" → "BO").
pub fn initials(name: &str) -> String {
    let mut words = name.split(|c: char| c.is_whitespace() || c == '_' || c == '-' || c == '.');
    let first: Vec<char> = words.next().unwrap_or_default().chars().collect();
    let second = words.find(|w| !w.is_empty()).and_then(|w| w.chars().next());
    let letters: String = match (first.first(), second) {
        (Some(a), Some(b)) => [*a, b].iter().collect(),
        (Some(_), None) => first.iter().take(2).collect(),
        (None, Some(b)) => b.to_string(),
        (None, None) => "?".to_owned(),
    };
    letters.to_uppercase()
}

/// The avatar colour of `user`.
pub fn color(user: UserId) -> egui::Color32 {
    // Ids are time-ordered: mix the bits so neighbours differ.
    let mixed = (user.0 as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 61;
    AVATAR_COLORS[mixed as usize % AVATAR_COLORS.len()]
}

/// Draws the avatar of `user` (`size` points across); `online` adds the
/// presence dot. Decorative: the row it sits in names the person.
pub fn avatar_ui(
    ui: &mut egui::Ui,
    user: UserId,
    name: &str,
    size: f32,
    online: Option<bool>,
) -> egui::Response {
    let (rect, response) = ui.allocate_exact_size(egui::vec2(size, size), Sense::hover());
    paint(ui, rect, user, name, online);
    response
}

/// The ring around the avatar in `rect` of someone speaking in a call.
pub fn speaking_ring(ui: &egui::Ui, rect: egui::Rect) {
    let radius = rect.width().min(rect.height()) / 2.0;
    ui.painter().circle_stroke(rect.center(), radius + 2.0, Stroke::new(2.0, tokens::palette(ui).online));
}

/// Paints an avatar into `rect` (for rows that lay themselves out).
pub fn paint(ui: &egui::Ui, rect: egui::Rect, user: UserId, name: &str, online: Option<bool>) {
    let palette = tokens::palette(ui);
    let painter = ui.painter();
    let radius = rect.width().min(rect.height()) / 2.0;
    painter.circle_filled(rect.center(), radius, color(user));
    // Two letters read at message size; a small avatar shows one.
    let letters = initials(name);
    let letters =
        if rect.width() < tokens::size::AVATAR_MESSAGE { letters.chars().take(1).collect() } else { letters };
    painter.text(
        rect.center(),
        Align2::CENTER_CENTER,
        letters,
        FontId::proportional(radius * 0.8),
        egui::Color32::WHITE,
    );
    if let Some(online) = online {
        let dot = radius * 0.34;
        let centre = rect.right_bottom() - egui::vec2(dot, dot);
        let ring = ui.visuals().panel_fill;
        let fill = if online { palette.online } else { palette.offline };
        painter.circle(centre, dot, fill, Stroke::new(dot * 0.6, ring));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initials_take_two_words_or_two_letters() {
        assert_eq!(initials("ada lovelace"), "AL");
        assert_eq!(initials("bob"), "BO");
        assert_eq!(initials("grace_hopper"), "GH");
        assert_eq!(initials("émile zola"), "ÉZ");
        assert_eq!(initials("x"), "X");
        assert_eq!(initials(""), "?");
    }

    #[test]
    fn a_persons_colour_is_stable_and_neighbours_differ() {
        assert_eq!(color(UserId(42)), color(UserId(42)));
        let distinct: std::collections::HashSet<_> = (1..=16).map(|i| color(UserId(1_000_000 + i))).collect();
        assert!(distinct.len() >= 5, "{} colours for 16 consecutive ids", distinct.len());
    }
}
