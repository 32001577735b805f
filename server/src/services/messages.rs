//! Direct messages: history, sending (stored before anyone hears of it,
//! resends de-duplicated by nonce), read markers and unread counts. Edits,
//! deletes and reactions are [`super::chat`]'s, shared with rooms.
//!
//! Sends go through one writer task that commits the messages that arrived
//! together in one transaction (group commit): under load a commit carries
//! many messages instead of each waiting for its own.

use std::sync::Arc;

use concord_common::events;
use concord_common::validate;
use concord_common::{
    AttachmentId, DirectMessage, ErrorCode, MessageId, MessagePage, SendMessageRequest, ServerEvent,
    UnreadCount, UserId,
};
use rocket::http::Status;
use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

use super::attachments::Attachments;
use super::chat;
use super::social::Social;
use crate::db::chat::Scope;
use crate::db::messages::{self, InsertOutcome};
use crate::db::Backend;
use crate::error::ApiError;
use crate::ids::{now_ms, IdGenerator};
use crate::realtime::Hub;

/// Most messages one commit carries.
const MAX_BATCH: usize = 256;
/// Sends waiting for the writer before new ones wait for room.
const WRITE_QUEUE: usize = 4096;
/// Batches committing at once.
const COMMITS_IN_FLIGHT: usize = 2;
/// A commit this slow is logged (the sends behind it waited as long).
const SLOW_COMMIT: std::time::Duration = std::time::Duration::from_millis(50);

/// Whether a send stored a new message or found the original of a resend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Stored now (HTTP 201).
    Created,
    /// A resend: the original is returned (HTTP 200).
    AlreadyStored,
}

struct PendingWrite {
    message: DirectMessage,
    reply: oneshot::Sender<Result<InsertOutcome, ()>>,
}

/// Direct messages between friends.
#[derive(Clone)]
pub struct Messages {
    pool: AnyPool,
    backend: Backend,
    hub: Arc<Hub>,
    ids: Arc<IdGenerator>,
    social: Social,
    files: Attachments,
    writer: mpsc::Sender<PendingWrite>,
    /// Sends queued or committing (each is answered after its commit).
    unanswered: Arc<std::sync::atomic::AtomicUsize>,
}

impl Messages {
    /// The service, with its writer task started.
    pub(super) fn start(
        pool: AnyPool,
        backend: Backend,
        hub: Arc<Hub>,
        ids: Arc<IdGenerator>,
        social: Social,
        files: Attachments,
    ) -> Self {
        let (writer, queue) = mpsc::channel(WRITE_QUEUE);
        let unanswered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        tokio::spawn(run_writer(pool.clone(), queue, unanswered.clone()));
        Self { pool, backend, hub, ids, social, files, writer, unanswered }
    }

    /// Shutting down: waits (at most `limit`) until every send already
    /// taken is committed and answered. Whether it got there.
    pub async fn drain(&self, limit: std::time::Duration) -> bool {
        use std::sync::atomic::Ordering;
        let deadline = tokio::time::Instant::now() + limit;
        while self.unanswered.load(Ordering::Acquire) > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        true
    }

    /// Up to `limit` messages with `peer` older than `before`, newest first.
    pub async fn history(
        &self,
        me: UserId,
        peer: UserId,
        before: Option<MessageId>,
        limit: u32,
    ) -> Result<MessagePage, ApiError> {
        self.social.require_friend(me, peer).await?;
        let fetched = messages::page(&self.pool, self.backend, me, peer, before, limit + 1).await?;
        let (mut messages, has_more) = super::history_page(fetched, limit);
        chat::complete(&self.pool, &self.files, Scope::Dm(me, peer), me, &mut messages).await?;
        Ok(MessagePage { messages, has_more })
    }

    /// Sends a message to friend `peer`: committed before it is acknowledged
    /// or announced; a resend with the same nonce returns the original.
    pub async fn send(
        &self,
        me: UserId,
        peer: UserId,
        request: SendMessageRequest,
    ) -> Result<(Sent, DirectMessage), ApiError> {
        validate::message_body(&request.content, request.attachments.len())?;
        validate::nonce(&request.nonce)?;
        self.social.require_friend(me, peer).await?;
        if !request.attachments.is_empty() {
            // A resend's attachments are already in its original.
            if let Some(original) = messages::by_nonce(&self.pool, me, &request.nonce).await? {
                return self.resent(me, peer, original, &request.attachments).await;
            }
        }
        let reply_preview = match request.reply_to {
            Some(original) => Some(chat::reply_preview(&self.pool, Scope::Dm(me, peer), original).await?),
            None => None,
        };
        let attachments = self.files.sendable(me, &request.attachments).await?;
        let mut message = DirectMessage {
            id: MessageId(self.ids.next()),
            sender_id: me,
            recipient_id: peer,
            mentions: concord_common::chat::mentions(&request.content),
            content: request.content,
            nonce: request.nonce,
            created_at_ms: now_ms(),
            edited_at_ms: None,
            reply_to: request.reply_to,
            reply_preview,
            reactions: Vec::new(),
            attachments,
        };
        let (reply, stored) = oneshot::channel();
        self.unanswered.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        if self.writer.send(PendingWrite { message: message.clone(), reply }).await.is_err() {
            self.unanswered.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
            return Err(ApiError::internal());
        }
        match stored.await {
            Ok(Ok(InsertOutcome::Stored)) => {
                if !request.attachments.is_empty() {
                    let taken = self.files.attach(me, message.id, &request.attachments).await?;
                    if taken < request.attachments.len() as u64 {
                        // Sent in another message meanwhile: show what this one holds.
                        let scope = Scope::Dm(me, peer);
                        chat::complete(
                            &self.pool,
                            &self.files,
                            scope,
                            me,
                            std::slice::from_mut(&mut message),
                        )
                        .await?;
                    }
                }
                self.announce_new(&message);
                Ok((Sent::Created, message))
            }
            Ok(Ok(InsertOutcome::Duplicate(original))) => {
                self.resent(me, peer, *original, &request.attachments).await
            }
            Ok(Err(())) | Err(_) => Err(ApiError::internal()),
        }
    }

    /// The original of a resend to `peer`, announced again: the first send
    /// may have stopped after storing it and before announcing it (its commit
    /// answered by a database that went away, or its attachments not yet in
    /// it), and clients ignore a message they already have.
    async fn resent(
        &self,
        me: UserId,
        peer: UserId,
        mut original: DirectMessage,
        attachments: &[AttachmentId],
    ) -> Result<(Sent, DirectMessage), ApiError> {
        if original.recipient_id != peer {
            return Err(ApiError::new(
                Status::Conflict,
                ErrorCode::NonceConflict,
                "This nonce was already used for a message to someone else.",
            ));
        }
        self.files.attach(me, original.id, attachments).await?;
        chat::complete(&self.pool, &self.files, Scope::Dm(me, peer), me, std::slice::from_mut(&mut original))
            .await?;
        self.announce_new(&original);
        Ok((Sent::AlreadyStored, original))
    }

    fn announce_new(&self, message: &DirectMessage) {
        self.hub.publish_to_users(
            &[message.sender_id, message.recipient_id],
            &ServerEvent::MessageCreated(events::MessageCreated { message: message.clone() }),
        );
    }

    /// Marks the conversation with `peer` read up to its newest message, on
    /// every device of `me`.
    pub async fn mark_read(&self, me: UserId, peer: UserId) -> Result<UnreadCount, ApiError> {
        self.social.require_friend(me, peer).await?;
        let newest = messages::newest_id(&self.pool, me, peer).await?;
        if let Some(newest) = newest {
            messages::mark_read(&self.pool, me, peer, newest).await?;
            self.hub.publish_to_users(
                &[me],
                &ServerEvent::DmRead(events::DmRead { user_id: peer, last_read_id: newest }),
            );
        }
        Ok(UnreadCount { user_id: peer, count: 0, last_read_id: newest })
    }

    /// Unread counts per friend (only non-zero ones).
    pub async fn unread(&self, me: UserId) -> Result<Vec<UnreadCount>, ApiError> {
        Ok(messages::unread_counts(&self.pool, me).await?)
    }
}

/// Commits whatever sends are waiting, up to [`MAX_BATCH`] at a time, with
/// up to [`COMMITS_IN_FLIGHT`] batches committing at once: the next batch's
/// INSERT runs while the one before waits for the disk (the database flushes
/// both together), instead of waiting behind it.
async fn run_writer(
    pool: AnyPool,
    mut queue: mpsc::Receiver<PendingWrite>,
    unanswered: Arc<std::sync::atomic::AtomicUsize>,
) {
    let in_flight = Arc::new(tokio::sync::Semaphore::new(COMMITS_IN_FLIGHT));
    loop {
        let Ok(permit) = in_flight.clone().acquire_owned().await else { return };
        let mut batch = Vec::with_capacity(MAX_BATCH);
        if queue.recv_many(&mut batch, MAX_BATCH).await == 0 {
            return;
        }
        let pool = pool.clone();
        let unanswered = unanswered.clone();
        tokio::spawn(async move {
            let sends = batch.len();
            commit(&pool, batch).await;
            unanswered.fetch_sub(sends, std::sync::atomic::Ordering::AcqRel);
            drop(permit);
        });
    }
}

/// Stores one batch and answers each of its sends.
async fn commit(pool: &AnyPool, batch: Vec<PendingWrite>) {
    let messages: Vec<&DirectMessage> = batch.iter().map(|p| &p.message).collect();
    let started = std::time::Instant::now();
    let stored = messages::insert_batch(pool, &messages).await;
    let took = started.elapsed();
    if took >= SLOW_COMMIT {
        // Every send waiting behind this commit waited as long: say so.
        tracing::warn!(ms = took.as_millis() as u64, messages = batch.len(), "slow group commit");
    }
    match stored {
        Ok(outcomes) => {
            for (pending, outcome) in batch.into_iter().zip(outcomes) {
                let _ = pending.reply.send(Ok(outcome));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, messages = batch.len(), "database error; messages not stored");
            for pending in batch {
                let _ = pending.reply.send(Err(()));
            }
        }
    }
}
