//! Latency summaries for benchmarks.

use std::time::Duration;

use serde_json::json;

/// p50/p90/p99/max of a set of durations, in milliseconds, as JSON.
pub fn percentiles(samples: &mut [Duration]) -> serde_json::Value {
    samples.sort_unstable();
    let at = |q: f64| {
        if samples.is_empty() {
            return 0.0;
        }
        let index = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[index].as_secs_f64() * 1000.0
    };
    json!({
        "count": samples.len(),
        "p50_ms": round3(at(0.50)),
        "p90_ms": round3(at(0.90)),
        "p95_ms": round3(at(0.95)),
        "p99_ms": round3(at(0.99)),
        "max_ms": round3(at(1.0)),
    })
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}
