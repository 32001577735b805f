//! A subscriber's outgoing packets. Each subscriber has its own bounded
//! queue: when a subscriber cannot keep up (a slow link, a vanished peer),
//! its queue fills and further packets *for it* are dropped and counted;
//! nobody else waits. (The transport then asks for a keyframe once the
//! subscriber drains, so its video recovers.)

use std::collections::VecDeque;

/// Packets waiting to be sent to one subscriber.
#[derive(Debug)]
pub struct SubscriberQueue<T> {
    capacity: usize,
    packets: VecDeque<T>,
    dropped: u64,
    dropped_since_drain: bool,
}

impl<T> SubscriberQueue<T> {
    /// A queue holding at most `capacity` packets (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self { capacity, packets: VecDeque::with_capacity(capacity), dropped: 0, dropped_since_drain: false }
    }

    /// Queues `packet`; `false` (and the packet is dropped) when full.
    pub fn push(&mut self, packet: T) -> bool {
        if self.packets.len() >= self.capacity {
            self.dropped += 1;
            self.dropped_since_drain = true;
            return false;
        }
        self.packets.push_back(packet);
        true
    }

    /// The next packet to send.
    pub fn pop(&mut self) -> Option<T> {
        self.packets.pop_front()
    }

    /// Packets waiting.
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// Packets dropped since the queue was made.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Whether packets were dropped since the last call (then the
    /// subscriber's video needs a keyframe to recover); resets the flag.
    pub fn take_dropped(&mut self) -> bool {
        std::mem::take(&mut self.dropped_since_drain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stalled_subscriber_drops_its_own_packets_and_nobody_elses() {
        let mut fast = SubscriberQueue::new(64);
        let mut stalled = SubscriberQueue::new(64);
        let mut delivered = Vec::new();
        for seq in 0..1000u16 {
            // The SFU offers every packet to both; the fast one is drained at once.
            fast.push(seq);
            stalled.push(seq);
            while let Some(p) = fast.pop() {
                delivered.push(p);
            }
        }
        assert_eq!(delivered, (0..1000).collect::<Vec<_>>(), "the fast subscriber got everything, in order");
        assert_eq!(
            (stalled.len(), stalled.dropped()),
            (64, 936),
            "the stalled one holds 64 and dropped the rest"
        );
        assert!(stalled.take_dropped() && !stalled.take_dropped(), "the loss is reported once");
        // It drains what it kept: the oldest first.
        assert_eq!(stalled.pop(), Some(0));
        assert!(stalled.push(1000), "room again after draining");
    }
}
