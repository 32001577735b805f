//! Redis: the event bus and the presence store of a deployment with several
//! instances.
//!
//! **Bus.** One pub/sub channel `{prefix}:events`; each message is
//! `origin \n targets \n payload` (targets as [`Target::encode`], separated
//! by spaces). An instance delivers its own events directly and ignores their
//! echo. A publish that fails is retried (Redis restarting) for up to
//! [`PUBLISH_RETRY_FOR`]; if an event is lost anyway, the next successful
//! publish is a `!resync` control message that makes every instance tell its
//! clients to resync. An instance whose subscription dropped resubscribes and
//! tells its own clients to resync (they may have missed events meanwhile).
//!
//! **Presence.** Each instance owns its share: a lease
//! `{prefix}:instance:{id}` (also what makes two live instances with the
//! same `instance_id` impossible), a deadline in the sorted set
//! `{prefix}:instances`, and a hash `{prefix}:conns:{id}` of user → open
//! connections, mirrored from the instance's own counts. A live instance
//! renews its lease every `lease / 5`; any instance reaps the share of one
//! whose deadline passed (killed, crashed, cut off) and announces its users
//! offline. After a Redis restart each instance writes its share back, at
//! once: a renewal that fails is retried every [`RECLAIM_EVERY`].
//!
//! **One live instance per id.** Redis keeps nothing across a restart, so
//! for a moment after one every lease is free. A newcomer therefore waits
//! until Redis has been up for a whole lease before it claims its id — by
//! then every live instance has claimed its own back — and an instance that
//! finds its id held by another stops the process at once rather than write
//! under a shared id (ids are minted from it). A newcomer whose id is held
//! waits up to a lease for it to lapse (the same instance restarting), and
//! refuses to start if it is still renewed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use concord_common::UserId;
use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use tokio::sync::mpsc;

use super::bus::{Bus, Envelope, Inbox, Payload, Target};
use super::presence::PresenceStore;
use crate::lock;

/// How often a failed lease renewal (Redis away) is tried again.
const RECLAIM_EVERY: Duration = Duration::from_millis(250);

/// Outgoing events waiting for the publisher task.
const PUBLISH_QUEUE: usize = 16_384;
/// How often a shutdown looks whether the queue has drained.
const FLUSH_POLL: Duration = Duration::from_millis(10);
/// How long a failing publish is retried before the event counts as lost.
const PUBLISH_RETRY_FOR: Duration = Duration::from_secs(10);
/// The targets line of the control message "every instance: resync your clients".
const RESYNC: &str = "!resync";

/// Opens a client and a self-reconnecting connection to Redis at `url`.
pub async fn connect(url: &str) -> Result<(redis::Client, ConnectionManager), String> {
    let client = redis::Client::open(url).map_err(|e| format!("invalid redis_url {url}: {e}"))?;
    let conn = ConnectionManager::new(client.clone())
        .await
        .map_err(|e| format!("cannot connect to Redis at {url}: {e}"))?;
    Ok((client, conn))
}

/// The Redis pub/sub [`Bus`].
pub struct RedisBus {
    channel: String,
    origin: String,
    client: redis::Client,
    conn: ConnectionManager,
    outgoing: mpsc::Sender<String>,
    waiting: Mutex<Option<mpsc::Receiver<String>>>,
    /// An event could not be shared: the next publish is preceded by `!resync`.
    lost: Arc<AtomicBool>,
    /// Published here and not yet sent to Redis (nor given up).
    unsent: Arc<AtomicUsize>,
}

impl RedisBus {
    /// A bus for instance `instance` on `{prefix}:events`.
    pub fn new(client: redis::Client, conn: ConnectionManager, prefix: &str, instance: u16) -> Self {
        let (outgoing, rx) = mpsc::channel(PUBLISH_QUEUE);
        Self {
            channel: format!("{prefix}:events"),
            origin: instance.to_string(),
            client,
            conn,
            outgoing,
            waiting: Mutex::new(Some(rx)),
            lost: Arc::new(AtomicBool::new(false)),
            unsent: Arc::new(AtomicUsize::new(0)),
        }
    }

    async fn subscribe(client: &redis::Client, channel: &str) -> redis::RedisResult<redis::aio::PubSub> {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(channel).await?;
        Ok(pubsub)
    }
}

#[rocket::async_trait]
impl Bus for RedisBus {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn start(&self, inbox: Arc<dyn Inbox>) -> Result<(), String> {
        let Some(outgoing) = lock(&self.waiting).take() else {
            return Err("the Redis bus was started twice".into());
        };
        let mut pubsub = Self::subscribe(&self.client, &self.channel)
            .await
            .map_err(|e| format!("cannot subscribe: {e}"))?;
        let control = format!("{}\n{RESYNC}\n", self.origin);
        tokio::spawn(run_publisher(
            outgoing,
            self.conn.clone(),
            self.channel.clone(),
            control,
            self.lost.clone(),
            self.unsent.clone(),
        ));

        let (client, channel, origin) = (self.client.clone(), self.channel.clone(), self.origin.clone());
        tokio::spawn(async move {
            loop {
                {
                    let mut messages = pubsub.on_message();
                    while let Some(message) = messages.next().await {
                        if let Ok(text) = message.get_payload::<String>() {
                            receive(inbox.as_ref(), &origin, &text);
                        }
                    }
                }
                tracing::warn!("redis subscription lost; resubscribing");
                let mut delay = Duration::from_millis(100);
                pubsub = loop {
                    tokio::time::sleep(delay).await;
                    match Self::subscribe(&client, &channel).await {
                        Ok(fresh) => break fresh,
                        Err(_) => delay = (delay * 2).min(Duration::from_secs(2)),
                    }
                };
                tracing::warn!("redis subscription restored; local clients resync");
                inbox.resync_all();
            }
        });
        Ok(())
    }

    fn publish(&self, envelope: &Envelope) {
        let targets: Vec<String> = envelope.targets.iter().map(Target::encode).collect();
        let message = format!("{}\n{}\n{}", self.origin, targets.join(" "), envelope.payload);
        self.unsent.fetch_add(1, Ordering::AcqRel);
        if self.outgoing.try_send(message).is_err() {
            self.unsent.fetch_sub(1, Ordering::AcqRel);
            tracing::error!("redis publish queue full; event not shared with other instances");
            self.lost.store(true, Ordering::Relaxed);
        }
    }

    async fn flush(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while self.unsent.load(Ordering::Acquire) > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(FLUSH_POLL).await;
        }
        true
    }
}

/// Publishes queued messages in order, retrying through a Redis restart.
async fn run_publisher(
    mut outgoing: mpsc::Receiver<String>,
    mut conn: ConnectionManager,
    channel: String,
    control: String,
    lost: Arc<AtomicBool>,
    unsent: Arc<AtomicUsize>,
) {
    while let Some(message) = outgoing.recv().await {
        if lost.load(Ordering::Relaxed) && publish_with_retry(&mut conn, &channel, &control).await {
            lost.store(false, Ordering::Relaxed);
        }
        if !publish_with_retry(&mut conn, &channel, &message).await {
            tracing::error!(
                "redis publish failed for {PUBLISH_RETRY_FOR:?}; event not shared, clients will resync"
            );
            lost.store(true, Ordering::Relaxed);
        }
        unsent.fetch_sub(1, Ordering::AcqRel);
    }
}

async fn publish_with_retry(conn: &mut ConnectionManager, channel: &str, message: &str) -> bool {
    let deadline = tokio::time::Instant::now() + PUBLISH_RETRY_FOR;
    let mut delay = Duration::from_millis(50);
    loop {
        let sent: redis::RedisResult<i64> =
            redis::cmd("PUBLISH").arg(channel).arg(message).query_async(conn).await;
        match sent {
            Ok(_) => return true,
            Err(e) if tokio::time::Instant::now() + delay < deadline => {
                tracing::warn!(error = %e, "redis publish failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(1));
            }
            Err(_) => return false,
        }
    }
}

/// Hands one bus message from another instance to `inbox`.
fn receive(inbox: &dyn Inbox, own_origin: &str, text: &str) {
    let mut parts = text.splitn(3, '\n');
    let (Some(origin), Some(targets), Some(payload)) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    if origin == own_origin {
        return;
    }
    if targets == RESYNC {
        inbox.resync_all();
        return;
    }
    let targets: Vec<Target> = targets.split(' ').filter_map(Target::decode).collect();
    inbox.deliver(&Envelope { targets, payload: Payload::from(payload) });
}

/// Lua helpers shared by the presence scripts.
const LUA_HELPERS: &str = r"
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function online_elsewhere(prefix, me, user)
  for _, id in ipairs(redis.call('ZRANGE', prefix .. ':instances', 0, -1)) do
    if id ~= me and tonumber(redis.call('HGET', prefix .. ':conns:' .. id, user) or '0') > 0 then
      return true
    end
  end
  return false
end
";

/// ARGV: prefix, id, token, lease ms. 1 renewed, 2 re-created (state was
/// lost), 0 another instance holds this id.
const RENEW: &str = r"
local prefix, id, token, lease = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local key = prefix .. ':instance:' .. id
local holder = redis.call('GET', key)
local status = 1
if holder == false then
  redis.call('SET', key, token, 'PX', lease)
  status = 2
elseif holder ~= token then
  return 0
else
  redis.call('PEXPIRE', key, lease)
end
redis.call('ZADD', prefix .. ':instances', now_ms() + lease, id)
return status
";

/// ARGV: prefix, id, user, count. Stores this instance's count for the
/// user; returns 1 if another live instance has them connected.
const SET_COUNT: &str = r"
local prefix, id, user, count = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local key = prefix .. ':conns:' .. id
if count > 0 then redis.call('HSET', key, user, count) else redis.call('HDEL', key, user) end
if online_elsewhere(prefix, id, user) then return 1 end
return 0
";

/// ARGV: prefix, users... Returns 0/1 per user: connected on a live instance.
const ONLINE: &str = r"
local prefix = ARGV[1]
local live = redis.call('ZRANGE', prefix .. ':instances', 0, -1)
local out = {}
for i = 2, #ARGV do
  local on = 0
  for _, id in ipairs(live) do
    if tonumber(redis.call('HGET', prefix .. ':conns:' .. id, ARGV[i]) or '0') > 0 then on = 1 break end
  end
  out[#out + 1] = on
end
return out
";

/// ARGV: prefix. Removes every instance whose deadline passed, with its
/// connections; returns the users now connected nowhere.
const REAP: &str = r"
local prefix = ARGV[1]
local zkey = prefix .. ':instances'
local offline = {}
for _, dead in ipairs(redis.call('ZRANGEBYSCORE', zkey, '-inf', now_ms())) do
  redis.call('ZREM', zkey, dead)
  local key = prefix .. ':conns:' .. dead
  local users = redis.call('HKEYS', key)
  redis.call('DEL', key)
  for _, user in ipairs(users) do
    if not online_elsewhere(prefix, dead, user) then offline[#offline + 1] = user end
  end
end
return offline
";

/// The Redis [`PresenceStore`] (see the module docs).
pub struct RedisPresence {
    prefix: String,
    instance: u16,
    token: String,
    lease: Duration,
    conn: ConnectionManager,
    scripts: Scripts,
    /// This instance's own connection counts: the truth its Redis share mirrors.
    /// Held across each Redis update so updates reach Redis in order.
    counts: tokio::sync::Mutex<HashMap<UserId, u32>>,
    /// Users of an earlier life of this instance id, found offline at start.
    orphans: Mutex<Vec<UserId>>,
}

struct Scripts {
    renew: redis::Script,
    set_count: redis::Script,
    online: redis::Script,
    reap: redis::Script,
}

impl RedisPresence {
    /// Claims `instance`'s lease; refuses if a live instance holds it.
    pub async fn claim(
        conn: ConnectionManager,
        prefix: &str,
        instance: u16,
        lease: Duration,
    ) -> Result<Self, String> {
        let with_helpers = |body: &str| redis::Script::new(&format!("{LUA_HELPERS}{body}"));
        let presence = Self {
            prefix: prefix.to_owned(),
            instance,
            token: format!("{:016x}", rand::random::<u64>()),
            lease,
            conn,
            scripts: Scripts {
                renew: with_helpers(RENEW),
                set_count: with_helpers(SET_COUNT),
                online: with_helpers(ONLINE),
                reap: with_helpers(REAP),
            },
            counts: tokio::sync::Mutex::new(HashMap::new()),
            orphans: Mutex::new(Vec::new()),
        };
        let mut conn = presence.conn.clone();
        presence.wait_for_live_instances_to_reclaim().await?;
        // An instance that has just stopped (a restart) or crashed holds
        // its id until its lease lapses: wait that out, then refuse.
        let deadline = tokio::time::Instant::now() + lease + Duration::from_secs(1);
        let mut said = false;
        loop {
            let claimed: Option<String> = redis::cmd("SET")
                .arg(presence.lease_key())
                .arg(&presence.token)
                .arg("NX")
                .arg("PX")
                .arg(presence.lease_ms())
                .query_async(&mut conn)
                .await
                .map_err(|e| format!("cannot reach Redis: {e}"))?;
            if claimed.is_some() {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "instance_id {instance} is already used by another running Concord instance on this \
                     Redis (prefix `{prefix}`): it was still renewed after a lease ({} s). Give every \
                     instance its own instance_id from 0 to 1023.",
                    lease.as_secs().max(1)
                ));
            }
            if !said {
                tracing::info!(
                    instance,
                    "instance_id held: waiting up to a lease for it to lapse (an instance that just stopped)"
                );
                said = true;
            }
            tokio::time::sleep(RECLAIM_EVERY).await;
        }
        // An earlier life of this id may have died with users connected:
        // expire its share now and announce them with the next reap.
        let _: redis::RedisResult<i64> = redis::cmd("ZADD")
            .arg(presence.instances_key())
            .arg(0)
            .arg(instance)
            .query_async(&mut conn)
            .await;
        let orphans = presence.reap_now().await.map_err(|e| format!("cannot reach Redis: {e}"))?;
        *lock(&presence.orphans) = orphans;
        presence.renew().await.map_err(|e| format!("cannot reach Redis: {e}"))?;
        Ok(presence)
    }

    /// Right after a Redis restart every id looks free, though live
    /// instances may not have renewed yet: wait until Redis has been up for
    /// a lease (they renew every fifth of one, and retry at once after an
    /// error), so that an id still in use is seen as taken.
    async fn wait_for_live_instances_to_reclaim(&self) -> Result<(), String> {
        let mut conn = self.conn.clone();
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut conn)
            .await
            .map_err(|e| format!("cannot reach Redis: {e}"))?;
        let up = info
            .lines()
            .find_map(|line| line.strip_prefix("uptime_in_seconds:"))
            .and_then(|secs| secs.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        // (INFO counts whole seconds: up to one more is still under a lease.)
        if let Some(wait) = up.and_then(|up| (self.lease + Duration::from_secs(1)).checked_sub(up)) {
            tracing::info!(
                wait_ms = wait.as_millis() as u64,
                "Redis has just started: waiting for running instances to claim their ids back"
            );
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }

    fn lease_key(&self) -> String {
        format!("{}:instance:{}", self.prefix, self.instance)
    }

    fn instances_key(&self) -> String {
        format!("{}:instances", self.prefix)
    }

    fn lease_ms(&self) -> u64 {
        self.lease.as_millis() as u64
    }

    /// Renews the lease; returns `true` if this instance's share had been
    /// lost (Redis restarted, or the lease lapsed and was reaped) and was
    /// written back, so its clients should resync.
    pub async fn renew(&self) -> redis::RedisResult<bool> {
        let counts = self.counts.lock().await;
        let mut conn = self.conn.clone();
        let status: i64 = self
            .scripts
            .renew
            .prepare_invoke()
            .arg(&self.prefix)
            .arg(self.instance)
            .arg(&self.token)
            .arg(self.lease_ms())
            .invoke_async(&mut conn)
            .await?;
        match status {
            2 => {
                let key = format!("{}:conns:{}", self.prefix, self.instance);
                let mut pipe = redis::pipe();
                pipe.atomic().del(&key).ignore();
                for (user, count) in counts.iter() {
                    pipe.hset(&key, user.0, *count).ignore();
                }
                pipe.query_async::<()>(&mut conn).await?;
                tracing::warn!(users = counts.len(), "presence share was missing in Redis; written back");
                Ok(true)
            }
            0 => {
                // Running on would mint ids (users, messages) the other one
                // mints too: stop now, loudly.
                let message = format!(
                    "another running Concord instance holds instance_id {} on this Redis (prefix `{}`); \
                     stopping so that no two instances write under one id. Give every instance its own \
                     instance_id from 0 to 1023.",
                    self.instance, self.prefix
                );
                tracing::error!("{message}");
                eprintln!("concord-server: {message}");
                std::process::exit(1);
            }
            _ => Ok(false),
        }
    }

    /// Renews the lease every `lease / 5` for as long as the process runs;
    /// tells `inbox` to resync clients when the share had to be written back.
    pub fn keep_alive(self: &Arc<Self>, inbox: Arc<dyn Inbox>) {
        let presence = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(presence.lease / 5);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let mut failures = 0u32;
                loop {
                    match presence.renew().await {
                        Ok(true) => inbox.resync_all(),
                        Ok(false) => {}
                        Err(e) => {
                            // Redis is away (restarting?): claim the id back the moment it returns.
                            if failures == 0 {
                                tracing::warn!(error = %e, "presence lease renewal failed; retrying");
                            }
                            failures += 1;
                            tokio::time::sleep(RECLAIM_EVERY).await;
                            continue;
                        }
                    }
                    if failures > 0 {
                        tracing::info!(failures, "presence lease renewed after Redis came back");
                    }
                    break;
                }
            }
        });
    }

    async fn reap_now(&self) -> redis::RedisResult<Vec<UserId>> {
        let mut conn = self.conn.clone();
        let users: Vec<i64> =
            self.scripts.reap.prepare_invoke().arg(&self.prefix).invoke_async(&mut conn).await?;
        let mut users: Vec<UserId> = users.into_iter().map(UserId).collect();
        users.sort_unstable();
        users.dedup();
        Ok(users)
    }

    async fn change(&self, user: UserId, delta: i32) -> bool {
        let mut counts = self.counts.lock().await;
        let before = counts.get(&user).copied().unwrap_or(0);
        if delta < 0 && before == 0 {
            return false;
        }
        let after = before.saturating_add_signed(delta);
        if after == 0 {
            counts.remove(&user);
        } else {
            counts.insert(user, after);
        }
        let mut conn = self.conn.clone();
        let elsewhere: redis::RedisResult<i64> = self
            .scripts
            .set_count
            .prepare_invoke()
            .arg(&self.prefix)
            .arg(self.instance)
            .arg(user.0)
            .arg(after)
            .invoke_async(&mut conn)
            .await;
        let elsewhere = match elsewhere {
            Ok(n) => n == 1,
            Err(e) => {
                tracing::error!(error = %e, "redis presence update failed; it is written back when Redis returns");
                false
            }
        };
        let here_changed = (before == 0) != (after == 0);
        here_changed && !elsewhere
    }
}

#[rocket::async_trait]
impl PresenceStore for RedisPresence {
    async fn connection_opened(&self, user: UserId) -> bool {
        self.change(user, 1).await
    }

    async fn connection_closed(&self, user: UserId) -> bool {
        self.change(user, -1).await
    }

    async fn online(&self, users: &[UserId]) -> Vec<bool> {
        if users.is_empty() {
            return Vec::new();
        }
        let mut conn = self.conn.clone();
        let mut invocation = self.scripts.online.prepare_invoke();
        invocation.arg(&self.prefix);
        for user in users {
            invocation.arg(user.0);
        }
        let result: redis::RedisResult<Vec<i64>> = invocation.invoke_async(&mut conn).await;
        match result {
            Ok(flags) if flags.len() == users.len() => flags.into_iter().map(|f| f == 1).collect(),
            other => {
                if let Err(e) = other {
                    tracing::error!(error = %e, "redis presence read failed; answering from this instance");
                }
                let counts = self.counts.lock().await;
                users.iter().map(|u| counts.contains_key(u)).collect()
            }
        }
    }

    async fn reap_dead_instances(&self) -> Vec<UserId> {
        let mut offline = std::mem::take(&mut *lock(&self.orphans));
        match self.reap_now().await {
            Ok(users) => offline.extend(users),
            Err(e) => tracing::warn!(error = %e, "presence reaping failed"),
        }
        offline.sort_unstable();
        offline.dedup();
        offline
    }
}
