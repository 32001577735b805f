//! The SFU: calls' media through the server, in one or more engines (by
//! default one per core, `media_engines`). Each engine is one task that
//! owns a UDP socket for its participants (ICE-lite; datagrams
//! demultiplexed by ICE username, then by address), a TCP port beside it
//! for those whose UDP is blocked (ICE-TCP, [`tcp`]), and every peer
//! connection and room's forwarding of the rooms placed on it ([`driver`],
//! [`placement`]: a room's call lives on one engine, a new one goes to the
//! least loaded). The engine itself — peer connections (str0m's sans-IO
//! `Rtc` in RTP mode), negotiation, rooms, forwarding — is `concord-sfu`,
//! without I/O; here are only its sockets, the TCP framing, the panic policy,
//! and the copies of a packet leaving in one system call ([`batch`]).
//!
//! The calls service talks to it through [`Sfu`]: commands in (join,
//! publish, answer, leave), [`SfuEvent`]s out (offers to send, who is
//! speaking, who went silent).

pub mod batch;
pub mod driver;
pub mod placement;
pub mod tcp;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::{Arc, Mutex};

use concord_common::events::{PublishedTrack, TileView};
use concord_common::{RoomId, UserId};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use crate::realtime::ConnId;
use driver::{Driver, Reply, TcpMedia};
use placement::Placement;

/// Commands waiting for the engine (joins, leaves, offers and answers of
/// every call on this instance; each websocket has few requests in flight).
const COMMAND_QUEUE: usize = 4096;
/// Events waiting for the calls service, which only forwards them.
const EVENT_QUEUE: usize = 4096;

/// What the calls service asks of the engine.
pub enum SfuCommand {
    /// `conn` is in `room`'s call as `user`: it receives what others publish.
    Join {
        /// The room.
        room: RoomId,
        /// The connection.
        conn: ConnId,
        /// Its user.
        user: UserId,
    },
    /// `conn` left: its connections close and nobody receives its tracks.
    Leave {
        /// The room.
        room: RoomId,
        /// The connection.
        conn: ConnId,
    },
    /// An offer for `conn`'s publishing connection; the answer's SDP comes back.
    Publish {
        /// The room.
        room: RoomId,
        /// The connection.
        conn: ConnId,
        /// The offer.
        sdp: String,
        /// What its tracks carry.
        tracks: Vec<PublishedTrack>,
        /// Where the answer goes.
        reply: Reply<String>,
    },
    /// `conn`'s answer to the engine's offer `offer_id`.
    SubscribeAnswer {
        /// The room.
        room: RoomId,
        /// The connection.
        conn: ConnId,
        /// The offer answered.
        offer_id: u64,
        /// The answer.
        sdp: String,
        /// Applied, or why not.
        reply: Reply<()>,
    },
    /// Which of the others' videos the connection shows (`call_view`).
    View {
        /// The room.
        room: RoomId,
        /// The connection.
        conn: ConnId,
        /// Its tiles.
        tiles: Vec<TileView>,
        /// Applied, or why not.
        reply: Reply<()>,
    },
    /// How much the engine holds (for tests and the health page).
    Stats {
        /// Where the figures go.
        reply: oneshot::Sender<SfuStats>,
    },
}

/// What the engine tells the calls service.
pub type SfuEvent = concord_sfu::Event<ConnId>;
/// Why the engine refused a command.
pub use concord_sfu::Error as SfuError;
/// How much the engines hold.
pub use concord_sfu::Stats as SfuStats;

/// The calls service's handle on the engines.
#[derive(Clone)]
pub struct Sfu {
    engines: Arc<[EngineHandle]>,
    placement: Arc<Mutex<Placement>>,
}

/// One engine: where its commands go and where it listens.
pub struct EngineHandle {
    commands: mpsc::Sender<SfuCommand>,
    /// The bound UDP address.
    pub local: SocketAddr,
    /// Where clients send media (the candidate in every SDP).
    pub advertised: SocketAddr,
    /// The bound TCP address (ICE-TCP), if the TCP port is open.
    pub tcp_local: Option<SocketAddr>,
    /// Where clients whose UDP is blocked connect (the passive TCP candidate).
    pub tcp_advertised: Option<SocketAddr>,
}

/// Where the SFU listens.
#[derive(Debug, Clone, Copy)]
pub struct MediaAddresses {
    /// The UDP socket of the first engine (each further one takes the next
    /// port number; port 0: any free port each).
    pub udp: SocketAddr,
    /// The TCP port for clients whose UDP is blocked, likewise; `None`: no TCP.
    pub tcp: Option<SocketAddr>,
    /// The IP clients are told to use (behind NAT, in a container).
    pub advertise_ip: Option<IpAddr>,
    /// How many engines (one task and one UDP and TCP port each); 0: one per core.
    pub engines: usize,
    /// Receiving connections estimate their bandwidth and what they are
    /// sent is fitted into it (`media_bandwidth_estimation`).
    pub bandwidth_estimation: bool,
}

impl MediaAddresses {
    /// The number of engines to start.
    pub fn engine_count(&self) -> usize {
        match self.engines {
            0 => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            n => n,
        }
    }
}

/// Why the SFU could not start.
#[derive(Debug, thiserror::Error)]
pub enum SfuStartError {
    /// The UDP address could not be bound.
    #[error("cannot listen for call media on UDP {0}: {1}")]
    Udp(SocketAddr, std::io::Error),
    /// The TCP address could not be bound.
    #[error("cannot listen for call media on TCP {0}: {1}")]
    Tcp(SocketAddr, std::io::Error),
}

/// `base` for engine `k`: the port number `k` further on (0 stays 0).
fn nth_port(base: SocketAddr, k: usize) -> Result<SocketAddr, std::io::Error> {
    if base.port() == 0 {
        return Ok(base);
    }
    let port = u16::try_from(usize::from(base.port()) + k)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "past the last port number"))?;
    Ok(SocketAddr::new(base.ip(), port))
}

impl Sfu {
    /// Binds each engine's UDP address (e.g. `0.0.0.0:7882`, then `7883` …)
    /// and TCP one, and starts the engines; clients are told to send to
    /// `advertise_ip` (or, unset, the bound address, or this host's address
    /// on its default route). Every engine's events arrive on the receiver.
    pub fn start(addresses: MediaAddresses) -> Result<(Sfu, mpsc::Receiver<SfuEvent>), SfuStartError> {
        let (event_tx, events) = mpsc::channel(EVENT_QUEUE);
        let count = addresses.engine_count();
        let mut engines = Vec::with_capacity(count);
        for k in 0..count {
            let udp = nth_port(addresses.udp, k).map_err(|error| SfuStartError::Udp(addresses.udp, error))?;
            let tcp = match addresses.tcp {
                Some(tcp) => Some(nth_port(tcp, k).map_err(|error| SfuStartError::Tcp(tcp, error))?),
                None => None,
            };
            engines.push(start_engine(udp, tcp, &addresses, event_tx.clone())?);
        }
        let placement = Arc::new(Mutex::new(Placement::new(count)));
        Ok((Sfu { engines: engines.into(), placement }, events))
    }

    /// The engines, in order.
    pub fn engines(&self) -> &[EngineHandle] {
        &self.engines
    }

    fn placement(&self) -> std::sync::MutexGuard<'_, Placement> {
        self.placement.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The engine a command goes to: a join places its room, a leave takes
    /// its participant off the count; `None` for a room with no call.
    fn engine_for(&self, command: &SfuCommand) -> Option<usize> {
        match command {
            SfuCommand::Join { room, conn, .. } => Some(self.placement().join(*room, *conn)),
            SfuCommand::Leave { room, conn } => self.placement().leave(*room, *conn),
            SfuCommand::Publish { room, .. }
            | SfuCommand::SubscribeAnswer { room, .. }
            | SfuCommand::View { room, .. } => self.placement().engine_of(*room),
            SfuCommand::Stats { .. } => Some(0),
        }
    }

    /// Queues a command that needs no answer, without waiting (callers hold
    /// the roster's lock). Should the queue ever be full, the command is
    /// dropped and logged: a lost join shows as `not_in_call` on publishing,
    /// a lost leave as silence the engine cleans up after [`concord_sfu::engine::SILENCE_LIMIT`].
    pub fn tell(&self, command: SfuCommand) {
        let Some(engine) = self.engine_for(&command) else { return };
        if self.engines[engine].commands.try_send(command).is_err() {
            tracing::error!("the SFU's command queue is full; a join or leave was dropped");
        }
    }

    /// Sends a command built around a reply channel and waits for its
    /// answer (`NotJoined` for a room with no call).
    pub async fn ask<T>(&self, command: impl FnOnce(Reply<T>) -> SfuCommand) -> Result<T, SfuError> {
        let (reply, answer) = oneshot::channel();
        let command = command(reply);
        let engine = self.engine_for(&command).ok_or(SfuError::NotJoined)?;
        self.engines[engine]
            .commands
            .send(command)
            .await
            .map_err(|_| SfuError::internal("the engine stopped"))?;
        answer.await.map_err(|_| SfuError::internal("the engine stopped"))?
    }

    /// How much the engines hold, together.
    pub async fn stats(&self) -> Option<SfuStats> {
        let mut total = SfuStats { rooms: 0, participants: 0, peer_connections: 0 };
        for engine in self.engines.iter() {
            let (reply, answer) = oneshot::channel();
            engine.commands.send(SfuCommand::Stats { reply }).await.ok()?;
            let stats = answer.await.ok()?;
            total.rooms += stats.rooms;
            total.participants += stats.participants;
            total.peer_connections += stats.peer_connections;
        }
        Some(total)
    }
}

/// Binds one engine's sockets and starts it.
fn start_engine(
    udp: SocketAddr,
    tcp: Option<SocketAddr>,
    addresses: &MediaAddresses,
    events: mpsc::Sender<SfuEvent>,
) -> Result<EngineHandle, SfuStartError> {
    let ip = addresses.advertise_ip.unwrap_or_else(|| default_advertised_ip(udp.ip()));
    // Clients send media only to the advertised address. Where it is one of
    // this host's own, the socket is bound to it, so every answer (a STUN
    // response above all) leaves from the address the client sent to: bound
    // to 0.0.0.0, the kernel picks the source by route, and a client on this
    // host that sent from 127.0.0.1 to a LAN address would get its answers
    // from 127.0.0.1, which ICE discards (RFC 8445, 7.2.5.2.1).
    let udp =
        if udp.ip().is_unspecified() && is_own_address(ip) { SocketAddr::new(ip, udp.port()) } else { udp };
    let udp_error = |error| SfuStartError::Udp(udp, error);
    let socket = bind_udp(udp).map_err(udp_error)?;
    let local = socket.local_addr().map_err(udp_error)?;
    let advertised = SocketAddr::new(ip, local.port());
    let socket = UdpSocket::from_std(socket).map_err(udp_error)?;
    let tcp = match tcp {
        Some(bind) => {
            let tcp_error = |error| SfuStartError::Tcp(bind, error);
            let listener = tcp::bind(bind).map_err(tcp_error)?;
            let tcp_local = listener.local_addr().map_err(tcp_error)?;
            Some((
                tcp_local,
                TcpMedia { advertised: SocketAddr::new(ip, tcp_local.port()), inputs: tcp::start(listener) },
            ))
        }
        None => None,
    };
    let (tcp_local, tcp) = tcp.unzip();
    let tcp_advertised = tcp.as_ref().map(|t| t.advertised);
    let (commands, command_rx) = mpsc::channel(COMMAND_QUEUE);
    let driver = Driver::new(socket, advertised, tcp, events, addresses.bandwidth_estimation);
    tokio::spawn(driver.run(command_rx));
    Ok(EngineHandle { commands, local, advertised, tcp_local, tcp_advertised })
}

/// Kernel buffers asked for on the media socket (the kernel caps them at
/// `net.core.rmem_max` / `wmem_max`; raise those for very large rooms).
const SOCKET_BUFFER: usize = 4 * 1024 * 1024;

/// A non-blocking UDP socket on `bind` with large buffers: one socket
/// carries every call, and a burst of keyframes from a full room must not
/// overflow the default 208 KiB.
fn bind_udp(bind: SocketAddr) -> std::io::Result<StdUdpSocket> {
    let socket = socket2::Socket::new(socket2::Domain::for_address(bind), socket2::Type::DGRAM, None)?;
    for (set, what) in [
        (socket.set_recv_buffer_size(SOCKET_BUFFER), "receive"),
        (socket.set_send_buffer_size(SOCKET_BUFFER), "send"),
    ] {
        if let Err(error) = set {
            tracing::warn!(%error, "could not enlarge the media socket's {what} buffer");
        }
    }
    socket.bind(&bind.into())?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Whether `ip` is an address of this host (a socket can be bound to it).
fn is_own_address(ip: IpAddr) -> bool {
    !ip.is_unspecified() && StdUdpSocket::bind((ip, 0)).is_ok()
}

/// The address to advertise when none is configured: the bound one if it
/// is specific, else this host's address on its default route (found by
/// "connecting" a UDP socket, which sends nothing), else loopback.
fn default_advertised_ip(bound: IpAddr) -> IpAddr {
    if !bound.is_unspecified() {
        return bound;
    }
    let probe = StdUdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .and_then(|s| s.connect((Ipv4Addr::new(192, 0, 2, 1), 9)).map(|()| s))
        .and_then(|s| s.local_addr());
    match probe {
        Ok(addr) if !addr.ip().is_unspecified() => addr.ip(),
        _ => IpAddr::V4(Ipv4Addr::LOCALHOST),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use str0m::media::{Direction, MediaKind};
    use str0m::Rtc;

    use super::*;

    /// A client's offer of one audio section (made by str0m; only its SDP is used).
    fn an_offer() -> String {
        let mut client = Rtc::new(Instant::now());
        let mut changes = client.sdp_api();
        changes.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
        let (offer, _pending) = changes.apply().expect("an offer");
        offer.to_sdp_string()
    }

    /// The ports the candidates in `sdp` name, each once.
    fn candidate_ports(sdp: &str) -> Vec<u16> {
        let mut ports: Vec<u16> = sdp
            .lines()
            .filter(|line| line.starts_with("a=candidate:"))
            .filter_map(|line| line.split_whitespace().nth(5)?.parse().ok())
            .collect();
        ports.dedup();
        ports
    }

    #[tokio::test]
    async fn the_socket_is_bound_to_the_advertised_address_where_it_is_this_hosts_own() {
        let any = SocketAddr::from(([0, 0, 0, 0], 0));
        let start = |advertise: [u8; 4]| {
            let addresses = MediaAddresses {
                udp: any,
                tcp: None,
                advertise_ip: Some(advertise.into()),
                engines: 1,
                bandwidth_estimation: false,
            };
            let (sfu, _events) = Sfu::start(addresses).expect("started");
            sfu.engines()[0].local.ip()
        };
        // Answers to a client that sent to 127.0.0.1 leave from 127.0.0.1, whatever its own address.
        assert_eq!(start([127, 0, 0, 1]), IpAddr::from([127, 0, 0, 1]));
        // An address this host does not have (a NAT's public one): every interface, as configured.
        assert_eq!(start([192, 0, 2, 77]), IpAddr::from([0, 0, 0, 0]));
    }

    #[tokio::test]
    async fn each_rooms_call_goes_through_the_port_of_the_engine_it_was_placed_on() {
        let udp = SocketAddr::from(([127, 0, 0, 1], 0));
        let (sfu, _events) = Sfu::start(MediaAddresses {
            udp,
            tcp: None,
            advertise_ip: None,
            engines: 2,
            bandwidth_estimation: false,
        })
        .expect("started");
        let ports: Vec<u16> = sfu.engines().iter().map(|engine| engine.advertised.port()).collect();
        assert_ne!(ports[0], ports[1]);
        let conn = |local| ConnId { instance: 0, local };
        let mut answered = Vec::new();
        let joins = [(RoomId(1), conn(1)), (RoomId(2), conn(2)), (RoomId(1), conn(3)), (RoomId(3), conn(4))];
        for (room, conn) in joins {
            sfu.tell(SfuCommand::Join { room, conn, user: UserId(7) });
            let answer = sfu
                .ask(|reply| SfuCommand::Publish { room, conn, sdp: an_offer(), tracks: Vec::new(), reply })
                .await
                .expect("an answer");
            answered.push(candidate_ports(&answer));
        }
        // Room 1 on the first engine (both its participants), room 2 on the
        // second; room 3 where fewer are: the second (one against two).
        assert_eq!(answered, [[ports[0]], [ports[1]], [ports[0]], [ports[1]]]);
        let stats = sfu.stats().await.expect("figures");
        assert_eq!((stats.rooms, stats.participants, stats.peer_connections), (3, 4, 4));
        let not_in_a_call = sfu
            .ask(|reply| SfuCommand::Publish {
                room: RoomId(9),
                conn: conn(9),
                sdp: an_offer(),
                tracks: Vec::new(),
                reply,
            })
            .await;
        assert!(matches!(not_in_a_call, Err(SfuError::NotJoined)), "{not_in_a_call:?}");
    }
}
