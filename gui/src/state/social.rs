//! Friends and invites: the sidebar's lists, the "Add friend" dialog, the
//! Ctrl+K switcher's matches, and the events that change them.

use concord_common::validate;
use concord_common::{CreateInviteResponse, ErrorBody, Friend, Invite, InviteId, UserId};

use super::{AppState, Effect};
use crate::net::Command;

/// Where Ctrl+K can jump: a friend's conversation or a room, with its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JumpTarget {
    /// A friend's conversation.
    Friend(UserId, String),
    /// A room.
    Room(concord_common::RoomId, String),
}

/// The "Add friend" dialog.
#[derive(Debug, Clone, Default)]
pub struct AddFriendForm {
    /// Shown?
    pub open: bool,
    /// Email field.
    pub email: String,
    /// A request is in flight.
    pub pending: bool,
    /// Why it failed.
    pub error: Option<String>,
}

impl AppState {
    /// The friend with this id.
    pub fn friend(&self, id: UserId) -> Option<&Friend> {
        self.friends.iter().find(|f| f.user.id == id)
    }

    /// The name of `user` as far as this client knows it: me, a friend, or
    /// someone in one of my rooms ("someone" otherwise).
    pub fn user_name(&self, user: UserId) -> String {
        if let Some(me) = self.me.as_ref().filter(|me| me.id == user) {
            return me.username.clone();
        }
        if let Some(friend) = self.friend(user) {
            return friend.user.username.clone();
        }
        let member = self.rooms.iter().flat_map(|r| &r.members).find(|m| m.id == user);
        member.map_or_else(|| "someone".to_owned(), |m| m.username.clone())
    }

    /// Friends, then rooms, whose name contains `query` (case-insensitive), for Ctrl+K.
    pub fn jump_targets(&self, query: &str) -> Vec<JumpTarget> {
        let query = query.trim().to_lowercase();
        let friends = self
            .friends
            .iter()
            .filter(|f| f.user.username.to_lowercase().contains(&query))
            .map(|f| JumpTarget::Friend(f.user.id, f.user.username.clone()));
        let rooms = self
            .rooms
            .iter()
            .filter(|r| r.label.to_lowercase().contains(&query))
            .map(|r| JumpTarget::Room(r.id, r.label.clone()));
        friends.chain(rooms).collect()
    }

    /// Opens what the Ctrl+K switcher picked.
    pub fn jump_to(&mut self, target: &JumpTarget) -> Vec<Effect> {
        match target {
            JumpTarget::Friend(id, _) => self.select(*id),
            JumpTarget::Room(id, _) => self.select_room(*id),
        }
    }

    /// Sends the "Add friend" dialog.
    pub fn submit_invite(&mut self) -> Vec<Effect> {
        let form = &mut self.add_friend;
        if form.pending {
            return vec![];
        }
        if let Err(error) = validate::email(&form.email) {
            form.error = Some(error.message);
            return vec![];
        }
        form.pending = true;
        form.error = None;
        vec![Command::Invite { email: form.email.trim().to_owned() }.into()]
    }

    pub(super) fn on_invite_result(&mut self, result: Result<CreateInviteResponse, ErrorBody>) {
        self.add_friend.pending = false;
        match result {
            Ok(CreateInviteResponse::Invited { invite }) => {
                self.notice = Some(format!("Invite sent to {}.", invite.to.username));
                self.upsert_invite(invite);
                self.add_friend = AddFriendForm::default();
            }
            Ok(CreateInviteResponse::BecameFriends { friend }) => {
                self.notice = Some(format!("You and {} are friends now.", friend.user.username));
                self.upsert_friend(friend);
                self.add_friend = AddFriendForm::default();
            }
            Err(error) => self.add_friend.error = Some(error.message),
        }
    }

    pub(super) fn upsert_invite(&mut self, invite: Invite) {
        let list = if Some(invite.to.id) == self.me.as_ref().map(|u| u.id) {
            &mut self.invites.incoming
        } else {
            &mut self.invites.outgoing
        };
        if !list.iter().any(|i| i.id == invite.id) {
            list.push(invite);
        }
    }

    pub(super) fn remove_invite(&mut self, invite_id: InviteId) {
        self.invites.incoming.retain(|i| i.id != invite_id);
        self.invites.outgoing.retain(|i| i.id != invite_id);
    }

    pub(super) fn upsert_friend(&mut self, friend: Friend) {
        self.friends.retain(|f| f.user.id != friend.user.id);
        self.friends.push(friend);
        self.sort_friends();
    }

    pub(super) fn remove_friend(&mut self, user_id: UserId) {
        self.friends.retain(|f| f.user.id != user_id);
        self.unread.remove(&user_id);
        if self.selected == Some(user_id) {
            self.selected = None;
        }
    }

    pub(super) fn set_presence(&mut self, user_id: UserId, online: bool) {
        if let Some(friend) = self.friends.iter_mut().find(|f| f.user.id == user_id) {
            friend.online = online;
        }
    }

    pub(super) fn sort_friends(&mut self) {
        self.friends.sort_by(|a, b| {
            a.user
                .username
                .to_lowercase()
                .cmp(&b.user.username.to_lowercase())
                .then(a.user.id.cmp(&b.user.id))
        });
    }
}
