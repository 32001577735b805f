//! [`ConcordApp`]: owns the state and the network and media handles. Once
//! per frame it applies their events (`logic`), draws (`ui`), and carries
//! out the [`Effect`]s both produced, all in one place (`dispatch`).

use std::sync::Arc;

use crate::media::protocol::MediaCommand;
use crate::media::Media;
use crate::net::{Net, NetEvent};
use crate::state::{AppState, Effect, Persisted};
use crate::ui;

/// Key of the persisted state in eframe's storage.
pub const STORAGE_KEY: &str = "concord";

/// The Concord app.
pub struct ConcordApp {
    state: AppState,
    net: Net,
    media: Media,
    /// Input held back to the next frame (see [`ui::defer_events_after_tab`]).
    deferred_input: Vec<egui::Event>,
    /// The push-to-talk key while another window has focus (desktop).
    #[cfg(not(target_arch = "wasm32"))]
    global_push_to_talk: crate::platform::GlobalPushToTalk,
}

impl ConcordApp {
    /// Called by eframe once, with the window's context and storage.
    pub fn new(cc: &eframe::CreationContext<'_>) -> Self {
        let persisted = cc.storage.and_then(|s| eframe::get_value(s, STORAGE_KEY)).unwrap_or_default();
        Self::with_persisted(cc.egui_ctx.clone(), persisted)
    }

    /// An app starting from `persisted` (what a previous run saved).
    pub fn with_persisted(ctx: egui::Context, persisted: Persisted) -> Self {
        ui::theme::install(&ctx);
        let wake_ctx = ctx.clone();
        let wake: concord_client::Wake = Arc::new(move || wake_ctx.request_repaint());
        let net = Net::start(wake.clone());
        let media = Media::start(wake, ctx.clone(), net.command_sender());
        let now_ms = chrono::Utc::now().timestamp_millis();
        let (state, effects) = AppState::restore(persisted, now_ms);
        let mut app = Self {
            state,
            net,
            media,
            deferred_input: Vec::new(),
            #[cfg(not(target_arch = "wasm32"))]
            global_push_to_talk: crate::platform::GlobalPushToTalk::new(ctx.clone()),
        };
        app.dispatch(effects);
        app
    }

    /// The current state (read-only; tests and benchmarks inspect it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Carries out what the state asked for, in order: network commands to
    /// the network side, media commands to the media actor, notifications
    /// (with one chime for the batch) and call sounds (several in one batch,
    /// a room filling up, play as one: the last).
    fn dispatch(&mut self, effects: Vec<Effect>) {
        let mut chime = false;
        let mut call_sound = None;
        for effect in effects {
            match effect {
                Effect::Net(command) => {
                    if !self.net.send(command) {
                        self.state.notice = Some("The network side stopped; restart Concord.".into());
                    }
                }
                Effect::Media(command) => self.media.send(command),
                Effect::Notify { title, body } => {
                    crate::platform::notify(&title, &body);
                    chime = true;
                }
                Effect::Sound(sound) => call_sound = Some(sound),
            }
        }
        if chime {
            crate::platform::play_message_sound();
        }
        if let Some(sound) = call_sound {
            crate::platform::play_call_sound(sound);
        }
    }

    /// Applies every pending network and media event, then carries out
    /// what they asked for as one batch; what the app does between frames.
    pub fn apply_events(&mut self, ctx: &egui::Context) {
        let mut effects = Vec::new();
        while let Some(event) = self.net.try_recv() {
            if matches!(event, NetEvent::Authenticated { .. }) {
                crate::platform::ask_notification_permission();
            }
            if self.state.call.is_some() && crate::state::concerns_call(&event) {
                effects.push(MediaCommand::CallNet(event.clone()).into());
            }
            effects.extend(self.state.apply(event));
        }
        while let Some(event) = self.media.try_recv() {
            effects.extend(self.state.apply_media(event));
        }
        let focused = ctx.input(|i| i.viewport().focused.unwrap_or(true));
        if focused != self.state.focused {
            effects.extend(self.state.set_focused(focused));
        }
        effects.extend(self.follow_push_to_talk(ctx, focused));
        let minimized = ctx.input(|i| i.viewport().minimized.unwrap_or(false));
        effects.extend(self.state.follow_call_view(minimized));
        self.dispatch(effects);
    }
}

impl ConcordApp {
    /// Push-to-talk: the global key where the platform allows one (held
    /// whichever window has focus), else the window's own key, held only
    /// while the window has the keyboard (losing focus lets go, so the
    /// microphone never stays open).
    fn follow_push_to_talk(&mut self, ctx: &egui::Context, focused: bool) -> Vec<Effect> {
        let voice = &self.state.persisted.media.voice;
        let push_to_talk = voice.input_mode == crate::settings::InputModeChoice::PushToTalk;
        let Some(key) = egui::Key::from_name(&voice.push_to_talk_key) else { return vec![] };
        let window_down = focused && ctx.input(|i| i.key_down(key));
        #[cfg(not(target_arch = "wasm32"))]
        let down = {
            let name = push_to_talk.then_some(voice.push_to_talk_key.as_str());
            self.global_push_to_talk.follow(name);
            self.state.push_to_talk_scope = self.global_push_to_talk.scope();
            window_down || self.global_push_to_talk.is_down()
        };
        #[cfg(target_arch = "wasm32")]
        let down = window_down;
        if !push_to_talk {
            return vec![];
        }
        self.state.set_push_to_talk(down)
    }
}

impl eframe::App for ConcordApp {
    fn raw_input_hook(&mut self, ctx: &egui::Context, raw_input: &mut egui::RawInput) {
        ui::defer_events_after_tab(&mut self.deferred_input, &mut raw_input.events);
        if !self.deferred_input.is_empty() {
            ctx.request_repaint();
        }
    }

    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.apply_events(ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let effects = ui::app_ui(ui, &mut self.state);
        self.dispatch(effects);
        #[cfg(feature = "test-hooks")]
        {
            let mut summary = self.state.test_summary();
            summary["emoji_missing"] =
                ui::theme::emoji_without_glyphs(ui.ctx(), ui::theme::EVERYDAY_EMOJI).into();
            summary["layout"] = if ui::is_narrow(ui.ctx()) { "narrow" } else { "wide" }.into();
            // Whether a text field has the keyboard (tests click into one).
            summary["typing"] = ui.ctx().egui_wants_keyboard_input().into();
            // Where named widgets and messages are, in points, for a test to point at.
            summary["targets"] = serde_json::json!(ui::take_test_targets(ui.ctx()));
            crate::platform::publish_test_state(&summary.to_string());
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, STORAGE_KEY, &self.state.persisted);
    }
}
