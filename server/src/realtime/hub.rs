//! The addressable hub: this instance's websocket connections, each with one
//! ordered outbound queue, reachable by user (every device), by connection
//! (one device) or by topic (a room's subscribers), here and — through the
//! [`Bus`] — on every other instance. Presence is kept by a [`PresenceStore`].

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use concord_common::{ServerEvent, ServerFrame, UserId};
use tokio::sync::{mpsc, Notify};

use super::bus::{Bus, ConnId, Envelope, Inbox, Payload, Target, Topic};
use super::presence::PresenceStore;
use crate::lock;

/// Why the hub ends a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kick {
    /// Its outbound queue filled up: the client is not reading.
    TooSlow,
    /// Events may have been lost (the bus between instances was down):
    /// the client should reconnect and take a fresh snapshot.
    Resync,
    /// This instance is shutting down (SIGTERM): reconnect, to another
    /// instance or to this one once it is back.
    ShuttingDown,
}

/// What a connection's queue carries: frames to write, then perhaps the
/// hub's order to close (always last: nothing is queued after it).
#[derive(Debug, PartialEq, Eq)]
pub enum Outbound {
    /// A serialised frame to write.
    Frame(Payload),
    /// Close the connection, saying why.
    Close(Kick),
}

/// The sending side of one connection's outbound queue. The queue has one
/// slot more than the frames it may hold, kept for the close, so the kick
/// needs no channel of its own (memory per idle connection counts).
struct Outlet {
    user: UserId,
    tx: mpsc::Sender<Outbound>,
    closing: bool,
    topics: HashSet<Topic>,
}

impl Outlet {
    /// Queues `payload`; a full queue kicks the connection as too slow.
    fn push(&mut self, payload: &Payload) -> bool {
        if self.closing {
            return false;
        }
        if self.tx.capacity() <= 1 {
            tracing::warn!(user = %self.user, "websocket too slow; closing it");
            self.kick(Kick::TooSlow);
            return false;
        }
        self.tx.try_send(Outbound::Frame(payload.clone())).is_ok()
    }

    /// Queues the close behind what is already queued; later frames are refused.
    fn kick(&mut self, why: Kick) {
        if !self.closing {
            self.closing = true;
            let _ = self.tx.try_send(Outbound::Close(why));
        }
    }
}

#[derive(Default)]
struct Conns {
    by_id: HashMap<u64, Outlet>,
    by_user: HashMap<UserId, Vec<u64>>,
    by_topic: HashMap<Topic, HashSet<u64>>,
}

/// A connection registered with the hub; hand it back to [`Hub::detach`].
#[derive(Debug)]
pub struct Connection {
    /// Its address, unique across instances.
    pub id: ConnId,
    /// Its user.
    pub user: UserId,
    /// Whether it made the user go from offline to online.
    pub became_online: bool,
}

/// What a connection's session reads: its queued frames in order, ending
/// with [`Outbound::Close`] when the hub ends the connection.
pub struct Inlet {
    /// Frames to write to the socket, in the order they were queued.
    pub frames: mpsc::Receiver<Outbound>,
}

/// Fans events out to connections and keeps presence.
pub struct Hub {
    instance: u16,
    conns: Mutex<Conns>,
    next_conn: AtomicU64,
    queue_len: usize,
    bus: Arc<dyn Bus>,
    presence: Arc<dyn PresenceStore>,
    /// Who reads the messages addressed to this instance itself.
    instance_mail: OnceLock<InstanceMail>,
    /// Told when the last connection is removed.
    emptied: Notify,
}

/// A handler of messages addressed to an instance ([`Target::Instance`]).
pub type InstanceMail = Arc<dyn Fn(Payload) + Send + Sync>;

impl Hub {
    /// Shutting down: every local connection is told to reconnect (close
    /// 1012); the hub takes no new ones meanwhile (the listener is closed).
    pub fn close_all_for_shutdown(&self) {
        let mut conns = lock(&self.conns);
        tracing::info!(connections = conns.by_id.len(), "shutting down: telling every client to reconnect");
        for outlet in conns.by_id.values_mut() {
            outlet.kick(Kick::ShuttingDown);
        }
    }

    /// A hub for instance `instance` whose connections each queue at most
    /// `queue_len` frames. Call [`Hub::start`] before use.
    pub fn new(instance: u16, queue_len: usize, bus: Arc<dyn Bus>, presence: Arc<dyn PresenceStore>) -> Self {
        Self {
            instance,
            conns: Mutex::new(Conns::default()),
            next_conn: AtomicU64::new(1),
            queue_len: queue_len.max(1),
            bus,
            presence,
            instance_mail: OnceLock::new(),
            emptied: Notify::new(),
        }
    }

    /// Messages to this instance ([`Target::Instance`]) go to `handler`
    /// from now on (set once; a second handler is refused).
    pub fn on_instance_mail(&self, handler: InstanceMail) -> bool {
        self.instance_mail.set(handler).is_ok()
    }

    /// Sends `message` to instance `instance`'s handler: through the bus,
    /// or straight to this one's. In order with this instance's events.
    pub fn send_to_instance(&self, instance: u16, message: String) {
        let envelope = Envelope { targets: vec![Target::Instance(instance)], payload: message.into() };
        if instance == self.instance {
            self.deliver(&envelope);
        } else {
            self.bus.publish(&envelope);
        }
    }

    /// Starts receiving other instances' events.
    pub async fn start(self: &Arc<Self>) -> Result<(), String> {
        let inbox: Arc<dyn Inbox> = self.clone();
        self.bus.start(inbox).await
    }

    /// `"local"` or `"redis"`.
    pub fn bus_name(&self) -> &'static str {
        self.bus.name()
    }

    /// This instance's id.
    pub fn instance(&self) -> u16 {
        self.instance
    }

    /// Registers a connection of `user`.
    pub async fn attach(&self, user: UserId) -> (Connection, Inlet) {
        let local = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let (tx, frames) = mpsc::channel(self.queue_len + 1);
        {
            let mut conns = lock(&self.conns);
            conns.by_id.insert(local, Outlet { user, tx, closing: false, topics: HashSet::new() });
            conns.by_user.entry(user).or_default().push(local);
        }
        let became_online = self.presence.connection_opened(user).await;
        let id = ConnId { instance: self.instance, local };
        (Connection { id, user, became_online }, Inlet { frames })
    }

    /// Unregisters a connection; `true` if its user has no connection left anywhere.
    pub async fn detach(&self, connection: Connection) -> bool {
        let offline = self.leave_presence(&connection).await;
        self.remove(connection);
        offline
    }

    /// The first half of [`Hub::detach`]: the connection stops counting for
    /// presence; `true` if its user is offline everywhere now. Whoever
    /// announces that does so before [`Hub::remove`], so once the connection
    /// count drops (`/api/health`), every consequence of the close is queued.
    pub async fn leave_presence(&self, connection: &Connection) -> bool {
        self.presence.connection_closed(connection.user).await
    }

    /// The second half of [`Hub::detach`]: forgets the connection here.
    pub fn remove(&self, connection: Connection) {
        self.remove_local(connection.id.local);
    }

    fn remove_local(&self, local: u64) {
        let mut conns = lock(&self.conns);
        let Some(outlet) = conns.by_id.remove(&local) else {
            return;
        };
        if conns.by_id.is_empty() {
            self.emptied.notify_waiters();
        }
        if let Some(list) = conns.by_user.get_mut(&outlet.user) {
            list.retain(|id| *id != local);
            if list.is_empty() {
                conns.by_user.remove(&outlet.user);
            }
        }
        for topic in outlet.topics {
            if let Some(members) = conns.by_topic.get_mut(&topic) {
                members.remove(&local);
                if members.is_empty() {
                    conns.by_topic.remove(&topic);
                }
            }
        }
    }

    /// Subscribes a connection of this instance to `topic`; `false` if it is gone.
    pub fn subscribe(&self, conn: ConnId, topic: &Topic) -> bool {
        let mut conns = lock(&self.conns);
        let Some(outlet) = conns.by_id.get_mut(&conn.local).filter(|_| conn.instance == self.instance) else {
            return false;
        };
        outlet.topics.insert(topic.clone());
        conns.by_topic.entry(topic.clone()).or_default().insert(conn.local);
        true
    }

    /// Ends a connection's subscription to `topic`.
    pub fn unsubscribe(&self, conn: ConnId, topic: &Topic) {
        let mut conns = lock(&self.conns);
        if let Some(outlet) = conns.by_id.get_mut(&conn.local).filter(|_| conn.instance == self.instance) {
            outlet.topics.remove(topic);
        }
        if let Some(members) = conns.by_topic.get_mut(topic) {
            members.remove(&conn.local);
            if members.is_empty() {
                conns.by_topic.remove(topic);
            }
        }
    }

    /// Which of `users` are online (on any instance).
    pub async fn online(&self, users: &[UserId]) -> Vec<bool> {
        self.presence.online(users).await
    }

    /// Whether one user is online.
    pub async fn is_online(&self, user: UserId) -> bool {
        self.online(&[user]).await.first().copied().unwrap_or(false)
    }

    /// Users whose last connection was on an instance that died since the
    /// last call: they are offline now (see [`PresenceStore::reap_dead_instances`]).
    pub async fn reap_dead_instances(&self) -> Vec<UserId> {
        self.presence.reap_dead_instances().await
    }

    /// Sends `event` to `targets`, here and on other instances.
    pub fn publish(&self, targets: &[Target], event: &ServerEvent) {
        if targets.is_empty() {
            return;
        }
        let Some(payload) = serialise(event) else {
            return;
        };
        let envelope = Envelope { targets: targets.to_vec(), payload };
        self.deliver(&envelope);
        let all_here =
            targets.iter().all(|t| matches!(t, Target::Connection(c) if c.instance == self.instance));
        if !all_here {
            self.bus.publish(&envelope);
        }
    }

    /// Sends `event` to every device of each of `users`.
    pub fn publish_to_users(&self, users: &[UserId], event: &ServerEvent) {
        let targets: Vec<Target> = users.iter().copied().map(Target::User).collect();
        self.publish(&targets, event);
    }

    /// Queues `frame` for one connection of this instance, behind everything
    /// already queued for it. `false` if the connection is gone or too slow.
    pub fn send_to(&self, conn: ConnId, frame: &ServerFrame) -> bool {
        let Some(payload) = serialise(frame) else {
            return false;
        };
        let mut conns = lock(&self.conns);
        conns
            .by_id
            .get_mut(&conn.local)
            .filter(|_| conn.instance == self.instance)
            .is_some_and(|o| o.push(&payload))
    }

    /// Number of open websocket connections on this instance.
    pub fn local_connections(&self) -> usize {
        lock(&self.conns).by_id.len()
    }

    /// Waits until every event published so far has left for the other
    /// instances, at most `limit`; whether it has.
    pub async fn flush_bus(&self, limit: std::time::Duration) -> bool {
        self.bus.flush(limit).await
    }

    /// Waits until this instance has no connection left, at most `limit`;
    /// whether it has none.
    pub async fn wait_until_empty(&self, limit: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let emptied = self.emptied.notified();
            if self.local_connections() == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, emptied).await.is_err() {
                return self.local_connections() == 0;
            }
        }
    }
}

impl Inbox for Hub {
    /// Queues `envelope` once for every local connection it addresses (a
    /// connection reached both as a user's device and as a topic subscriber
    /// gets it once).
    fn deliver(&self, envelope: &Envelope) {
        let mut conns = lock(&self.conns);
        let mut ids: Vec<u64> = Vec::new();
        for target in &envelope.targets {
            match target {
                Target::User(user) => ids.extend(conns.by_user.get(user).into_iter().flatten()),
                Target::Connection(conn) if conn.instance == self.instance => ids.push(conn.local),
                Target::Connection(_) => {}
                Target::Topic(topic) => ids.extend(conns.by_topic.get(topic).into_iter().flatten()),
                Target::Instance(_) => {}
            }
        }
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            if let Some(outlet) = conns.by_id.get_mut(&id) {
                outlet.push(&envelope.payload);
            }
        }
        drop(conns);
        if envelope.targets.contains(&Target::Instance(self.instance)) {
            match self.instance_mail.get() {
                Some(handler) => handler(envelope.payload.clone()),
                None => tracing::warn!("a message for this instance, and nobody here reads them"),
            }
        }
    }

    fn resync_all(&self) {
        let mut conns = lock(&self.conns);
        tracing::info!(connections = conns.by_id.len(), "telling every local client to resync");
        for outlet in conns.by_id.values_mut() {
            outlet.kick(Kick::Resync);
        }
    }
}

fn serialise(frame: &impl serde::Serialize) -> Option<Payload> {
    match serde_json::to_string(frame) {
        Ok(json) => Some(json.into()),
        Err(e) => {
            tracing::error!(error = %e, "event serialisation failed");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::bus::LocalBus;
    use super::super::presence::LocalPresence;
    use super::*;

    fn hub(queue_len: usize) -> Arc<Hub> {
        Arc::new(Hub::new(3, queue_len, Arc::new(LocalBus), Arc::new(LocalPresence::default())))
    }

    /// The next queued frame's text (`None`: nothing queued, or a close).
    fn next(inlet: &mut Inlet) -> Option<String> {
        match inlet.frames.try_recv().ok()? {
            Outbound::Frame(payload) => Some(payload.to_string()),
            Outbound::Close(_) => None,
        }
    }

    /// Everything queued, in order.
    fn drain(inlet: &mut Inlet) -> Vec<Outbound> {
        std::iter::from_fn(|| inlet.frames.try_recv().ok()).collect()
    }

    #[tokio::test]
    async fn events_reach_a_user_one_connection_or_a_topic_once_each() {
        let hub = hub(8);
        let (laptop, mut laptop_in) = hub.attach(UserId(1)).await;
        let (_phone, mut phone_in) = hub.attach(UserId(1)).await;
        let (_other, mut other_in) = hub.attach(UserId(2)).await;
        assert!(laptop.became_online);
        let ack = ServerEvent::HeartbeatAck;
        let ack_json = r#"{"type":"heartbeat_ack"}"#.to_owned();

        hub.publish(&[Target::User(UserId(1))], &ack);
        assert_eq!(next(&mut laptop_in), Some(ack_json.clone()));
        assert_eq!(next(&mut phone_in), Some(ack_json.clone()));
        assert_eq!(next(&mut other_in), None);

        hub.publish(&[Target::Connection(laptop.id)], &ack);
        assert_eq!(next(&mut laptop_in), Some(ack_json.clone()));
        assert_eq!(next(&mut phone_in), None);

        let room = Topic::new("room:9").unwrap();
        assert!(hub.subscribe(laptop.id, &room));
        // Addressed as a user's device and as a subscriber: delivered once.
        hub.publish(&[Target::Topic(room.clone()), Target::User(UserId(1))], &ack);
        assert_eq!(next(&mut laptop_in), Some(ack_json.clone()));
        assert_eq!(next(&mut laptop_in), None);
        assert_eq!(next(&mut phone_in), Some(ack_json.clone()));
        hub.unsubscribe(laptop.id, &room);
        hub.publish(&[Target::Topic(room)], &ack);
        assert_eq!(next(&mut laptop_in), None);

        // A reply queued behind events keeps its place and carries the request id.
        hub.publish(&[Target::User(UserId(2))], &ack);
        let reply = ServerFrame { request_id: Some("r1".into()), event: ack.clone() };
        assert!(hub.send_to(_other.id, &reply));
        assert_eq!(next(&mut other_in), Some(ack_json));
        assert_eq!(next(&mut other_in), Some(r#"{"request_id":"r1","type":"heartbeat_ack"}"#.to_owned()));
    }

    #[tokio::test]
    async fn a_slow_connection_is_kicked_and_the_others_keep_receiving() {
        let hub = hub(2);
        let (_a, mut fast) = hub.attach(UserId(1)).await;
        let (_b, mut slow) = hub.attach(UserId(1)).await;
        for _ in 0..3 {
            hub.publish(&[Target::User(UserId(1))], &ServerEvent::HeartbeatAck);
            assert!(next(&mut fast).is_some());
        }
        // The two frames that fitted, then the close: the third frame was refused.
        let ack: Payload = r#"{"type":"heartbeat_ack"}"#.into();
        assert_eq!(
            drain(&mut slow),
            vec![Outbound::Frame(ack.clone()), Outbound::Frame(ack), Outbound::Close(Kick::TooSlow)]
        );
        assert!(drain(&mut fast).is_empty());
    }

    #[tokio::test]
    async fn presence_follows_the_last_device_and_resync_reaches_everyone() {
        let hub = hub(4);
        let (a1, mut in1) = hub.attach(UserId(1)).await;
        let (a2, mut in2) = hub.attach(UserId(1)).await;
        assert!(!a2.became_online);
        assert!(!hub.detach(a2).await, "one device is still connected");
        assert!(hub.is_online(UserId(1)).await);
        hub.resync_all();
        assert_eq!(drain(&mut in1), vec![Outbound::Close(Kick::Resync)]);
        assert!(drain(&mut in2).is_empty(), "a detached connection is not kicked");
        assert!(hub.detach(a1).await);
        assert!(!hub.is_online(UserId(1)).await);
        assert_eq!(hub.local_connections(), 0);
    }
}
