//! `GET /api/ws`: the realtime websocket (see `crate::realtime::session`).

use concord_common::ErrorCode;
use rocket::http::Status;
use rocket::{get, routes, Route, State};

use crate::app::App;
use crate::error::ApiError;
use crate::realtime::session;

pub fn routes() -> Vec<Route> {
    routes![websocket, not_an_upgrade]
}

#[get("/ws")]
fn websocket(ws: rocket_ws::WebSocket, app: &State<App>) -> rocket_ws::Channel<'static> {
    let app = app.inner().clone();
    let max = app.settings.ws_max_message_bytes;
    let ws = ws.config(rocket_ws::Config {
        max_message_size: Some(max),
        max_frame_size: Some(max),
        ..Default::default()
    });
    ws.channel(move |stream| {
        Box::pin(async move {
            session::run(app, stream).await;
            Ok(())
        })
    })
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
