//! Messages waiting to be delivered, sent one at a time in the order typed.
//! Each keeps its nonce across retries, so a message whose answer was lost is
//! not stored twice: the server returns the original.

use std::time::Duration;

use concord_common::{AttachmentId, ErrorBody, ErrorCode, MessageId, RoomId, SendMessageRequest, UserId};
use tokio::sync::{mpsc, watch};

use super::rest::{Api, RestError};
use super::{EventSink, NetEvent};

/// Messages that may wait in the outbox.
pub const OUTBOX_LEN: usize = 1000;
const MAX_RETRY: Duration = Duration::from_secs(10);

/// Where a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipient {
    /// A friend (a direct message).
    Friend(UserId),
    /// A room's chat.
    Room(RoomId),
}

/// One message to deliver.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// Where it goes.
    pub to: Recipient,
    /// Its text.
    pub content: String,
    /// Its idempotency key.
    pub nonce: String,
    /// The message it answers.
    pub reply_to: Option<MessageId>,
    /// Files uploaded for it.
    pub attachments: Vec<AttachmentId>,
}

/// Delivers queued messages while `online`, retrying each until the server
/// either stores or refuses it.
pub async fn run(
    api: Api,
    mut queue: mpsc::Receiver<Outgoing>,
    mut online: watch::Receiver<bool>,
    sink: EventSink,
) {
    while let Some(message) = queue.recv().await {
        let request = SendMessageRequest {
            content: message.content.clone(),
            nonce: message.nonce.clone(),
            reply_to: message.reply_to,
            attachments: message.attachments.clone(),
        };
        let mut retry = Duration::from_millis(250);
        loop {
            while !*online.borrow_and_update() {
                if online.changed().await.is_err() {
                    return;
                }
            }
            match deliver(&api, message.to, &request).await {
                Ok(Delivered::Dm(stored)) => {
                    sink.emit(NetEvent::MessageSent {
                        peer: stored.recipient_id,
                        nonce: message.nonce,
                        message: stored,
                    })
                    .await;
                    break;
                }
                Ok(Delivered::Room(stored)) => {
                    sink.emit(NetEvent::RoomMessageSent {
                        room: stored.room_id,
                        nonce: message.nonce,
                        message: stored,
                    })
                    .await;
                    break;
                }
                Err(RestError::Api(error)) if error.code != ErrorCode::Internal => {
                    sink.emit(refused(message.to, message.nonce, error)).await;
                    break;
                }
                // Unreachable or a server failure: same nonce, a little later.
                Err(_) => {
                    crate::runtime::sleep(retry).await;
                    retry = (retry * 2).min(MAX_RETRY);
                }
            }
        }
    }
}

/// What the server stored.
enum Delivered {
    Dm(concord_common::DirectMessage),
    Room(concord_common::RoomMessage),
}

async fn deliver(api: &Api, to: Recipient, request: &SendMessageRequest) -> Result<Delivered, RestError> {
    match to {
        Recipient::Friend(peer) => api.send_message(peer, request).await.map(Delivered::Dm),
        Recipient::Room(room) => api.send_room_message(room, request).await.map(Delivered::Room),
    }
}

/// The event saying a message to `to` was refused for good.
pub fn refused(to: Recipient, nonce: String, error: ErrorBody) -> NetEvent {
    match to {
        Recipient::Friend(peer) => NetEvent::MessageRefused { peer, nonce, error },
        Recipient::Room(room) => NetEvent::RoomMessageRefused { room, nonce, error },
    }
}
