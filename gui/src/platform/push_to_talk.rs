//! Desktop only: the push-to-talk key as a global hotkey (`global-hotkey`),
//! so it works while another window has focus. Where the platform does not
//! allow one (a Wayland session without X, no display), the app falls back
//! to the key seen by its own window, and Settings says so.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Mutex, Once, PoisonError};

use global_hotkey::hotkey::{Code, HotKey};
use global_hotkey::{GlobalHotKeyEvent, GlobalHotKeyManager, HotKeyState};

/// Whether the registered key is down, set by the hotkey's own thread
/// (`global-hotkey` takes one event handler per process).
static DOWN: AtomicBool = AtomicBool::new(false);
/// The registered hotkey's id (0: none), read by that thread.
static ID: AtomicU32 = AtomicU32::new(0);
/// The window to wake on a press or release.
static WAKE: Mutex<Option<egui::Context>> = Mutex::new(None);

/// The global push-to-talk key and whether it is held.
pub struct GlobalPushToTalk {
    manager: Result<GlobalHotKeyManager, String>,
    /// The key registered now (egui's name) and its hotkey.
    registered: Option<(String, HotKey)>,
    problem: Option<String>,
}

impl GlobalPushToTalk {
    /// Connects to the platform's hotkeys; `ctx` is woken on every press and release.
    pub fn new(ctx: egui::Context) -> Self {
        let manager = GlobalHotKeyManager::new().map_err(|e| e.to_string());
        if manager.is_ok() {
            *WAKE.lock().unwrap_or_else(PoisonError::into_inner) = Some(ctx);
            static HANDLER: Once = Once::new();
            HANDLER.call_once(|| {
                GlobalHotKeyEvent::set_event_handler(Some(|event: GlobalHotKeyEvent| {
                    if event.id == ID.load(Ordering::Relaxed) {
                        DOWN.store(event.state == HotKeyState::Pressed, Ordering::Relaxed);
                        if let Some(ctx) = WAKE.lock().unwrap_or_else(PoisonError::into_inner).as_ref() {
                            ctx.request_repaint();
                        }
                    }
                }));
            });
        }
        Self { manager, registered: None, problem: None }
    }

    /// Registers `key` (egui's name for it) as the global key, or none;
    /// returns whether a global key is in place.
    pub fn follow(&mut self, key: Option<&str>) -> bool {
        if self.registered.as_ref().map(|(name, _)| name.as_str()) == key {
            return self.registered.is_some();
        }
        let Ok(manager) = &self.manager else { return false };
        if let Some((_, hotkey)) = self.registered.take() {
            let _ = manager.unregister(hotkey);
        }
        ID.store(0, Ordering::Relaxed);
        DOWN.store(false, Ordering::Relaxed);
        self.problem = None;
        let Some(name) = key else { return false };
        let Some(code) = code_of(name) else {
            self.problem = Some(format!("{name} cannot be a global key"));
            return false;
        };
        let hotkey = HotKey::new(None, code);
        match manager.register(hotkey) {
            Ok(()) => {
                ID.store(hotkey.id(), Ordering::Relaxed);
                self.registered = Some((name.to_owned(), hotkey));
                true
            }
            Err(error) => {
                self.problem = Some(error.to_string());
                false
            }
        }
    }

    /// Whether the global key is held now.
    pub fn is_down(&self) -> bool {
        self.registered.is_some() && DOWN.load(Ordering::Relaxed)
    }

    /// Where the key works, for Settings → Voice.
    pub fn scope(&self) -> String {
        match (&self.manager, &self.registered, &self.problem) {
            (_, Some(_), _) => "The key works everywhere, even while another window has focus.".to_owned(),
            (Err(why), _, _) => format!(
                "This session does not let apps take a key for themselves (some Wayland desktops do not): \
                 the key works while Concord's window is focused. ({why})"
            ),
            (Ok(_), None, Some(why)) => {
                format!("The key works while Concord's window is focused: it could not be taken globally ({why}).")
            }
            (Ok(_), None, None) => "The key works while Concord's window is focused.".to_owned(),
        }
    }
}

/// The hotkey code of the keys Settings offers (egui's names).
fn code_of(name: &str) -> Option<Code> {
    Some(match name {
        "F8" => Code::F8,
        "F9" => Code::F9,
        "F10" => Code::F10,
        "F11" => Code::F11,
        "F12" => Code::F12,
        "Backtick" => Code::Backquote,
        "Insert" => Code::Insert,
        "Pause" => Code::Pause,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_offered_key_has_a_hotkey_code() {
        for key in crate::settings::PUSH_TO_TALK_KEYS {
            assert!(code_of(key.name()).is_some(), "{}", key.name());
        }
        assert!(code_of("A").is_none(), "letters are for typing");
    }
}
