//! The realtime gateway: `GET /api/ws`, one [`session`] per websocket —
//! identify, the `ready` snapshot, events out, client frames in. Frames are
//! handled by the same services the REST routes call. The handshake is
//! [`upgrade`]'s, which frees Rocket's request as soon as the socket is open.

pub mod session;
pub mod upgrade;

use std::sync::Arc;

use concord_common::ErrorCode;
use rocket::fairing::AdHoc;
use rocket::http::Status;
use rocket::{get, routes, State};

use crate::auth::token::Tokens;
use crate::config::Settings;
use crate::error::ApiError;
use crate::realtime::Hub;
use crate::services::{Calls, Messages, Rooms, Social};

/// What a websocket session needs; shared by every session as `Arc<Gateway>`
/// (one pointer per connection, not a copy of the services and token keys).
pub struct Gateway {
    /// Friends, invites, presence.
    pub social: Social,
    /// Unread counts for the snapshot.
    pub messages: Messages,
    /// Rooms for the snapshot.
    pub rooms: Rooms,
    /// Joining, leaving and updating calls.
    pub calls: Calls,
    /// Delivery.
    pub hub: Arc<Hub>,
    /// Checks `identify` tokens.
    pub tokens: Tokens,
    /// Clients must send something at least this often.
    pub heartbeat_interval_ms: u64,
    /// Largest frame a client may send.
    pub max_frame_bytes: usize,
}

/// Builds the [`Gateway`] from the services and mounts `/api/ws`.
pub fn stage() -> AdHoc {
    AdHoc::try_on_ignite("Websocket gateway", |rocket| async move {
        let parts = (
            rocket.state::<Social>(),
            rocket.state::<Messages>(),
            rocket.state::<Rooms>(),
            rocket.state::<Calls>(),
            rocket.state::<Arc<Hub>>(),
            rocket.state::<Tokens>(),
            rocket.state::<Settings>(),
        );
        let (Some(social), Some(messages), Some(rooms), Some(calls), Some(hub), Some(tokens), Some(settings)) =
            parts
        else {
            return Err(rocket);
        };
        let gateway = Arc::new(Gateway {
            social: social.clone(),
            messages: messages.clone(),
            rooms: rooms.clone(),
            calls: calls.clone(),
            hub: hub.clone(),
            tokens: tokens.clone(),
            heartbeat_interval_ms: settings.heartbeat_interval_ms,
            max_frame_bytes: settings.ws_max_message_bytes,
        });
        Ok(rocket.manage(gateway).mount("/api", routes![websocket, not_an_upgrade]))
    })
}

/// The realtime websocket.
#[utoipa::path(get, path = "/api/ws", tag = "realtime", security(()),
    responses(
        (status = 101, description = "Switching Protocols. Frames are JSON text: the client's first frame is \
            `identify` with a token; then `ClientFrame`s in, `ServerFrame`s out (see docs/API.md)."),
        (status = 426, description = "A plain GET without websocket upgrade headers (`upgrade_required`).", body = concord_common::ErrorResponse),
    ))]
#[get("/ws")]
pub(crate) fn websocket(
    request: upgrade::WebSocketRequest,
    gateway: &State<Arc<Gateway>>,
) -> upgrade::Accept {
    request.accept(Arc::clone(gateway.inner()))
}

/// A plain GET (no upgrade headers) gets a typed 426, not a crash.
#[get("/ws", rank = 2)]
fn not_an_upgrade() -> ApiError {
    ApiError::new(
        Status::UpgradeRequired,
        ErrorCode::UpgradeRequired,
        "This is the websocket endpoint: connect with a websocket client.",
    )
}
