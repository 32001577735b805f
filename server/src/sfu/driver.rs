//! One engine's task: the I/O around a sans-IO [`concord_sfu::Engine`]. It
//! owns the engine's UDP socket and the TCP connections its listener hands
//! over ([`super::tcp`]), reads the clock, and feeds the engine datagrams,
//! commands from the calls service and its timeouts; what the engine
//! produces goes out — datagrams in batches ([`super::batch`]), frames to
//! their TCP connection, events to the calls service, replies to whoever
//! asked. Nothing else touches the engine, so there are no locks.
//!
//! Its panic policy: should handling one input panic (inside str0m, on
//! input we did not foresee), the participant whose input it was is taken
//! out and everyone else's calls go on.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use concord_sfu::{Engine, PeerId, Protocol, Transmit};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use super::batch;
use super::tcp::{TcpInput, TcpLink};
use super::{SfuCommand, SfuError, SfuEvent};
use crate::realtime::ConnId;

/// Largest datagram read.
const DATAGRAM_MAX: usize = 1500;
/// Datagrams read one after another, while more are waiting, before the
/// engine looks at its timers again.
const READ_BATCH: usize = 32;
/// TCP connections held at once (each participant needs two; a connection
/// that names nobody in its first frame is closed at once).
const MAX_TCP_LINKS: usize = 4096;
/// Connections from one IP address that have not yet named their peer
/// connection: a flood from one host must not fill [`MAX_TCP_LINKS`] for
/// everyone else for the 10 s they get. A client opens two, but a whole
/// office behind one NAT address opens them at the same moment (a bench of
/// 8 participants from one address lost 7 of its 16 connections to a cap of
/// 8: the engine sees the openings queued before their first frames).
const MAX_UNNAMED_TCP_LINKS_PER_IP: usize = 128;

/// A client's TCP connection (ICE-TCP) and the peer connection its first
/// binding request named.
struct TcpConn {
    link: TcpLink,
    peer: Option<PeerId>,
}

/// The SFU's TCP side: where clients are told to connect, and what the
/// accepting tasks hand over.
pub struct TcpMedia {
    /// The address in our passive TCP candidate.
    pub advertised: SocketAddr,
    /// Connections and their frames.
    pub inputs: mpsc::Receiver<TcpInput>,
}

/// One engine and its sockets; [`Driver::run`] is its task.
pub struct Driver {
    engine: Engine<ConnId>,
    socket: UdpSocket,
    events: mpsc::Sender<SfuEvent>,
    /// Datagrams (UDP) and frames (TCP) the socket has not taken yet.
    outgoing: Vec<Transmit>,
    tcp_inputs: Option<mpsc::Receiver<TcpInput>>,
    /// By the client's address.
    tcp_links: HashMap<SocketAddr, TcpConn>,
}

impl Driver {
    /// An engine on `socket`, telling clients to send to `advertised`, and
    /// to connect to `tcp`'s address when their UDP is blocked; with
    /// `bandwidth_estimation`, fitting what each subscriber is sent into
    /// its estimated bandwidth.
    pub fn new(
        socket: UdpSocket,
        advertised: SocketAddr,
        tcp: Option<TcpMedia>,
        events: mpsc::Sender<SfuEvent>,
        bandwidth_estimation: bool,
    ) -> Self {
        let (tcp_advertised, tcp_inputs) = tcp.map(|t| (t.advertised, t.inputs)).unzip();
        let engine = Engine::new(Instant::now(), advertised, tcp_advertised)
            .with_bandwidth_estimation(bandwidth_estimation);
        Self { engine, socket, events, outgoing: Vec::new(), tcp_inputs, tcp_links: HashMap::new() }
    }

    /// Runs until every command sender is gone.
    pub async fn run(mut self, mut commands: mpsc::Receiver<SfuCommand>) {
        let mut buf = vec![0u8; DATAGRAM_MAX];
        loop {
            let deadline = self.engine.next_timeout();
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.contained(|engine, now| on_command(engine, now, command)),
                    None => break,
                },
                received = self.socket.recv_from(&mut buf) => match received {
                    Ok((len, from)) => {
                        self.on_datagram(&buf[..len], from);
                        // Whatever else is already waiting is read now, before the timers.
                        for _ in 1..READ_BATCH {
                            match self.socket.try_recv_from(&mut buf) {
                                Ok((len, from)) => self.on_datagram(&buf[..len], from),
                                Err(_) => break,
                            }
                        }
                    }
                    Err(error) => tracing::debug!(%error, "SFU socket read"),
                },
                input = next_tcp_input(&mut self.tcp_inputs) => match input {
                    Some(input) => self.on_tcp(input),
                    None => self.tcp_inputs = None,
                },
                () = tokio::time::sleep_until(deadline.into()) => {}
            }
            self.contained(|engine, now| engine.handle_timeout(now));
            self.send_outgoing().await;
        }
        self.engine.close_all(Instant::now());
        self.collect();
        self.send_ready();
    }

    /// Runs `work` on the engine at the current time, then takes what it
    /// produced; should it panic, the participant whose input it was is
    /// taken out (the engine knows whose).
    fn contained(&mut self, work: impl FnOnce(&mut Engine<ConnId>, Instant)) {
        let now = Instant::now();
        let engine = &mut self.engine;
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(engine, now))).is_err() {
            tracing::error!(
                "the SFU recovered from a panic handling a participant's input; they were taken out"
            );
            self.engine.take_out_after_panic(now);
        }
        self.collect();
    }

    /// The engine's datagrams into the outgoing queue, its events to the
    /// calls service, and the TCP connections of peer connections it closed.
    fn collect(&mut self) {
        self.outgoing.extend(self.engine.drain_transmits());
        while let Some(event) = self.engine.poll_event() {
            // The engine never waits for the calls service, which only forwards.
            if let Err(error) = self.events.try_send(event) {
                tracing::error!(
                    ?error,
                    "the calls service is not keeping up with the SFU; an event was dropped"
                );
            }
        }
        while let Some(closed) = self.engine.poll_closed_peer() {
            self.tcp_links.retain(|_, conn| conn.peer != Some(closed));
        }
    }

    /// One datagram from the socket, to the engine; its answers are sent
    /// before the next one is read.
    fn on_datagram(&mut self, datagram: &[u8], from: SocketAddr) {
        self.contained(|engine, now| engine.receive_udp(now, from, datagram));
        self.send_ready();
    }

    /// A TCP connection opened or closed, or one of its frames: a frame
    /// goes to the peer connection the connection's first binding request
    /// named (a connection whose first frame names nobody is closed).
    fn on_tcp(&mut self, input: TcpInput) {
        match input {
            TcpInput::Opened { peer, link } => {
                let unnamed_from_there = self
                    .tcp_links
                    .iter()
                    .filter(|(at, conn)| conn.peer.is_none() && at.ip() == peer.ip())
                    .count();
                if self.tcp_links.len() >= MAX_TCP_LINKS || unnamed_from_there >= MAX_UNNAMED_TCP_LINKS_PER_IP
                {
                    tracing::warn!(%peer, "too many media TCP connections; one was refused");
                    return;
                }
                self.tcp_links.insert(peer, TcpConn { link, peer: None });
            }
            TcpInput::Closed { peer } => {
                self.tcp_links.remove(&peer);
            }
            TcpInput::Frame { peer: from, frame } => {
                let Some(conn) = self.tcp_links.get_mut(&from) else { return };
                let Some(peer) = conn.peer.or_else(|| self.engine.peer_named_by(&frame)) else {
                    self.tcp_links.remove(&from);
                    return;
                };
                conn.peer = Some(peer);
                let mut taken = true;
                self.contained(|engine, now| taken = engine.receive_tcp(now, peer, from, &frame));
                if !taken {
                    self.tcp_links.remove(&from);
                }
                self.send_ready();
            }
        }
    }

    /// Sends what the socket takes without waiting, UDP datagrams in
    /// batches of up to [`batch::SEND_BATCH`] per system call; the rest waits
    /// for [`Driver::send_outgoing`]. Packets for a TCP client go into its
    /// connection's queue (or are dropped with a full one).
    fn send_ready(&mut self) {
        let mut sent = 0;
        while let Some(transmit) = self.outgoing.get(sent) {
            if transmit.protocol != Protocol::Udp {
                self.send_tcp(transmit.to, &transmit.contents);
                sent += 1;
                continue;
            }
            let run = self.outgoing[sent..]
                .iter()
                .take(batch::SEND_BATCH)
                .take_while(|t| t.protocol == Protocol::Udp)
                .map(|t| (t.to, &t.contents[..]));
            match batch::send_batch(&self.socket, run) {
                Ok(count) if count > 0 => sent += count,
                // Nothing taken, yet no error: the first is dropped, so the queue always moves.
                Ok(_) => sent += 1,
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(error) => {
                    tracing::debug!(%error, to = %self.outgoing[sent].to, "SFU socket write");
                    sent += 1;
                }
            }
        }
        self.outgoing.drain(..sent);
    }

    /// Queues a packet on the TCP connection from `to` (dropped when its
    /// queue is full, as a slow UDP path drops datagrams).
    fn send_tcp(&self, to: SocketAddr, packet: &[u8]) {
        match self.tcp_links.get(&to) {
            Some(conn) if !conn.link.send(packet) => {
                tracing::trace!(%to, "a media TCP connection's queue is full; a packet was dropped");
            }
            Some(_) => {}
            None => tracing::trace!(%to, "a packet for a TCP connection that has gone"),
        }
    }

    /// Sends everything queued, waiting for room in the socket's buffer.
    async fn send_outgoing(&mut self) {
        loop {
            self.send_ready();
            if self.outgoing.is_empty() {
                return;
            }
            if let Err(error) = self.socket.writable().await {
                tracing::debug!(%error, "SFU socket write");
                self.outgoing.clear();
                return;
            }
        }
    }
}

/// A command from the calls service, to the engine; its reply back.
fn on_command(engine: &mut Engine<ConnId>, now: Instant, command: SfuCommand) {
    match command {
        SfuCommand::Join { room, conn, user } => engine.join(now, room, conn, user),
        SfuCommand::Leave { room, conn } => engine.leave(now, room, conn),
        SfuCommand::Publish { room, conn, sdp, tracks, reply } => {
            let _ = reply.send(engine.publish(now, room, conn, &sdp, tracks));
        }
        SfuCommand::SubscribeAnswer { room, conn, offer_id, sdp, reply } => {
            let _ = reply.send(engine.subscribe_answer(now, room, conn, offer_id, &sdp));
        }
        SfuCommand::View { room, conn, tiles, reply } => {
            let _ = reply.send(engine.set_view(now, room, conn, &tiles));
        }
        SfuCommand::Stats { reply } => {
            let _ = reply.send(engine.stats());
        }
    }
}

/// The next input from the TCP side; never, without one.
async fn next_tcp_input(inputs: &mut Option<mpsc::Receiver<TcpInput>>) -> Option<TcpInput> {
    match inputs {
        Some(inputs) => inputs.recv().await,
        None => std::future::pending().await,
    }
}

/// A reply channel for a command.
pub type Reply<T> = oneshot::Sender<Result<T, SfuError>>;
