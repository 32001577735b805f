//! One call across two server instances (`concord-server` child processes
//! on one MariaDB and one Redis): bots whose websockets are on different
//! instances are in the same call and see and hear each other; the call
//! moves when the instance hosting it is killed (SIGKILL) or restarted
//! (SIGTERM), and its participants carry on.
//!
//! In the `calls` test group (one at a time, `.ci/nextest.toml`), like
//! `sfu_calls`. The instances and bots are [`cluster`]'s.

#[path = "support/cluster.rs"]
mod cluster;

use std::time::{Duration, Instant};

use cluster::{instance_env, longest_video_gap, room_for, start_instance, Bots, SAY_DEADLINE};
use concord_common::events::{CallParticipantJoined, CallParticipantLeft};
use concord_common::{RoomId, ServerEvent, UserId};
use concord_testkit::balancer::{free_port, Balancer};
use concord_testkit::redis::RedisServer;
use concord_testkit::server::{Account, TestServer};
use concord_testkit::ws::Ws;
use concord_testkit::{unique, Backend, Database};
use serde_json::{json, Value};

/// Who joined and left `room`'s call, as `ws` (a member's socket) is told, until `until` holds.
async fn roster_until(
    ws: &mut Ws,
    room: RoomId,
    within: Duration,
    what: &str,
    mut until: impl FnMut(&[(UserId, bool)]) -> bool,
) -> Vec<(UserId, bool)> {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    while !until(&seen) {
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = ws
            .next_frame_within(left)
            .await
            .unwrap_or_else(|code| panic!("{what}: closed ({code:?}); saw {seen:?}"));
        match frame.event {
            ServerEvent::CallParticipantJoined(CallParticipantJoined { room_id, participant })
                if room_id == room =>
            {
                seen.push((participant.user_id, true));
            }
            ServerEvent::CallParticipantLeft(CallParticipantLeft { room_id, user_id, .. })
                if room_id == room =>
            {
                seen.push((user_id, false));
            }
            _ => {}
        }
    }
    seen
}

fn joined_count(seen: &[(UserId, bool)], user: UserId) -> usize {
    seen.iter().filter(|(who, joined)| *who == user && *joined).count()
}

/// 2 + 1, then 3 + 3 across two instances; the host is killed and the call
/// goes on at the other one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(skip_mysql, ignore = "CONCORD_TEST_SKIP_MYSQL=1")]
async fn a_call_spans_two_instances_and_goes_on_when_its_host_is_killed() {
    let redis = RedisServer::start();
    let db = Database::create(Backend::MariaDb).await;
    let prefix = unique("concord-calls");
    let mut a = start_instance(&instance_env(&db, &redis, &prefix, 1, 0));
    let b = start_instance(&instance_env(&db, &redis, &prefix, 2, 0));
    let (api_a, api_b) = (TestServer::remote(a.port), TestServer::remote(b.port));
    let (room, side_a, side_b, observer) = room_for(&api_a, "span", 3).await;
    let (mut watch, _) = api_b.connect(&observer).await;

    // 2 + 1: two on A (they join first: A hosts), one on B.
    let mut first = Bots::start(&a.base_url(), room, "spana@example.com", &side_a[..2], &[&side_b[0]]);
    roster_until(&mut watch, room, SAY_DEADLINE, "A's two join", |seen| {
        side_a[..2].iter().all(|u| joined_count(seen, u.id()) == 1)
    })
    .await;
    let mut second =
        Bots::start(&b.base_url(), room, "spanb+1@example.com", &side_b[..1], &[&side_a[0], &side_a[1]]);
    first.received("2 + 1, on A").await;
    second.received("2 + 1, on B").await;
    for report in first.reports().await.into_iter().chain(second.reports().await) {
        assert_eq!(report["rejoins"], 0, "{report:#}");
        assert_eq!(report["errors"], json!([]), "{report:#}");
    }

    // 3 + 3.
    let a_ids: Vec<&Account> = side_a.iter().collect();
    let b_ids: Vec<&Account> = side_b.iter().collect();
    let mut on_a = Bots::start(&a.base_url(), room, "spana@example.com", &side_a, &b_ids);
    roster_until(&mut watch, room, SAY_DEADLINE, "A's three join", |seen| {
        side_a.iter().all(|u| joined_count(seen, u.id()) >= 1)
    })
    .await;
    let mut on_b = Bots::start(&b.base_url(), room, "spanb@example.com", &side_b, &a_ids);
    roster_until(&mut watch, room, SAY_DEADLINE, "B's three join A's call", |seen| {
        side_b.iter().all(|u| joined_count(seen, u.id()) >= 1)
    })
    .await;
    on_a.received("3 + 3, on A").await;
    on_b.received("3 + 3, on B").await;

    // The host is killed: B's three carry on at B.
    a.kill();
    let killed = Instant::now();
    drop(on_a);
    on_b.again(&a_ids).await;
    // Everyone sees the same roster: A's three are told gone (they were
    // on the killed instance), B's three in the call again.
    let seen = roster_until(&mut watch, room, SAY_DEADLINE, "B's three join B, A's three leave", |seen| {
        side_b.iter().all(|u| joined_count(seen, u.id()) >= 1)
            && side_a.iter().all(|u| seen.contains(&(u.id(), false)))
    })
    .await;
    on_b.received("after the kill, on B").await;
    eprintln!("the call went on at B {:?} after the kill; roster: {seen:?}", killed.elapsed());
    let reports = on_b.reports().await;
    for report in &reports {
        // One rejoin each (told the call moved, or their connection to A failed), not two.
        assert_eq!(report["rejoins"], 1, "{report:#}");
        let me = &report["user_id"];
        for other in side_b.iter().filter(|u| json!(u.id()) != *me) {
            let gap = longest_video_gap(report, other.id());
            assert!(gap <= Duration::from_secs(10), "{me} went {gap:?} without {}'s camera", other.id());
        }
    }
    // Each of B's three joined B's call once; nobody else did.
    for user in &side_b {
        assert_eq!(joined_count(&seen, user.id()), 1, "{seen:?}");
    }
    let (_, listed) = api_b.get("/api/rooms", &observer.token).await;
    let listed =
        listed["rooms"].as_array().and_then(|rooms| rooms.iter().find(|r| r["id"] == json!(room))).cloned();
    let in_call = listed.as_ref().and_then(|room| room["in_call"].as_array()).map(Vec::len);
    assert_eq!(in_call, Some(0), "everyone left: {listed:?}");
}

/// Six in a call through two balancers (three prefer A, three B); A is
/// restarted (SIGTERM, then started again), then B: nobody goes more than
/// 3 s without anybody's camera.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(skip_mysql, ignore = "CONCORD_TEST_SKIP_MYSQL=1")]
async fn a_rolling_restart_keeps_everyone_in_the_call() {
    let redis = RedisServer::start();
    let db = Database::create(Backend::MariaDb).await;
    let prefix = unique("concord-roll");
    let (port_a, port_b) = (free_port(), free_port());
    let (env_a, env_b) =
        (instance_env(&db, &redis, &prefix, 1, port_a), instance_env(&db, &redis, &prefix, 2, port_b));
    let mut a = start_instance(&env_a);
    let mut b = start_instance(&env_b);
    let via_a = Balancer::start(vec![port_a, port_b]).await;
    let via_b = Balancer::start(vec![port_b, port_a]).await;
    let api = TestServer::remote(port_b);
    let (room, side_a, side_b, observer) = room_for(&api, "roll", 3).await;
    let (mut watch, _) = api.connect(&observer).await;

    let a_ids: Vec<&Account> = side_a.iter().collect();
    let b_ids: Vec<&Account> = side_b.iter().collect();
    let began = Instant::now();
    let mut first = Bots::start(&via_a.base_url(), room, "rolla@example.com", &side_a, &b_ids);
    roster_until(&mut watch, room, SAY_DEADLINE, "A's three join", |seen| {
        side_a.iter().all(|u| joined_count(seen, u.id()) >= 1)
    })
    .await;
    let mut second = Bots::start(&via_b.base_url(), room, "rollb@example.com", &side_b, &a_ids);
    first.received("before the restarts").await;
    second.received("before the restarts").await;
    eprintln!("{:?}: everyone receives everyone", began.elapsed());
    drop(watch);

    for (name, instance, env) in [("A", &mut a, &env_a), ("B", &mut b, &env_b)] {
        let stopped = Instant::now();
        eprintln!("{:?}: {name} stops", began.elapsed());
        instance.terminate();
        assert!(
            instance.exit_within(Duration::from_secs(1)).is_some_and(|status| status.success()),
            "{name} exited 0"
        );
        *instance = start_instance(env);
        eprintln!("{name} restarted in {:?}", stopped.elapsed());
        first.again(&[]).await;
        second.again(&[]).await;
        first.received(&format!("after {name}'s restart")).await;
        second.received(&format!("after {name}'s restart")).await;
        eprintln!("{:?}: everyone receives everyone again after {name}'s restart", began.elapsed());
    }

    let reports: Vec<Value> = first.reports().await.into_iter().chain(second.reports().await).collect();
    let everyone: Vec<&Account> = side_a.iter().chain(&side_b).collect();
    for report in &reports {
        eprintln!("{}: rejoins {}, errors {}", report["user_id"], report["rejoins"], report["errors"]);
    }
    for report in &reports {
        assert_eq!(report["errors"], json!([]), "{report:#}");
        let me = &report["user_id"];
        for other in everyone.iter().filter(|u| json!(u.id()) != *me) {
            let gap = longest_video_gap(report, other.id());
            assert!(gap <= Duration::from_secs(3), "{me} went {gap:?} without {}'s camera", other.id());
        }
    }
}
