//! Forwarding latency as the wire sees it: `tcpdump` on loopback stamps
//! every datagram into and out of the SFU's UDP port (kernel time stamps);
//! each forwarded copy is matched to the packet it came from by RTP
//! timestamp and sequence number, which SRTP leaves in the clear and the
//! SFU keeps (it gives each copy its subscriber's own SSRC). A copy's latency is its stamp minus the original's: the time
//! in the server's receive queue, the engine's work and the send.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncBufReadExt;

/// A running capture.
pub struct Capture {
    child: tokio::process::Child,
    /// Its stderr, kept open: it reports its drops there when it stops.
    stderr: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>,
    file: PathBuf,
    port: u16,
}

impl Capture {
    /// Starts `tcpdump` on the SFU's `port`, once it says it is listening;
    /// `None` (and why, on stderr) if it cannot run here.
    pub async fn start(port: u16, file: &Path) -> Option<Capture> {
        let spawned = tokio::process::Command::new("tcpdump")
            .args(["-i", "lo", "-n", "-s", "96", "-B", "65536", "-w"])
            .arg(file)
            .args(["udp", "port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(error) => {
                eprintln!("no forwarding latency: tcpdump did not start ({error}); apt-get install tcpdump");
                return None;
            }
        };
        let mut lines = tokio::io::BufReader::new(child.stderr.take()?).lines();
        let listening = tokio::time::timeout(Duration::from_secs(10), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("listening on") {
                    return true;
                }
                eprintln!("tcpdump: {line}");
            }
            false
        });
        if !listening.await.unwrap_or(false) {
            eprintln!("no forwarding latency: tcpdump did not start listening");
            return None;
        }
        Some(Capture { child, stderr: lines, file: file.to_owned(), port })
    }

    /// Stops the capture (SIGINT, so it flushes) and returns every matched
    /// copy's latency; what tcpdump says at the end (its drops) goes to stderr.
    pub async fn finish(mut self) -> Vec<Duration> {
        if let Some(pid) = self.child.id() {
            let _ = tokio::process::Command::new("kill").args(["-INT", &pid.to_string()]).status().await;
        }
        let said = tokio::time::timeout(Duration::from_secs(10), async {
            while let Ok(Some(line)) = self.stderr.next_line().await {
                eprintln!("tcpdump: {line}");
            }
        });
        let _ = said.await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let bytes = std::fs::read(&self.file).unwrap_or_default();
        let _ = std::fs::remove_file(&self.file);
        latencies(&bytes, self.port)
    }
}

/// Parses a classic little-endian pcap of IPv4/UDP on loopback (link type
/// `NULL` or Ethernet) and matches RTP copies out of `port` to packets in.
fn latencies(pcap: &[u8], port: u16) -> Vec<Duration> {
    let Some(header) = pcap.get(..24) else { return Vec::new() };
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    let magic = u32_at(header, 0);
    let nanos = match magic {
        0xa1b2_c3d4 => false,
        0xa1b2_3c4d => true,
        _ => return Vec::new(),
    };
    let link_header = match u32_at(header, 20) {
        1 => 14, // Ethernet, as Linux shows `lo`
        0 => 4,  // BSD loopback
        _ => return Vec::new(),
    };
    let mut arrived: HashMap<(u32, u16), Duration> = HashMap::new();
    // A NACK's retransmission repeats the key to the same subscriber: only
    // the first copy counts.
    let mut copied: HashSet<((u32, u16), u16)> = HashSet::new();
    let mut copies = Vec::new();
    let mut at = 24;
    while at + 16 <= pcap.len() {
        let seconds = u64::from(u32_at(pcap, at));
        let fraction = u64::from(u32_at(pcap, at + 4));
        let captured = u32_at(pcap, at + 8) as usize;
        let stamp = Duration::from_secs(seconds)
            + Duration::from_nanos(if nanos { fraction } else { fraction * 1000 });
        let Some(frame) = pcap.get(at + 16..at + 16 + captured) else { break };
        at += 16 + captured;
        let Some((source, destination, payload)) = udp(frame, link_header) else { continue };
        let Some(key) = rtp_key(payload) else { continue };
        if destination == port {
            arrived.entry(key).or_insert(stamp);
        } else if source == port && copied.insert((key, destination)) {
            copies.push((key, stamp));
        }
    }
    copies
        .into_iter()
        .filter_map(|(key, stamp)| arrived.get(&key).and_then(|sent| stamp.checked_sub(*sent)))
        .collect()
}

/// Source port, destination port and payload of an IPv4 UDP frame.
fn udp(frame: &[u8], link_header: usize) -> Option<(u16, u16, &[u8])> {
    let ip = frame.get(link_header..)?;
    if ip.first()? >> 4 != 4 || *ip.get(9)? != 17 {
        return None;
    }
    let udp = ip.get(usize::from(ip[0] & 0x0f) * 4..)?;
    let port = |at: usize| Some(u16::from_be_bytes([*udp.get(at)?, *udp.get(at + 1)?]));
    Some((port(0)?, port(2)?, udp.get(8..)?))
}

/// RTP timestamp and sequence number of an (S)RTP packet, what a packet
/// and its forwarded copies share (the SFU gives each subscriber's copy
/// its own SSRC, and keeps the low 16 bits of the sequence number); `None`
/// for RTCP, STUN and DTLS (RFC 7983's demultiplexing, then RTCP's
/// payload types 192–223).
fn rtp_key(packet: &[u8]) -> Option<(u32, u16)> {
    let header = packet.get(..12)?;
    if !(128..=191).contains(&header[0]) || (192..=223).contains(&header[1]) {
        return None;
    }
    let sequence = u16::from_be_bytes([header[2], header[3]]);
    let timestamp = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    Some((timestamp, sequence))
}
