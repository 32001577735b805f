//! The short soak (60 s of sending) in the suite: 60 chat clients and two
//! calls of four bots on two instances, while clients drop their websockets
//! at random and instance A, Redis and MariaDB are restarted under them.
//! Nothing may be lost or stored twice, every client must come to know
//! exactly what the database holds, and no call may go more than 5 s without
//! someone's camera. The 30-minute soak is `cargo bench -p concord-call
//! --bench soak` (docs/BENCHMARKS.md).
//!
//! In the `calls` test group, and alone on the machine (`.ci/nextest.toml`):
//! it uses both cores.

#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/soak.rs"]
mod soak;

use std::time::Duration;

use soak::Plan;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(skip_mysql, ignore = "CONCORD_TEST_SKIP_MYSQL=1")]
async fn a_minute_of_chat_and_calls_through_restarts_loses_nothing() {
    let plan = Plan {
        clients: 60,
        group: 10,
        messages: 1_500,
        duration: Duration::from_secs(60),
        call_rooms: 2,
        // Four per call, not the long soak's six: debug bots and servers on
        // 2 cores rejoin slower, and the 5 s bar is the long soak's.
        bots_per_side: 2,
        disconnect_every: Duration::from_millis(500),
        fault_rounds: 1,
        sample_every: Duration::from_secs(5),
    };
    let report = soak::run(plan).await;
    eprintln!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    let problems = report.problems(Duration::from_secs(5));
    assert!(problems.is_empty(), "{problems:#?}");
    // What the soak is for happened: every fault, and clients that came back.
    assert_eq!(report.faults.len(), 3, "{:?}", report.faults);
    assert_eq!(report.clients_in_sync, 60);
    assert!(report.connects > 60 + report.random_disconnects / 2, "clients reconnected: {}", report.connects);
    assert_eq!(report.calls.len(), 8, "every bot reported");
}
