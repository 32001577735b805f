//! Windows over the main screen: "Add friend" and the Ctrl+K switcher.
//! Esc closes either.

use egui::RichText;

use super::tokens::{self, size};
use crate::net::Command;
use crate::state::AppState;

/// The "Add friend" dialog.
pub fn add_friend_ui(ctx: &egui::Context, state: &mut AppState) -> Vec<Command> {
    if !state.add_friend.open {
        return vec![];
    }
    let mut commands = Vec::new();
    let mut open = true;
    egui::Window::new("Add friend").collapsible(false).resizable(false).open(&mut open).show(ctx, |ui| {
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
                commands = state.submit_invite();
            }
        });
    });
    if !open {
        state.add_friend.open = false;
    }
    commands
}

/// Ctrl+K: jump to a friend by typing part of their name; Enter opens the first match.
pub fn switcher_ui(ctx: &egui::Context, state: &mut AppState) -> Vec<Command> {
    let Some(mut query) = state.switcher.clone() else { return vec![] };
    let mut chosen = None;
    egui::Window::new("Jump to a friend").collapsible(false).resizable(false).show(ctx, |ui| {
        let label = ui.label("Friend's name");
        let field = ui
            .add(
                egui::TextEdit::singleline(&mut query)
                    .desired_width(size::CARD_WIDTH - 2.0 * tokens::space::L),
            )
            .labelled_by(label.id);
        field.request_focus();
        let matches = state.matching_friends(&query);
        if matches.is_empty() {
            ui.label(RichText::new("No friend matches.").color(tokens::palette(ui).text_muted));
        }
        for friend in matches.iter().take(8) {
            if ui.selectable_label(false, &friend.user.username).clicked() {
                chosen = Some(friend.user.id);
            }
        }
        if ui.input(|i| i.key_pressed(egui::Key::Enter)) {
            chosen = chosen.or_else(|| matches.first().map(|f| f.user.id));
        }
    });
    match chosen {
        Some(peer) => state.select(peer),
        None => {
            state.switcher = Some(query);
            vec![]
        }
    }
}
