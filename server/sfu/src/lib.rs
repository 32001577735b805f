//! The forwarding core of Concord's SFU, with no I/O and no clock of its
//! own: every function that depends on time takes `now`, so tests drive it
//! on a simulated clock (as str0m and mediasoup test theirs).
//!
//! Why our own core rather than webrtc-rs's `sfu` crate: version 0.5.0,
//! on the same `rtc` 0.21 core, was benchmarked beside ours on 2026-12-02
//! (docs/BENCHMARKS.md, "webrtc-rs's `sfu` crate beside ours"): from 8
//! participants up it costs about the same server CPU per forwarded packet
//! (ours 26 % more at 8, 25 % at 12, equal at 16; at 25 both saturated a
//! core and our bot clients fell behind), because both spend it in rtc's pipeline and
//! the kernel. It does less for that: its queues are unbounded and shared
//! (a slow subscriber grows memory for everyone), it relays every keyframe
//! request one for one and never asks one for a newcomer, and it reads no
//! audio level. So the figures gave no reason to switch and the features
//! gave reasons not to. Its ideas are good and we follow them:
//! demultiplexing one UDP port by ICE username then address, a forwarding
//! table keyed by (publisher, track). The transport (ICE-lite, DTLS, SRTP,
//! RTP headers and extensions per subscriber) is str0m's sans-IO `Rtc` in
//! RTP mode (`server/src/sfu`; rtc 0.21 until 2026-12-05, see
//! docs/BENCHMARKS.md); this crate decides what to forward.
//!
//! - [`demux`]: one UDP port for everyone — which participant a datagram
//!   is for (STUN username, then address; RFC 7983 classification).
//! - [`keyframe`]: keyframe requests (PLI/FIR) to a publisher, at most one
//!   per interval, later ones coalesced.
//! - [`speaking`]: who is speaking, from the RFC 6464 audio level senders
//!   attach to each audio packet.
//! - [`queue`]: a subscriber's bounded queue, which drops instead of
//!   stalling everyone else.
//! - [`router`]: one room's forwarding, putting these together: packets in
//!   from publishers, the same packets out per subscriber, keyframe
//!   requests and speaking changes out on the caller's timer.

pub mod demux;
pub mod keyframe;
pub mod queue;
pub mod router;
pub mod speaking;
