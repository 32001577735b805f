//! A UDP relay on loopback that drops a share of the media packets passing
//! through it, so loss recovery (NACK, keyframe requests) is exercised over
//! the real network path in `concord selftest --loss` and the tests.
//!
//! One relay stands in front of one peer: the other peer is given the relay's
//! port in place of the peer's own ICE candidate. STUN and DTLS always pass;
//! only RTP and RTCP (first byte 128–191, RFC 7983) are dropped.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use tokio::net::UdpSocket;

/// Packets seen and dropped by a relay.
#[derive(Debug, Default)]
pub struct LinkStats {
    /// Datagrams relayed or dropped.
    pub packets: AtomicU64,
    /// Datagrams dropped.
    pub dropped: AtomicU64,
}

/// A running relay.
pub struct LossyLink {
    address: SocketAddr,
    stats: Arc<LinkStats>,
    task: tokio::task::JoinHandle<()>,
}

impl LossyLink {
    /// Relays to `peer`, dropping `loss_percent` of RTP/RTCP (seeded, so runs repeat).
    pub async fn start(peer: SocketAddr, loss_percent: f64, seed: u64) -> std::io::Result<Self> {
        let socket = UdpSocket::bind("127.0.0.1:0").await?;
        let address = socket.local_addr()?;
        let stats = Arc::new(LinkStats::default());
        let task_stats = Arc::clone(&stats);
        let task = tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let mut other: Option<SocketAddr> = None;
            let mut buffer = vec![0u8; 65_536];
            while let Ok((len, from)) = socket.recv_from(&mut buffer).await {
                let destination = if from == peer {
                    match other {
                        Some(other) => other,
                        None => continue,
                    }
                } else {
                    other = Some(from);
                    peer
                };
                task_stats.packets.fetch_add(1, Ordering::Relaxed);
                let is_media = (128..=191).contains(&buffer[0]);
                if is_media && rng.random_bool((loss_percent / 100.0).clamp(0.0, 1.0)) {
                    task_stats.dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let _ = socket.send_to(&buffer[..len], destination).await;
            }
        });
        Ok(Self { address, stats, task })
    }

    /// The relay's address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Live counters.
    pub fn stats(&self) -> &LinkStats {
        &self.stats
    }
}

impl Drop for LossyLink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The address of the first UDP host candidate in an SDP.
pub fn first_candidate(sdp: &str) -> Option<SocketAddr> {
    sdp.lines().filter_map(candidate_fields).next().and_then(|(ip, port)| format!("{ip}:{port}").parse().ok())
}

/// The SDP with every candidate's port replaced by the relay's (address stays loopback).
pub fn route_through(sdp: &str, relay: SocketAddr) -> String {
    let mut out = String::with_capacity(sdp.len());
    for line in sdp.split_inclusive('\n') {
        if candidate_fields(line).is_some() {
            let mut fields: Vec<String> = line.trim_end().split(' ').map(str::to_owned).collect();
            fields[4] = relay.ip().to_string();
            fields[5] = relay.port().to_string();
            out.push_str(&fields.join(" "));
            out.push_str("\r\n");
        } else {
            out.push_str(line);
        }
    }
    out
}

/// `a=candidate:<foundation> <component> <transport> <priority> <ip> <port> typ ...`
fn candidate_fields(line: &str) -> Option<(&str, &str)> {
    let rest = line.trim_end().strip_prefix("a=candidate:")?;
    let fields: Vec<&str> = rest.split(' ').collect();
    (fields.len() >= 6 && fields[2].eq_ignore_ascii_case("udp")).then(|| (fields[4], fields[5]))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const SDP: &str = "v=0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host\r\na=mid:0\r\n";

    #[test]
    fn candidates_are_found_and_rerouted() {
        assert_eq!(first_candidate(SDP), Some("127.0.0.1:40000".parse().unwrap()));
        let routed = route_through(SDP, "127.0.0.1:5555".parse().unwrap());
        assert_eq!(first_candidate(&routed), Some("127.0.0.1:5555".parse().unwrap()));
        assert!(routed.contains("a=mid:0\r\n"));
    }
}
