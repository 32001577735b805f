//! First run: pick the server, then log in or register — one centred card
//! with aligned full-width fields and one primary button.

use egui::{Align, Layout, RichText};

use super::theme;
use super::tokens::{self, size, space};
use crate::state::{AppState, AuthMode, Effect};

/// The login screen.
pub fn login_ui(ui: &mut egui::Ui, state: &mut AppState) -> Vec<Effect> {
    let mut effects = Vec::new();
    let palette = tokens::palette(ui);
    let width = size::CARD_WIDTH.min(ui.available_width() - 2.0 * space::M);
    ui.with_layout(Layout::top_down(Align::Center), |ui| {
        ui.add_space((ui.available_height() * 0.12).min(space::XXL * 2.0));
        let card = egui::Frame::new()
            .fill(palette.background)
            .stroke(egui::Stroke::new(1.0, palette.border))
            .corner_radius(tokens::radius::L)
            .inner_margin(space::XL);
        card.show(ui, |ui| {
            ui.set_width(width - 2.0 * space::XL);
            ui.with_layout(Layout::top_down(Align::Min), |ui| {
                ui.label(RichText::new("Welcome to Concord").size(tokens::text::TITLE).strong());
                if let Some(notice) = &state.notice {
                    ui.label(RichText::new(notice).color(palette.warning));
                }
                ui.add_space(space::M);
                if !state.login.server_chosen {
                    server_ui(ui, state);
                } else {
                    effects = credentials_ui(ui, state);
                }
            });
        });
    });
    effects
}

fn server_ui(ui: &mut egui::Ui, state: &mut AppState) {
    ui.label(RichText::new("Which Concord server do you want to use?").color(tokens::palette(ui).text_muted));
    ui.add_space(space::S);
    let label = ui.label("Server address");
    let response = ui.add(field(&mut state.login.server)).labelled_by(label.id);
    if take_focus_request(ui, &mut state.login.focus_first) {
        response.request_focus();
    }
    field_error_ui(ui, state, "server");
    let enter = super::enter_pressed(ui, &response);
    ui.add_space(space::S);
    if primary(ui, "Continue").clicked() || enter {
        state.choose_server();
    }
}

fn credentials_ui(ui: &mut egui::Ui, state: &mut AppState) -> Vec<Effect> {
    let register = state.login.mode == AuthMode::Register;
    ui.horizontal(|ui| {
        ui.label(
            RichText::new(format!("Server: {}", state.persisted.server_url))
                .color(tokens::palette(ui).text_muted),
        );
        if ui.small_button("Change").clicked() {
            state.login.server_chosen = false;
            state.login.focus_first = true;
        }
    });
    ui.add_space(space::S);
    let mut submit = false;
    let label = ui.label("Email");
    let email = ui.add(field(&mut state.login.email)).labelled_by(label.id);
    let focus_first = take_focus_request(ui, &mut state.login.focus_first);
    let focus_email = focus_first && state.login.email.is_empty();
    let focus_password = focus_first && !state.login.email.is_empty();
    if focus_email {
        email.request_focus();
    }
    field_error_ui(ui, state, "email");
    submit |= super::enter_pressed(ui, &email);
    if register {
        let label = ui.label("Username");
        let username = ui.add(field(&mut state.login.username)).labelled_by(label.id);
        field_error_ui(ui, state, "username");
        submit |= super::enter_pressed(ui, &username);
    }
    let label = ui.label("Password");
    let password = ui.add(field(&mut state.login.password).password(true)).labelled_by(label.id);
    if focus_password {
        password.request_focus();
    }
    field_error_ui(ui, state, "password");
    submit |= super::enter_pressed(ui, &password);
    if let Some(error) = &state.login.error {
        ui.label(RichText::new(error).color(tokens::palette(ui).error));
    }
    ui.add_space(space::M);
    let mut effects = Vec::new();
    let action = if register { "Create account" } else { "Log in" };
    let button = ui.add_enabled_ui(!state.login.pending, |ui| primary(ui, action)).inner;
    if state.login.pending {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label(RichText::new("Contacting the server…").color(tokens::palette(ui).text_muted));
        });
    }
    if button.clicked() || (submit && !state.login.pending) {
        effects = state.submit_auth();
    }
    ui.add_space(space::S);
    let switch = if register { "I have an account: log in" } else { "New here? Create an account" };
    if ui.link(switch).clicked() {
        state.login.mode = if register { AuthMode::Login } else { AuthMode::Register };
        state.login.field_errors.clear();
        state.login.error = None;
        state.login.focus_first = true;
    }
    effects
}

fn field_error_ui(ui: &mut egui::Ui, state: &AppState, field: &str) {
    if let Some(error) = state.login.field_errors.get(field) {
        ui.label(RichText::new(error).color(tokens::palette(ui).error).small());
    }
}

/// A single-line field as wide as the card.
fn field(text: &mut String) -> egui::TextEdit<'_> {
    egui::TextEdit::singleline(text)
        .desired_width(f32::INFINITY)
        .min_size(egui::vec2(0.0, size::FIELD_HEIGHT))
        .margin(egui::Margin::symmetric(space::S as i8, space::XS as i8 + 2))
        .align(egui::Align2::LEFT_CENTER)
}

/// The card's primary button, as wide as the fields.
fn primary(ui: &mut egui::Ui, text: &str) -> egui::Response {
    let button = theme::primary_button(text, tokens::palette(ui));
    ui.add_sized(egui::vec2(ui.available_width(), size::BUTTON_HEIGHT), button)
}

/// Takes a pending "focus the first field" request once the window itself
/// has keyboard focus (egui drops widget focus while the window has none, so
/// a request made before would be lost).
fn take_focus_request(ui: &egui::Ui, pending: &mut bool) -> bool {
    if *pending && ui.input(|i| i.focused) {
        *pending = false;
        return true;
    }
    false
}
