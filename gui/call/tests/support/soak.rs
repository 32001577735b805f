//! The soak: chat clients and two calls on two instances (one MariaDB and one
//! Redis of the soak's own) while clients drop their websockets at random
//! and an instance, Redis and MariaDB are each restarted under them.
//!
//! Each client is a small but real client: a websocket through one of two
//! balancers (one prefers instance A, the other B), which it reopens after
//! any close; on every (re)connect it reads back, through REST, what it may
//! have missed (its conversations' newest pages back to [`RESYNC_MARGIN`]
//! before it lost the socket); after that, only the websocket's events add to
//! what it knows. Messages are sent through REST with a nonce, and sent
//! again with the same nonce until the server answers (200 or 201).
//!
//! The [`Report`] says what was lost (asked for but never answered, or
//! answered and not stored), duplicated (a nonce stored twice), whether every
//! client came to know exactly what the database holds for its
//! conversations, how long each call went without someone's camera, and how
//! the instances' memory and file descriptors went. [`Report::problems`]
//! lists what breaks a promise.

#![allow(dead_code)] // the test and the benchmark each use their own parts
#![allow(clippy::unwrap_used)] // a soak that cannot run should stop loudly

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use concord_common::api::{MessagePage, RoomMessagePage};
use concord_common::events::{Identify, MessageCreated, RoomMessageCreated};
use concord_common::{ClientEvent, ClientFrame, RoomId, ServerEvent, UserId};
use concord_testkit::balancer::{free_port, Balancer};
use concord_testkit::mariadb::MariaDbServer;
use concord_testkit::process::{bench_media_env, ChildServer};
use concord_testkit::redis::RedisServer;
use concord_testkit::server::{Account, TestServer};
use concord_testkit::{unique, Database};
use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use crate::cluster::{instance_env, longest_video_gap, room_for, start_instance, Bots};

/// A reconnecting client reads back its conversations this far before the
/// moment it lost its socket (a message's time is taken before it is
/// committed, which a database restart can delay by seconds).
const RESYNC_MARGIN_MS: i64 = 30_000;
/// A message not answered after this long counts as lost.
const SEND_DEADLINE: Duration = Duration::from_secs(120);
/// Sends waiting for an answer at once.
const SENDS_IN_FLIGHT: usize = 256;
/// After the last send, clients have this long to know what the database holds.
const FINAL_SYNC_DEADLINE: Duration = Duration::from_secs(120);
/// How long Redis and MariaDB stay down when restarted.
const DOWN_FOR: Duration = Duration::from_secs(1);

/// What to run.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    /// Chat clients (accounts, one websocket each).
    pub clients: usize,
    /// Clients per room: the first is the room's owner and friend of the
    /// others (each pair one DM conversation).
    pub group: usize,
    /// DMs and room messages, each from a random client to one of its conversations.
    pub messages: usize,
    /// Over how long the messages are sent (faults fall inside).
    #[serde(serialize_with = "seconds")]
    pub duration: Duration,
    /// Rooms with a call.
    pub call_rooms: usize,
    /// Bots per call on each balancer (a call holds twice as many).
    pub bots_per_side: usize,
    /// A random client drops its websocket this often.
    #[serde(serialize_with = "seconds")]
    pub disconnect_every: Duration,
    /// Each round restarts instance A or B (alternately), then Redis, then MariaDB.
    pub fault_rounds: usize,
    /// Memory and file descriptors are read this often.
    #[serde(serialize_with = "seconds")]
    pub sample_every: Duration,
}

fn seconds<S: serde::Serializer>(duration: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(duration.as_secs_f64())
}

/// Something restarted under the clients.
#[derive(Clone, Copy, Debug, Serialize)]
pub enum Fault {
    /// SIGTERM to instance 0 (A) or 1 (B), started again once it exited.
    Instance(usize),
    /// SIGKILL to Redis (it keeps nothing), started again after [`DOWN_FOR`].
    Redis,
    /// SIGKILL to MariaDB, started again after [`DOWN_FOR`] (crash recovery).
    MariaDb,
}

impl Plan {
    /// The faults, evenly spread over the duration.
    pub fn faults(&self) -> Vec<(Duration, Fault)> {
        let faults: Vec<Fault> = (0..self.fault_rounds)
            .flat_map(|round| [Fault::Instance(round % 2), Fault::Redis, Fault::MariaDb])
            .collect();
        let step = self.duration / (faults.len() as u32 + 1);
        faults.into_iter().enumerate().map(|(i, fault)| (step * (i as u32 + 1), fault)).collect()
    }
}

/// What the soak saw.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// The plan.
    pub plan: Option<Plan>,
    /// Messages the soak asked to send.
    pub messages_planned: usize,
    /// Answered 201 (or 200: sent before, its answer lost).
    pub messages_answered: usize,
    /// Answered 200: a retry after a lost answer; the original came back.
    pub answered_as_resent: usize,
    /// Requests sent again after no answer or a 5xx.
    pub send_retries: u64,
    /// Slowest answer, retries included, in milliseconds.
    pub slowest_send_ms: u64,
    /// Not answered within the deadline, or refused (what happened, the first ten).
    pub not_answered: Vec<String>,
    /// Answered but not in the database, or stored with other content.
    pub lost: usize,
    /// Nonces of the soak stored more than once.
    pub duplicated: usize,
    /// Rows in the database.
    pub stored: usize,
    /// Clients whose messages equal the database's, conversation by conversation.
    pub clients_in_sync: usize,
    /// Clients that still differed at the deadline (the first ten, with what).
    pub clients_out_of_sync: Vec<String>,
    /// From the last answer until every client knew everything, in milliseconds.
    pub final_sync_ms: u64,
    /// Websockets opened, in all (one per client to start with).
    pub connects: u64,
    /// Websockets dropped on purpose.
    pub random_disconnects: u64,
    /// Each fault: when, how long the restart took, and when the calls were whole again.
    pub faults: Vec<FaultReport>,
    /// Each call participant's longest time without another's camera.
    pub calls: Vec<CallReport>,
    /// The longest of those, in milliseconds.
    pub longest_call_gap_ms: u64,
    /// The instances' memory, file descriptors and websockets over time.
    pub samples: Vec<Sample>,
    /// Whole run, in seconds.
    pub elapsed_s: f64,
}

/// One fault.
#[derive(Debug, Serialize)]
pub struct FaultReport {
    /// What.
    pub fault: Fault,
    /// Seconds into the sending.
    pub at_s: f64,
    /// From stopping it to it answering again, in milliseconds.
    pub restart_ms: u64,
    /// From stopping it to every bot receiving everyone's camera and voice again.
    pub calls_whole_again_ms: u64,
}

/// One call participant.
#[derive(Debug, Serialize)]
pub struct CallReport {
    /// The participant.
    pub user_id: Value,
    /// How often it joined again.
    pub rejoins: Value,
    /// What went wrong, as it says.
    pub errors: Value,
    /// Its longest time without any one other participant's camera, in milliseconds.
    pub longest_gap_ms: u64,
}

/// The instances at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Seconds into the sending.
    pub at_s: f64,
    /// Per instance: resident memory in MB.
    pub rss_mb: [f64; 2],
    /// Per instance: open file descriptors.
    pub fds: [u64; 2],
    /// Per instance: open websockets (`/api/health`).
    pub websockets: [u64; 2],
}

impl Report {
    /// What breaks a promise: lost or duplicated messages, a client that
    /// does not know what the database holds, a call gone for longer than
    /// `call_gap`.
    pub fn problems(&self, call_gap: Duration) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.not_answered.is_empty() || self.messages_answered != self.messages_planned {
            problems.push(format!(
                "{} of {} messages answered: {:?}",
                self.messages_answered, self.messages_planned, self.not_answered
            ));
        }
        if self.lost > 0 {
            problems.push(format!("{} answered messages lost", self.lost));
        }
        if self.duplicated > 0 {
            problems.push(format!("{} messages stored twice", self.duplicated));
        }
        if !self.clients_out_of_sync.is_empty() {
            problems.push(format!("clients out of sync: {:?}", self.clients_out_of_sync));
        }
        if self.longest_call_gap_ms > call_gap.as_millis() as u64 {
            problems.push(format!("a call went {} ms without a camera", self.longest_call_gap_ms));
        }
        for call in &self.calls {
            if call.errors != json!([]) {
                problems.push(format!("{} said {}", call.user_id, call.errors));
            }
        }
        problems
    }

    /// Memory and file descriptors that grew after the first minute (a
    /// long soak): the instances' resident memory together at the end above
    /// `1.25 ×` (plus 16 MB) what it was at one minute, or their descriptors
    /// beyond their websockets by more than 32 over what they were.
    pub fn growth(&self) -> Vec<String> {
        let Some(minute) = self.samples.iter().find(|s| s.at_s >= 60.0) else {
            return vec!["no sample after the first minute".to_owned()];
        };
        let Some(last) = self.samples.last() else {
            return vec![];
        };
        let rss = |s: &Sample| s.rss_mb.iter().sum::<f64>();
        let other_fds =
            |s: &Sample| s.fds.iter().sum::<u64>() as i64 - s.websockets.iter().sum::<u64>() as i64;
        let mut growth = Vec::new();
        if rss(last) > rss(minute) * 1.25 + 16.0 {
            growth.push(format!("memory {:.0} MB at 1 min, {:.0} MB at the end", rss(minute), rss(last)));
        }
        if other_fds(last) > other_fds(minute) + 32 {
            growth.push(format!(
                "descriptors beside websockets: {} at 1 min, {} at the end",
                other_fds(minute),
                other_fds(last)
            ));
        }
        growth
    }
}

/// One of a client's conversations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Conversation {
    /// With this friend.
    Dm(UserId),
    /// In this room.
    Room(RoomId),
}

impl Conversation {
    fn messages_path(self) -> String {
        match self {
            Conversation::Dm(friend) => format!("/api/dms/{friend}/messages"),
            Conversation::Room(room) => format!("/api/rooms/{room}/messages"),
        }
    }
}

/// What a client knows: per conversation, message id → content.
type Known = HashMap<Conversation, BTreeMap<i64, String>>;

/// A chat client.
struct Client {
    index: usize,
    account: Account,
    /// Its balancer, `http://127.0.0.1:PORT`.
    base: String,
    conversations: Vec<Conversation>,
    known: Mutex<Known>,
    /// Drop the websocket now (a random disconnect).
    drop_now: Notify,
    connects: AtomicU64,
    /// Its websocket's life, for a report that must say why it missed something.
    log: Mutex<Vec<String>>,
}

impl Client {
    fn note(&self, what: String) {
        self.log.lock().unwrap().push(format!("{} {what}", now_ms()));
    }

    fn learn(&self, conversation: Conversation, id: i64, content: String) {
        let mut known = self.known.lock().unwrap();
        known.entry(conversation).or_default().insert(id, content);
    }
}

/// Two instances, their balancers, MariaDB and Redis.
struct Cluster {
    mariadb: MariaDbServer,
    redis: RedisServer,
    db: Database,
    envs: [Vec<(String, String)>; 2],
    instances: [ChildServer; 2],
    ports: [u16; 2],
    via: [Balancer; 2],
    pids: Arc<Mutex<[u32; 2]>>,
}

impl Cluster {
    async fn start() -> Cluster {
        let mariadb = MariaDbServer::start();
        let redis = RedisServer::start();
        let db = Database::create_on_server(&mariadb).await;
        let prefix = unique("concord-soak");
        let ports = [free_port(), free_port()];
        let envs = [0, 1].map(|i| {
            let mut env = instance_env(&db, &redis, &prefix, i as u16 + 1, ports[i]);
            bench_media_env(&mut env);
            env
        });
        let instances = [start_instance(&envs[0]), start_instance(&envs[1])];
        let via = [
            Balancer::start(vec![ports[0], ports[1]]).await,
            Balancer::start(vec![ports[1], ports[0]]).await,
        ];
        let pids = Arc::new(Mutex::new([instances[0].pid(), instances[1].pid()]));
        Cluster { mariadb, redis, db, envs, instances, ports, via, pids }
    }

    /// Restarts what `fault` names; returns once it answers again.
    fn restart(&mut self, fault: Fault) {
        match fault {
            Fault::Instance(i) => {
                self.instances[i].terminate();
                let exited = self.instances[i].exit_within(Duration::from_secs(15));
                assert!(exited.is_some_and(|status| status.success()), "instance {i} exits 0 on SIGTERM");
                self.instances[i] = start_instance(&self.envs[i]);
                self.pids.lock().unwrap()[i] = self.instances[i].pid();
            }
            Fault::Redis => {
                self.redis.kill();
                std::thread::sleep(DOWN_FOR);
                self.redis.resume();
            }
            Fault::MariaDb => {
                self.mariadb.kill();
                std::thread::sleep(DOWN_FOR);
                self.mariadb.resume();
            }
        }
    }
}

/// Runs the soak.
pub async fn run(plan: Plan) -> Report {
    let began = Instant::now();
    let mut cluster = Cluster::start().await;
    let api = TestServer::remote(cluster.ports[1]);
    let http = reqwest::Client::builder().pool_max_idle_per_host(64).build().unwrap();

    // The calls first: they must be whole before anything else starts.
    let mut calls = Vec::new();
    for n in 0..plan.call_rooms {
        let tag = format!("soakcall{n}");
        let (room, side_a, side_b, _) = room_for(&api, &tag, plan.bots_per_side).await;
        let a: Vec<&Account> = side_a.iter().collect();
        let b: Vec<&Account> = side_b.iter().collect();
        let email = |side: &str| format!("{tag}{side}@example.com");
        calls.push(Bots::start(&cluster.via[0].base_url(), room, &email("a"), &side_a, &b));
        calls.push(Bots::start(&cluster.via[1].base_url(), room, &email("b"), &side_b, &a));
    }
    for bots in &mut calls {
        bots.received("the calls before the soak").await;
    }
    eprintln!("soak: {} calls whole after {:?}", plan.call_rooms, began.elapsed());

    let clients = make_clients(&plan, &api, &cluster).await;
    eprintln!("soak: {} clients made after {:?}", clients.len(), began.elapsed());
    let (stop, stopped) = watch::channel(false);
    let mut client_tasks = JoinSet::new();
    for client in &clients {
        client_tasks.spawn(run_client(Arc::clone(client), http.clone(), stopped.clone()));
    }
    wait_until_connected(&clients).await;
    eprintln!("soak: clients connected after {:?}", began.elapsed());

    let start = Instant::now();
    let samples = Arc::new(Mutex::new(Vec::new()));
    let sampler = tokio::spawn(sample(
        Arc::clone(&cluster.pids),
        cluster.ports,
        plan.sample_every,
        start,
        Arc::clone(&samples),
        http.clone(),
    ));
    let random_disconnects = Arc::new(AtomicU64::new(0));
    let disconnector = tokio::spawn(disconnect_at_random(
        clients.clone(),
        plan.disconnect_every,
        Arc::clone(&random_disconnects),
    ));
    let retries = Arc::new(AtomicU64::new(0));
    let sender =
        tokio::spawn(send_all(plan.clone(), clients.clone(), http.clone(), start, Arc::clone(&retries)));

    let mut faults = Vec::new();
    for (at, fault) in plan.faults() {
        tokio::time::sleep_until(start + at).await;
        let stopped_at = Instant::now();
        eprintln!("soak: {:?} at {:?} (unix ms {})", fault, start.elapsed(), now_ms());
        tokio::task::block_in_place(|| cluster.restart(fault));
        let restart_ms = stopped_at.elapsed().as_millis() as u64;
        for bots in &mut calls {
            bots.again(&[]).await;
        }
        for bots in &mut calls {
            bots.received(&format!("the calls after {fault:?}")).await;
        }
        let whole = stopped_at.elapsed().as_millis() as u64;
        eprintln!("soak: {fault:?} restarted in {restart_ms} ms; calls whole again after {whole} ms");
        faults.push(FaultReport {
            fault,
            at_s: (stopped_at - start).as_secs_f64(),
            restart_ms,
            calls_whole_again_ms: whole,
        });
    }

    let outcomes = sender.await.unwrap();
    disconnector.abort();
    let answered_at = Instant::now();
    eprintln!("soak: every send answered or given up after {:?}", start.elapsed());
    let database = read_database(&cluster.db.url).await;
    let (in_sync, out_of_sync) = wait_for_sync(&clients, &database).await;
    let final_sync_ms = answered_at.elapsed().as_millis() as u64;
    let _ = stop.send(true);
    while client_tasks.join_next().await.is_some() {}
    sampler.abort();

    let mut report = Report {
        messages_planned: plan.messages,
        send_retries: retries.load(Ordering::Relaxed),
        stored: database.rows,
        clients_in_sync: in_sync,
        clients_out_of_sync: out_of_sync,
        final_sync_ms,
        connects: clients.iter().map(|c| c.connects.load(Ordering::Relaxed)).sum(),
        random_disconnects: random_disconnects.load(Ordering::Relaxed),
        faults,
        samples: samples.lock().unwrap().clone(),
        ..Report::default()
    };
    judge_sends(&mut report, &outcomes, &database);
    for bots in calls {
        for participant in bots.reports().await {
            let me = participant["user_id"].clone();
            let others: Vec<UserId> = participant["received"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|remote| serde_json::from_value(remote["user_id"].clone()).ok())
                .collect();
            let longest = others.iter().map(|other| longest_video_gap(&participant, *other)).max();
            report.calls.push(CallReport {
                user_id: me,
                rejoins: participant["rejoins"].clone(),
                errors: participant["errors"].clone(),
                longest_gap_ms: longest.unwrap_or_default().as_millis() as u64,
            });
        }
    }
    report.longest_call_gap_ms = report.calls.iter().map(|c| c.longest_gap_ms).max().unwrap_or(0);
    report.elapsed_s = began.elapsed().as_secs_f64();
    report.plan = Some(plan);
    report
}

/// Registers the clients, makes each group's owner friends with the rest
/// and puts the group in a room of the owner's.
async fn make_clients(plan: &Plan, api: &TestServer, cluster: &Cluster) -> Vec<Arc<Client>> {
    let accounts: Vec<Account> = futures_util::stream::iter(0..plan.clients)
        .map(|i| async move { api.register_as(&format!("soak{i}"), &format!("soak{i}@example.com")).await })
        .buffered(8)
        .collect()
        .await;
    let groups: Vec<&[Account]> = accounts.chunks(plan.group.max(2)).collect();
    let rooms: Vec<RoomId> = futures_util::stream::iter(groups.iter().enumerate())
        .map(|(n, group)| async move {
            let owner = &group[0];
            for other in &group[1..] {
                api.befriend(owner, other).await;
            }
            let (status, room) =
                api.post("/api/rooms", &owner.token, json!({"label": format!("soak {n}")})).await;
            assert_eq!(status, 201, "{room}");
            let room: RoomId = serde_json::from_value(room["id"].clone()).unwrap();
            for other in &group[1..] {
                let path = format!("/api/rooms/{room}/members");
                let (status, body) = api.post(&path, &owner.token, json!({"user_id": other.id()})).await;
                assert!(status.is_success(), "{body}");
            }
            room
        })
        .buffered(4)
        .collect()
        .await;
    let mut clients = Vec::new();
    for (group, room) in groups.iter().zip(&rooms) {
        let owner = group[0].id();
        for (k, account) in group.iter().enumerate() {
            let mut conversations = vec![Conversation::Room(*room)];
            if k == 0 {
                conversations.extend(group[1..].iter().map(|other| Conversation::Dm(other.id())));
            } else {
                conversations.push(Conversation::Dm(owner));
            }
            let index = clients.len();
            clients.push(Arc::new(Client {
                index,
                account: account.clone(),
                base: cluster.via[index % 2].base_url(),
                known: Mutex::new(conversations.iter().map(|c| (*c, BTreeMap::new())).collect()),
                conversations,
                drop_now: Notify::new(),
                connects: AtomicU64::new(0),
                log: Mutex::new(Vec::new()),
            }));
        }
    }
    clients
}

/// Every client has opened its websocket once (each opens it, then reads back).
async fn wait_until_connected(clients: &[Arc<Client>]) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while clients.iter().any(|c| c.connects.load(Ordering::Relaxed) == 0) {
        assert!(Instant::now() < deadline, "clients did not connect within 2 minutes");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// When a message id was minted (unix ms): Concord's ids are time-ordered
/// (server/src/ids.rs): 22 bits below the milliseconds since 2024-01-01.
fn id_time_ms(id: i64) -> i64 {
    (id >> 22) + 1_704_067_200_000
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// How a websocket ended.
enum Ended {
    /// By the server, with this close frame (or none).
    Closed(String),
    /// On purpose (a random disconnect).
    Dropped,
    Stop,
}

impl Ended {
    fn why(&self) -> String {
        match self {
            Ended::Closed(why) => why.clone(),
            Ended::Dropped => "dropped".to_owned(),
            Ended::Stop => "stop".to_owned(),
        }
    }
}

/// A client's life: connect, read back, read events; again after every close.
async fn run_client(client: Arc<Client>, http: reqwest::Client, mut stop: watch::Receiver<bool>) {
    // Events may have been missed from this moment on (None: from the start).
    let mut missed_since: Option<i64> = None;
    let ws_url = format!("{}/api/ws", client.base.replacen("http", "ws", 1));
    loop {
        if *stop.borrow() {
            return;
        }
        if let Some(socket) = open(&client, &ws_url).await {
            client.connects.fetch_add(1, Ordering::Relaxed);
            client.note(format!("ready; reading back from {missed_since:?}"));
            if read_back(&client, &http, missed_since).await.is_ok() {
                client.note("read back".to_owned());
                let ended = read_events(&client, socket, &mut stop).await;
                missed_since = Some(now_ms());
                client.note(format!("closed ({})", ended.why()));
                if matches!(ended, Ended::Stop) {
                    return;
                }
            } else {
                missed_since = missed_since.or(Some(now_ms()));
            }
        }
        let pause = rand::rng().random_range(100..1000);
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens and identifies a websocket; `None` if that fails (the caller retries).
async fn open(client: &Client, url: &str) -> Option<Socket> {
    let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
    let connect = tokio_tungstenite::connect_async_with_config(url, Some(config), false);
    let (mut socket, _) = tokio::time::timeout(Duration::from_secs(10), connect).await.ok()?.ok()?;
    let identify = ClientFrame {
        request_id: None,
        event: ClientEvent::Identify(Identify { token: client.account.token.clone() }),
    };
    socket.send(Message::text(serde_json::to_string(&identify).ok()?)).await.ok()?;
    let ready = tokio::time::timeout(Duration::from_secs(10), socket.next()).await.ok()??.ok()?;
    let event: ServerEvent = serde_json::from_str(ready.to_text().ok()?).ok()?;
    matches!(event, ServerEvent::Ready(_)).then_some(socket)
}

/// Reads back each conversation's newest pages, as far as `missed_since`
/// less the margin (everything, on the first connect).
async fn read_back(client: &Client, http: &reqwest::Client, missed_since: Option<i64>) -> Result<(), ()> {
    let back_to = missed_since.map(|at| at - RESYNC_MARGIN_MS);
    for conversation in &client.conversations {
        let mut before: Option<String> = None;
        loop {
            let mut url = format!("{}{}?limit=100", client.base, conversation.messages_path());
            if let Some(before) = &before {
                url.push_str(&format!("&before={before}"));
            }
            let response = http
                .get(&url)
                .bearer_auth(&client.account.token)
                .timeout(Duration::from_secs(10))
                .send()
                .await
                .map_err(|_| ())?;
            if !response.status().is_success() {
                return Err(());
            }
            let body = response.bytes().await.map_err(|_| ())?;
            let (page, has_more): (Vec<(i64, i64, String)>, bool) = match conversation {
                Conversation::Dm(_) => {
                    let page: MessagePage = serde_json::from_slice(&body).map_err(|_| ())?;
                    let messages = page.messages.into_iter().map(|m| (m.id.0, m.created_at_ms, m.content));
                    (messages.collect(), page.has_more)
                }
                Conversation::Room(_) => {
                    let page: RoomMessagePage = serde_json::from_slice(&body).map_err(|_| ())?;
                    let messages = page.messages.into_iter().map(|m| (m.id.0, m.created_at_ms, m.content));
                    (messages.collect(), page.has_more)
                }
            };
            let oldest = page.last().map(|(id, at, _)| (*id, *at));
            for (id, _, content) in page {
                client.learn(*conversation, id, content);
            }
            match oldest {
                Some((id, at)) if has_more && back_to.is_none_or(|back_to| at >= back_to) => {
                    before = Some(id.to_string());
                }
                _ => break,
            }
        }
    }
    Ok(())
}

/// Reads events until the socket ends, the client is told to drop it, or the soak stops.
async fn read_events(client: &Client, mut socket: Socket, stop: &mut watch::Receiver<bool>) -> Ended {
    loop {
        tokio::select! {
            frame = socket.next() => match frame {
                Some(Ok(Message::Text(text))) => match serde_json::from_str::<ServerEvent>(&text) {
                    Ok(ServerEvent::MessageCreated(MessageCreated { message })) => {
                        let me = client.account.id();
                        let friend = if message.sender_id == me { message.recipient_id } else { message.sender_id };
                        client.learn(Conversation::Dm(friend), message.id.0, message.content);
                    }
                    Ok(ServerEvent::RoomMessageCreated(RoomMessageCreated { message })) => {
                        client.learn(Conversation::Room(message.room_id), message.id.0, message.content);
                    }
                    _ => {}
                },
                Some(Ok(Message::Ping(data))) => {
                    if let Err(e) = socket.send(Message::Pong(data)).await {
                        return Ended::Closed(e.to_string());
                    }
                }
                Some(Ok(Message::Close(frame))) => return Ended::Closed(format!("{frame:?}")),
                Some(Err(e)) => return Ended::Closed(e.to_string()),
                None => return Ended::Closed("ended".to_owned()),
                Some(Ok(_)) => {}
            },
            () = client.drop_now.notified() => return Ended::Dropped,
            _ = stop.changed() => return Ended::Stop,
        }
    }
}

/// Drops a random client's websocket every `every` (without a close frame).
async fn disconnect_at_random(clients: Vec<Arc<Client>>, every: Duration, count: Arc<AtomicU64>) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tick.tick().await;
        let client = &clients[rand::rng().random_range(0..clients.len())];
        client.drop_now.notify_one();
        count.fetch_add(1, Ordering::Relaxed);
    }
}

/// One message's fate.
#[derive(Debug)]
enum Outcome {
    /// Answered with this id; `resent`: answered 200 (stored by an earlier try).
    Answered { id: i64, resent: bool, millis: u64 },
    /// Refused, or not answered in time: what the last try got.
    NotAnswered(String),
}

/// A message the soak sent.
struct Sent {
    nonce: String,
    content: String,
    outcome: Outcome,
}

/// Sends `plan.messages` evenly over `plan.duration` from `start`.
async fn send_all(
    plan: Plan,
    clients: Vec<Arc<Client>>,
    http: reqwest::Client,
    start: Instant,
    retries: Arc<AtomicU64>,
) -> Vec<Sent> {
    let slots = Arc::new(Semaphore::new(SENDS_IN_FLIGHT));
    let step = plan.duration / plan.messages.max(1) as u32;
    let mut sends = JoinSet::new();
    for n in 0..plan.messages {
        tokio::time::sleep_until(start + step * n as u32).await;
        let slot = Arc::clone(&slots).acquire_owned().await.unwrap();
        let (client, conversation) = {
            let mut rng = rand::rng();
            let client = Arc::clone(&clients[rng.random_range(0..clients.len())]);
            let conversation = client.conversations[rng.random_range(0..client.conversations.len())];
            (client, conversation)
        };
        let (http, retries) = (http.clone(), Arc::clone(&retries));
        sends.spawn(async move {
            let nonce = format!("soak-{n}");
            let content = format!("message {n} from {}", client.index);
            let outcome = send(&http, &client, conversation, &nonce, &content, &retries).await;
            drop(slot);
            Sent { nonce, content, outcome }
        });
    }
    let mut sent = Vec::with_capacity(plan.messages);
    while let Some(done) = sends.join_next().await {
        sent.push(done.unwrap());
    }
    sent
}

/// Sends one message, again with the same nonce until the server answers.
async fn send(
    http: &reqwest::Client,
    client: &Client,
    conversation: Conversation,
    nonce: &str,
    content: &str,
    retries: &AtomicU64,
) -> Outcome {
    let url = format!("{}{}", client.base, conversation.messages_path());
    let body = json!({"content": content, "nonce": nonce});
    let began = Instant::now();
    let mut last = String::new();
    let mut pause = Duration::from_millis(100);
    while began.elapsed() < SEND_DEADLINE {
        let response = http
            .post(&url)
            .bearer_auth(&client.account.token)
            .json(&body)
            .timeout(Duration::from_secs(15))
            .send()
            .await;
        match response {
            Ok(response) if response.status().is_success() => {
                let resent = response.status() == reqwest::StatusCode::OK;
                let answer: Value = response.json().await.unwrap_or_default();
                if let Some(id) = answer["id"].as_str().and_then(|id| id.parse().ok()) {
                    let millis = began.elapsed().as_millis() as u64;
                    return Outcome::Answered { id, resent, millis };
                }
                last = format!("an answer without an id: {answer}");
            }
            Ok(response) if response.status().is_server_error() => {
                last = format!("{}", response.status());
            }
            Ok(response) => {
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                return Outcome::NotAnswered(format!("{nonce}: {status} {text}"));
            }
            Err(e) => last = e.to_string(),
        }
        retries.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
    Outcome::NotAnswered(format!("{nonce}: no answer in {SEND_DEADLINE:?}: {last}"))
}

/// The database's messages, by conversation, and by nonce.
struct Stored {
    dms: HashMap<(i64, i64), BTreeMap<i64, String>>,
    rooms: HashMap<i64, BTreeMap<i64, String>>,
    /// id and content of each soak nonce (every copy).
    by_nonce: HashMap<String, Vec<(i64, String)>>,
    rows: usize,
}

async fn read_database(url: &str) -> Stored {
    use sqlx::Row;
    let pool = sqlx::MySqlPool::connect(url).await.unwrap();
    let mut stored = Stored { dms: HashMap::new(), rooms: HashMap::new(), by_nonce: HashMap::new(), rows: 0 };
    let dms = sqlx::query("SELECT id, user_low, user_high, content, nonce FROM direct_messages")
        .fetch_all(&pool)
        .await
        .unwrap();
    for row in dms {
        let (id, low, high): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
        let (content, nonce): (String, String) = (row.get(3), row.get(4));
        stored.dms.entry((low, high)).or_default().insert(id, content.clone());
        stored.by_nonce.entry(nonce).or_default().push((id, content));
        stored.rows += 1;
    }
    let rooms =
        sqlx::query("SELECT id, room_id, content, nonce FROM room_messages").fetch_all(&pool).await.unwrap();
    for row in rooms {
        let (id, room): (i64, i64) = (row.get(0), row.get(1));
        let (content, nonce): (String, String) = (row.get(2), row.get(3));
        stored.rooms.entry(room).or_default().insert(id, content.clone());
        stored.by_nonce.entry(nonce).or_default().push((id, content));
        stored.rows += 1;
    }
    pool.close().await;
    stored
}

/// Waits until every client knows exactly the database's messages of its
/// conversations (at most [`FINAL_SYNC_DEADLINE`]): how many do, and how
/// the first ten that do not differ.
async fn wait_for_sync(clients: &[Arc<Client>], stored: &Stored) -> (usize, Vec<String>) {
    let expected = |client: &Client, conversation: Conversation| -> BTreeMap<i64, String> {
        match conversation {
            Conversation::Dm(friend) => {
                let me = client.account.id().0;
                let pair = (me.min(friend.0), me.max(friend.0));
                stored.dms.get(&pair).cloned().unwrap_or_default()
            }
            Conversation::Room(room) => stored.rooms.get(&room.0).cloned().unwrap_or_default(),
        }
    };
    let differences = |client: &Client| -> Option<String> {
        let known = client.known.lock().unwrap();
        client.conversations.iter().find_map(|conversation| {
            let want = expected(client, *conversation);
            let have = known.get(conversation).cloned().unwrap_or_default();
            (want != have).then(|| {
                let missing: Vec<String> = want
                    .keys()
                    .filter(|id| !have.contains_key(id))
                    .map(|id| format!("{id} (minted at {} by instance {})", id_time_ms(*id), (id >> 12) & 1023))
                    .collect();
                let extra = have.keys().filter(|id| !want.contains_key(id)).count();
                let log = client.log.lock().unwrap().join("; ");
                format!(
                    "client {} in {conversation:?}: missing {missing:?}, {extra} not stored; its socket: {log}",
                    client.index
                )
            })
        })
    };
    let deadline = Instant::now() + FINAL_SYNC_DEADLINE;
    loop {
        let out: Vec<String> = clients.iter().filter_map(|c| differences(c.as_ref())).collect();
        if out.is_empty() || Instant::now() >= deadline {
            let first_ten = out.iter().take(10).cloned().collect();
            return (clients.len() - out.len(), first_ten);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Counts answered, lost and duplicated messages.
fn judge_sends(report: &mut Report, sent: &[Sent], stored: &Stored) {
    for message in sent {
        let copies = stored.by_nonce.get(&message.nonce).map_or(0, Vec::len);
        if copies > 1 {
            report.duplicated += 1;
        }
        match &message.outcome {
            Outcome::Answered { id, resent, millis } => {
                report.messages_answered += 1;
                report.answered_as_resent += usize::from(*resent);
                report.slowest_send_ms = report.slowest_send_ms.max(*millis);
                let kept = stored.by_nonce.get(&message.nonce).is_some_and(|copies| {
                    copies.iter().any(|(i, content)| i == id && *content == message.content)
                });
                if !kept {
                    report.lost += 1;
                }
            }
            Outcome::NotAnswered(what) => {
                if report.not_answered.len() < 10 {
                    report.not_answered.push(what.clone());
                }
            }
        }
    }
}

/// Reads the instances' memory, descriptors and websockets every `every`.
async fn sample(
    pids: Arc<Mutex<[u32; 2]>>,
    ports: [u16; 2],
    every: Duration,
    start: Instant,
    samples: Arc<Mutex<Vec<Sample>>>,
    http: reqwest::Client,
) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let pids = *pids.lock().unwrap();
        let mut websockets = [0; 2];
        for (i, port) in ports.iter().enumerate() {
            let health = http.get(format!("http://127.0.0.1:{port}/api/health")).send().await;
            if let Ok(health) = health {
                let health: Value = health.json().await.unwrap_or_default();
                websockets[i] = health["connections"].as_u64().unwrap_or(0);
            }
        }
        let sample = Sample {
            at_s: start.elapsed().as_secs_f64(),
            rss_mb: pids.map(|pid| rss_kb(pid) as f64 / 1024.0),
            fds: pids.map(fd_count),
            websockets,
        };
        samples.lock().unwrap().push(sample);
    }
}

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn fd_count(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |entries| entries.count() as u64)
}
