//! Friends, invites and presence: who may talk to whom, and telling both
//! sides' devices when that changes.

use std::sync::Arc;
use std::time::Duration;

use concord_common::events;
use concord_common::validate::{self, normalize_email};
use concord_common::{
    CreateInviteResponse, ErrorCode, Friend, InviteId, InviteList, ServerEvent, User, UserId,
};
use rocket::http::Status;
use sqlx::AnyPool;

use crate::db::invites::{self, InviteKey};
use crate::db::{friends, users};
use crate::error::ApiError;
use crate::ids::{now_ms, IdGenerator};
use crate::realtime::Hub;

/// How often dead instances' users are looked for (with Redis).
const REAP_EVERY: Duration = Duration::from_secs(3);

/// Friends, invites and presence.
#[derive(Clone)]
pub struct Social {
    pub(super) pool: AnyPool,
    pub(super) hub: Arc<Hub>,
    pub(super) ids: Arc<IdGenerator>,
}

impl Social {
    /// `me`'s friends, with presence.
    pub async fn friends(&self, me: UserId) -> Result<Vec<Friend>, ApiError> {
        let rows = friends::list(&self.pool, me).await?;
        let ids: Vec<UserId> = rows.iter().map(|(u, _)| u.id).collect();
        let online = self.hub.online(&ids).await;
        Ok(rows
            .into_iter()
            .zip(online)
            .map(|((user, since_ms), online)| Friend { user, online, since_ms })
            .collect())
    }

    /// 403 `not_friends` unless `me` and `other` are friends.
    pub async fn require_friend(&self, me: UserId, other: UserId) -> Result<(), ApiError> {
        if me == other || !friends::are_friends(&self.pool, me, other).await? {
            return Err(not_friends());
        }
        Ok(())
    }

    /// Ends a friendship; both users' devices hear of it.
    pub async fn remove_friend(&self, me: UserId, other: UserId) -> Result<(), ApiError> {
        if !friends::remove(&self.pool, me, other).await? {
            return Err(ApiError::new(
                Status::NotFound,
                ErrorCode::NotFriends,
                "You are not friends with this user.",
            ));
        }
        self.hub
            .publish_to_users(&[me], &ServerEvent::FriendRemoved(events::FriendRemoved { user_id: other }));
        self.hub
            .publish_to_users(&[other], &ServerEvent::FriendRemoved(events::FriendRemoved { user_id: me }));
        Ok(())
    }

    /// Pending invites both ways.
    pub async fn invites(&self, me: UserId) -> Result<InviteList, ApiError> {
        Ok(invites::list(&self.pool, me).await?)
    }

    /// Invites the person registered with `email`; if they already invited
    /// `me`, this accepts their invite instead.
    pub async fn invite(&self, me: UserId, email: &str) -> Result<CreateInviteResponse, ApiError> {
        validate::email(email)?;
        let email = normalize_email(email);
        let Some(target) = users::by_email(&self.pool, &email).await? else {
            return Err(email_error(
                Status::NotFound,
                ErrorCode::UserNotFound,
                "No one has registered with that email.",
            ));
        };
        let them = target.user.id;
        if me == them {
            return Err(email_error(
                Status::BadRequest,
                ErrorCode::CannotInviteSelf,
                "You cannot invite yourself.",
            ));
        }
        if friends::are_friends(&self.pool, me, them).await? {
            return Err(email_error(Status::Conflict, ErrorCode::AlreadyFriends, "You are already friends."));
        }
        // They already invited me: inviting back means yes.
        if let Some(reverse) = invites::between(&self.pool, them, me).await? {
            let friend = self.befriend(reverse).await?;
            return Ok(CreateInviteResponse::BecameFriends { friend });
        }
        let key = InviteKey { id: InviteId(self.ids.next()), sender: me, receiver: them };
        if !invites::insert(&self.pool, key, now_ms()).await? {
            return Err(email_error(
                Status::Conflict,
                ErrorCode::InviteExists,
                "You have already invited this person.",
            ));
        }
        let invite = invites::full(&self.pool, key.id).await?.ok_or_else(ApiError::internal)?;
        self.hub.publish_to_users(
            &[me, them],
            &ServerEvent::InviteCreated(events::InviteCreated { invite: invite.clone() }),
        );
        Ok(CreateInviteResponse::Invited { invite })
    }

    /// Accepts an invite sent to `me`; returns the new friend.
    pub async fn accept(&self, me: UserId, id: InviteId) -> Result<Friend, ApiError> {
        let key = self.own_invite(id, |k| k.receiver == me).await?;
        self.befriend(key).await
    }

    /// Rejects an invite sent to `me`.
    pub async fn reject(&self, me: UserId, id: InviteId) -> Result<(), ApiError> {
        let key = self.own_invite(id, |k| k.receiver == me).await?;
        self.remove_invite(key, events::InviteRemovedReason::Rejected).await
    }

    /// Cancels an invite `me` sent.
    pub async fn cancel(&self, me: UserId, id: InviteId) -> Result<(), ApiError> {
        let key = self.own_invite(id, |k| k.sender == me).await?;
        self.remove_invite(key, events::InviteRemovedReason::Cancelled).await
    }

    /// The invite if `me` is on the side `mine` selects; 404 otherwise, so
    /// other people's invites are indistinguishable from missing ones.
    async fn own_invite(
        &self,
        id: InviteId,
        mine: impl Fn(&InviteKey) -> bool,
    ) -> Result<InviteKey, ApiError> {
        match invites::by_id(&self.pool, id).await? {
            Some(key) if mine(&key) => Ok(key),
            _ => Err(invite_not_found()),
        }
    }

    async fn remove_invite(
        &self,
        key: InviteKey,
        reason: events::InviteRemovedReason,
    ) -> Result<(), ApiError> {
        if !invites::delete(&self.pool, key.id).await? {
            return Err(invite_not_found());
        }
        self.hub.publish_to_users(
            &[key.sender, key.receiver],
            &ServerEvent::InviteRemoved(events::InviteRemoved { invite_id: key.id, reason }),
        );
        Ok(())
    }

    /// Turns a pending invite into a friendship and tells everyone; returns
    /// the receiver's view of the new friend.
    async fn befriend(&self, key: InviteKey) -> Result<Friend, ApiError> {
        // An invite the other way (from a race) disappears with this one.
        let crossing = invites::between(&self.pool, key.receiver, key.sender).await?;
        if !friends::accept_invite(&self.pool, key, now_ms()).await? {
            return Err(invite_not_found());
        }
        for invite in std::iter::once(key).chain(crossing) {
            self.hub.publish_to_users(
                &[key.sender, key.receiver],
                &ServerEvent::InviteRemoved(events::InviteRemoved {
                    invite_id: invite.id,
                    reason: events::InviteRemovedReason::Accepted,
                }),
            );
        }
        let for_receiver = self.friend_view(key.receiver, key.sender).await?;
        let for_sender = self.friend_view(key.sender, key.receiver).await?;
        self.hub.publish_to_users(
            &[key.receiver],
            &ServerEvent::FriendAdded(events::FriendAdded { friend: for_receiver.clone() }),
        );
        self.hub.publish_to_users(
            &[key.sender],
            &ServerEvent::FriendAdded(events::FriendAdded { friend: for_sender }),
        );
        Ok(for_receiver)
    }

    /// `me`'s view of friend `other`, with presence.
    async fn friend_view(&self, me: UserId, other: UserId) -> Result<Friend, ApiError> {
        let user = users::by_id(&self.pool, other).await?.ok_or_else(ApiError::internal)?;
        let since_ms = friends::since(&self.pool, me, other).await?.unwrap_or_default();
        Ok(Friend { user, online: self.hub.is_online(other).await, since_ms })
    }

    /// The account, its friends (with presence) and pending invites: the
    /// social half of a websocket's `ready` snapshot.
    pub async fn snapshot(&self, me: UserId) -> Result<(User, Vec<Friend>, InviteList), ApiError> {
        let user = users::by_id(&self.pool, me)
            .await?
            .ok_or_else(|| ApiError::unauthorized("This account no longer exists."))?;
        Ok((user, self.friends(me).await?, self.invites(me).await?))
    }

    /// Tells `user`'s friends that they came online or went offline.
    pub async fn announce_presence(&self, user: UserId, online: bool) {
        match friends::ids(&self.pool, user).await {
            Ok(friends) => self.hub.publish_to_users(
                &friends,
                &ServerEvent::Presence(events::Presence { user_id: user, online }),
            ),
            Err(e) => tracing::error!(error = %e, "presence fan-out failed"),
        }
    }

    /// "`me` is typing to `friend`."
    pub async fn typing(&self, me: UserId, friend: UserId) -> Result<(), ApiError> {
        self.require_friend(me, friend).await?;
        self.hub.publish_to_users(&[friend], &ServerEvent::Typing(events::FriendTyping { user_id: me }));
        Ok(())
    }

    /// For as long as the server runs: announces offline the users whose
    /// last connection was on an instance that died.
    pub fn spawn_presence_reaper(&self) {
        let social = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(REAP_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                for user in social.hub.reap_dead_instances().await {
                    tracing::info!(user = %user, "offline: their instance stopped answering");
                    social.announce_presence(user, false).await;
                }
            }
        });
    }
}

/// 403 `not_friends`.
pub fn not_friends() -> ApiError {
    ApiError::new(Status::Forbidden, ErrorCode::NotFriends, "You are not friends with this user.")
}

fn invite_not_found() -> ApiError {
    ApiError::new(Status::NotFound, ErrorCode::InviteNotFound, "There is no such pending invite for you.")
}

fn email_error(status: Status, code: ErrorCode, message: &str) -> ApiError {
    ApiError::new(status, code, message).with_field("email")
}
