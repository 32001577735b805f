//! Local websocket connections, presence, and event publishing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use concord_common::{ServerEvent, UserId};
use tokio::sync::mpsc;

use super::redis_bus::RedisBus;

/// One serialised event, shared by every connection it goes to.
pub type Payload = Arc<str>;

struct LocalConn {
    id: u64,
    tx: mpsc::Sender<Payload>,
}

/// A connection registered with the hub; give it back to [`Hub::detach`].
#[derive(Debug)]
pub struct Attached {
    /// The connection's number on this instance.
    pub conn_id: u64,
    /// Its user.
    pub user: UserId,
    /// Whether this connection made the user go from offline to online.
    pub became_online: bool,
}

/// Fans events out to connections and keeps presence.
pub struct Hub {
    conns: Mutex<HashMap<UserId, Vec<LocalConn>>>,
    /// Local presence (connections per user); unused when Redis keeps it.
    counts: Mutex<HashMap<UserId, usize>>,
    next_conn: AtomicU64,
    queue_len: usize,
    redis: Option<RedisBus>,
}

impl Hub {
    /// A hub whose connections each queue at most `queue_len` events.
    pub fn new(queue_len: usize, redis: Option<RedisBus>) -> Self {
        Self {
            conns: Mutex::new(HashMap::new()),
            counts: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(1),
            queue_len: queue_len.max(1),
            redis,
        }
    }

    /// `"redis"` or `"local"`.
    pub fn bus_name(&self) -> &'static str {
        if self.redis.is_some() {
            "redis"
        } else {
            "local"
        }
    }

    /// Registers a connection of `user`; events for them arrive on the receiver.
    pub async fn attach(&self, user: UserId) -> (Attached, mpsc::Receiver<Payload>) {
        let conn_id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(self.queue_len);
        lock(&self.conns).entry(user).or_default().push(LocalConn { id: conn_id, tx });
        let became_online = match &self.redis {
            Some(redis) => redis.connection_opened(user).await,
            None => {
                let mut counts = lock(&self.counts);
                let count = counts.entry(user).or_insert(0);
                *count += 1;
                *count == 1
            }
        };
        (Attached { conn_id, user, became_online }, rx)
    }

    /// Unregisters a connection; `true` if its user has no connection left anywhere.
    pub async fn detach(&self, attached: Attached) -> bool {
        self.drop_conn(attached.user, attached.conn_id);
        match &self.redis {
            Some(redis) => redis.connection_closed(attached.user).await,
            None => {
                let mut counts = lock(&self.counts);
                match counts.get_mut(&attached.user) {
                    Some(count) if *count > 1 => {
                        *count -= 1;
                        false
                    }
                    Some(_) => {
                        counts.remove(&attached.user);
                        true
                    }
                    None => false,
                }
            }
        }
    }

    fn drop_conn(&self, user: UserId, conn_id: u64) {
        let mut conns = lock(&self.conns);
        if let Some(list) = conns.get_mut(&user) {
            list.retain(|c| c.id != conn_id);
            if list.is_empty() {
                conns.remove(&user);
            }
        }
    }

    /// Which of `users` are online (on any instance).
    pub async fn online(&self, users: &[UserId]) -> Vec<bool> {
        match &self.redis {
            Some(redis) => redis.online(users).await,
            None => {
                let counts = lock(&self.counts);
                users.iter().map(|u| counts.contains_key(u)).collect()
            }
        }
    }

    /// Whether one user is online.
    pub async fn is_online(&self, user: UserId) -> bool {
        self.online(&[user]).await.first().copied().unwrap_or(false)
    }

    /// Sends `event` to every connection of every user in `targets`, here and
    /// (through Redis) on other instances.
    pub fn publish(&self, targets: &[UserId], event: &ServerEvent) {
        if targets.is_empty() {
            return;
        }
        let payload: Payload = match serde_json::to_string(event) {
            Ok(json) => json.into(),
            Err(e) => {
                tracing::error!(error = %e, "event serialisation failed");
                return;
            }
        };
        self.deliver_local(targets, &payload);
        if let Some(redis) = &self.redis {
            redis.publish(targets, &payload);
        }
    }

    /// Queues `payload` for local connections of `targets`. A connection whose
    /// queue is full is too slow: it is dropped (its session then closes and
    /// the client resyncs on reconnect) rather than holding anyone else up.
    pub fn deliver_local(&self, targets: &[UserId], payload: &Payload) {
        let mut conns = lock(&self.conns);
        for user in targets {
            let Some(list) = conns.get_mut(user) else {
                continue;
            };
            list.retain(|conn| match conn.tx.try_send(payload.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::warn!(user = %user, conn = conn.id, "websocket too slow; closing it");
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            });
            if list.is_empty() {
                conns.remove(user);
            }
        }
    }

    /// Number of open websocket connections on this instance.
    pub fn local_connections(&self) -> usize {
        lock(&self.conns).values().map(Vec::len).sum()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn presence_counts_every_device_and_slow_connections_are_dropped() {
        let hub = Hub::new(2, None);
        let (a1, mut rx1) = hub.attach(UserId(1)).await;
        let (a2, mut rx2) = hub.attach(UserId(1)).await;
        assert!(a1.became_online);
        assert!(!a2.became_online);
        let event = ServerEvent::HeartbeatAck;
        for _ in 0..3 {
            hub.publish(&[UserId(1)], &event);
            // rx1 keeps up, rx2 never reads.
            assert!(rx1.recv().await.is_some());
        }
        assert_eq!(hub.local_connections(), 1, "the slow connection was dropped");
        assert_eq!(rx2.recv().await.as_deref(), Some(r#"{"type":"heartbeat_ack"}"#));
        assert!(!hub.detach(a2).await, "one device is still connected");
        assert!(hub.is_online(UserId(1)).await);
        assert!(hub.detach(a1).await);
        assert!(!hub.is_online(UserId(1)).await);
    }
}
