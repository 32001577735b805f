//! The websocket handshake of `GET /api/ws`, done here rather than by
//! `rocket_ws`, so that an idle connection costs what it must and no more.
//!
//! Rocket 0.5 runs an upgraded connection's handler inside the request's
//! task, which keeps the parsed request alive — and with it hyper's whole
//! HTTP/1 read buffer (the header values point into it) and the task's own
//! state: ~22 KB per websocket for as long as it is open. [`Accept`]'s
//! handler instead starts the [`session`](super::session) as a task of its
//! own and returns at once, so the request, its buffer and its task are freed
//! right after the `101`. The session's tungstenite buffers start small
//! ([`socket_config`]) and grow only for the frames that need it.

use std::io;
use std::pin::Pin;
use std::sync::Arc;

use rocket::data::{IoHandler, IoStream};
use rocket::http::uncased::eq;
use rocket::http::Status;
use rocket::request::{FromRequest, Outcome, Request};
use rocket::response::{self, Responder, Response};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

use super::{session, Gateway};

/// Bytes a connection's read buffer starts with: an idle client's pongs and
/// heartbeats fit; a bigger frame grows the buffer for as long as it needs.
const READ_BUFFER_BYTES: usize = 512;

/// A request that asks for a websocket (RFC 6455 §4.2.1): the value its
/// `Sec-WebSocket-Accept` answer must carry. Any other request is forwarded
/// (to the route that answers `426 upgrade_required`).
pub struct WebSocketRequest {
    accept_key: String,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for WebSocketRequest {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let headers = request.headers();
        let lists = |name: &str, token: &str| {
            headers.get(name).any(|value| value.split(',').any(|part| eq(part.trim(), token)))
        };
        let upgrade = lists("Connection", "upgrade") && lists("Upgrade", "websocket");
        let version_13 = headers.get_one("Sec-WebSocket-Version") == Some("13");
        match headers.get_one("Sec-WebSocket-Key") {
            Some(key) if upgrade && version_13 => {
                Outcome::Success(WebSocketRequest { accept_key: derive_accept_key(key.as_bytes()) })
            }
            _ => Outcome::Forward(Status::BadRequest),
        }
    }
}

impl WebSocketRequest {
    /// The `101 Switching Protocols` answer; the session then runs on
    /// `gateway` with frames of at most `gateway.max_frame_bytes`.
    pub fn accept(self, gateway: Arc<Gateway>) -> Accept {
        Accept { accept_key: self.accept_key, gateway }
    }
}

/// The `101` answer and what runs on the upgraded connection.
pub struct Accept {
    accept_key: String,
    gateway: Arc<Gateway>,
}

impl<'r> Responder<'r, 'static> for Accept {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        Response::build()
            .raw_header("Sec-WebSocket-Version", "13")
            .raw_header("Sec-WebSocket-Accept", self.accept_key.clone())
            .upgrade("websocket", self)
            .ok()
    }
}

#[rocket::async_trait]
impl IoHandler for Accept {
    /// Starts the session in a task of its own and returns: Rocket's request
    /// task, and everything it holds, ends here.
    async fn io(self: Pin<Box<Self>>, io: IoStream) -> io::Result<()> {
        let Accept { gateway, .. } = *Pin::into_inner(self);
        let config = socket_config(gateway.max_frame_bytes);
        tokio::spawn(async move {
            let socket = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
            session::run(gateway, socket).await;
        });
        Ok(())
    }
}

/// Frames (and messages) up to `max_frame_bytes`; small buffers to start;
/// every frame written at once (the session flushes each anyway).
pub fn socket_config(max_frame_bytes: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_frame_size(Some(max_frame_bytes))
        .max_message_size(Some(max_frame_bytes))
}
