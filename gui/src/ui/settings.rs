//! The Settings window: the theme, call devices, voice processing and the call test.
//!
//! Each device kind gets a picker listing the system default, the devices
//! found, the synthetic source ("Test pattern" / "Test tone") and "Off"; a
//! kind this machine lacks says why. "Run call test" sends a call through the
//! whole media pipeline on this computer and shows what arrived.

use egui::RichText;

use super::tokens::{self, space};
use crate::settings::{
    DeviceKind, InputModeChoice, NoiseChoice, Pick, ThemeChoice, KINDS, PUSH_TO_TALK_KEYS,
};
use crate::state::{AppState, Effect};

/// The Settings window (Ctrl+, or the ☰ menu).
pub fn settings_ui(ctx: &egui::Context, state: &mut AppState) -> Vec<Effect> {
    if !state.settings.open {
        return vec![];
    }
    let mut effects = Vec::new();
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
                    effects.extend(device_row(ui, state, kind));
                    ui.end_row();
                }
            });
            effects.extend(voice_section(ui, state));
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
                    effects.extend(state.run_call_test());
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
        effects.extend(state.close_settings());
    }
    effects
}

fn device_row(ui: &mut egui::Ui, state: &mut AppState, kind: DeviceKind) -> Vec<Effect> {
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
    if *state.persisted.media.pick_mut(kind) == before {
        return vec![];
    }
    state.devices_changed()
}

fn pick_label(kind: DeviceKind, pick: &Pick) -> String {
    match pick {
        Pick::Default => "System default".to_owned(),
        Pick::Named(name) => name.clone(),
        Pick::Synthetic => kind.synthetic_label().unwrap_or("None").to_owned(),
        Pick::Off => "Off".to_owned(),
    }
}

/// Settings → Voice: how the microphone opens (voice activity with its
/// sensitivity and a live meter, or push-to-talk with its key), "Let me hear
/// myself", the noise filter, and (Advanced) each processing stage.
fn voice_section(ui: &mut egui::Ui, state: &mut AppState) -> Vec<Effect> {
    // The browser processes its microphone itself: there, the switches turn
    // its own processing on and off (no RNNoise, no meter, no loopback).
    let browser = cfg!(target_arch = "wasm32");
    let before = state.persisted.media.voice.clone();
    let in_call = state.call.is_some();
    let reading = match &state.call {
        Some(call) => call.input_level,
        None => state.settings.mic_level,
    };
    let checking = state.settings.mic_check;
    let check_problem = state.settings.mic_check_problem.clone();
    let mut toggle_check = false;
    let state_scope = state.push_to_talk_scope.clone();
    ui.separator();
    ui.heading("Voice");
    let palette = tokens::palette(ui);
    let voice = &mut state.persisted.media.voice;
    ui.horizontal(|ui| {
        let label = ui.label("Input mode");
        for choice in InputModeChoice::ALL {
            ui.selectable_value(&mut voice.input_mode, choice, choice.label()).labelled_by(label.id);
        }
    });
    match voice.input_mode {
        InputModeChoice::VoiceActivity if browser => {}
        InputModeChoice::VoiceActivity => {
            let mut automatic = voice.sensitivity_db.is_none();
            ui.checkbox(&mut automatic, "Set the input sensitivity automatically");
            if automatic {
                voice.sensitivity_db = None;
            } else {
                let db = voice.sensitivity_db.get_or_insert(-45.0);
                ui.add(egui::Slider::new(db, -80.0..=-10.0).suffix(" dB").text("Input sensitivity"));
            }
        }
        InputModeChoice::PushToTalk => {
            ui.horizontal(|ui| {
                let label = ui.label("Push-to-talk key");
                egui::ComboBox::from_id_salt("push-to-talk-key")
                    .selected_text(voice.push_to_talk_key.as_str())
                    .show_ui(ui, |ui| {
                        for key in PUSH_TO_TALK_KEYS {
                            ui.selectable_value(
                                &mut voice.push_to_talk_key,
                                key.name().to_owned(),
                                key.name(),
                            );
                        }
                    })
                    .response
                    .labelled_by(label.id);
            });
            ui.label(RichText::new(&state_scope).color(palette.text_muted).small());
        }
    }
    if browser {
        input_meter_ui(ui, reading, "Your microphone's level shows here during a call.");
    } else {
        hear_myself_ui(ui, reading, checking, in_call, check_problem.as_deref(), &mut toggle_check);
    }
    ui.horizontal(|ui| {
        let label = ui.label("Noise filter");
        for choice in NoiseChoice::ALL {
            if browser && choice == NoiseChoice::Strong {
                continue;
            }
            ui.selectable_value(&mut voice.noise, choice, choice.label()).labelled_by(label.id);
        }
    });
    let hint = if browser {
        "The browser's own noise suppression. The desktop app also has Strong (RNNoise)."
    } else {
        "Strong also removes keyboards, voices in the street and other sudden noise."
    };
    ui.label(RichText::new(hint).color(palette.text_muted).small());
    egui::CollapsingHeader::new("Advanced").id_salt("voice-advanced").show(ui, |ui| {
        ui.checkbox(&mut voice.echo_cancellation, "Echo cancellation")
            .on_hover_text("Keeps others from hearing themselves through your speakers.");
        ui.checkbox(&mut voice.gain_control, "Automatic gain control")
            .on_hover_text("Brings a quiet microphone up to a normal level.");
    });
    let mut effects = Vec::new();
    if toggle_check {
        effects.extend(state.toggle_mic_check());
    } else if state.persisted.media.voice != before {
        effects.extend(state.devices_changed());
    }
    effects
}

/// The level meter and "Let me hear myself" (desktop): its button (off in a
/// call, whose level the meter shows), what it does while it runs, and why
/// it stopped if it stopped by itself. `toggle`: the button was clicked.
fn hear_myself_ui(
    ui: &mut egui::Ui,
    reading: Option<crate::media::protocol::InputLevel>,
    checking: bool,
    in_call: bool,
    problem: Option<&str>,
    toggle: &mut bool,
) {
    let palette = tokens::palette(ui);
    let idle = if checking {
        "Opening your microphone…"
    } else {
        "Your microphone's level shows here during a call, or while you hear yourself."
    };
    input_meter_ui(ui, reading, idle);
    // Its own id scope: the meter above changes shape, the button's id does not.
    ui.push_id("hear-myself", |ui| {
        ui.horizontal(|ui| {
            let words = if checking { "Stop hearing myself" } else { "Let me hear myself" };
            let button = ui.add_enabled(!in_call, egui::Button::new(words).selected(checking));
            *toggle = button
                .on_disabled_hover_text("In a call, your level shows above as the call sends it.")
                .clicked();
            if checking {
                ui.label(
                    RichText::new(
                        "You hear your microphone as others would: filtered and through the input mode.",
                    )
                    .color(palette.text_muted)
                    .small(),
                );
            }
        });
    });
    if let Some(problem) = problem {
        ui.label(RichText::new(problem).color(palette.error));
    }
}

/// The microphone's level as processed, with the sensitivity marked (where
/// there is one) and whether it is being sent; without a reading, `idle`.
fn input_meter_ui(ui: &mut egui::Ui, reading: Option<crate::media::protocol::InputLevel>, idle: &str) {
    let palette = tokens::palette(ui);
    let Some(reading) = reading else {
        ui.label(RichText::new(idle).color(palette.text_muted).small());
        return;
    };
    let (rect, response) =
        ui.allocate_exact_size(egui::vec2(tokens::size::CARD_WIDTH, space::M), egui::Sense::hover());
    let fraction = |db: f32| ((db + 80.0) / 80.0).clamp(0.0, 1.0);
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, tokens::radius::S, palette.surface);
    let mut filled = rect;
    filled.set_width(rect.width() * fraction(reading.level_db));
    let color = if reading.sending { palette.online } else { palette.text_muted };
    painter.rect_filled(filled, tokens::radius::S, color);
    if reading.threshold_db.is_finite() {
        let x = rect.left() + rect.width() * fraction(reading.threshold_db);
        painter.vline(x, rect.y_range(), egui::Stroke::new(2.0, palette.warning));
    }
    let words = format!(
        "Microphone level {:.0} dB, {}",
        reading.level_db,
        if reading.sending { "sending" } else { "not sending" }
    );
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::ProgressIndicator, true, &words));
}
