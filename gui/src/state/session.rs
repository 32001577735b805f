//! The session: the first-run and login screens, what survives a restart,
//! and the events that log in, connect and expire.

use std::collections::BTreeMap;

use concord_common::validate;
use concord_common::{AuthResponse, ErrorBody, User};
use serde::{Deserialize, Serialize};

use super::{AppState, Effect};
use crate::net::{Command, Connection};

/// What survives a restart (kept in eframe's storage / the browser's local storage).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Persisted {
    /// The server last used.
    pub server_url: String,
    /// The logged-in session, if any.
    pub session: Option<StoredSession>,
    /// Chosen call devices.
    #[serde(default)]
    pub media: crate::settings::MediaSettings,
    /// Dark, light, or the system's.
    #[serde(default)]
    pub theme: crate::settings::ThemeChoice,
    /// Notification levels chosen per conversation (`dms/{id}`, `rooms/{id}`);
    /// the others have their default.
    #[serde(default)]
    pub notify: std::collections::BTreeMap<concord_common::Conversation, crate::settings::NotifyLevel>,
    /// The emoji picker's recently used emoji and skin tone.
    #[serde(default)]
    pub emoji: super::EmojiPrefs,
}

/// A login kept across restarts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredSession {
    /// Bearer token.
    pub token: String,
    /// When it stops working (Unix ms).
    pub expires_at_ms: i64,
    /// Who is logged in.
    pub user: User,
}

/// Login or register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    /// Existing account.
    #[default]
    Login,
    /// New account.
    Register,
}

/// The first-run / login screen's fields.
#[derive(Debug, Clone, Default)]
pub struct LoginForm {
    /// Whether the server address has been confirmed.
    pub server_chosen: bool,
    /// The server address being edited.
    pub server: String,
    /// Login or register.
    pub mode: AuthMode,
    /// Email field.
    pub email: String,
    /// Username field (register only).
    pub username: String,
    /// Password field.
    pub password: String,
    /// A request is in flight.
    pub pending: bool,
    /// An error not tied to one field.
    pub error: Option<String>,
    /// Errors shown beside a field, by field name (`email`, `username`, `password`).
    pub field_errors: BTreeMap<String, String>,
    /// Put the keyboard focus in the screen's first field on the next frame.
    pub focus_first: bool,
}

impl AppState {
    /// Whether someone is logged in.
    pub fn logged_in(&self) -> bool {
        self.persisted.session.is_some()
    }

    pub(super) fn on_authenticated(&mut self, server: String, auth: AuthResponse) -> Vec<Effect> {
        self.login.pending = false;
        self.login.password.clear();
        self.login.error = None;
        self.login.field_errors.clear();
        self.notice = None;
        self.persisted.server_url = server.clone();
        self.persisted.session = Some(StoredSession {
            token: auth.token.clone(),
            expires_at_ms: auth.expires_at_ms,
            user: auth.user.clone(),
        });
        self.me = Some(auth.user);
        self.connection = Some(Connection::Connecting);
        vec![Command::Resume { server, token: auth.token }.into()]
    }

    pub(super) fn on_auth_failed(&mut self, error: ErrorBody) {
        self.login.pending = false;
        match error.field {
            Some(field) => {
                self.login.field_errors.insert(field, error.message);
            }
            None => self.login.error = Some(error.message),
        }
    }

    pub(super) fn on_connection(&mut self, connection: Connection) {
        if self.logged_in() {
            self.connection = Some(connection);
        }
    }

    pub(super) fn on_session_expired(&mut self, message: String) -> Vec<Effect> {
        let email = self.persisted.session.as_ref().map(|s| s.user.email.clone());
        let mut effects = self.clear_session();
        self.login.email = email.unwrap_or_default();
        self.notice = Some(format!("{message} Log in again to continue."));
        effects.push(Command::Logout.into());
        effects
    }

    /// Back to the login screen, keeping the server, the device picks, the
    /// theme and what the page is; returns the media side's request to leave
    /// the call, if one was on (not the leave sound, which goes with the rest
    /// of the session).
    fn clear_session(&mut self) -> Vec<Effect> {
        let mut effects = self.leave_call();
        effects.retain(|effect| matches!(effect, Effect::Media(_)));
        let server = self.persisted.server_url.clone();
        let login = LoginForm {
            server_chosen: true,
            server: server.clone(),
            focus_first: true,
            ..Default::default()
        };
        *self = AppState {
            persisted: Persisted {
                server_url: server,
                session: None,
                media: self.persisted.media.clone(),
                theme: self.persisted.theme,
                notify: std::mem::take(&mut self.persisted.notify),
                emoji: std::mem::take(&mut self.persisted.emoji),
            },
            login,
            focused: self.focused,
            calls_blocked: self.calls_blocked,
            ..Default::default()
        };
        effects
    }

    /// Confirms the server address on the first-run screen.
    pub fn choose_server(&mut self) {
        let server = self.login.server.trim().trim_end_matches('/').to_owned();
        match url::Url::parse(&server) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                self.login.server = server.clone();
                self.persisted.server_url = server;
                self.login.server_chosen = true;
                self.login.focus_first = true;
                self.login.field_errors.remove("server");
            }
            _ => {
                self.login.field_errors.insert(
                    "server".into(),
                    "Enter the server's address, like http://127.0.0.1:8000 or https://chat.example.org"
                        .into(),
                );
            }
        }
    }

    /// Validates the login/register form and sends it.
    pub fn submit_auth(&mut self) -> Vec<Effect> {
        let form = &mut self.login;
        if form.pending {
            return vec![];
        }
        form.error = None;
        form.field_errors.clear();
        let mut checks = vec![validate::email(&form.email)];
        if form.mode == AuthMode::Register {
            checks.push(validate::username(&form.username));
            checks.push(validate::password(&form.password));
        } else if form.password.is_empty() {
            checks.push(Err(validate::FieldError {
                field: "password",
                message: "Enter your password.".into(),
            }));
        }
        for error in checks.into_iter().filter_map(Result::err) {
            form.field_errors.insert(error.field.to_owned(), error.message);
        }
        if !form.field_errors.is_empty() {
            return vec![];
        }
        form.pending = true;
        let server = self.persisted.server_url.clone();
        let (email, password) = (form.email.trim().to_owned(), form.password.clone());
        let command = match form.mode {
            AuthMode::Login => Command::Login { server, email, password },
            AuthMode::Register => {
                Command::Register { server, email, username: form.username.trim().to_owned(), password }
            }
        };
        vec![command.into()]
    }

    /// Logs out on this device.
    pub fn logout(&mut self) -> Vec<Effect> {
        let mut effects = self.clear_session();
        effects.push(Command::Logout.into());
        effects
    }
}
