//! Who is online. A [`PresenceStore`] counts open connections per user:
//! [`LocalPresence`] in memory for a single instance, or
//! [`super::redis::RedisPresence`] in Redis, where each instance owns its
//! share under a lease so a crashed instance's users go offline.

use std::collections::HashMap;
use std::sync::Mutex;

use concord_common::UserId;

use crate::lock;

/// Counts connections per user, across every instance that shares the store.
#[rocket::async_trait]
pub trait PresenceStore: Send + Sync {
    /// A connection of `user` opened here; `true` if the user was offline everywhere.
    async fn connection_opened(&self, user: UserId) -> bool;
    /// A connection of `user` closed here; `true` if the user is now offline everywhere.
    async fn connection_closed(&self, user: UserId) -> bool;
    /// Which of `users` have a connection on any live instance.
    async fn online(&self, users: &[UserId]) -> Vec<bool>;
    /// Forgets the connections of instances that stopped without saying so
    /// (killed, crashed, cut off); returns the users who are offline now.
    /// Called periodically by whoever announces presence.
    async fn reap_dead_instances(&self) -> Vec<UserId>;
}

/// Presence of a single instance, in memory.
#[derive(Default)]
pub struct LocalPresence {
    counts: Mutex<HashMap<UserId, usize>>,
}

#[rocket::async_trait]
impl PresenceStore for LocalPresence {
    async fn connection_opened(&self, user: UserId) -> bool {
        let mut counts = lock(&self.counts);
        let count = counts.entry(user).or_insert(0);
        *count += 1;
        *count == 1
    }

    async fn connection_closed(&self, user: UserId) -> bool {
        let mut counts = lock(&self.counts);
        match counts.get_mut(&user) {
            Some(count) if *count > 1 => {
                *count -= 1;
                false
            }
            Some(_) => {
                counts.remove(&user);
                true
            }
            None => false,
        }
    }

    async fn online(&self, users: &[UserId]) -> Vec<bool> {
        let counts = lock(&self.counts);
        users.iter().map(|u| counts.contains_key(u)).collect()
    }

    async fn reap_dead_instances(&self) -> Vec<UserId> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_presence_counts_every_device() {
        let presence = LocalPresence::default();
        assert!(presence.connection_opened(UserId(1)).await);
        assert!(!presence.connection_opened(UserId(1)).await);
        assert_eq!(presence.online(&[UserId(1), UserId(2)]).await, vec![true, false]);
        assert!(!presence.connection_closed(UserId(1)).await);
        assert!(presence.connection_closed(UserId(1)).await);
        assert!(!presence.connection_closed(UserId(1)).await, "an unknown close changes nothing");
        assert_eq!(presence.online(&[UserId(1)]).await, vec![false]);
    }
}
