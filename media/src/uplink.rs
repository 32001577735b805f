//! Fitting what this client sends into what its uplink carries.
//!
//! The publishing connection estimates its uplink (rtc's GCC, from the
//! SFU's transport-wide feedback) and hears, from the SFU's receiver
//! reports, how many of its packets arrived and were lost
//! ([`crate::transport::MediaPeer::uplink_feedback`]). Every half second the
//! call session hands [`UplinkAllocator::update`] that feedback and what
//! each video track has sent so far, and gets back, per track, which
//! simulcast layers to encode and, for a track of one layer (a screen
//! share), a cap on its encoder's bitrate.
//!
//! GCC comes down from its first guess gradually (from 6 Mbit/s to a
//! 250 kbit/s link took 7 s, measured); a receiver report that says more
//! than [`HEAVY_LOSS`] of what was sent since the previous one was lost
//! brings the budget down at once to what arrived, and the budget then
//! grows from there (10 % a second) rather than jumping back to an estimate
//! that climbed while little was sent.
//!
//! Audio is kept out of the estimate first, screen shares come before the
//! camera, and within a track the smallest layer first; where not even the
//! smallest layer fits, a camera in layers pauses (audio never gives way to
//! video; a screen share of one layer is capped instead). What the layers *sent* decides, not
//! their nominal bitrates: a light source (a still screen, a test pattern)
//! is never cut because its nominal rate would not fit. A layer is dropped
//! once what is sent goes beyond the estimate by more than [`TOLERANCE`];
//! a dropped layer comes back once the estimate has room for it
//! with a margin and it has waited, twice as long each time it had to be
//! dropped again soon after coming back, so a link at its limit does not
//! make the picture flap.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How often the session calls [`UplinkAllocator::update`].
pub const UPLINK_INTERVAL: Duration = Duration::from_millis(500);

/// What a microphone that is not muted is given first (Opus at 32 kbit/s
/// with its packets' headers).
pub const AUDIO_RESERVE: u32 = 50_000;

/// How far beyond the estimate what is sent may be before a layer goes: GCC
/// answers one overuse with 85 % of what arrived, which is not a reason to
/// drop anything; a link that carries less than what is sent brings the
/// estimate below 85 % of it.
pub const TOLERANCE: f64 = 1.25;

/// How much room a dropped layer needs, beyond what it cost, to come back.
const RESUME_MARGIN: f64 = 1.2;

/// The first wait before a dropped layer may come back.
const FIRST_WAIT: Duration = Duration::from_secs(4);

/// The longest wait before a dropped layer may come back.
const LONGEST_WAIT: Duration = Duration::from_secs(32);

/// A layer dropped again this soon after it came back waits twice as long.
const SOON_AFTER: Duration = Duration::from_secs(10);

/// Lost packets, of those a receiver report covers, beyond which the budget
/// is what arrived (GCC's loss half answers over seconds).
pub const HEAVY_LOSS: f64 = 0.1;

/// How much the budget after heavy loss grows each step (10 % a second).
const CEILING_GROWTH: f64 = 1.05;

/// The fewest packets newly reported (arrived or lost) that say anything.
const FEWEST_REPORTED: u64 = 20;

/// The lowest bitrate an encoder is capped to.
const MIN_VIDEO_BITRATE: u32 = 100_000;

/// Packet headers on top of the encoded bytes (RTP, SRTP, UDP, IP: about
/// 50 bytes of a 1,200-byte packet).
const HEADER_OVERHEAD: f64 = 1.05;

/// What the publishing connection knows of its uplink.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UplinkFeedback {
    /// GCC's estimate in bits per second (`None` before the first).
    pub estimate: Option<u32>,
    /// Of every packet sent so far, how many the other side's receiver
    /// reports say arrived...
    pub packets_received: u64,
    /// ...and how many they say were lost.
    pub packets_lost: u64,
}

/// One published video track, as the allocator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoDemand {
    /// Which track (the allocator remembers what each sent).
    pub track_id: String,
    /// A screen share (served before the camera).
    pub screen: bool,
    /// Per layer, smallest first (one for a track of one layer): the
    /// bitrate its encoder is set to.
    pub nominal: Vec<u32>,
    /// Per layer: encoded bytes sent so far.
    pub bytes_sent: Vec<u64>,
    /// The layers encoded now (bit `i`: layer `i`).
    pub encoded: u32,
    /// The layers someone watches (bit `i`: layer `i`; `call_video_wanted`).
    pub wanted: u32,
}

/// What one track may send, in the order of the demands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoBudget {
    /// The layers to encode (`u32::MAX`: every one wanted; 0: none, the
    /// video pauses); a layer nobody wants only where no wanted one fits.
    pub layers: u32,
    /// A cap on a track of one layer's encoder (`None`: its own bitrate).
    pub bitrate_cap: Option<u32>,
}

impl VideoBudget {
    /// Everything wanted, at its own bitrate.
    pub const UNLIMITED: Self = Self { layers: u32::MAX, bitrate_cap: None };
}

/// What the allocator remembers of one track.
#[derive(Debug, Default)]
struct TrackState {
    /// The counters and encoded layers at the last update.
    last: Option<(Instant, Vec<u64>, u32)>,
    /// Per layer: bits per second it sent over the last interval it was encoded throughout.
    rate: Vec<Option<u32>>,
    /// The layers allowed at the last update (`None` before the first).
    allowed: Option<u32>,
    /// Per layer: when it was dropped, and how long it waits before coming back.
    held: HashMap<usize, (Instant, Duration)>,
    /// Per layer: when it last came back.
    resumed: HashMap<usize, Instant>,
    /// A track of one layer: its cap and when it last changed.
    cap: Option<u32>,
    cap_changed: Option<Instant>,
}

/// Shares the uplink estimate out among the video tracks (see the module docs).
#[derive(Debug, Default)]
pub struct UplinkAllocator {
    tracks: HashMap<String, TrackState>,
    estimate: Option<u32>,
    /// The receiver reports' counters when loss was last judged.
    reported: (u64, u64),
    /// What arrived at the last heavy loss, growing since: the budget goes
    /// no higher while it is below the estimate.
    ceiling: Option<f64>,
}

impl UplinkAllocator {
    /// An allocator that has seen nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The budget of the last [`UplinkAllocator::update`], bits per
    /// second: the estimate, or less after heavy loss (`None`: unlimited).
    pub fn estimate(&self) -> Option<u32> {
        self.estimate
    }

    /// Measures what each track sent since the last call and shares what
    /// `feedback` says the uplink carries out, `audio` first. One budget
    /// per demand, in their order.
    pub fn update(
        &mut self,
        now: Instant,
        feedback: UplinkFeedback,
        audio: u32,
        demands: &[VideoDemand],
    ) -> Vec<VideoBudget> {
        self.tracks.retain(|id, _| demands.iter().any(|d| &d.track_id == id));
        for demand in demands {
            self.tracks.entry(demand.track_id.clone()).or_default().measure(now, demand);
        }
        // After heavy loss, what arrived is the budget, growing by
        // CEILING_GROWTH a step until the estimate is the lower again: an
        // estimate that climbed while little was sent has not been tried.
        self.ceiling = match self.arrived_after_loss(feedback, audio, demands) {
            Some(arrived) => Some(f64::from(arrived)),
            None => self.ceiling.map(|ceiling| ceiling * CEILING_GROWTH),
        };
        let estimate = match (feedback.estimate, self.ceiling) {
            (Some(estimate), Some(ceiling)) if ceiling >= f64::from(estimate) => {
                self.ceiling = None;
                Some(estimate)
            }
            (estimate, ceiling) => ceiling.map(|c| c as u32).or(estimate),
        };
        self.estimate = estimate;
        let Some(estimate) = estimate else {
            return demands.iter().map(|_| VideoBudget::UNLIMITED).collect();
        };
        let mut remaining = f64::from(estimate.saturating_sub(audio));
        let slack = f64::from(estimate) * (TOLERANCE - 1.0);
        let mut budgets = vec![VideoBudget::UNLIMITED; demands.len()];
        // Screen shares first, then the rest, each in the order given.
        let mut order: Vec<usize> = (0..demands.len()).collect();
        order.sort_by_key(|&i| !demands[i].screen);
        for i in order {
            let demand = &demands[i];
            let Some(state) = self.tracks.get_mut(&demand.track_id) else { continue };
            let (budget, used) = if demand.nominal.len() <= 1 {
                state.cap_single(now, demand, remaining, slack)
            } else {
                state.choose_layers(now, demand, remaining, slack)
            };
            budgets[i] = budget;
            remaining = (remaining - used).max(0.0);
        }
        budgets
    }

    /// What arrived of what was sent, when the receiver reports since the
    /// last judgement say more than [`HEAVY_LOSS`] of it was lost (at least
    /// room for the voice and each video's smallest layer).
    fn arrived_after_loss(
        &mut self,
        feedback: UplinkFeedback,
        audio: u32,
        demands: &[VideoDemand],
    ) -> Option<u32> {
        let received = feedback.packets_received.saturating_sub(self.reported.0);
        let lost = feedback.packets_lost.saturating_sub(self.reported.1);
        if received + lost < FEWEST_REPORTED {
            return None;
        }
        self.reported = (feedback.packets_received, feedback.packets_lost);
        let loss = lost as f64 / (received + lost) as f64;
        if loss <= HEAVY_LOSS {
            return None;
        }
        let video: f64 = demands
            .iter()
            .filter_map(|demand| {
                let state = self.tracks.get(&demand.track_id)?;
                let encoded = (0..state.rate.len()).filter(|l| demand.encoded & (1 << l) != 0);
                Some(encoded.filter_map(|l| state.rate[l]).map(f64::from).sum::<f64>())
            })
            .sum();
        // Never below the voice and each video's smallest layer: a report
        // of a burst lost (every layer's first keyframe at once) says how
        // much to drop, not that the video should stop; GCC's estimate,
        // steadier, decides that.
        let smallest: f64 = demands
            .iter()
            .filter_map(|demand| Some(self.tracks.get(&demand.track_id)?.cost(demand, 0)))
            .sum();
        let floor = (f64::from(audio) + smallest) * TOLERANCE;
        Some(((f64::from(audio) + video) * (1.0 - loss)).max(floor) as u32)
    }
}

impl TrackState {
    /// Rates of the layers encoded throughout the interval since the last update.
    fn measure(&mut self, now: Instant, demand: &VideoDemand) {
        self.rate.resize(demand.nominal.len(), None);
        if let Some((then, bytes, encoded)) = &self.last {
            let seconds = now.saturating_duration_since(*then).as_secs_f64();
            for (layer, rate) in self.rate.iter_mut().enumerate() {
                let throughout = (encoded & demand.encoded) & (1 << layer) != 0;
                let (Some(before), Some(after)) = (bytes.get(layer), demand.bytes_sent.get(layer)) else {
                    continue;
                };
                if throughout && seconds > 0.0 {
                    let bits = after.saturating_sub(*before) as f64 * 8.0 * HEADER_OVERHEAD;
                    *rate = Some((bits / seconds) as u32);
                }
            }
        }
        self.last = Some((now, demand.bytes_sent.clone(), demand.encoded));
    }

    /// What layer `layer` costs: what it sent, or its nominal rate if it never was measured.
    fn cost(&self, demand: &VideoDemand, layer: usize) -> f64 {
        let nominal = demand.nominal.get(layer).copied().unwrap_or(0);
        f64::from(self.rate.get(layer).copied().flatten().unwrap_or(nominal))
    }

    /// Of the wanted layers, smallest first, those that fit `remaining`
    /// (one sent now: `remaining` and `slack`); if not even the smallest
    /// wanted one does, the largest layer below it that does (the SFU
    /// forwards what arrives), or none: the video pauses before the audio
    /// suffers. Returns the budget and what it uses.
    fn choose_layers(
        &mut self,
        now: Instant,
        demand: &VideoDemand,
        remaining: f64,
        slack: f64,
    ) -> (VideoBudget, f64) {
        let count = demand.nominal.len();
        let wanted: Vec<usize> = (0..count).filter(|l| demand.wanted & (1 << l) != 0).collect();
        let was_allowed = self.allowed.unwrap_or(u32::MAX);
        // Whether `layer` fits on top of `used`: a layer sent now within the
        // slack, one held back with a margin once it has waited.
        let fits = |state: &Self, layer: usize, used: f64| {
            let cost = state.cost(demand, layer);
            if was_allowed & (1 << layer) != 0 {
                used + cost <= remaining + slack
            } else {
                let waited = state
                    .held
                    .get(&layer)
                    .is_none_or(|(since, wait)| now.saturating_duration_since(*since) >= *wait);
                waited && used + cost * RESUME_MARGIN <= remaining
            }
        };
        let (mut allowed, mut used) = (0u32, 0.0);
        for &layer in &wanted {
            if !fits(self, layer, used) {
                break;
            }
            allowed |= 1 << layer;
            used += self.cost(demand, layer);
        }
        if allowed == 0 {
            let smallest_wanted = wanted.first().copied().unwrap_or(count);
            if let Some(layer) = (0..smallest_wanted.min(count)).rev().find(|&l| fits(self, l, 0.0)) {
                allowed = 1 << layer;
                used = self.cost(demand, layer);
            }
        }
        for layer in 0..count {
            let bit = 1 << layer;
            if was_allowed & bit != 0 && allowed & bit == 0 && demand.encoded & bit != 0 {
                let again_soon = self
                    .resumed
                    .get(&layer)
                    .is_some_and(|at| now.saturating_duration_since(*at) < SOON_AFTER);
                let wait = match self.held.get(&layer) {
                    Some((_, wait)) if again_soon => (*wait * 2).min(LONGEST_WAIT),
                    _ => FIRST_WAIT,
                };
                self.held.insert(layer, (now, wait));
            } else if was_allowed & bit == 0 && allowed & bit != 0 {
                self.resumed.insert(layer, now);
            }
        }
        self.allowed = Some(allowed);
        let every_wanted = wanted.iter().all(|l| allowed & (1 << l) != 0);
        let layers = if every_wanted { u32::MAX } else { allowed };
        (VideoBudget { layers, bitrate_cap: None }, used)
    }

    /// A track of one layer: its encoder capped below what it sends once
    /// that is beyond `remaining` and `slack`, raised again (at most every
    /// [`FIRST_WAIT`]) as the estimate rises. Returns the budget and what it uses.
    fn cap_single(
        &mut self,
        now: Instant,
        demand: &VideoDemand,
        remaining: f64,
        slack: f64,
    ) -> (VideoBudget, f64) {
        let nominal = demand.nominal.first().copied().unwrap_or(MIN_VIDEO_BITRATE);
        let sent = self.rate.first().copied().flatten().map_or(0.0, f64::from);
        let share = (remaining * 0.9).clamp(f64::from(MIN_VIDEO_BITRATE), f64::from(nominal)) as u32;
        let current = self.cap.unwrap_or(nominal);
        let waited = self.cap_changed.is_none_or(|at| now.saturating_duration_since(at) >= FIRST_WAIT);
        // Lowered at once when what it sends is beyond the estimate; raised
        // once it has waited, in steps worth an encoder restart (a keyframe).
        let lower = sent > remaining + slack && f64::from(share) < f64::from(current) * 0.8;
        let step = f64::from(share) >= f64::from(current) * 1.25 || (share == nominal && share > current);
        let raise = self.cap.is_some() && waited && step;
        if lower || raise {
            self.cap = (share < nominal).then_some(share);
            self.cap_changed = Some(now);
        }
        (VideoBudget { layers: u32::MAX, bitrate_cap: self.cap }, sent.min(remaining))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A simulcast camera of nominal 100/375/1500 kbit/s sending `rates`
    /// (bits per second per layer) for `seconds` from `bytes`.
    struct Camera {
        bytes: Vec<u64>,
        encoded: u32,
    }

    impl Camera {
        fn new() -> Self {
            Self { bytes: vec![0; 3], encoded: 0b111 }
        }

        /// Sends `rates` for one interval on the layers encoded, and the demand after it.
        fn send(&mut self, rates: [u32; 3]) -> VideoDemand {
            for (layer, rate) in rates.iter().enumerate() {
                if self.encoded & (1 << layer) != 0 {
                    self.bytes[layer] += u64::from(*rate) / 8 / 2;
                }
            }
            self.demand()
        }

        fn demand(&self) -> VideoDemand {
            VideoDemand {
                track_id: "camera".into(),
                screen: false,
                nominal: vec![100_000, 375_000, 1_500_000],
                bytes_sent: self.bytes.clone(),
                encoded: self.encoded,
                wanted: 0b111,
            }
        }

        fn apply(&mut self, budget: VideoBudget) {
            self.encoded = 0b111 & budget.layers;
        }
    }

    const FULL: [u32; 3] = [100_000, 375_000, 1_500_000];

    /// The layers a camera sending `rates` encodes after each step of
    /// `estimates` (GCC's alone), one step an [`UPLINK_INTERVAL`].
    fn layers_through(rates: [u32; 3], estimates: &[u32]) -> Vec<u32> {
        let (mut allocator, mut camera, start) = (UplinkAllocator::new(), Camera::new(), Instant::now());
        (1..)
            .zip(estimates)
            .map(|(n, &estimate)| {
                let demand = camera.send(rates);
                let at = start + UPLINK_INTERVAL * n;
                camera.apply(allocator.update(at, gcc(estimate), AUDIO_RESERVE, &[demand])[0]);
                camera.encoded
            })
            .collect()
    }

    /// GCC's estimate alone, no receiver report yet.
    fn gcc(estimate: u32) -> UplinkFeedback {
        UplinkFeedback { estimate: Some(estimate), ..UplinkFeedback::default() }
    }

    #[test]
    fn a_receiver_report_of_heavy_loss_brings_the_budget_down_to_what_arrived_at_once() {
        let (mut allocator, mut camera, start) = (UplinkAllocator::new(), Camera::new(), Instant::now());
        let mut feedback = gcc(3_000_000);
        let step =
            |allocator: &mut UplinkAllocator, camera: &mut Camera, feedback: UplinkFeedback, n: u32| {
                let demand = camera.send(FULL);
                camera.apply(
                    allocator.update(start + UPLINK_INTERVAL * n, feedback, AUDIO_RESERVE, &[demand])[0],
                );
                camera.encoded
            };
        assert_eq!(step(&mut allocator, &mut camera, feedback, 1), 0b111);
        // A report of 95 arrived and 5 lost (5 %): nothing changes.
        (feedback.packets_received, feedback.packets_lost) = (95, 5);
        assert_eq!(step(&mut allocator, &mut camera, feedback, 2), 0b111);
        // GCC still says 3 Mbit/s, but the next report says 70 of 100 were lost:
        // 30 % of about 2.1 Mbit/s arrived, room for the two smaller layers only.
        (feedback.packets_received, feedback.packets_lost) = (125, 75);
        assert_eq!(step(&mut allocator, &mut camera, feedback, 3), 0b011);
        let budget = allocator.estimate().expect("a budget");
        assert!((600_000..700_000).contains(&budget), "{budget}");
        // No new report: the budget grows from what arrived, 5 % a step, until
        // it reaches GCC's estimate; the top layer comes back on the way.
        assert_eq!(step(&mut allocator, &mut camera, feedback, 4), 0b011);
        assert_eq!(allocator.estimate(), Some((f64::from(budget) * CEILING_GROWTH) as u32));
        let steps_to_the_estimate = (3_000_000.0 / f64::from(budget)).ln() / CEILING_GROWTH.ln();
        for n in 5..(5 + steps_to_the_estimate.ceil() as u32) {
            step(&mut allocator, &mut camera, feedback, n);
        }
        assert_eq!(allocator.estimate(), Some(3_000_000));
        assert_eq!(camera.encoded, 0b111);
    }

    #[test]
    fn without_an_estimate_everything_wanted_is_sent() {
        let mut allocator = UplinkAllocator::new();
        let budgets = allocator.update(
            Instant::now(),
            UplinkFeedback::default(),
            AUDIO_RESERVE,
            &[Camera::new().demand()],
        );
        assert_eq!(budgets, vec![VideoBudget::UNLIMITED]);
    }

    #[test]
    fn a_slow_uplink_keeps_the_layers_that_fit_and_they_come_back_once_it_recovers() {
        let (mut allocator, mut camera, start) = (UplinkAllocator::new(), Camera::new(), Instant::now());
        let at = |step: u32| start + UPLINK_INTERVAL * step;
        let mut step = 0;
        let mut run = |allocator: &mut UplinkAllocator, camera: &mut Camera, estimate: u32, steps: u32| {
            for _ in 0..steps {
                step += 1;
                let demand = camera.send(FULL);
                let budget = allocator.update(at(step), gcc(estimate), AUDIO_RESERVE, &[demand])[0];
                camera.apply(budget);
            }
            camera.encoded
        };
        // A link that carries everything.
        assert_eq!(run(&mut allocator, &mut camera, 3_000_000, 4), 0b111);
        // 400 kbit/s: 105 + 394 sent does not fit beside the audio, even with
        // the slack (350 + 100), so only the smallest layer goes on.
        assert_eq!(run(&mut allocator, &mut camera, 400_000, 1), 0b001);
        // 700 kbit/s soon after: the middle layer waits its turn, then comes back.
        assert_eq!(run(&mut allocator, &mut camera, 700_000, 2), 0b001, "came back before its wait");
        assert_eq!(run(&mut allocator, &mut camera, 700_000, 8), 0b011);
        // The top one comes back when there is room for it with a margin.
        assert_eq!(run(&mut allocator, &mut camera, 2_300_000, 1), 0b011, "no margin yet");
        assert_eq!(run(&mut allocator, &mut camera, 2_600_000, 1), 0b111);
    }

    #[test]
    fn a_layer_dropped_again_soon_after_it_came_back_waits_twice_as_long() {
        let (mut allocator, mut camera, start) = (UplinkAllocator::new(), Camera::new(), Instant::now());
        let mut now = start;
        let mut step = |allocator: &mut UplinkAllocator, camera: &mut Camera, estimate: u32| {
            now += UPLINK_INTERVAL;
            let budget = allocator.update(now, gcc(estimate), AUDIO_RESERVE, &[camera.send(FULL)])[0];
            camera.apply(budget);
            (now.duration_since(start), camera.encoded)
        };
        step(&mut allocator, &mut camera, 3_000_000);
        let (dropped_at, layers) = step(&mut allocator, &mut camera, 1_000_000);
        assert_eq!(layers, 0b011);
        let back_at = loop {
            let (at, layers) = step(&mut allocator, &mut camera, 3_000_000);
            if layers == 0b111 {
                break at;
            }
        };
        assert_eq!(back_at - dropped_at, FIRST_WAIT);
        let (dropped_again_at, _) = step(&mut allocator, &mut camera, 1_000_000);
        let back_again_at = loop {
            let (at, layers) = step(&mut allocator, &mut camera, 3_000_000);
            if layers == 0b111 {
                break at;
            }
        };
        assert_eq!(back_again_at - dropped_again_at, FIRST_WAIT * 2);
    }

    #[test]
    fn a_light_source_is_not_cut_for_its_nominal_rate() {
        // A test pattern: 250 kbit/s at the top, under a 400 kbit/s estimate after one overuse.
        let estimates = [[3_000_000; 2].as_slice(), &[400_000; 8]].concat();
        assert_eq!(layers_through([30_000, 70_000, 250_000], &estimates).last(), Some(&0b111));
    }

    #[test]
    fn a_camera_pauses_when_not_even_its_smallest_layer_fits_beside_the_voice() {
        let estimates = [[3_000_000; 2].as_slice(), &[100_000; 3], &[400_000; 25]].concat();
        let encoded = layers_through(FULL, &estimates);
        // 100 kbit/s leaves 50 for video (62.5 with the slack): the smallest layer sends 105.
        assert_eq!(encoded[2..5], [0, 0, 0]);
        // At 400 kbit/s it comes back once it has waited (4 s from its pause), alone.
        assert_eq!(encoded.iter().skip(2).position(|&e| e != 0).map(|p| p + 3), Some(11));
        assert_eq!(encoded[29], 0b001);
    }

    #[test]
    fn one_overuse_answered_with_85_percent_of_what_arrived_drops_nothing() {
        // A light 640×360 camera in three layers, and the voice (56 kbit/s with its headers).
        let light = [20_000, 40_000, 100_000];
        let arrived = (light.iter().sum::<u32>() as f64 * HEADER_OVERHEAD) as u32 + 56_000;
        let estimates = [[3_000_000; 2].as_slice(), &[arrived * 85 / 100; 8]].concat();
        assert_eq!(layers_through(light, &estimates).last(), Some(&0b111));
    }

    #[test]
    fn a_screen_share_is_served_before_the_camera_and_its_encoder_follows_the_estimate() {
        let (mut allocator, mut camera, start) = (UplinkAllocator::new(), Camera::new(), Instant::now());
        let mut screen_bytes = 0u64;
        let mut screen_rate = 1_500_000u32;
        let mut outcome = Vec::new();
        for (step, estimate) in [(1, 4_000_000), (2, 4_000_000), (3, 900_000), (4, 900_000)]
            .into_iter()
            .chain((5..=30).map(|s| (s, 4_000_000)))
        {
            screen_bytes += u64::from(screen_rate) / 16;
            let screen = VideoDemand {
                track_id: "screen".into(),
                screen: true,
                nominal: vec![1_500_000],
                bytes_sent: vec![screen_bytes],
                encoded: 1,
                wanted: 1,
            };
            let budgets = allocator.update(
                start + UPLINK_INTERVAL * step,
                gcc(estimate),
                AUDIO_RESERVE,
                &[camera.send(FULL), screen],
            );
            camera.apply(budgets[0]);
            screen_rate = budgets[1].bitrate_cap.unwrap_or(1_500_000);
            outcome.push((step, camera.encoded, budgets[1].bitrate_cap));
        }
        // At 900 kbit/s the screen gets 90 % of what is left after the audio, the camera its smallest layer.
        assert_eq!(outcome[2], (3, 0b001, Some(765_000)));
        // Back at 4 Mbit/s: the screen's cap goes after its wait, the camera's layers after theirs.
        assert_eq!(outcome[3], (4, 0b001, Some(765_000)), "raised before its wait");
        let screen_back = outcome.iter().skip(3).find(|(_, _, cap)| cap.is_none()).map(|o| o.0);
        assert_eq!(screen_back, Some(11), "{outcome:?}");
        assert_eq!(outcome.last().map(|o| o.1), Some(0b111), "{outcome:?}");
    }
}
