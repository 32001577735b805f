//! A one-frame mailbox where the newest frame wins.
//!
//! Between a capture thread and an encoder, or a decoder and the screen, an
//! old frame is worth nothing once a newer one exists: the producer replaces
//! whatever is waiting, so a slow consumer drops frames instead of falling
//! behind.

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

/// The newest-wins mailbox.
#[derive(Default)]
pub struct LatestSlot<T> {
    state: Mutex<SlotState<T>>,
    ready: Condvar,
}

struct SlotState<T> {
    value: Option<T>,
    closed: bool,
    replaced: u64,
}

impl<T> Default for SlotState<T> {
    fn default() -> Self {
        Self { value: None, closed: false, replaced: 0 }
    }
}

impl<T> LatestSlot<T> {
    /// An empty, open slot.
    pub fn new() -> Self {
        Self { state: Mutex::new(SlotState::default()), ready: Condvar::new() }
    }

    /// Puts a value, dropping the one still waiting (counted in [`Self::replaced`]).
    pub fn put(&self, value: T) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.value.replace(value).is_some() {
            state.replaced += 1;
        }
        self.ready.notify_one();
    }

    /// Takes the waiting value, if any, without blocking.
    pub fn take(&self) -> Option<T> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).value.take()
    }

    /// Waits up to `timeout` for a value. `Err(Closed)` once the slot is closed and empty.
    pub fn wait(&self, timeout: Duration) -> Result<Option<T>, Closed> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (mut state, _) = self
            .ready
            .wait_timeout_while(state, timeout, |s| s.value.is_none() && !s.closed)
            .unwrap_or_else(PoisonError::into_inner);
        match state.value.take() {
            Some(value) => Ok(Some(value)),
            None if state.closed => Err(Closed),
            None => Ok(None),
        }
    }

    /// Closes the slot: the consumer sees [`Closed`] after the last value.
    pub fn close(&self) {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).closed = true;
        self.ready.notify_all();
    }

    /// How many values were dropped because a newer one replaced them.
    pub fn replaced(&self) -> u64 {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).replaced
    }
}

/// The producer closed the slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_value_wins_and_replacements_are_counted() {
        let slot = LatestSlot::new();
        slot.put(1);
        slot.put(2);
        slot.put(3);
        assert_eq!(slot.wait(Duration::from_millis(1)), Ok(Some(3)));
        assert_eq!(slot.replaced(), 2);
        assert_eq!(slot.wait(Duration::from_millis(1)), Ok(None));
        slot.close();
        assert_eq!(slot.wait(Duration::from_millis(1)), Err(Closed));
    }
}
