//! Time-ordered 64-bit ids (snowflake layout): 41 bits of milliseconds since
//! 2024-01-01, 10 bits of instance, 12 bits of sequence. Sorting by id sorts by
//! creation time, and several instances never hand out the same id as long as
//! their instance numbers differ.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// 2024-01-01T00:00:00Z in Unix milliseconds.
const EPOCH_MS: i64 = 1_704_067_200_000;
const INSTANCE_BITS: u32 = 10;
const SEQUENCE_BITS: u32 = 12;
const SEQUENCE_MASK: i64 = (1 << SEQUENCE_BITS) - 1;

/// The current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Hands out unique, increasing ids for one server instance.
#[derive(Debug)]
pub struct IdGenerator {
    instance: i64,
    /// (last millisecond used, sequence within it)
    state: Mutex<(i64, i64)>,
}

impl IdGenerator {
    /// A generator for instance number `instance` (only its low 10 bits count).
    pub fn new(instance: u16) -> Self {
        Self { instance: i64::from(instance) & ((1 << INSTANCE_BITS) - 1), state: Mutex::new((0, 0)) }
    }

    /// The next id; strictly greater than every id this generator returned before.
    pub fn next(&self) -> i64 {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut ms = (now_ms() - EPOCH_MS).max(state.0);
        let sequence = if ms == state.0 {
            let next = (state.1 + 1) & SEQUENCE_MASK;
            if next == 0 {
                // 4096 ids in one millisecond: borrow the next millisecond.
                ms += 1;
            }
            next
        } else {
            0
        };
        *state = (ms, sequence);
        (ms << (INSTANCE_BITS + SEQUENCE_BITS)) | (self.instance << SEQUENCE_BITS) | sequence
    }
}

/// The Unix-millisecond timestamp an id was created at.
pub fn id_time_ms(id: i64) -> i64 {
    (id >> (INSTANCE_BITS + SEQUENCE_BITS)) + EPOCH_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_increase_strictly_and_carry_their_time() {
        let generator = IdGenerator::new(7);
        let before = now_ms();
        let ids: Vec<i64> = (0..20_000).map(|_| generator.next()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        assert!(id_time_ms(ids[0]) >= before);
        assert!(ids.iter().all(|id| (id >> SEQUENCE_BITS) & 0x3ff == 7));
    }

    #[test]
    fn instances_never_collide() {
        let a = IdGenerator::new(1);
        let b = IdGenerator::new(2);
        let mut all: Vec<i64> = (0..5000).flat_map(|_| [a.next(), b.next()]).collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
    }
}
