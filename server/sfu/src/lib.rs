//! Concord's SFU without I/O: one engine's peer connections and calls,
//! driven by the datagrams, commands and time its caller passes in (the
//! server's driver task owns the sockets and the clock; tests move a
//! simulated one, as str0m and mediasoup test theirs).
//!
//! Why our own forwarding core rather than webrtc-rs's `sfu` crate: version 0.5.0,
//! on the same `rtc` 0.21 core, was benchmarked beside ours on 2026-12-02
//! (docs/BENCHMARKS.md, "webrtc-rs's `sfu` crate beside ours"): from 8
//! participants up it costs about the same server CPU per forwarded packet,
//! because both spend it in rtc's pipeline and the kernel. It does less for
//! that: its queues are unbounded and shared (a slow subscriber grows memory
//! for everyone), it relays every keyframe request one for one and never
//! asks one for a newcomer, and it reads no audio level. Its ideas are good
//! and we follow them: demultiplexing one UDP port by ICE username then
//! address, a forwarding table keyed by (publisher, track). The transport
//! (ICE-lite, DTLS, SRTP, RTP headers and extensions per subscriber) is
//! str0m's sans-IO `Rtc` in RTP mode (rtc 0.21 until 2026-12-05, see
//! docs/BENCHMARKS.md).
//!
//! - [`engine`]: the whole, its inputs and outputs.
//! - [`peer`]: one peer connection (a participant's publishing or
//!   receiving leg): str0m's `Rtc`, configured with Concord's codecs.
//! - [`negotiation`]: the offers of a receiving connection.
//! - [`room`]: a room's call, its members.
//! - [`receiver`]: a published track.
//! - [`downtrack`]: a published track forwarded to one subscriber.
//! - [`sdp`]: what we change in str0m's SDP for clients other than browsers.
//! - [`sim`]: a call in simulated time, str0m peers as the clients (the
//!   engine's tests and its benchmark).
//! - [`demux`]: one UDP port for everyone — which participant a datagram
//!   is for (STUN username, then address; RFC 7983 classification).
//! - [`keyframe`]: keyframe requests (PLI/FIR) to a publisher, at most one
//!   per interval, later ones coalesced.
//! - [`speaking`]: who is speaking, from the RFC 6464 audio level senders
//!   attach to each audio packet.
//! - [`queue`]: a subscriber's bounded queue, which drops instead of
//!   stalling everyone else.
//! - [`allocator`]: one subscriber's bandwidth estimate shared among the
//!   videos it receives (which layer each gets, or none), and the bitrate
//!   meters it prices layers with.
//! - [`router`]: one room's forwarding, putting these together: packets in
//!   from publishers, the same packets out per subscriber, keyframe
//!   requests and speaking changes out on the caller's timer.

pub mod allocator;
pub mod demux;
pub mod downtrack;
pub mod engine;
pub mod h264;
pub mod keyframe;
pub mod negotiation;
pub mod peer;
pub mod queue;
pub mod receiver;
pub mod room;
pub mod router;
pub mod sdp;
pub mod sim;
pub mod speaking;

pub use engine::{Engine, Event, Stats, Transmit};
pub use peer::PeerId;
/// UDP or TCP, as [`Transmit`] names it.
pub use str0m::net::Protocol;

/// Why the engine refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
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

impl Error {
    /// The SDP could not be used, for `reason`.
    pub fn sdp(reason: impl std::fmt::Display) -> Self {
        Self::Sdp(reason.to_string())
    }

    /// The engine failed, for `reason`.
    pub fn internal(reason: impl std::fmt::Display) -> Self {
        Self::Internal(reason.to_string())
    }
}
