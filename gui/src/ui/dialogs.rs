//! Windows over the main screen: "Add friend", "New room", "Delete message"
//! and the Ctrl+K switcher.
//! Esc closes either.

use egui::RichText;

use super::tokens::{self, size};
use crate::state::{AppState, Effect, JumpTarget};

/// A dialog window: centred near the top, no wider than the screen allows
/// (a phone-sized browser is 390 points wide).
pub(super) fn dialog<'a>(ctx: &egui::Context, title: &'a str, width: f32) -> egui::Window<'a> {
    let screen = ctx.content_rect();
    egui::Window::new(title)
        .collapsible(false)
        .pivot(egui::Align2::CENTER_TOP)
        .default_pos(screen.center_top() + egui::vec2(0.0, tokens::space::XXL))
        .default_width(width.min(screen.width() - 2.0 * tokens::space::M))
}

/// The "Add friend" dialog.
pub fn add_friend_ui(ctx: &egui::Context, state: &mut AppState) -> Vec<Effect> {
    if !state.add_friend.open {
        return vec![];
    }
    let mut effects = Vec::new();
    let mut open = true;
    dialog(ctx, "Add friend", size::CARD_WIDTH).resizable(false).open(&mut open).show(ctx, |ui| {
        ui.label("Invite someone by the email they registered with.");
        let label = ui.label("Friend's email");
        let field = ui
            .add(
                egui::TextEdit::singleline(&mut state.add_friend.email)
                    .desired_width(size::CARD_WIDTH - 2.0 * tokens::space::L),
            )
            .labelled_by(label.id);
        if !field.has_focus() && state.add_friend.email.is_empty() {
            field.request_focus();
        }
        if let Some(error) = &state.add_friend.error {
            ui.label(RichText::new(error).color(tokens::palette(ui).error));
        }
        let enter = super::enter_pressed(ui, &field);
        ui.horizontal(|ui| {
            let button = super::theme::primary_button("Send invite", tokens::palette(ui));
            let send = ui.add_enabled(!state.add_friend.pending, button);
            if state.add_friend.pending {
                ui.spinner();
            }
            if send.clicked() || enter {
                effects = state.submit_invite();
            }
        });
    });
    if !open {
        state.add_friend.open = false;
    }
    effects
}

/// "Delete this message?": it goes for everyone, and cannot be undone.
pub fn confirm_delete_message_ui(ctx: &egui::Context, state: &mut AppState) -> Vec<Effect> {
    let Some((place, id)) = state.confirm_delete_message else { return vec![] };
    let mut effects = Vec::new();
    let mut open = true;
    let mut cancel = false;
    dialog(ctx, "Delete message", size::CARD_WIDTH).resizable(false).open(&mut open).show(ctx, |ui| {
        ui.label("Delete this message for everyone? This cannot be undone.");
        ui.horizontal(|ui| {
            let delete = super::theme::primary_button("Delete", tokens::palette(ui));
            if ui.add(delete).clicked() {
                effects = state.delete_message(place, id);
            }
            cancel = ui.button("Cancel").clicked() || ui.input(|i| i.key_pressed(egui::Key::Escape));
        });
    });
    if !open || cancel {
        state.confirm_delete_message = None;
    }
    effects
}

/// Ctrl+K: jump to a friend or a room by typing part of its name; Enter opens the first match.
pub fn switcher_ui(ctx: &egui::Context, state: &mut AppState) -> Vec<Effect> {
    let Some(mut query) = state.switcher.clone() else { return vec![] };
    let mut chosen = None;
    dialog(ctx, "Jump to a friend or room", size::CARD_WIDTH).resizable(false).show(ctx, |ui| {
        let label = ui.label("Friend or room");
        let field = ui
            .add(
                egui::TextEdit::singleline(&mut query)
                    .desired_width(size::CARD_WIDTH - 2.0 * tokens::space::L),
            )
            .labelled_by(label.id);
        field.request_focus();
        let matches = state.jump_targets(&query);
        if matches.is_empty() {
            ui.label(RichText::new("Nothing matches.").color(tokens::palette(ui).text_muted));
        }
        for target in matches.iter().take(8) {
            let text = match target {
                JumpTarget::Friend(_, name) => name.clone(),
                JumpTarget::Room(_, label) => format!("{}  {label}", super::icons::USERS),
            };
            if ui.selectable_label(false, text).clicked() {
                chosen = Some(target.clone());
            }
        }
        if ui.input(|i| i.key_pressed(egui::Key::Enter)) {
            chosen = chosen.take().or_else(|| matches.first().cloned());
        }
    });
    match chosen {
        Some(target) => state.jump_to(&target),
        None => {
            state.switcher = Some(query);
            vec![]
        }
    }
}

/// The "New room" dialog: a name, then the room opens (add people there).
pub fn new_room_ui(ctx: &egui::Context, state: &mut AppState) -> Vec<Effect> {
    if !state.room_forms.new_room_open {
        return vec![];
    }
    let mut effects = Vec::new();
    let mut open = true;
    dialog(ctx, "New room", size::CARD_WIDTH).resizable(false).open(&mut open).show(ctx, |ui| {
        ui.label("A room is a place to call and chat with friends you add to it.");
        let label = ui.label("Room name");
        let field = ui
            .add(
                egui::TextEdit::singleline(&mut state.room_forms.new_label)
                    .hint_text("Game night")
                    .desired_width(size::CARD_WIDTH - 2.0 * tokens::space::L),
            )
            .labelled_by(label.id);
        if !field.has_focus() && state.room_forms.new_label.is_empty() {
            field.request_focus();
        }
        if let Some(error) = &state.room_forms.error {
            ui.label(RichText::new(error).color(tokens::palette(ui).error));
        }
        let enter = super::enter_pressed(ui, &field);
        let create = ui.add_enabled(!state.room_forms.creating, egui::Button::new("Create room"));
        if create.clicked() || enter {
            effects.extend(state.submit_new_room());
        }
    });
    if !open {
        state.room_forms.new_room_open = false;
    }
    effects
}
