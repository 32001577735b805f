//! The one test kit of Concord's server tests, client tests and benchmarks:
//! a throwaway database on SQLite or MariaDB ([`db`]), a real server started
//! in-process ([`server`]) or as a child process ([`process`]), a Redis and a
//! MariaDB of the test's own that it may kill ([`redis`], [`mariadb`]),
//! accounts and friendships made through the client library
//! ([`concord_client::rest::Api`]), a websocket client whose
//! assertions are strict about order ([`ws`]), latency summaries
//! ([`stats`]), networks of a test's own, UDP blocked or not ([`netns`]), and a
//! load balancer in front of several instances ([`balancer`]).
//!
//! A failed step panics with what went wrong: that is how a test reports.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

pub mod balancer;
pub mod db;
pub mod mariadb;
pub mod netns;
pub mod pictures;
pub mod process;
pub mod redis;
pub mod s3;
pub mod server;
pub mod stats;
pub mod ws;

pub use db::{unique, Backend, Database};
pub use server::{test_figment, Account, TestServer, SECRET};
pub use ws::{Ws, EVENT_TIMEOUT};

/// Runs each named `async fn(TestServer)` once on SQLite and once on MariaDB
/// (`both_databases!(with SETTINGS; ...)`: with a `Figment` of extra settings).
/// The MariaDB half is `#[ignore]`d (reported as skipped, never as passed)
/// where the calling crate sets `cfg(skip_mysql)` (the server's build script
/// does for `CONCORD_TEST_SKIP_MYSQL=1`).
#[macro_export]
macro_rules! both_databases {
    (with $extra:expr; $($name:ident),* $(,)?) => {$(
        mod $name {
            use $crate::{Backend, Database, TestServer};
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = Database::create(Backend::Sqlite).await;
                super::$name(TestServer::start_on(&db, $extra).await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(skip_mysql, ignore = "CONCORD_TEST_SKIP_MYSQL=1")]
            async fn mariadb() {
                let db = Database::create(Backend::MariaDb).await;
                super::$name(TestServer::start_on(&db, $extra).await).await;
            }
        }
    )*};
    ($($name:ident),* $(,)?) => {
        $crate::both_databases!(with $crate::server::no_extra(); $($name),*);
    };
}
