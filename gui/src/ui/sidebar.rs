//! The left column: friends with presence and unread counts, pending
//! invites, and "Add friend".

use egui::{RichText, Role, Sense, WidgetInfo};

use super::theme;
use crate::net::Command;
use crate::state::AppState;

/// The sidebar.
pub fn sidebar_ui(ui: &mut egui::Ui, state: &mut AppState) -> Vec<Command> {
    let mut commands = Vec::new();
    ui.add_space(6.0);
    if ui.button("➕ Add friend").on_hover_text("Invite someone by email").clicked() {
        state.add_friend.open = true;
    }
    ui.add_space(6.0);
    egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| {
        invites_ui(ui, state, &mut commands);
        ui.label(RichText::new("FRIENDS").small().color(theme::MUTED));
        if state.friends.is_empty() {
            ui.label(
                RichText::new("No friends yet — add one by email with “Add friend”.").color(theme::MUTED),
            );
        }
        let mut clicked = None;
        for friend in &state.friends {
            let unread = state.unread.get(&friend.user.id).copied().unwrap_or(0);
            let selected = state.selected == Some(friend.user.id);
            if friend_row_ui(ui, &friend.user.username, friend.online, unread, selected).clicked() {
                clicked = Some(friend.user.id);
            }
        }
        if let Some(peer) = clicked {
            commands.extend(state.select(peer));
        }
    });
    commands
}

/// One friend: presence dot, name, unread badge. Its accessible name says all
/// three, e.g. "bob, online, 2 unread".
fn friend_row_ui(ui: &mut egui::Ui, name: &str, online: bool, unread: u64, selected: bool) -> egui::Response {
    let height = 28.0;
    let (rect, response) = ui.allocate_exact_size(egui::vec2(ui.available_width(), height), Sense::click());
    let visuals = ui.style().interact_selectable(&response, selected);
    if selected || response.hovered() {
        ui.painter().rect_filled(rect, 4.0, visuals.bg_fill);
    }
    let dot = egui::pos2(rect.left() + 12.0, rect.center().y);
    ui.painter().circle_filled(dot, 5.0, if online { theme::ONLINE } else { theme::OFFLINE });
    let font = egui::TextStyle::Body.resolve(ui.style());
    ui.painter().text(
        egui::pos2(rect.left() + 26.0, rect.center().y),
        egui::Align2::LEFT_CENTER,
        name,
        font.clone(),
        visuals.text_color(),
    );
    if unread > 0 {
        let text = if unread > 99 { "99+".to_owned() } else { unread.to_string() };
        let center = egui::pos2(rect.right() - 16.0, rect.center().y);
        ui.painter().circle_filled(center, 10.0, theme::BADGE);
        ui.painter().text(
            center,
            egui::Align2::CENTER_CENTER,
            text,
            egui::FontId::proportional(11.0),
            egui::Color32::WHITE,
        );
    }
    let mut label = format!("{name}, {}", if online { "online" } else { "offline" });
    if unread > 0 {
        label.push_str(&format!(", {unread} unread"));
    }
    response.widget_info(|| WidgetInfo::selected(Role::Button, true, selected, &label));
    response
}

fn invites_ui(ui: &mut egui::Ui, state: &AppState, commands: &mut Vec<Command>) {
    if !state.invites.incoming.is_empty() {
        ui.label(RichText::new("INVITES FOR YOU").small().color(theme::MUTED));
        for invite in &state.invites.incoming {
            ui.horizontal(|ui| {
                ui.label(&invite.from.username).on_hover_text(&invite.from.email);
                if named_button(ui, "✔", &format!("Accept invite from {}", invite.from.username)).clicked()
                {
                    commands.push(Command::AcceptInvite(invite.id));
                }
                if named_button(ui, "✖", &format!("Reject invite from {}", invite.from.username)).clicked()
                {
                    commands.push(Command::RejectInvite(invite.id));
                }
            });
        }
        ui.separator();
    }
    if !state.invites.outgoing.is_empty() {
        ui.label(RichText::new("SENT INVITES").small().color(theme::MUTED));
        for invite in &state.invites.outgoing {
            ui.horizontal(|ui| {
                ui.label(RichText::new(&invite.to.username).color(theme::MUTED))
                    .on_hover_text(&invite.to.email);
                if named_button(ui, "Cancel", &format!("Cancel invite to {}", invite.to.username)).clicked() {
                    commands.push(Command::CancelInvite(invite.id));
                }
            });
        }
        ui.separator();
    }
}

/// A small button whose accessible name (and tooltip) says what it does.
fn named_button(ui: &mut egui::Ui, text: &str, name: &str) -> egui::Response {
    let response = ui.small_button(text).on_hover_text(name);
    response.widget_info(|| WidgetInfo::labeled(Role::Button, true, name));
    response
}
