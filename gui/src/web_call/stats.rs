//! The stats overlay's figures in the browser: once a second the
//! receiving connection's `getStats()` report, turned into one
//! [`TrackStats`] per remote track from the change since the last report
//! (as the desktop's counters are).

use std::collections::HashMap;

use concord_common::events::TrackSource;
use concord_common::UserId;
use wasm_bindgen::{JsCast as _, JsValue};

use crate::media::protocol::TrackStats;

/// One inbound track's counters at the last report.
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    bytes: f64,
    frames: f64,
    packets: f64,
    lost: f64,
    at_ms: f64,
}

/// Turns successive reports into per-second samples.
#[derive(Default)]
pub struct StatsSampler {
    last: HashMap<String, Counters>,
}

impl StatsSampler {
    /// One sample per remote track in `report` (an `RTCStatsReport`) whose
    /// media section `whose` can name; the first report of a track only
    /// sets its baseline.
    pub fn sample(
        &mut self,
        report: &JsValue,
        whose: impl Fn(&str) -> Option<(UserId, TrackSource)>,
    ) -> Vec<TrackStats> {
        // An RTCStatsReport is map-like (forEach(value, key)), not a Map.
        let report = report.unchecked_ref::<js_sys::Map>();
        let mut inbound = Vec::new();
        let mut rtt_ms = None;
        report.for_each(&mut |entry, _id| match text(&entry, "type").as_deref() {
            Some("inbound-rtp") => inbound.push(entry),
            Some("candidate-pair") if text(&entry, "state").as_deref() == Some("succeeded") => {
                if let Some(rtt) = number(&entry, "currentRoundTripTime") {
                    rtt_ms = Some(rtt as f32 * 1000.0);
                }
            }
            _ => {}
        });
        let mut samples = Vec::new();
        for entry in inbound {
            let Some(mid) = text(&entry, "mid") else { continue };
            let Some((user, source)) = whose(&mid) else { continue };
            let audio = text(&entry, "kind").as_deref() == Some("audio");
            let packets = number(&entry, "packetsReceived").unwrap_or(0.0);
            let now = Counters {
                bytes: number(&entry, "bytesReceived").unwrap_or(0.0),
                // Audio's picture rate is its packet rate (as on the desktop).
                frames: if audio { packets } else { number(&entry, "framesDecoded").unwrap_or(0.0) },
                packets,
                lost: number(&entry, "packetsLost").unwrap_or(0.0).max(0.0),
                at_ms: number(&entry, "timestamp").unwrap_or(0.0),
            };
            let Some(before) = self.last.insert(mid, now) else { continue };
            let seconds = ((now.at_ms - before.at_ms) / 1000.0).max(0.001);
            let (packets, lost) = (now.packets - before.packets, now.lost - before.lost);
            let expected = packets + lost;
            samples.push(TrackStats {
                user,
                source,
                kbps: ((now.bytes - before.bytes) * 8.0 / 1000.0 / seconds) as f32,
                fps: ((now.frames - before.frames) / seconds) as f32,
                loss_percent: if expected > 0.0 { (lost * 100.0 / expected) as f32 } else { 0.0 },
                rtt_ms,
                // The browser mixes the `<audio>` elements itself; nothing to measure here.
                heard_dbfs: None,
            });
        }
        samples
    }

    /// Forgets every track (the receiving connection was made anew).
    pub fn clear(&mut self) {
        self.last.clear();
    }
}

fn field(entry: &JsValue, name: &str) -> JsValue {
    js_sys::Reflect::get(entry, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
}

/// My microphone's level in `report` (the publishing connection's
/// `RTCStatsReport`): its `media-source` entry's `audioLevel`, 0 to 1.
pub fn microphone_level(report: &JsValue) -> Option<f64> {
    let report = report.unchecked_ref::<js_sys::Map>();
    let mut level = None;
    report.for_each(&mut |entry, _id| {
        if text(&entry, "type").as_deref() == Some("media-source")
            && text(&entry, "kind").as_deref() == Some("audio")
        {
            level = level.or(number(&entry, "audioLevel"));
        }
    });
    level
}

fn text(entry: &JsValue, name: &str) -> Option<String> {
    field(entry, name).as_string()
}

fn number(entry: &JsValue, name: &str) -> Option<f64> {
    field(entry, name).as_f64()
}
