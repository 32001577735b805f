//! The SFU: calls' media through the server. One UDP socket for every
//! participant (ICE-lite; datagrams demultiplexed by ICE username, then by
//! address) and one TCP port beside it for those whose UDP is blocked
//! (ICE-TCP, [`tcp`]), one task that owns every peer connection and every room's
//! forwarding ([`engine`]), peer connections from `rtc` 0.21's sans-IO core
//! ([`peer`]); what is forwarded to whom is decided by `concord-sfu`.
//!
//! The calls service talks to it through [`Sfu`]: commands in (join,
//! publish, answer, leave), [`SfuEvent`]s out (offers to send, who is
//! speaking, who went silent).

pub mod engine;
pub mod peer;
pub mod tcp;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket as StdUdpSocket};

use concord_common::events::{ForwardedTrack, PublishedTrack};
use concord_common::{RoomId, UserId};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use crate::realtime::ConnId;
use engine::{Engine, Reply, TcpMedia};

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
    /// How much the engine holds (for tests and the health page).
    Stats {
        /// Where the figures go.
        reply: oneshot::Sender<SfuStats>,
    },
}

/// What the engine tells the calls service.
#[derive(Debug)]
pub enum SfuEvent {
    /// Send this offer to `conn` (`call_subscribe_offer`).
    SubscribeOffer {
        /// The room.
        room: RoomId,
        /// The connection.
        conn: ConnId,
        /// Echoed in the answer.
        offer_id: u64,
        /// The offer.
        sdp: String,
        /// Whose each track is.
        tracks: Vec<ForwardedTrack>,
    },
    /// `user` started or stopped speaking.
    Speaking {
        /// The room.
        room: RoomId,
        /// Who.
        user: UserId,
        /// Started or stopped.
        speaking: bool,
    },
    /// Nothing arrived from `conn`'s connections for [`engine::SILENCE_LIMIT`],
    /// or they failed: the engine dropped it; take it out of the call.
    Lost {
        /// The room.
        room: RoomId,
        /// The connection.
        conn: ConnId,
    },
}

/// Why the engine refused a command.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SfuError {
    /// The connection is not in the call (as far as the engine knows).
    #[error("this connection is not in that call")]
    NotJoined,
    /// The SDP could not be used.
    #[error("{0}")]
    Sdp(String),
    /// The answer is for another offer.
    #[error("offer {0} is not the offer awaiting an answer")]
    StaleOffer(u64),
    /// The engine failed (or is gone).
    #[error("the media server failed: {0}")]
    Internal(String),
}

impl SfuError {
    fn sdp(error: impl std::fmt::Display) -> Self {
        Self::Sdp(error.to_string())
    }

    fn internal(error: impl std::fmt::Display) -> Self {
        Self::Internal(error.to_string())
    }
}

/// How much the engine holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SfuStats {
    /// Rooms with someone in the call.
    pub rooms: usize,
    /// Connections in calls.
    pub participants: usize,
    /// Peer connections open.
    pub peer_connections: usize,
}

/// The calls service's handle on the engine.
#[derive(Clone)]
pub struct Sfu {
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
    /// The UDP socket every call's media goes through.
    pub udp: SocketAddr,
    /// The TCP port for clients whose UDP is blocked; `None`: no TCP.
    pub tcp: Option<SocketAddr>,
    /// The IP clients are told to use (behind NAT, in a container).
    pub advertise_ip: Option<IpAddr>,
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

impl Sfu {
    /// Binds the UDP address (e.g. `0.0.0.0:7882`) and the TCP one, and
    /// starts the engine; clients are told to send to `advertise_ip` (or,
    /// unset, the bound address, or this host's address on its default
    /// route). Events arrive on the receiver.
    pub fn start(addresses: MediaAddresses) -> Result<(Sfu, mpsc::Receiver<SfuEvent>), SfuStartError> {
        let udp_error = |error| SfuStartError::Udp(addresses.udp, error);
        let socket = bind_udp(addresses.udp).map_err(udp_error)?;
        let local = socket.local_addr().map_err(udp_error)?;
        let ip = addresses.advertise_ip.unwrap_or_else(|| default_advertised_ip(local.ip()));
        let advertised = SocketAddr::new(ip, local.port());
        let socket = UdpSocket::from_std(socket).map_err(udp_error)?;
        let tcp = match addresses.tcp {
            Some(bind) => {
                let tcp_error = |error| SfuStartError::Tcp(bind, error);
                let listener = tcp::bind(bind).map_err(tcp_error)?;
                let tcp_local = listener.local_addr().map_err(tcp_error)?;
                Some((
                    tcp_local,
                    TcpMedia {
                        advertised: SocketAddr::new(ip, tcp_local.port()),
                        inputs: tcp::start(listener),
                    },
                ))
            }
            None => None,
        };
        let (tcp_local, tcp) = tcp.unzip();
        let tcp_advertised = tcp.as_ref().map(|t| t.advertised);
        let (commands, command_rx) = mpsc::channel(COMMAND_QUEUE);
        let (event_tx, events) = mpsc::channel(EVENT_QUEUE);
        tokio::spawn(Engine::new(socket, advertised, tcp, event_tx).run(command_rx));
        Ok((Sfu { commands, local, advertised, tcp_local, tcp_advertised }, events))
    }

    /// Queues a command that needs no answer, without waiting (callers hold
    /// the roster's lock). Should the queue ever be full, the command is
    /// dropped and logged: a lost join shows as `not_in_call` on publishing,
    /// a lost leave as silence the engine cleans up after [`engine::SILENCE_LIMIT`].
    pub fn tell(&self, command: SfuCommand) {
        if self.commands.try_send(command).is_err() {
            tracing::error!("the SFU's command queue is full; a join or leave was dropped");
        }
    }

    /// Sends a command built around a reply channel and waits for its answer.
    pub async fn ask<T>(&self, command: impl FnOnce(Reply<T>) -> SfuCommand) -> Result<T, SfuError> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(command(reply)).await.map_err(|_| SfuError::internal("the engine stopped"))?;
        answer.await.map_err(|_| SfuError::internal("the engine stopped"))?
    }

    /// How much the engine holds.
    pub async fn stats(&self) -> Option<SfuStats> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(SfuCommand::Stats { reply }).await.ok()?;
        answer.await.ok()
    }
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
