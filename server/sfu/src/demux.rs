//! One UDP port for every participant: which participant a datagram is for.
//! A participant's first packets are STUN binding requests whose USERNAME
//! is `<our ufrag>:<their ufrag>`; the ufrag we gave them in our answer
//! names them, and the address the request came from is learnt for them.
//! Everything else (DTLS, SRTP, SRTCP) is routed by address. A datagram from
//! an address nobody has shown a valid-looking STUN request from is
//! dropped, so nothing reaches a session except from its own peer's address
//! (the session's ICE agent still checks MESSAGE-INTEGRITY, DTLS the
//! certificate fingerprint). Addresses idle for longer than the timeout are
//! forgotten, and a participant who leaves takes theirs along (webrtc-rs's
//! `sfu` crate never forgets them).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// What a datagram is, by its first byte (RFC 7983).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketClass {
    /// STUN (0–3).
    Stun,
    /// DTLS (20–63).
    Dtls,
    /// RTP or RTCP (128–191).
    Rtp,
    /// Anything else: dropped.
    Unknown,
}

/// Classifies a datagram by its first byte.
pub fn classify(datagram: &[u8]) -> PacketClass {
    match datagram.first() {
        Some(0..=3) => PacketClass::Stun,
        Some(20..=63) => PacketClass::Dtls,
        Some(128..=191) => PacketClass::Rtp,
        _ => PacketClass::Unknown,
    }
}

const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];
const BINDING_REQUEST: u16 = 0x0001;
const USERNAME: u16 = 0x0006;

/// The USERNAME of a STUN binding request (RFC 8489), if `datagram` is one.
pub fn binding_request_username(datagram: &[u8]) -> Option<&str> {
    let header = datagram.get(..20)?;
    if u16::from_be_bytes([header[0], header[1]]) != BINDING_REQUEST || header[4..8] != MAGIC_COOKIE {
        return None;
    }
    let length = usize::from(u16::from_be_bytes([header[2], header[3]]));
    let mut attributes = datagram.get(20..20 + length)?;
    while attributes.len() >= 4 {
        let kind = u16::from_be_bytes([attributes[0], attributes[1]]);
        let len = usize::from(u16::from_be_bytes([attributes[2], attributes[3]]));
        let value = attributes.get(4..4 + len)?;
        if kind == USERNAME {
            return std::str::from_utf8(value).ok();
        }
        let padded = 4 + len.div_ceil(4) * 4;
        attributes = attributes.get(padded..)?;
    }
    None
}

/// Routes datagrams arriving on the shared port to participants `P`.
#[derive(Debug)]
pub struct Demuxer<P> {
    by_ufrag: HashMap<String, P>,
    by_addr: HashMap<SocketAddr, (P, Instant)>,
    idle_timeout: Duration,
}

impl<P: Copy + Eq + Hash> Demuxer<P> {
    /// Addresses silent for `idle_timeout` are forgotten by [`Demuxer::expire`].
    pub fn new(idle_timeout: Duration) -> Self {
        Self { by_ufrag: HashMap::new(), by_addr: HashMap::new(), idle_timeout }
    }

    /// `participant` was given `local_ufrag` in our SDP answer.
    pub fn register(&mut self, local_ufrag: &str, participant: P) {
        self.by_ufrag.insert(local_ufrag.to_owned(), participant);
    }

    /// `participant` left: their ufrag and addresses are forgotten.
    pub fn unregister(&mut self, participant: P) {
        self.by_ufrag.retain(|_, p| *p != participant);
        self.by_addr.retain(|_, (p, _)| *p != participant);
    }

    /// The participant `datagram` from `from` is for, at `now`; `None` means drop it.
    pub fn route(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) -> Option<P> {
        match classify(datagram) {
            PacketClass::Unknown => None,
            PacketClass::Stun => {
                if let Some(username) = binding_request_username(datagram) {
                    let local = username.split(':').next().unwrap_or_default();
                    if let Some(participant) = self.by_ufrag.get(local).copied() {
                        self.by_addr.insert(from, (participant, now));
                        return Some(participant);
                    }
                }
                self.by_address(now, from)
            }
            PacketClass::Dtls | PacketClass::Rtp => self.by_address(now, from),
        }
    }

    /// The participant a STUN binding request names by its USERNAME, learning
    /// no address: how a TCP connection (ICE-TCP, RFC 6544) finds its
    /// participant from its first frame, after which the connection itself
    /// says whose every frame is.
    pub fn by_username(&self, datagram: &[u8]) -> Option<P> {
        let username = binding_request_username(datagram)?;
        let local = username.split(':').next().unwrap_or_default();
        self.by_ufrag.get(local).copied()
    }

    fn by_address(&mut self, now: Instant, from: SocketAddr) -> Option<P> {
        let (participant, seen) = self.by_addr.get_mut(&from)?;
        *seen = now;
        Some(*participant)
    }

    /// Forgets addresses idle for longer than the timeout; returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        let before = self.by_addr.len();
        let timeout = self.idle_timeout;
        self.by_addr.retain(|_, (_, seen)| now.saturating_duration_since(*seen) <= timeout);
        before - self.by_addr.len()
    }

    /// Addresses currently known (for metrics and tests).
    pub fn addresses(&self) -> usize {
        self.by_addr.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A STUN binding request with `username` (and a PRIORITY attribute first).
    fn binding_request(username: &str) -> Vec<u8> {
        let mut attributes = vec![0x00, 0x24, 0, 4, 1, 2, 3, 4];
        attributes.extend_from_slice(&USERNAME.to_be_bytes());
        attributes.extend_from_slice(&(username.len() as u16).to_be_bytes());
        attributes.extend_from_slice(username.as_bytes());
        while attributes.len() % 4 != 0 {
            attributes.push(0);
        }
        let mut message = vec![0x00, 0x01];
        message.extend_from_slice(&(attributes.len() as u16).to_be_bytes());
        message.extend_from_slice(&MAGIC_COOKIE);
        message.extend_from_slice(&[7; 12]);
        message.extend_from_slice(&attributes);
        message
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 1], port))
    }

    const RTP: [u8; 12] = [0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
    const DTLS: [u8; 13] = [22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

    #[test]
    fn participants_are_found_by_ice_username_then_by_address() {
        let start = Instant::now();
        let mut demux = Demuxer::new(Duration::from_secs(30));
        demux.register("ufragAda", 1u64);
        demux.register("ufragBob", 2u64);
        // Media from an address no STUN came from: dropped.
        assert_eq!(demux.route(start, addr(5000), &RTP), None);
        // Ada's connectivity check names her; her address is learnt.
        assert_eq!(demux.route(start, addr(5000), &binding_request("ufragAda:remote1")), Some(1));
        assert_eq!(demux.route(start, addr(5000), &DTLS), Some(1));
        assert_eq!(demux.route(start, addr(5000), &RTP), Some(1));
        // Bob from another port of the same host is someone else.
        assert_eq!(demux.route(start, addr(6000), &binding_request("ufragBob:remote2")), Some(2));
        assert_eq!(demux.route(start, addr(6000), &RTP), Some(2));
        // A check with a ufrag we never gave out learns nothing.
        assert_eq!(demux.route(start, addr(7000), &binding_request("nobody:x")), None);
        assert_eq!(demux.route(start, addr(7000), &RTP), None);
        assert_eq!(demux.route(start, addr(5000), &[99, 1, 2]), None, "not STUN, DTLS or RTP");
    }

    #[test]
    fn a_tcp_connection_is_named_by_its_first_binding_request_and_learns_no_address() {
        let start = Instant::now();
        let mut demux = Demuxer::new(Duration::from_secs(30));
        demux.register("ufragAda", 1u64);
        assert_eq!(demux.by_username(&binding_request("ufragAda:remote1")), Some(1));
        assert_eq!(demux.by_username(&binding_request("nobody:remote1")), None);
        assert_eq!(demux.by_username(&RTP), None, "media names nobody");
        assert_eq!(demux.by_username(&DTLS), None);
        assert_eq!(demux.addresses(), 0);
        // The UDP path still knows no address for her.
        assert_eq!(demux.route(start, addr(5000), &RTP), None);
        demux.unregister(1);
        assert_eq!(demux.by_username(&binding_request("ufragAda:remote1")), None);
    }

    #[test]
    fn idle_addresses_and_departed_participants_are_forgotten() {
        let start = Instant::now();
        let mut demux = Demuxer::new(Duration::from_secs(30));
        demux.register("a", 1u64);
        demux.register("b", 2u64);
        demux.route(start, addr(1), &binding_request("a:x"));
        demux.route(start, addr(2), &binding_request("b:y"));
        // Ada keeps sending; Bob's address goes quiet.
        demux.route(start + Duration::from_secs(20), addr(1), &RTP);
        assert_eq!(demux.expire(start + Duration::from_secs(31)), 1);
        assert_eq!(demux.route(start + Duration::from_secs(31), addr(2), &RTP), None);
        assert_eq!(demux.route(start + Duration::from_secs(31), addr(1), &RTP), Some(1));
        // Ada leaves: her ufrag and address go with her.
        demux.unregister(1);
        assert_eq!(demux.addresses(), 0);
        assert_eq!(demux.route(start + Duration::from_secs(32), addr(1), &binding_request("a:x")), None);
    }

    #[test]
    fn malformed_stun_is_not_a_username() {
        let good = binding_request("ufragAda:r");
        assert_eq!(binding_request_username(&good), Some("ufragAda:r"));
        let mut wrong_cookie = good.clone();
        wrong_cookie[4] = 0;
        assert_eq!(binding_request_username(&wrong_cookie), None);
        let mut response = good.clone();
        response[1] = 0x01; // 0x0101: a binding success response
        response[0] = 0x01;
        assert_eq!(binding_request_username(&response), None);
        assert_eq!(binding_request_username(&good[..good.len() - 6]), None, "shorter than its length says");
        let mut lying = good.clone();
        lying[30] = 0xff; // USERNAME length beyond the message
        assert_eq!(binding_request_username(&lying), None);
        assert_eq!(binding_request_username(&[0, 1, 0, 0]), None);
        // Random bytes never panic.
        let mut seed: u64 = 7;
        for _ in 0..200_000 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let mut bytes = good.clone();
            let at = (seed >> 40) as usize % bytes.len();
            bytes[at] = (seed >> 8) as u8;
            bytes.truncate((seed >> 20) as usize % (bytes.len() + 1));
            let _ = binding_request_username(&bytes);
        }
    }
}
