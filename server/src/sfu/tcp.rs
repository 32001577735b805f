//! The SFU's TCP port: ICE over TCP (RFC 6544) for participants whose UDP
//! is blocked. Every peer connection advertises a passive TCP candidate
//! beside its UDP one; a client that cannot get UDP through opens a TCP
//! connection to it and sends what it would have sent as datagrams, each
//! framed by a 2-byte length (RFC 4571).
//!
//! This module only moves frames: an accept task, and per connection a
//! reader task (frames in, to the engine's one channel) and a writer task
//! (frames out, from a bounded queue the engine fills without waiting; a
//! full queue drops whole frames, as a full UDP buffer drops datagrams).
//! Which peer connection a TCP connection belongs to is the engine's
//! business: its first frame must be a STUN binding request naming one of
//! our ICE username fragments, or it is closed.
//!
//! Why ICE-TCP rather than an embedded TURN relay: it needs no relay
//! allocation, no credentials and no relaying hop (one TCP connection
//! straight into the SFU, whose ICE agent already checks every request's
//! MESSAGE-INTEGRITY), it cannot be used to reach anything but the SFU, and
//! browsers (Chrome, Firefox, Safari) and webrtc-rs speak it. A relay
//! reachable over TLS on port 443 for networks that allow nothing else is
//! what the external TURN server (`turn_urls`) is for.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

/// Frames waiting for the engine, from every TCP connection together (a
/// reader that finds it full waits, and TCP's flow control slows its peer).
const INPUT_QUEUE: usize = 4096;
/// Frames waiting to be written to one connection before new ones are dropped.
const WRITE_QUEUE: usize = 1024;
/// A connection must send its first frame (a binding request) within this long.
const FIRST_FRAME_WITHIN: Duration = Duration::from_secs(10);

/// What the TCP side tells the engine.
pub enum TcpInput {
    /// A client connected from `peer`; frames for it go into `link`.
    Opened {
        /// Its address.
        peer: SocketAddr,
        /// How to write to it and to close it.
        link: TcpLink,
    },
    /// A frame (a STUN, DTLS, RTP or RTCP packet) from `peer`.
    Frame {
        /// Its address.
        peer: SocketAddr,
        /// The packet, without its length.
        frame: BytesMut,
    },
    /// `peer`'s connection ended (closed, failed, or silent at first).
    Closed {
        /// Its address.
        peer: SocketAddr,
    },
}

/// One accepted TCP connection, as the engine holds it. Dropping it closes
/// the connection (the reader stops; the writer flushes and shuts down).
pub struct TcpLink {
    writes: mpsc::Sender<Bytes>,
    /// Dropped with the link: the reader stops when it is.
    _reader_stop: oneshot::Sender<()>,
}

impl TcpLink {
    /// Queues `packet` to be written framed; `false` if it was dropped (the
    /// connection's queue is full, or it is gone).
    pub fn send(&self, packet: &[u8]) -> bool {
        let Ok(length) = u16::try_from(packet.len()) else { return false };
        let mut frame = BytesMut::with_capacity(2 + packet.len());
        frame.put_u16(length);
        frame.put_slice(packet);
        self.writes.try_send(frame.freeze()).is_ok()
    }
}

/// Accepts connections on `listener` until the engine's receiver is gone.
pub fn start(listener: TcpListener) -> mpsc::Receiver<TcpInput> {
    let (inputs, receiver) = mpsc::channel(INPUT_QUEUE);
    tokio::spawn(accept_loop(listener, inputs));
    receiver
}

async fn accept_loop(listener: TcpListener, inputs: mpsc::Sender<TcpInput>) {
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: wait a little rather than spin.
                    tracing::warn!(%error, "accepting a media TCP connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = inputs.closed() => return,
        };
        tokio::spawn(connection(stream, peer, inputs.clone()));
    }
}

/// One connection: announces itself (so the engine holds its link before
/// any of its frames), then reads frames until it ends or the link is dropped.
async fn connection(stream: TcpStream, peer: SocketAddr, inputs: mpsc::Sender<TcpInput>) {
    let _ = stream.set_nodelay(true);
    let (mut read_half, write_half) = stream.into_split();
    let (writes, queued) = mpsc::channel(WRITE_QUEUE);
    tokio::spawn(write_loop(write_half, queued));
    let (reader_stop, mut stopped) = oneshot::channel();
    if inputs
        .send(TcpInput::Opened { peer, link: TcpLink { writes, _reader_stop: reader_stop } })
        .await
        .is_err()
    {
        return;
    }
    let mut first = true;
    loop {
        let frame = tokio::select! {
            frame = read_frame(&mut read_half, first) => frame,
            _ = &mut stopped => return,
        };
        first = false;
        match frame {
            Ok(frame) => {
                if inputs.send(TcpInput::Frame { peer, frame }).await.is_err() {
                    return;
                }
            }
            Err(error) => {
                tracing::debug!(%error, %peer, "media TCP connection ended");
                let _ = inputs.send(TcpInput::Closed { peer }).await;
                return;
            }
        }
    }
}

/// The next frame; the first must come within [`FIRST_FRAME_WITHIN`].
async fn read_frame(stream: &mut OwnedReadHalf, first: bool) -> io::Result<BytesMut> {
    if first {
        return tokio::time::timeout(FIRST_FRAME_WITHIN, read_one(stream))
            .await
            .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()));
    }
    read_one(stream).await
}

/// One RFC 4571 frame: a 2-byte big-endian length, then that many bytes.
async fn read_one(stream: &mut OwnedReadHalf) -> io::Result<BytesMut> {
    let length = usize::from(stream.read_u16().await?);
    let mut frame = BytesMut::zeroed(length);
    stream.read_exact(&mut frame).await?;
    Ok(frame)
}

async fn write_loop(mut stream: OwnedWriteHalf, mut queued: mpsc::Receiver<Bytes>) {
    while let Some(frame) = queued.recv().await {
        if let Err(error) = stream.write_all(&frame).await {
            tracing::debug!(%error, "writing to a media TCP connection");
            return;
        }
    }
    let _ = stream.shutdown().await;
}

/// Binds the TCP listener for ICE-TCP.
pub fn bind(address: SocketAddr) -> io::Result<TcpListener> {
    let socket = socket2::Socket::new(socket2::Domain::for_address(address), socket2::Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    TcpListener::from_std(socket.into())
}
