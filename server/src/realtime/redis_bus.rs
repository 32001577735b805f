//! Redis pub/sub bus and presence counters shared by every instance.
//!
//! Events: one channel `{prefix}:events`; each message is
//! `origin \n comma-separated user ids \n event JSON`. An instance delivers
//! its own events directly and ignores their echo.
//! Presence: one counter per user, `{prefix}:online:{user_id}`, incremented
//! per open connection on any instance.

use std::sync::Arc;
use std::time::Duration;

use concord_common::UserId;
use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use tokio::sync::mpsc;

use super::hub::{Hub, Payload};

/// Outgoing events waiting for the publisher task.
const PUBLISH_QUEUE: usize = 16_384;

/// Connection to Redis for one instance.
#[derive(Clone)]
pub struct RedisBus {
    prefix: String,
    origin: String,
    client: redis::Client,
    conn: ConnectionManager,
    outgoing: mpsc::Sender<String>,
}

impl RedisBus {
    /// Connects. Call [`RedisBus::start`] with the returned receiver once the
    /// hub exists.
    pub async fn open(url: &str, prefix: &str) -> Result<(Self, mpsc::Receiver<String>), redis::RedisError> {
        let client = redis::Client::open(url)?;
        let conn = ConnectionManager::new(client.clone()).await?;
        let (outgoing, rx) = mpsc::channel(PUBLISH_QUEUE);
        let origin = format!("{:016x}", rand::random::<u64>());
        Ok((Self { prefix: prefix.to_owned(), origin, client, conn, outgoing }, rx))
    }

    fn channel(&self) -> String {
        format!("{}:events", self.prefix)
    }

    fn online_key(&self, user: UserId) -> String {
        format!("{}:online:{}", self.prefix, user)
    }

    /// Spawns the publisher (draining `outgoing` in order) and the subscriber
    /// (delivering other instances' events to `hub`). Returns once subscribed,
    /// so no event published after start-up is missed.
    pub async fn start(
        &self,
        hub: Arc<Hub>,
        mut outgoing: mpsc::Receiver<String>,
    ) -> Result<(), redis::RedisError> {
        let channel = self.channel();
        let mut publisher = self.conn.clone();
        let publish_channel = channel.clone();
        tokio::spawn(async move {
            while let Some(message) = outgoing.recv().await {
                let sent: Result<i64, _> = redis::cmd("PUBLISH")
                    .arg(&publish_channel)
                    .arg(&message)
                    .query_async(&mut publisher)
                    .await;
                if let Err(e) = sent {
                    tracing::error!(error = %e, "redis publish failed; event not shared");
                }
            }
        });

        let client = self.client.clone();
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(&channel).await?;
        let origin = self.origin.clone();
        tokio::spawn(async move {
            loop {
                {
                    let mut messages = pubsub.on_message();
                    while let Some(message) = messages.next().await {
                        let Ok(text) = message.get_payload::<String>() else {
                            continue;
                        };
                        deliver(&hub, &origin, &text);
                    }
                }
                tracing::warn!("redis subscription lost; reconnecting");
                pubsub = loop {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    let Ok(mut fresh) = client.get_async_pubsub().await else {
                        continue;
                    };
                    if fresh.subscribe(&channel).await.is_ok() {
                        break fresh;
                    }
                };
            }
        });
        Ok(())
    }

    /// Queues an event for other instances.
    pub fn publish(&self, targets: &[UserId], payload: &Payload) {
        let ids: Vec<String> = targets.iter().map(ToString::to_string).collect();
        let message = format!("{}\n{}\n{}", self.origin, ids.join(","), payload);
        if self.outgoing.try_send(message).is_err() {
            tracing::error!("redis publish queue full; event not shared with other instances");
        }
    }

    /// Counts a new connection; `true` if the user was offline everywhere.
    pub async fn connection_opened(&self, user: UserId) -> bool {
        let mut conn = self.conn.clone();
        let count: Result<i64, _> =
            redis::cmd("INCR").arg(self.online_key(user)).query_async(&mut conn).await;
        match count {
            Ok(n) => n == 1,
            Err(e) => {
                tracing::error!(error = %e, "redis presence update failed");
                false
            }
        }
    }

    /// Counts a closed connection; `true` if the user is now offline everywhere.
    pub async fn connection_closed(&self, user: UserId) -> bool {
        let mut conn = self.conn.clone();
        let script = redis::Script::new(
            "local n = redis.call('DECR', KEYS[1]) if n <= 0 then redis.call('DEL', KEYS[1]) end return n",
        );
        let count: Result<i64, _> = script.key(self.online_key(user)).invoke_async(&mut conn).await;
        match count {
            Ok(n) => n <= 0,
            Err(e) => {
                tracing::error!(error = %e, "redis presence update failed");
                false
            }
        }
    }

    /// Which of `users` have a connection on any instance.
    pub async fn online(&self, users: &[UserId]) -> Vec<bool> {
        if users.is_empty() {
            return Vec::new();
        }
        let mut conn = self.conn.clone();
        let keys: Vec<String> = users.iter().map(|u| self.online_key(*u)).collect();
        let counts: Result<Vec<Option<i64>>, _> = redis::cmd("MGET").arg(&keys).query_async(&mut conn).await;
        match counts {
            Ok(counts) => counts.into_iter().map(|c| c.unwrap_or(0) > 0).collect(),
            Err(e) => {
                tracing::error!(error = %e, "redis presence read failed");
                vec![false; users.len()]
            }
        }
    }
}

fn deliver(hub: &Hub, own_origin: &str, text: &str) {
    let mut parts = text.splitn(3, '\n');
    let (Some(origin), Some(ids), Some(payload)) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    if origin == own_origin {
        return;
    }
    let targets: Vec<UserId> = ids.split(',').filter_map(|id| id.parse().ok()).collect();
    hub.deliver_local(&targets, &Payload::from(payload));
}
