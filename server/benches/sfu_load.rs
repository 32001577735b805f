//! The SFU of a release `concord-server` (its own process, SQLite) under a
//! load that costs its clients little: each participant is a str0m peer
//! that joins through the websocket API (docs/API.md) and sends prepared
//! RTP — a microphone (50 packets/s) and a camera (100 packets/s of 1,000
//! bytes), no codec — and counts what it receives. So one core of clients
//! can drive rooms the codec bots cannot (`gui/call/benches/sfu_room`),
//! and the server's CPU per delivered packet is measured where it carries
//! tens of thousands a second. Each payload starts with the time it was
//! written, so the receivers also measure the latency from one client to
//! another: the SFU's forwarding plus both clients' own queueing (one
//! thread serves them all) — an upper bound on the forwarding alone.
//!
//! ```text
//! cargo bench -p concord-server --bench sfu_load                     # rooms of 8 and 16
//! CONCORD_BENCH_SIZES=8,16,25 cargo bench -p concord-server --bench sfu_load
//! CONCORD_BENCH_SERVER_BIN=on-core0 taskset -c 1 target/release/deps/sfu_load-…   # server and load apart
//! ```
//! (`on-core0`: a script that runs `taskset -c 0` on the release server.)

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use concord_common::events::{
    CallJoin, CallMedia, CallPublish, CallSubscribeAnswer, PublishedTrack, TrackSource,
};
use concord_common::{ClientEvent, RoomId, ServerEvent};
use concord_sfu::peer::with_concord_codecs;
use concord_sfu::sim::{write_step, VIDEO_PAYLOAD};
use concord_testkit::db::{Backend, Database};
use concord_testkit::process::{bench_media_env, child_env, ChildServer};
use concord_testkit::server::{Account, TestServer};
use concord_testkit::stats::percentiles;
use concord_testkit::ws::Ws;
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::media::{Direction, MediaKind};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;

/// Simulated media per step: one audio packet and two video packets.
const STEP: Duration = Duration::from_millis(20);
/// Packets each participant sends a second (50 audio, 100 video).
const PACKETS_PER_SECOND: u64 = 150;
/// How long the server's CPU is measured, once everyone receives everyone.
const MEASURED: Duration = Duration::from_secs(10);

fn main() {
    let server_bin = std::env::var("CONCORD_BENCH_SERVER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_BIN_EXE_concord-server")));
    let sizes: Vec<usize> = std::env::var("CONCORD_BENCH_SIZES")
        .unwrap_or_else(|_| "8,16".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    // One thread: the load stays on the core it is given.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    println!(
        "| participants | delivered packets / s (of expected) | server CPU (one core) | server µs per delivered packet (system) | client to client p50 / p99 / max |"
    );
    println!("|---|---|---|---|---|");
    for size in sizes {
        runtime.block_on(room(&server_bin, size));
    }
}

async fn room(server_bin: &std::path::Path, size: usize) {
    let db = Database::create(Backend::Sqlite).await;
    let mut env = child_env(&db.url, &db.dir);
    bench_media_env(&mut env);
    let process =
        ChildServer::spawn(&server_bin.display().to_string(), &env).unwrap_or_else(|log| panic!("{log:#?}"));
    let server = TestServer::remote(process.port);
    let (room, accounts) = server.room_of(&format!("load{size}"), size).await;
    let counts = Arc::new(Counts::default());
    let mut tasks = Vec::new();
    for account in accounts {
        tasks.push(tokio::spawn(participant(server.ws_url(), account, room, size, Arc::clone(&counts))));
    }
    // Everyone receives everyone (bounded), then the measured window.
    let up_by = Instant::now() + Duration::from_secs(60);
    while counts.heard_from_all.load(Ordering::Relaxed) < size as u64 && Instant::now() < up_by {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (user_before, system_before) = process.cpu_times();
    let (count_before, started) = (counts.delivered.load(Ordering::Relaxed), Instant::now());
    counts.latencies.lock().unwrap_or_else(PoisonError::into_inner).clear();
    tokio::time::sleep(MEASURED).await;
    let (user_after, system_after) = process.cpu_times();
    let (count, wall) = (counts.delivered.load(Ordering::Relaxed) - count_before, started.elapsed());
    let mut latencies = std::mem::take(&mut *counts.latencies.lock().unwrap_or_else(PoisonError::into_inner));
    let latency = percentiles(&mut latencies);
    for task in tasks {
        task.abort();
    }
    let (user, system) = (user_after - user_before, system_after - system_before);
    let cpu = (user + system).as_secs_f64();
    let expected = (size * (size - 1)) as f64 * PACKETS_PER_SECOND as f64;
    let per_second = count as f64 / wall.as_secs_f64();
    println!(
        "| {size} | {per_second:.0} ({:.1} %) | {:.1} % | {:.1} ({:.1}) | {} / {} / {} ms |",
        per_second / expected * 100.0,
        cpu / wall.as_secs_f64() * 100.0,
        cpu / count.max(1) as f64 * 1e6,
        system.as_secs_f64() / count.max(1) as f64 * 1e6,
        latency["p50_ms"],
        latency["p99_ms"],
        latency["max_ms"],
    );
}

/// What the participants measure, together.
#[derive(Default)]
struct Counts {
    /// RTP packets received.
    delivered: AtomicU64,
    /// Participants that have received a second's worth from every other.
    heard_from_all: AtomicU64,
    /// From a packet's writing by one client to its arrival at another.
    latencies: Mutex<Vec<Duration>>,
}

/// The clients' common clock: a payload starts with its writing time on it.
fn since_epoch(at: Instant) -> Duration {
    at.duration_since(*EPOCH.get_or_init(Instant::now))
}

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// A payload of `len` bytes stamped with `now`.
fn stamped(now: Instant, len: usize, fill: u8) -> Vec<u8> {
    let mut payload = vec![fill; len];
    payload[..8].copy_from_slice(&(since_epoch(now).as_nanos() as u64).to_be_bytes());
    payload
}

/// One peer connection of a participant and its socket.
struct Leg {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    deadline: Instant,
    /// RTP packets it received.
    packets: u64,
    /// Their latencies from the sending client, not yet collected.
    latencies: Vec<Duration>,
}

impl Leg {
    async fn new() -> Leg {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("a socket");
        let local = socket.local_addr().expect("its address");
        let mut rtc = with_concord_codecs(Rtc::builder().set_rtp_mode(true)).build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp").expect("a candidate"));
        Leg { rtc, socket, local, deadline: Instant::now(), packets: 0, latencies: Vec::new() }
    }

    /// Feeds a datagram from `from` (none: only the time), then sends what
    /// it has to send and counts the RTP packets that came out.
    async fn drive(&mut self, datagram: Option<(&[u8], SocketAddr)>) {
        let now = Instant::now();
        if let Some((bytes, from)) = datagram {
            if let Ok(receive) = Receive::new(Protocol::Udp, from, self.local, bytes) {
                let _ = self.rtc.handle_input(Input::Receive(now, receive));
            }
        } else {
            let _ = self.rtc.handle_input(Input::Timeout(now));
        }
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Transmit(transmit)) => {
                    let _ = self.socket.send_to(&transmit.contents, transmit.destination).await;
                }
                Ok(Output::Event(Event::RtpPacket(packet))) => {
                    self.packets += 1;
                    if let Some(stamp) = packet.payload.get(..8) {
                        let written =
                            Duration::from_nanos(u64::from_be_bytes(stamp.try_into().unwrap_or_default()));
                        self.latencies.push(since_epoch(now).saturating_sub(written));
                    }
                }
                Ok(Output::Event(_)) => {}
                Ok(Output::Timeout(at)) => {
                    self.deadline = at;
                    return;
                }
                Err(_) => {
                    self.deadline = now + Duration::from_secs(3600);
                    return;
                }
            }
        }
    }
}

/// One participant: joins, publishes, answers every offer, sends a step's
/// media every [`STEP`], and adds what it receives to `counts`.
async fn participant(ws_url: String, account: Account, room: RoomId, size: usize, counts: Arc<Counts>) {
    let mut ws = Ws::identified_lean(&ws_url, &account.token).await;
    let media = CallMedia { muted: false, deafened: false, camera: true, screen: false };
    ws.send_request("join", ClientEvent::CallJoin(CallJoin { room_id: room, media })).await;
    // Requests are handled side by side: publish once the join is answered.
    loop {
        match ws.next_frame_within(Duration::from_secs(30)).await {
            Ok(frame) if frame.request_id.as_deref() == Some("join") => break,
            Ok(_) => {}
            Err(code) => panic!("the websocket closed before the join was answered: {code:?}"),
        }
    }
    let mut publishing = Leg::new().await;
    let mut changes = publishing.rtc.sdp_api();
    let audio = changes.add_media(MediaKind::Audio, Direction::SendOnly, None, Some("mic".into()), None);
    let video = changes.add_media(MediaKind::Video, Direction::SendOnly, None, Some("cam".into()), None);
    let (offer, pending) = changes.apply().expect("an offer");
    let tracks = vec![
        PublishedTrack { track_id: "mic".into(), source: TrackSource::Microphone },
        PublishedTrack { track_id: "cam".into(), source: TrackSource::Camera },
    ];
    let publish = CallPublish { room_id: room, sdp: offer.to_sdp_string(), tracks };
    ws.send_request("publish", ClientEvent::CallPublish(publish)).await;
    let mut pending = Some(pending);
    let mut receiving: Option<Leg> = None;
    let mut buffer = vec![0u8; 2000];
    let mut receive_buffer = vec![0u8; 2000];
    let mut next_step = tokio::time::Instant::now() + STEP;
    let mut seq: u64 = 0;
    let mut received: u64 = 0;
    let mut counted_all = false;
    loop {
        let deadline =
            receiving.as_ref().map_or(publishing.deadline, |r| r.deadline.min(publishing.deadline));
        let receiving_socket = async {
            match &receiving {
                Some(leg) => leg.socket.recv_from(&mut receive_buffer).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            frame = ws.next_frame_within(Duration::from_secs(3600)) => {
                let Ok(frame) = frame else { return };
                match frame.event {
                    ServerEvent::CallPublishAnswer(answer) => {
                        let answer = SdpAnswer::from_sdp_string(&answer.sdp).expect("an answer");
                        if let Some(pending) = pending.take() {
                            publishing.rtc.sdp_api().accept_answer(pending, answer).expect("accepted");
                        }
                        publishing.drive(None).await;
                    }
                    ServerEvent::CallSubscribeOffer(offer) => {
                        if receiving.is_none() {
                            receiving = Some(Leg::new().await);
                        }
                        let Some(leg) = receiving.as_mut() else { continue };
                        let sdp = SdpOffer::from_sdp_string(&offer.sdp).expect("an offer");
                        let answer = leg.rtc.sdp_api().accept_offer(sdp).expect("accepted").to_sdp_string();
                        leg.drive(None).await;
                        let answer = CallSubscribeAnswer { room_id: room, offer_id: offer.offer_id, sdp: answer };
                        ws.send_request("answer", ClientEvent::CallSubscribeAnswer(answer)).await;
                    }
                    ServerEvent::Error(refused) => panic!("the server refused a request: {refused:?}"),
                    _ => {}
                }
            }
            got = publishing.socket.recv_from(&mut buffer) => {
                if let Ok((len, from)) = got {
                    publishing.drive(Some((&buffer[..len], from))).await;
                }
            }
            got = receiving_socket => {
                if let (Ok((len, from)), Some(leg)) = (got, receiving.as_mut()) {
                    leg.drive(Some((&receive_buffer[..len], from))).await;
                }
            }
            () = tokio::time::sleep_until(next_step) => {
                seq += 1;
                let now = Instant::now();
                let payload = |kind, _| stamped(now, if kind == MediaKind::Audio { 80 } else { VIDEO_PAYLOAD }, 0x5c);
                write_step(&mut publishing.rtc, now, seq, audio, Some(video), payload);
                publishing.drive(None).await;
                next_step += STEP;
            }
            () = tokio::time::sleep_until(deadline.into()) => {
                publishing.drive(None).await;
                if let Some(leg) = receiving.as_mut() {
                    leg.drive(None).await;
                }
            }
        }
        let Some(leg) = receiving.as_mut() else { continue };
        counts.delivered.fetch_add(leg.packets - received, Ordering::Relaxed);
        received = leg.packets;
        if !leg.latencies.is_empty() {
            counts.latencies.lock().unwrap_or_else(PoisonError::into_inner).append(&mut leg.latencies);
        }
        // A second's worth from every other.
        if !counted_all && received >= (size as u64 - 1) * PACKETS_PER_SECOND {
            counted_all = true;
            counts.heard_from_all.fetch_add(1, Ordering::Relaxed);
        }
    }
}
