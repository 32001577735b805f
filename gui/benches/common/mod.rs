//! What the client benchmarks share: the app logged in as ada.

use concord_common::{User, UserId};
use concord_gui::state::{AppState, Persisted, StoredSession};

/// The state of an app logged in as ada (user 1) on a local server.
pub fn logged_in_as_ada() -> AppState {
    let me = User { id: UserId(1), username: "ada".into(), email: "ada@example.com".into() };
    let persisted = Persisted {
        server_url: "http://127.0.0.1:8000".into(),
        session: Some(StoredSession { token: "t".into(), expires_at_ms: i64::MAX, user: me.clone() }),
        ..Default::default()
    };
    let (mut state, _) = AppState::restore(persisted, 0);
    state.me = Some(me);
    state
}
