//! A websocket client for tests, strict about order: [`Ws::expect_next`]
//! fails on any other frame first, and [`Ws::assert_nothing_queued`] proves
//! silence by order (a marker heartbeat's answer comes next) instead of by
//! waiting.

use std::time::Duration;

use concord_common::{events, ClientEvent, ClientFrame, ServerEvent, ServerFrame};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::db::unique;

/// How long a test waits for an event that should come.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(5);

/// A test websocket client.
pub struct Ws {
    /// The raw stream, for tests that misbehave on purpose.
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Ws {
    /// Connects to `url` without identifying.
    pub async fn connect(url: &str) -> Ws {
        let (stream, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        Ws { stream }
    }

    /// Connects with small buffers (benchmarks hold thousands), identifies
    /// with `token` and returns after `ready`.
    pub async fn identified_lean(url: &str, token: &str) -> Ws {
        let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
        let (stream, _) =
            tokio_tungstenite::connect_async_with_config(url, Some(config), false).await.unwrap();
        let mut ws = Ws { stream };
        ws.send(&ClientEvent::Identify(events::Identify { token: token.to_owned() })).await;
        let ready = ws.next().await;
        assert!(matches!(ready, ServerEvent::Ready(_)), "expected ready, got {ready:?}");
        ws
    }

    /// Sends one event.
    pub async fn send(&mut self, event: &ClientEvent) {
        self.send_text(&serde_json::to_string(event).unwrap()).await;
    }

    /// Sends any text frame.
    pub async fn send_text(&mut self, text: &str) {
        self.stream.send(Message::text(text)).await.unwrap();
    }

    /// Sends `event` with a `request_id`.
    pub async fn send_request(&mut self, request_id: &str, event: ClientEvent) {
        let frame = ClientFrame { request_id: Some(request_id.to_owned()), event };
        self.send_text(&serde_json::to_string(&frame).unwrap()).await;
    }

    /// The next frame, with its `request_id`, within `wait`; `Err` with the
    /// close code (or `None` for a reset or a timeout) if the socket ended.
    pub async fn next_frame_within(&mut self, wait: Duration) -> Result<ServerFrame, Option<u16>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => {
                    return Ok(serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad frame {text}: {e}")))
                }
                Ok(Some(Ok(Message::Close(frame)))) => return Err(frame.map(|f| f.code.into())),
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(_))) | Ok(None) | Err(_) => return Err(None),
            }
        }
    }

    /// Asserts that the very next frame (within `wait`) is `what`: nothing
    /// else may come first. Returns it.
    pub async fn expect_next_within<F: Fn(&ServerFrame) -> bool>(
        &mut self,
        wait: Duration,
        what: &str,
        pred: F,
    ) -> ServerFrame {
        match self.next_frame_within(wait).await {
            Ok(frame) if pred(&frame) => frame,
            Ok(frame) => panic!("expected {what} next, got {frame:?}"),
            Err(code) => panic!("expected {what} next, but the socket ended (close code {code:?})"),
        }
    }

    /// [`Ws::expect_next_within`] with [`EVENT_TIMEOUT`], on the event alone.
    pub async fn expect_next<F: Fn(&ServerEvent) -> bool>(&mut self, what: &str, pred: F) -> ServerEvent {
        self.expect_next_within(EVENT_TIMEOUT, what, |f| pred(&f.event)).await.event
    }

    /// The next server event (pings skipped); panics after [`EVENT_TIMEOUT`].
    pub async fn next(&mut self) -> ServerEvent {
        match self.try_next(EVENT_TIMEOUT).await {
            Some(event) => event,
            None => panic!("no event within {EVENT_TIMEOUT:?}"),
        }
    }

    /// The next server event within `wait`, if any (`None` on timeout or close).
    pub async fn try_next(&mut self, wait: Duration) -> Option<ServerEvent> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.stream.next()).await.ok()??;
            match frame {
                Ok(Message::Text(text)) => {
                    return Some(
                        serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad event {text}: {e}")),
                    )
                }
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    }

    /// Proves by order that nothing is queued for this connection: sends a
    /// heartbeat with a fresh `request_id` and asserts that its answer is the
    /// very next frame. Effects of a REST call are queued before the call
    /// returns, so this is exact right after one (no waiting for silence).
    pub async fn assert_nothing_queued(&mut self) {
        let marker = unique("nothing-queued");
        self.send_request(&marker, ClientEvent::Heartbeat).await;
        self.expect_next_within(EVENT_TIMEOUT, "the marker heartbeat's answer, nothing before it", |f| {
            f.request_id.as_deref() == Some(marker.as_str())
        })
        .await;
    }

    /// Waits for the server to close the connection; returns the close code
    /// (`None` for a reset without a close frame).
    pub async fn closed(&mut self) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + EVENT_TIMEOUT;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| f.code.into()),
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(_))) | Ok(None) => return None,
                Err(_) => panic!("the server did not close the websocket"),
            }
        }
    }
}
