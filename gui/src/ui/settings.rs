//! The Settings window: the theme, call devices, voice processing and the call test.
//!
//! Each device kind gets a picker listing the system default, the devices
//! found, the synthetic source ("Test pattern" / "Test tone") and "Off"; a
//! kind this machine lacks says why. "Run call test" sends a call through the
//! whole media pipeline on this computer and shows what arrived.

use egui::RichText;

use super::tokens::{self, space};
use crate::net::Command;
use crate::settings::{DeviceKind, NoiseChoice, Pick, ThemeChoice, KINDS};
use crate::state::AppState;

/// The Settings window (Ctrl+, or the ☰ menu).
pub fn settings_ui(ctx: &egui::Context, state: &mut AppState) -> Vec<Command> {
    if !state.settings.open {
        return vec![];
    }
    let mut commands = Vec::new();
    let mut open = true;
    super::dialogs::dialog(ctx, "Settings", tokens::size::SETTINGS_WIDTH)
        .resizable(true)
        .open(&mut open)
        .show(ctx, |ui| {
            let palette = tokens::palette(ui);
            ui.heading("Appearance");
            ui.horizontal(|ui| {
                let label = ui.label("Theme");
                for choice in ThemeChoice::ALL {
                    ui.selectable_value(&mut state.persisted.theme, choice, choice.label())
                        .labelled_by(label.id);
                }
            });
            ui.separator();
            ui.heading("Call devices");
            if state.settings.listing {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("Looking for cameras, screens, microphones and speakers…");
                });
            }
            egui::Grid::new("devices").num_columns(2).spacing([space::M, space::S]).show(ui, |ui| {
                for kind in KINDS {
                    device_row(ui, state, kind);
                    ui.end_row();
                }
            });
            voice_section(ui, state);
            ui.separator();
            ui.heading("Call test");
            ui.label(
                RichText::new(
                    "Sends a call through your devices and back on this computer, to check it can hold one.",
                )
                .color(palette.text_muted),
            );
            ui.horizontal(|ui| {
                let run = ui.add_enabled(!state.settings.testing, egui::Button::new("Run call test"));
                if state.settings.testing {
                    ui.spinner();
                    ui.label("Testing for a few seconds…");
                }
                if run.clicked() {
                    commands.extend(state.run_call_test());
                }
            });
            match &state.settings.result {
                Some(Ok(summary)) => {
                    let color = if summary.ok { palette.online } else { palette.error };
                    ui.label(RichText::new(&summary.verdict).color(color).strong());
                    egui::Grid::new("call-test").num_columns(2).spacing([space::M, space::XS]).show(
                        ui,
                        |ui| {
                            for (what, result) in &summary.lines {
                                ui.label(RichText::new(what).color(palette.text_muted));
                                ui.label(result);
                                ui.end_row();
                            }
                        },
                    );
                    ui.collapsing("Details (JSON)", |ui| {
                        ui.add(
                            egui::TextEdit::multiline(&mut summary.json.as_str())
                                .code_editor()
                                .desired_rows(8),
                        );
                    });
                }
                Some(Err(error)) => {
                    ui.label(RichText::new(error).color(palette.error));
                }
                None => {}
            }
        });
    if !open {
        state.settings.open = false;
    }
    commands
}

fn device_row(ui: &mut egui::Ui, state: &mut AppState, kind: DeviceKind) {
    let label = ui.label(kind.label());
    let choices = state.settings.choices(kind).cloned();
    let before = state.persisted.media.pick_mut(kind).clone();
    let pick = state.persisted.media.pick_mut(kind);
    let selected_text = pick_label(kind, pick);
    ui.vertical(|ui| {
        egui::ComboBox::from_id_salt(kind.label())
            .selected_text(selected_text)
            .width(tokens::size::CARD_WIDTH - space::XXL)
            .show_ui(ui, |ui| {
                ui.selectable_value(pick, Pick::Default, "System default");
                for name in choices.iter().flat_map(|c| c.names.iter()) {
                    ui.selectable_value(pick, Pick::Named(name.clone()), name);
                }
                if let Some(synthetic) = kind.synthetic_label() {
                    ui.selectable_value(pick, Pick::Synthetic, synthetic);
                }
                ui.selectable_value(pick, Pick::Off, "Off");
            })
            .response
            .labelled_by(label.id);
        if let Some(reason) = choices.and_then(|c| c.unavailable) {
            if pick == &Pick::Default || matches!(pick, Pick::Named(_)) {
                ui.label(
                    RichText::new(format!("Not available: {reason}"))
                        .color(tokens::palette(ui).warning)
                        .small(),
                );
            }
        }
    });
    if *state.persisted.media.pick_mut(kind) != before {
        state.devices_changed();
    }
}

fn pick_label(kind: DeviceKind, pick: &Pick) -> String {
    match pick {
        Pick::Default => "System default".to_owned(),
        Pick::Named(name) => name.clone(),
        Pick::Synthetic => kind.synthetic_label().unwrap_or("None").to_owned(),
        Pick::Off => "Off".to_owned(),
    }
}

/// Settings → Voice: the noise filter, and (Advanced) each processing stage.
fn voice_section(ui: &mut egui::Ui, state: &mut AppState) {
    if cfg!(target_arch = "wasm32") {
        return; // The browser processes its microphone itself.
    }
    let before = state.persisted.media.voice;
    ui.separator();
    ui.heading("Voice");
    let voice = &mut state.persisted.media.voice;
    ui.horizontal(|ui| {
        let label = ui.label("Noise filter");
        for choice in NoiseChoice::ALL {
            ui.selectable_value(&mut voice.noise, choice, choice.label()).labelled_by(label.id);
        }
    });
    ui.label(
        RichText::new("Strong also removes keyboards, voices in the street and other sudden noise.")
            .color(tokens::palette(ui).text_muted)
            .small(),
    );
    egui::CollapsingHeader::new("Advanced").id_salt("voice-advanced").show(ui, |ui| {
        ui.checkbox(&mut voice.echo_cancellation, "Echo cancellation")
            .on_hover_text("Keeps others from hearing themselves through your speakers.");
        ui.checkbox(&mut voice.gain_control, "Automatic gain control")
            .on_hover_text("Brings a quiet microphone up to a normal level.");
    });
    if state.persisted.media.voice != before {
        state.devices_changed();
    }
}
