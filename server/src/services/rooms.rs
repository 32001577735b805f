//! Rooms: named groups that hold a call, their members and their in-call
//! chat. Only members see a room (to anyone else it does not exist); only
//! its owner renames it, adds friends to it, removes members and deletes it.
//! Every change reaches every member's devices as an event.

use std::sync::Arc;

use concord_common::events::{self, RoomRemovedReason};
use concord_common::validate::{self, ROOMS_OWNED_MAX, ROOM_MAX_MEMBERS};
use concord_common::{
    AttachmentId, ErrorCode, MessageId, PublicUser, Room, RoomId, RoomList, RoomMessage, RoomMessagePage,
    SendMessageRequest, ServerEvent, UserId,
};
use rocket::http::Status;
use sqlx::AnyPool;

use super::attachments::Attachments;
use super::calls::Calls;
use super::chat;
use super::messages::Sent;
use super::social::Social;
use crate::db::chat::Scope;
use crate::db::rooms::{self, AddMember};
use crate::db::users;
use crate::error::ApiError;
use crate::ids::{now_ms, IdGenerator};
use crate::realtime::Hub;

/// What `me` is in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Owner,
    Member,
}

/// Rooms, their members and chat.
#[derive(Clone)]
pub struct Rooms {
    pub(super) pool: AnyPool,
    pub(super) hub: Arc<Hub>,
    pub(super) ids: Arc<IdGenerator>,
    pub(super) social: Social,
    pub(super) calls: Calls,
    pub(super) files: Attachments,
}

impl Rooms {
    /// Rooms `me` is a member of, oldest first.
    pub async fn list(&self, me: UserId) -> Result<RoomList, ApiError> {
        let rooms = rooms::list_for(&self.pool, me).await?;
        let ids: Vec<RoomId> = rooms.iter().map(|room| room.id).collect();
        let calls = self.calls.participants_of(&ids).await;
        let rooms = rooms.into_iter().zip(calls).map(|(room, in_call)| Room { in_call, ..room }).collect();
        Ok(RoomList { rooms })
    }

    /// `room` with who is in its call now.
    async fn with_call(&self, mut room: Room) -> Room {
        room.in_call = self.calls.participants_of(&[room.id]).await.pop().unwrap_or_default();
        room
    }

    /// A room as stored, with its call.
    async fn load(&self, room: RoomId) -> Result<Room, ApiError> {
        let room = rooms::get(&self.pool, room).await?.ok_or_else(room_not_found)?;
        Ok(self.with_call(room).await)
    }

    /// One room `me` is a member of.
    pub async fn get(&self, me: UserId, room: RoomId) -> Result<Room, ApiError> {
        self.role(me, room).await?;
        self.load(room).await
    }

    /// Makes a room owned by `me`, with `me` as its only member.
    pub async fn create(&self, me: UserId, label: &str) -> Result<Room, ApiError> {
        validate::room_label(label)?;
        if rooms::count_owned(&self.pool, me).await? >= ROOMS_OWNED_MAX {
            return Err(ApiError::new(
                Status::Conflict,
                ErrorCode::RoomLimit,
                format!("You own {ROOMS_OWNED_MAX} rooms, the most one person can; delete one first."),
            ));
        }
        let id = RoomId(self.ids.next());
        rooms::create(&self.pool, id, label.trim(), me, now_ms()).await?;
        let room = rooms::get(&self.pool, id).await?.ok_or_else(ApiError::internal)?;
        self.hub.publish_to_users(&[me], &ServerEvent::RoomAdded(events::RoomAdded { room: room.clone() }));
        Ok(room)
    }

    /// Renames a room `me` owns.
    pub async fn rename(&self, me: UserId, room: RoomId, label: &str) -> Result<Room, ApiError> {
        validate::room_label(label)?;
        self.require_owner(me, room).await?;
        let label = label.trim();
        if !rooms::rename(&self.pool, room, label).await? {
            return Err(room_not_found());
        }
        let event = ServerEvent::RoomRenamed(events::RoomRenamed { room_id: room, label: label.to_owned() });
        self.hub.publish_to_users(&rooms::member_ids(&self.pool, room).await?, &event);
        self.load(room).await
    }

    /// Deletes a room `me` owns, with its chat; every member hears of it.
    pub async fn delete(&self, me: UserId, room: RoomId) -> Result<(), ApiError> {
        self.require_owner(me, room).await?;
        let members = rooms::member_ids(&self.pool, room).await?;
        let Some(discarded) = rooms::delete(&self.pool, room, now_ms()).await? else {
            return Err(room_not_found());
        };
        self.files.forget_bytes(&discarded).await;
        self.calls.room_deleted(room, me).await;
        let event = ServerEvent::RoomRemoved(events::RoomRemoved {
            room_id: room,
            reason: RoomRemovedReason::Deleted,
        });
        self.hub.publish_to_users(&members, &event);
        Ok(())
    }

    /// Adds `user`, a friend of `me`, to a room `me` owns.
    pub async fn add_member(&self, me: UserId, room: RoomId, user: UserId) -> Result<Room, ApiError> {
        self.require_owner(me, room).await?;
        if user == me {
            return Err(already_member());
        }
        self.social.require_friend(me, user).await.map_err(|e| e.with_field("user_id"))?;
        let Some(added) = users::by_id(&self.pool, user).await? else {
            return Err(ApiError::new(Status::NotFound, ErrorCode::UserNotFound, "No such user.")
                .with_field("user_id"));
        };
        let others = rooms::member_ids(&self.pool, room).await?;
        match rooms::add_member(&self.pool, room, user, ROOM_MAX_MEMBERS, now_ms()).await? {
            AddMember::Added => {}
            AddMember::AlreadyMember => return Err(already_member()),
            AddMember::Full => {
                return Err(ApiError::new(
                    Status::Conflict,
                    ErrorCode::RoomLimit,
                    format!("A room holds at most {ROOM_MAX_MEMBERS} people."),
                )
                .with_field("user_id"))
            }
        }
        let room_now = self.load(room).await?;
        let member = PublicUser::from(added);
        self.hub.publish_to_users(
            &others,
            &ServerEvent::RoomMemberAdded(events::RoomMemberAdded { room_id: room, member }),
        );
        self.hub
            .publish_to_users(&[user], &ServerEvent::RoomAdded(events::RoomAdded { room: room_now.clone() }));
        Ok(room_now)
    }

    /// Removes `user` from a room: the owner removes anyone else; a member
    /// removes themself (leaves). The owner cannot leave their own room.
    pub async fn remove_member(&self, me: UserId, room: RoomId, user: UserId) -> Result<(), ApiError> {
        let role = self.role(me, room).await?;
        let reason = if user == me {
            if role == Role::Owner {
                return Err(ApiError::new(
                    Status::BadRequest,
                    ErrorCode::OwnerCannotLeave,
                    "You own this room: delete it, or it stays yours.",
                ));
            }
            RoomRemovedReason::Left
        } else {
            if role != Role::Owner {
                return Err(not_owner());
            }
            RoomRemovedReason::Removed
        };
        if !rooms::remove_member(&self.pool, room, user).await? {
            return Err(ApiError::new(
                Status::NotFound,
                ErrorCode::NotAMember,
                "They are not a member of this room.",
            ));
        }
        let remaining = rooms::member_ids(&self.pool, room).await?;
        self.calls.removed_from_room(room, user, &remaining).await;
        self.hub.publish_to_users(
            &[user],
            &ServerEvent::RoomRemoved(events::RoomRemoved { room_id: room, reason }),
        );
        self.hub.publish_to_users(
            &remaining,
            &ServerEvent::RoomMemberRemoved(events::RoomMemberRemoved { room_id: room, user_id: user }),
        );
        Ok(())
    }

    /// Up to `limit` chat messages of a room older than `before`, newest first.
    pub async fn history(
        &self,
        me: UserId,
        room: RoomId,
        before: Option<MessageId>,
        limit: u32,
    ) -> Result<RoomMessagePage, ApiError> {
        self.role(me, room).await?;
        let fetched = rooms::message_page(&self.pool, room, before, limit + 1).await?;
        let (mut messages, has_more) = super::history_page(fetched, limit);
        chat::complete(&self.pool, &self.files, Scope::Room(room), me, &mut messages).await?;
        Ok(RoomMessagePage { messages, has_more })
    }

    /// Posts to a room's chat: stored before it is acknowledged or
    /// announced; a resend with the same nonce returns the original.
    pub async fn send(
        &self,
        me: UserId,
        room: RoomId,
        request: SendMessageRequest,
    ) -> Result<(Sent, RoomMessage), ApiError> {
        validate::message_body(&request.content, request.attachments.len())?;
        validate::nonce(&request.nonce)?;
        self.role(me, room).await?;
        if !request.attachments.is_empty() {
            // A resend's attachments are already in its original.
            if let Some(original) = rooms::message_by_nonce(&self.pool, room, me, &request.nonce).await? {
                return self.resent(me, original, &request.attachments).await;
            }
        }
        let reply_preview = match request.reply_to {
            Some(original) => Some(chat::reply_preview(&self.pool, Scope::Room(room), original).await?),
            None => None,
        };
        let attachments = self.files.sendable(me, &request.attachments).await?;
        let mut message = RoomMessage {
            id: MessageId(self.ids.next()),
            room_id: room,
            sender_id: me,
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
        if let Some(original) = rooms::insert_message(&self.pool, &message).await? {
            return self.resent(me, original, &request.attachments).await;
        }
        if !request.attachments.is_empty() {
            let taken = self.files.attach(me, message.id, &request.attachments).await?;
            if taken < request.attachments.len() as u64 {
                // Sent in another message meanwhile: show what this one holds.
                chat::complete(
                    &self.pool,
                    &self.files,
                    Scope::Room(room),
                    me,
                    std::slice::from_mut(&mut message),
                )
                .await?;
            }
        }
        self.announce_new(&message).await?;
        Ok((Sent::Created, message))
    }

    /// The original of a resend, announced again: the first send may have
    /// stopped after storing it and before announcing it (the database went
    /// away in between, or its attachments were not yet in it), and clients
    /// ignore a message they already have.
    async fn resent(
        &self,
        me: UserId,
        mut original: RoomMessage,
        attachments: &[AttachmentId],
    ) -> Result<(Sent, RoomMessage), ApiError> {
        self.files.attach(me, original.id, attachments).await?;
        let scope = Scope::Room(original.room_id);
        chat::complete(&self.pool, &self.files, scope, me, std::slice::from_mut(&mut original)).await?;
        self.announce_new(&original).await?;
        Ok((Sent::AlreadyStored, original))
    }

    async fn announce_new(&self, message: &RoomMessage) -> Result<(), ApiError> {
        self.hub.publish_to_users(
            &rooms::member_ids(&self.pool, message.room_id).await?,
            &ServerEvent::RoomMessageCreated(events::RoomMessageCreated { message: message.clone() }),
        );
        Ok(())
    }

    /// `me`'s role in `room`; 404 `room_not_found` when the room does not
    /// exist or `me` is not in it (the two look the same from outside).
    pub(super) async fn role(&self, me: UserId, room: RoomId) -> Result<Role, ApiError> {
        let owner = rooms::owner(&self.pool, room).await?.ok_or_else(room_not_found)?;
        if owner == me {
            return Ok(Role::Owner);
        }
        if rooms::is_member(&self.pool, room, me).await? {
            Ok(Role::Member)
        } else {
            Err(room_not_found())
        }
    }

    async fn require_owner(&self, me: UserId, room: RoomId) -> Result<(), ApiError> {
        match self.role(me, room).await? {
            Role::Owner => Ok(()),
            Role::Member => Err(not_owner()),
        }
    }
}

/// 404 `room_not_found`: the room does not exist or `me` is not in it (the
/// two look the same from outside). Calls answer the same way.
pub(super) fn room_not_found() -> ApiError {
    ApiError::new(Status::NotFound, ErrorCode::RoomNotFound, "No such room, or you are not a member of it.")
}

fn not_owner() -> ApiError {
    ApiError::new(Status::Forbidden, ErrorCode::NotRoomOwner, "Only the room's owner can do that.")
}

fn already_member() -> ApiError {
    ApiError::new(Status::Conflict, ErrorCode::AlreadyMember, "They are already in this room.")
        .with_field("user_id")
}
