//! Sharing one subscriber's downlink among the videos it receives (the
//! stream allocator; LiveKit's is the model): what is left of its
//! bandwidth estimate after the audio goes first to the most important
//! video (screen shares, then whoever speaks, then the rest), each at its
//! smallest layer; what remains then raises each, in the same order, as far
//! as the layer its tile asks for. A video whose smallest layer does not
//! fit is paused: video gives way before audio suffers. Costs are the
//! bitrates measured on the layers ([`RateMeter`]).

use std::time::{Duration, Instant};

/// Bytes a forwarded packet costs beyond its payload (IP, UDP, SRTP, the
/// RTP header and its extensions).
pub const PACKET_OVERHEAD: u64 = 60;
/// A layer already being forwarded keeps its place while it costs no more
/// than this share over what is left (an estimate that wobbles by a few
/// per cent does not switch layers back and forth).
const KEEP_MARGIN_PERCENT: u64 = 10;
/// How long a rate is measured over.
const RATE_WINDOW: Duration = Duration::from_millis(1000);

/// How much a video matters to a subscriber, most first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    /// Someone's shared screen.
    Screen,
    /// The camera of someone speaking.
    Speaker,
    /// Any other camera.
    Other,
}

/// One layer a video could be sent at, and what it costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerCost {
    /// The layer's SSRC.
    pub ssrc: u32,
    /// Bits a second it carries.
    pub bitrate: u64,
}

/// One video a subscriber receives, as the allocator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoDemand {
    /// How much it matters.
    pub priority: Priority,
    /// Its layers that may be sent, smallest first, up to the one its
    /// tile asks for (the last).
    pub layers: Vec<LayerCost>,
    /// The layer being forwarded now, if any.
    pub current: Option<u32>,
}

impl VideoDemand {
    /// What layer `index` costs this subscriber: less when it is the one
    /// being forwarded (see [`KEEP_MARGIN_PERCENT`]).
    fn cost(&self, index: usize) -> u64 {
        let layer = self.layers[index];
        if self.current == Some(layer.ssrc) {
            layer.bitrate * 100 / (100 + KEEP_MARGIN_PERCENT)
        } else {
            layer.bitrate
        }
    }
}

/// For each video of `demands` (in their order), the layer to send, or
/// `None` to pause it, within `budget` bits a second (see the module
/// documentation).
pub fn allocate(budget: u64, demands: &[VideoDemand]) -> Vec<Option<u32>> {
    let mut order: Vec<usize> = (0..demands.len()).collect();
    order.sort_by_key(|i| demands[*i].priority);
    let mut chosen: Vec<Option<usize>> = vec![None; demands.len()];
    let mut left = budget;
    // Everyone their smallest layer first, most important first...
    for &i in &order {
        if demands[i].layers.is_empty() {
            continue;
        }
        let cost = demands[i].cost(0);
        if cost <= left {
            left -= cost;
            chosen[i] = Some(0);
        }
    }
    // ...then each raised as far as what is left allows, in the same order.
    for &i in &order {
        let Some(mut at) = chosen[i] else { continue };
        while at + 1 < demands[i].layers.len() {
            let extra = demands[i].cost(at + 1).saturating_sub(demands[i].cost(at));
            if extra > left {
                break;
            }
            left -= extra;
            at += 1;
        }
        chosen[i] = Some(at);
    }
    chosen.iter().zip(demands).map(|(at, demand)| at.map(|at| demand.layers[at].ssrc)).collect()
}

/// The bitrate of a stream, measured over windows of about a second: the
/// last whole window's, or while none has ended, the one running.
#[derive(Debug, Clone)]
pub struct RateMeter {
    window_start: Option<Instant>,
    bytes: u64,
    last: Option<u64>,
}

impl Default for RateMeter {
    fn default() -> Self {
        Self::new()
    }
}

impl RateMeter {
    /// Nothing measured yet.
    pub fn new() -> Self {
        Self { window_start: None, bytes: 0, last: None }
    }

    /// A packet of `payload` bytes arrived at `now`.
    pub fn add(&mut self, now: Instant, payload: usize) {
        let start = *self.window_start.get_or_insert(now);
        let elapsed = now.saturating_duration_since(start);
        if elapsed >= RATE_WINDOW {
            self.last = Some(bits_per_second(self.bytes, elapsed));
            self.window_start = Some(now);
            self.bytes = 0;
        }
        self.bytes += payload as u64 + PACKET_OVERHEAD;
    }

    /// Bits a second (0 before the first packet).
    pub fn bitrate(&self, now: Instant) -> u64 {
        if let Some(last) = self.last {
            return last;
        }
        let Some(start) = self.window_start else { return 0 };
        // A window still running: counted over at least a tenth of a second
        // (the first packets alone say little).
        let elapsed = now.saturating_duration_since(start).max(Duration::from_millis(100));
        bits_per_second(self.bytes, elapsed)
    }
}

fn bits_per_second(bytes: u64, over: Duration) -> u64 {
    let micros = over.as_micros().max(1) as u64;
    bytes.saturating_mul(8_000_000) / micros
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A camera in three layers of 150, 500 and 1,500 kbit/s (SSRCs
    /// `base`, `base + 1`, `base + 2`), all wanted.
    fn camera(priority: Priority, base: u32) -> VideoDemand {
        let layers = [150_000, 500_000, 1_500_000]
            .iter()
            .enumerate()
            .map(|(i, bitrate)| LayerCost { ssrc: base + i as u32, bitrate: *bitrate })
            .collect();
        VideoDemand { priority, layers, current: None }
    }

    #[test]
    fn enough_bandwidth_gives_every_video_the_layer_its_tile_asks_for() {
        let demands = [camera(Priority::Other, 10), camera(Priority::Other, 20)];
        assert_eq!(allocate(10_000_000, &demands), vec![Some(12), Some(22)]);
        let mut small_tile = camera(Priority::Other, 30);
        small_tile.layers.truncate(1);
        assert_eq!(allocate(10_000_000, &[small_tile]), vec![Some(30)], "never above the tile's layer");
    }

    #[test]
    fn a_short_budget_lowers_the_least_important_first_and_pauses_before_starving() {
        let demands =
            [camera(Priority::Other, 10), camera(Priority::Speaker, 20), camera(Priority::Screen, 30)];
        // Everyone's smallest (450k), then the screen up to its full
        // layer (+1,350k), then the speaker by what is left (+350k).
        assert_eq!(allocate(2_150_000, &demands), vec![Some(10), Some(21), Some(32)]);
        // 400k: room for two smallest layers, the two that matter most.
        assert_eq!(allocate(400_000, &demands), vec![None, Some(20), Some(30)]);
        assert_eq!(allocate(100_000, &demands), vec![None, None, None], "nothing fits: all paused");
    }

    #[test]
    fn the_layer_being_sent_is_kept_through_a_small_dip() {
        let mut demand = camera(Priority::Other, 10);
        let fits = |budget, demand: &VideoDemand| allocate(budget, std::slice::from_ref(demand));
        assert_eq!(fits(480_000, &demand), vec![Some(10)], "500k does not fit");
        demand.current = Some(11);
        assert_eq!(fits(480_000, &demand), vec![Some(11)], "kept within 10 %");
        assert_eq!(fits(400_000, &demand), vec![Some(10)], "left beyond it");
    }

    #[test]
    fn a_rate_is_measured_over_a_second_with_the_packet_overhead() {
        let start = Instant::now();
        let mut meter = RateMeter::new();
        assert_eq!(meter.bitrate(start), 0);
        // 100 packets a second of 940 bytes (+60): 800 kbit/s.
        for i in 0..=200u64 {
            meter.add(start + Duration::from_millis(i * 10), 940);
        }
        assert_eq!(meter.bitrate(start + Duration::from_secs(2)), 800_000);
        // Half the packets from now on: the next window says so.
        for i in 0..=100u64 {
            meter.add(start + Duration::from_millis(2_000 + i * 20), 940);
        }
        assert_eq!(meter.bitrate(start + Duration::from_secs(3)), 400_000);
    }
}
