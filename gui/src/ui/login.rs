//! First run: pick the server, then log in or register.

use egui::{Align, Layout, RichText};

use super::theme;
use crate::net::Command;
use crate::state::{AppState, AuthMode};

/// The login screen.
pub fn login_ui(ui: &mut egui::Ui, state: &mut AppState) -> Vec<Command> {
    let mut commands = Vec::new();
    ui.with_layout(Layout::top_down(Align::Center), |ui| {
        ui.add_space(ui.available_height() * 0.12);
        ui.set_max_width(360.0);
        ui.heading("Welcome to Concord");
        if let Some(notice) = &state.notice {
            ui.label(RichText::new(notice).color(theme::WARNING));
        }
        ui.add_space(12.0);
        if !state.login.server_chosen {
            server_ui(ui, state);
        } else {
            commands = credentials_ui(ui, state);
        }
    });
    commands
}

fn server_ui(ui: &mut egui::Ui, state: &mut AppState) {
    ui.label("Which Concord server do you want to use?");
    let label = ui.label("Server address");
    let response = ui
        .add(egui::TextEdit::singleline(&mut state.login.server).desired_width(320.0))
        .labelled_by(label.id);
    if take_focus_request(ui, &mut state.login.focus_first) {
        response.request_focus();
    }
    field_error_ui(ui, state, "server");
    let enter = super::enter_pressed(ui, &response);
    if ui.button("Continue").clicked() || enter {
        state.choose_server();
    }
}

fn credentials_ui(ui: &mut egui::Ui, state: &mut AppState) -> Vec<Command> {
    let register = state.login.mode == AuthMode::Register;
    ui.horizontal(|ui| {
        ui.label(RichText::new(format!("Server: {}", state.persisted.server_url)).color(theme::MUTED));
        if ui.small_button("Change").clicked() {
            state.login.server_chosen = false;
            state.login.focus_first = true;
        }
    });
    ui.add_space(8.0);
    let mut submit = false;
    let label = ui.label("Email");
    let email =
        ui.add(egui::TextEdit::singleline(&mut state.login.email).desired_width(320.0)).labelled_by(label.id);
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
        let username = ui
            .add(egui::TextEdit::singleline(&mut state.login.username).desired_width(320.0))
            .labelled_by(label.id);
        field_error_ui(ui, state, "username");
        submit |= super::enter_pressed(ui, &username);
    }
    let label = ui.label("Password");
    let password = ui
        .add(egui::TextEdit::singleline(&mut state.login.password).password(true).desired_width(320.0))
        .labelled_by(label.id);
    if focus_password {
        password.request_focus();
    }
    field_error_ui(ui, state, "password");
    submit |= super::enter_pressed(ui, &password);
    if let Some(error) = &state.login.error {
        ui.label(RichText::new(error).color(theme::ERROR));
    }
    ui.add_space(8.0);
    let mut commands = Vec::new();
    ui.horizontal(|ui| {
        let action = if register { "Create account" } else { "Log in" };
        let button = ui.add_enabled(!state.login.pending, egui::Button::new(action));
        if state.login.pending {
            ui.spinner();
        }
        if button.clicked() || (submit && !state.login.pending) {
            commands = state.submit_auth();
        }
    });
    ui.add_space(4.0);
    let switch = if register { "I have an account: log in" } else { "New here? Create an account" };
    if ui.link(switch).clicked() {
        state.login.mode = if register { AuthMode::Login } else { AuthMode::Register };
        state.login.field_errors.clear();
        state.login.error = None;
        state.login.focus_first = true;
    }
    commands
}

fn field_error_ui(ui: &mut egui::Ui, state: &AppState, field: &str) {
    if let Some(error) = state.login.field_errors.get(field) {
        ui.label(RichText::new(error).color(theme::ERROR).small());
    }
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
