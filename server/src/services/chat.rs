//! What direct messages and room chat share: editing, deleting and reacting
//! to a message, and completing messages read from the database with their
//! reactions and the quoted line of the message they answer.
//!
//! Who may do what: only a message's author edits it; its author deletes it,
//! and in a room the room's owner may delete any message; anyone in the
//! conversation (the two friends, the room's members) reacts. Every change
//! reaches every device of everyone in the conversation as an event, each
//! naming the conversation as its reader sees it (`dms/{the other person}`).

use std::sync::Arc;

use concord_common::events::{self, MessageDeleted, ReactionChanged};
use concord_common::validate;
use concord_common::{
    Attachment, Conversation, DirectMessage, EditMessageRequest, ErrorCode, MessageId, Reaction,
    ReplyPreview, RoomId, RoomMessage, SearchHit, SearchPage, ServerEvent, UserId,
};
use rocket::http::Status;
use sqlx::AnyPool;

use super::attachments::Attachments;
use super::rooms::{Role, Rooms};
use super::social::Social;
use crate::db::chat::{self, AddReaction, ReactionRow, Scope};
use crate::db::search;
use crate::db::{messages, rooms};
use crate::error::ApiError;
use crate::ids::now_ms;
use crate::realtime::Hub;

/// Most different emoji one message carries (as Discord).
pub const MAX_REACTION_EMOJI: usize = 20;

/// A stored message of either kind, as [`complete`] fills it in.
pub(super) trait ChatMessage {
    fn id(&self) -> MessageId;
    fn reply_to(&self) -> Option<MessageId>;
    fn set_reply_preview(&mut self, preview: Option<ReplyPreview>);
    fn reactions_mut(&mut self) -> &mut Vec<Reaction>;
    fn attachments_mut(&mut self) -> &mut Vec<Attachment>;
}

macro_rules! chat_message {
    ($type:ty) => {
        impl ChatMessage for $type {
            fn id(&self) -> MessageId {
                self.id
            }
            fn reply_to(&self) -> Option<MessageId> {
                self.reply_to
            }
            fn set_reply_preview(&mut self, preview: Option<ReplyPreview>) {
                self.reply_preview = preview;
            }
            fn reactions_mut(&mut self) -> &mut Vec<Reaction> {
                &mut self.reactions
            }
            fn attachments_mut(&mut self) -> &mut Vec<Attachment> {
                &mut self.attachments
            }
        }
    };
}
chat_message!(DirectMessage);
chat_message!(RoomMessage);

/// Fills in what `messages` (read from the table of `scope`) do not store in
/// their own row: the quoted line of the message each answers, the
/// reactions (`me` meaning `viewer`) and the attachments with fresh links.
/// Three queries, however many messages.
pub(super) async fn complete<M: ChatMessage>(
    pool: &AnyPool,
    files: &Attachments,
    scope: Scope,
    viewer: UserId,
    messages: &mut [M],
) -> Result<(), sqlx::Error> {
    if messages.is_empty() {
        return Ok(());
    }
    let mut answered: Vec<MessageId> = messages.iter().filter_map(ChatMessage::reply_to).collect();
    answered.sort_unstable();
    answered.dedup();
    let previews = chat::previews(pool, scope, &answered).await?;
    let ids: Vec<MessageId> = messages.iter().map(ChatMessage::id).collect();
    let reactions = chat::reactions(pool, &ids).await?;
    let attached = files.of_messages(&ids).await?;
    for message in messages.iter_mut() {
        let preview = message.reply_to().and_then(|to| previews.iter().find(|p| p.id == to).cloned());
        message.set_reply_preview(preview);
        *message.reactions_mut() = summarise(message.id(), &reactions, viewer);
        *message.attachments_mut() =
            attached.iter().filter(|(m, _)| *m == message.id()).map(|(_, a)| a.clone()).collect();
    }
    Ok(())
}

/// `message`'s reactions among `rows` (oldest first), one entry per emoji in
/// the order each was first used.
fn summarise(message: MessageId, rows: &[ReactionRow], viewer: UserId) -> Vec<Reaction> {
    let mut summary: Vec<Reaction> = Vec::new();
    for (_, emoji, user) in rows.iter().filter(|(m, ..)| *m == message) {
        match summary.iter_mut().find(|r| &r.emoji == emoji) {
            Some(reaction) => reaction.user_ids.push(*user),
            None => {
                summary.push(Reaction { emoji: emoji.clone(), count: 0, me: false, user_ids: vec![*user] })
            }
        }
    }
    for reaction in &mut summary {
        reaction.count = reaction.user_ids.len() as u32;
        reaction.me = reaction.user_ids.contains(&viewer);
    }
    summary
}

/// The reactions as `viewer` sees them (`me` is theirs).
fn for_viewer(reactions: &[Reaction], viewer: UserId) -> Vec<Reaction> {
    reactions.iter().map(|r| Reaction { me: r.user_ids.contains(&viewer), ..r.clone() }).collect()
}

/// The quoted line of message `reply_to` of this conversation, for a new
/// message that answers it: 422 on `reply_to` when there is no such message.
pub(super) async fn reply_preview(
    pool: &AnyPool,
    scope: Scope,
    reply_to: MessageId,
) -> Result<ReplyPreview, ApiError> {
    chat::previews(pool, scope, &[reply_to]).await?.pop().ok_or_else(|| {
        ApiError::new(
            Status::UnprocessableEntity,
            ErrorCode::Validation,
            "The message you answer is not in this conversation (it may have been deleted).",
        )
        .with_field("reply_to")
    })
}

/// A conversation `me` is in, opened for a change.
struct Place {
    me: UserId,
    conversation: Conversation,
    scope: Scope,
    /// Whether `me` may delete others' messages here (a room's owner).
    moderator: bool,
}

/// Edits, deletes and reactions in DMs and rooms.
#[derive(Clone)]
pub struct Chat {
    pub(super) pool: AnyPool,
    pub(super) hub: Arc<Hub>,
    pub(super) social: Social,
    pub(super) rooms: Rooms,
    pub(super) files: Attachments,
    pub(super) backend: crate::db::Backend,
}

impl Chat {
    /// Messages matching every word of `words` in the conversations `me` is
    /// in (or in `within`), written by `from` if given, older than `before`;
    /// newest first, `limit` at most.
    pub async fn search(
        &self,
        me: UserId,
        words: &str,
        within: Option<Conversation>,
        from: Option<UserId>,
        before: Option<MessageId>,
        limit: u32,
    ) -> Result<SearchPage, ApiError> {
        if words.chars().count() > validate::SEARCH_MAX_CHARS {
            return Err(validate::FieldError {
                field: "q",
                message: format!("A search can be at most {} characters.", validate::SEARCH_MAX_CHARS),
            }
            .into());
        }
        let Some(terms) = search::Terms::parse(words) else {
            return Err(
                validate::FieldError { field: "q", message: "Type a word to search for.".into() }.into()
            );
        };
        let scope = match within {
            None => search::Within::Everywhere,
            Some(conversation) => {
                self.open(me, conversation).await?;
                match conversation {
                    Conversation::Dm(peer) => search::Within::Dm(peer),
                    Conversation::Room(room) => search::Within::Room(room),
                }
            }
        };
        let found =
            search::search(&self.pool, self.backend, me, &terms, scope, from, before, limit + 1).await?;
        let (hits, has_more) = super::history_page(found, limit);
        let messages = hits
            .into_iter()
            .map(|hit| SearchHit {
                conversation: match hit.place {
                    search::HitPlace::Dm(peer) => Conversation::Dm(peer),
                    search::HitPlace::Room(room) => Conversation::Room(room),
                },
                id: hit.id,
                sender_id: hit.sender_id,
                content: hit.content,
                created_at_ms: hit.created_at_ms,
                edited_at_ms: hit.edited_at_ms,
            })
            .collect();
        Ok(SearchPage { messages, has_more })
    }

    /// `conversation` for `me`: 403 `not_friends` for a DM with a non-friend,
    /// 404 `room_not_found` for a room `me` is not in.
    async fn open(&self, me: UserId, conversation: Conversation) -> Result<Place, ApiError> {
        let (scope, moderator) = match conversation {
            Conversation::Dm(peer) => {
                self.social.require_friend(me, peer).await?;
                (Scope::Dm(me, peer), false)
            }
            Conversation::Room(room) => (Scope::Room(room), self.rooms.role(me, room).await? == Role::Owner),
        };
        Ok(Place { me, conversation, scope, moderator })
    }

    /// Everyone in the conversation, each with the conversation as they see it.
    async fn audience(&self, place: &Place) -> Result<Vec<(UserId, Conversation)>, ApiError> {
        Ok(match place.conversation {
            Conversation::Dm(peer) => {
                vec![(place.me, Conversation::Dm(peer)), (peer, Conversation::Dm(place.me))]
            }
            Conversation::Room(room) => rooms::member_ids(&self.pool, room)
                .await?
                .into_iter()
                .map(|member| (member, Conversation::Room(room)))
                .collect(),
        })
    }

    /// Tells everyone in the conversation: one event per reader when what
    /// they read differs (`per_reader`), else one for all.
    async fn announce(
        &self,
        place: &Place,
        per_reader: bool,
        event_for: impl Fn(UserId, Conversation) -> ServerEvent,
    ) -> Result<(), ApiError> {
        let audience = self.audience(place).await?;
        if per_reader || matches!(place.conversation, Conversation::Dm(_)) {
            for (reader, conversation) in audience {
                self.hub.publish_to_users(&[reader], &event_for(reader, conversation));
            }
        } else if let Some((_, conversation)) = audience.first() {
            let readers: Vec<UserId> = audience.iter().map(|(reader, _)| *reader).collect();
            self.hub.publish_to_users(&readers, &event_for(place.me, *conversation));
        }
        Ok(())
    }

    /// The author of message `id` here; 404 `message_not_found` if it is not here.
    async fn sender(&self, place: &Place, id: MessageId) -> Result<UserId, ApiError> {
        chat::sender(&self.pool, place.scope, id).await?.ok_or_else(message_not_found)
    }

    /// Applies `me`'s edit; `Ok(false)` when it is a retry (same nonce) that changes nothing.
    async fn apply_edit(
        &self,
        place: &Place,
        id: MessageId,
        request: &EditMessageRequest,
    ) -> Result<bool, ApiError> {
        validate::message_content(&request.content)?;
        if let Some(nonce) = &request.nonce {
            validate::nonce(nonce)?;
        }
        if self.sender(place, id).await? != place.me {
            return Err(ApiError::new(
                Status::Forbidden,
                ErrorCode::NotAuthor,
                "You can only edit your own messages.",
            ));
        }
        Ok(chat::edit(&self.pool, place.scope, id, &request.content, request.nonce.as_deref(), now_ms())
            .await?)
    }

    /// Edits `me`'s direct message `id` with `peer`; every device of both hears
    /// `message_updated` (not again for a retried nonce).
    pub async fn edit_dm(
        &self,
        me: UserId,
        peer: UserId,
        id: MessageId,
        request: EditMessageRequest,
    ) -> Result<DirectMessage, ApiError> {
        let place = self.open(me, Conversation::Dm(peer)).await?;
        let changed = self.apply_edit(&place, id, &request).await?;
        let mut message = messages::by_id(&self.pool, me, peer, id).await?.ok_or_else(message_not_found)?;
        complete(&self.pool, &self.files, place.scope, me, std::slice::from_mut(&mut message)).await?;
        if changed {
            self.announce(&place, true, |reader, _| {
                let message =
                    DirectMessage { reactions: for_viewer(&message.reactions, reader), ..message.clone() };
                ServerEvent::MessageUpdated(events::MessageUpdated { message })
            })
            .await?;
        }
        Ok(message)
    }

    /// Edits `me`'s message `id` in `room`'s chat; every member hears
    /// `room_message_updated` (not again for a retried nonce).
    pub async fn edit_room(
        &self,
        me: UserId,
        room: RoomId,
        id: MessageId,
        request: EditMessageRequest,
    ) -> Result<RoomMessage, ApiError> {
        let place = self.open(me, Conversation::Room(room)).await?;
        let changed = self.apply_edit(&place, id, &request).await?;
        let mut message = rooms::message_by_id(&self.pool, room, id).await?.ok_or_else(message_not_found)?;
        complete(&self.pool, &self.files, place.scope, me, std::slice::from_mut(&mut message)).await?;
        if changed {
            self.announce(&place, !message.reactions.is_empty(), |reader, _| {
                let message =
                    RoomMessage { reactions: for_viewer(&message.reactions, reader), ..message.clone() };
                ServerEvent::RoomMessageUpdated(events::RoomMessageUpdated { message })
            })
            .await?;
        }
        Ok(message)
    }

    /// Deletes message `id` (with its reactions): by its author, or in a room
    /// by the room's owner. Everyone hears `message_deleted` /
    /// `room_message_deleted`; 404 `message_not_found` if it is already gone.
    pub async fn delete(
        &self,
        me: UserId,
        conversation: Conversation,
        id: MessageId,
    ) -> Result<(), ApiError> {
        let place = self.open(me, conversation).await?;
        let sender = self.sender(&place, id).await?;
        if sender != me && !place.moderator {
            let message = match conversation {
                Conversation::Dm(_) => "You can only delete your own messages.",
                Conversation::Room(_) => {
                    "You can only delete your own messages (the room's owner can delete any)."
                }
            };
            return Err(ApiError::new(Status::Forbidden, ErrorCode::NotAuthor, message));
        }
        let Some(discarded) = chat::delete(&self.pool, place.scope, id, now_ms()).await? else {
            return Err(message_not_found());
        };
        self.announce(&place, false, |_, conversation| {
            let deleted = MessageDeleted { id, conversation };
            match conversation {
                Conversation::Dm(_) => ServerEvent::MessageDeleted(deleted),
                Conversation::Room(_) => ServerEvent::RoomMessageDeleted(deleted),
            }
        })
        .await?;
        self.files.forget_bytes(&discarded).await;
        Ok(())
    }

    /// Adds (`add`) or takes back `me`'s reaction `emoji` on message `id`.
    /// Idempotent: a reaction already there (or already gone) changes nothing
    /// and announces nothing; else everyone hears `reaction_added` /
    /// `reaction_removed`.
    pub async fn react(
        &self,
        me: UserId,
        conversation: Conversation,
        id: MessageId,
        emoji: &str,
        add: bool,
    ) -> Result<(), ApiError> {
        validate::reaction_emoji(emoji)?;
        let place = self.open(me, conversation).await?;
        self.sender(&place, id).await?;
        let changed = if add {
            match chat::add_reaction(&self.pool, id, emoji, me, MAX_REACTION_EMOJI, now_ms()).await? {
                AddReaction::Added => true,
                AddReaction::AlreadyThere => false,
                AddReaction::TooMany => {
                    return Err(ApiError::new(
                        Status::UnprocessableEntity,
                        ErrorCode::Validation,
                        format!("A message can carry at most {MAX_REACTION_EMOJI} different reactions."),
                    )
                    .with_field("emoji"))
                }
            }
        } else {
            chat::remove_reaction(&self.pool, id, emoji, me).await?
        };
        if !changed {
            return Ok(());
        }
        self.announce(&place, false, |_, conversation| {
            let changed =
                ReactionChanged { conversation, message_id: id, emoji: emoji.to_owned(), user_id: me };
            if add {
                ServerEvent::ReactionAdded(changed)
            } else {
                ServerEvent::ReactionRemoved(changed)
            }
        })
        .await
    }
}

/// 404 `message_not_found`.
fn message_not_found() -> ApiError {
    ApiError::new(Status::NotFound, ErrorCode::MessageNotFound, "No such message in this conversation.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reactions_group_by_emoji_in_order_of_first_use() {
        let (m, other) = (MessageId(1), MessageId(2));
        let rows = vec![
            (m, "👍".to_owned(), UserId(10)),
            (other, "👍".to_owned(), UserId(11)),
            (m, "🎉".to_owned(), UserId(11)),
            (m, "👍".to_owned(), UserId(11)),
        ];
        let summary = summarise(m, &rows, UserId(11));
        let brief: Vec<(&str, u32, bool)> =
            summary.iter().map(|r| (r.emoji.as_str(), r.count, r.me)).collect();
        assert_eq!(brief, vec![("👍", 2, true), ("🎉", 1, true)]);
        assert_eq!(summary[0].user_ids, vec![UserId(10), UserId(11)]);
        let for_ten: Vec<bool> = for_viewer(&summary, UserId(10)).iter().map(|r| r.me).collect();
        assert_eq!(for_ten, vec![true, false]);
    }
}
