//! The engine in simulated time ([`crate::sim`]): str0m peers as the
//! clients, datagrams handed across in memory, the clock moved by hand.

use std::time::Duration;

use concord_common::UserId;

use super::{Event, SILENCE_LIMIT};
use crate::sim::{payload_of, World, VIDEO_PAYLOAD};

#[test]
fn each_hears_the_other_in_order_and_a_silent_one_is_lost_after_seven_seconds() {
    let mut world = World::new();
    let (ada, bob) = (world.join(1, false), world.join(2, false));
    world.run_for(Duration::from_secs(2));

    for (listener, speaker) in [(ada, bob), (bob, ada)] {
        let user = world.participants[speaker].user;
        let heard = &world.participants[listener].receiving.as_ref().expect("a receiving leg").received;
        assert!(heard.len() >= 50, "{} packets in 2 s", heard.len());
        // Every packet in order, each carrying the one the speaker sent
        // (the engine renumbers: the first forwarded one need not be the first sent).
        let first_sent = u64::from_be_bytes(heard[0].1[8..16].try_into().expect("a sequence number"));
        for (i, (seq, payload)) in heard.iter().enumerate() {
            assert_eq!(*seq, heard[0].0 + i as u64, "packet {i} out of order");
            assert_eq!(payload, &payload_of(user, first_sent + i as u64), "packet {i}'s payload");
        }
        assert!(heard[0].0 < 65_536, "a downtrack starts at rollover 0 (SRTP): {}", heard[0].0);
    }
    let speaking: Vec<(UserId, bool)> = world
        .emitted
        .iter()
        .filter_map(|e| match e {
            Event::Speaking { user, speaking, .. } => Some((*user, *speaking)),
            _ => None,
        })
        .collect();
    assert!(speaking.contains(&(world.participants[ada].user, true)), "{speaking:?}");
    assert!(speaking.contains(&(world.participants[bob].user, true)), "{speaking:?}");
    assert_eq!(world.lost(), Vec::<u64>::new());
    // aiortc reads `a=msid` (whose track is whose) only under an `a=msid-semantic` line.
    let offers: Vec<&String> = world
        .emitted
        .iter()
        .filter_map(|e| match e {
            Event::SubscribeOffer { sdp, .. } => Some(sdp),
            _ => None,
        })
        .collect();
    assert!(!offers.is_empty() && offers.iter().all(|sdp| sdp.contains("a=msid-semantic:")), "{offers:?}");

    // Bob's machine vanishes: nothing of his arrives any more.
    world.participants[bob].gone_silent = true;
    world.run_for(SILENCE_LIMIT - Duration::from_millis(500));
    assert_eq!(world.lost(), Vec::<u64>::new(), "not before the silence limit");
    world.run_for(Duration::from_secs(1));
    assert_eq!(world.lost(), vec![world.participants[bob].conn], "Bob, and only Bob, is lost");
    let stats = world.engine.stats();
    assert_eq!((stats.participants, stats.peer_connections), (1, 2), "Ada's two connections stay");
}

#[test]
fn three_with_cameras_each_get_every_packet_of_both_others_once_in_order() {
    let mut world = World::new();
    for n in 1..=3 {
        world.join(n, true);
    }
    // Up, and every offer answered.
    world.run_for(Duration::from_secs(2));
    let before: Vec<usize> =
        world.participants.iter().map(|p| p.receiving.as_ref().map_or(0, |l| l.received.len())).collect();
    world.run_for(Duration::from_secs(1));
    for (i, participant) in world.participants.iter().enumerate() {
        let received = &participant.receiving.as_ref().expect("a receiving leg").received[before[i]..];
        for other in world.participants.iter().filter(|o| o.user != participant.user) {
            for (kind, length, per_second) in [("audio", 16, 50), ("video", VIDEO_PAYLOAD, 100)] {
                // The sender's own numbering, as the payload carries it.
                let sent: Vec<u64> = received
                    .iter()
                    .filter(|(_, p)| p.len() == length && p[..8] == other.user.0.to_be_bytes())
                    .map(|(_, p)| u64::from_be_bytes(p[8..16].try_into().expect("a sequence number")))
                    .collect();
                let what = format!("{i} <- {} {kind}: {sent:?}", other.user);
                assert!(sent.windows(2).all(|w| w[1] == w[0] + 1), "each once, in order: {what}");
                assert!(sent.len().abs_diff(per_second) <= 2, "a second's worth: {what}");
            }
        }
    }
    assert_eq!(world.lost(), Vec::<u64>::new());
}
