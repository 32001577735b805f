//! The shared test kit (`concord-testkit`), plus the one thing only this
//! package can name: the `concord-server` binary cargo built for its tests.

pub use concord_testkit::process::{child_env, ChildServer};
pub use concord_testkit::redis::RedisServer;
pub use concord_testkit::{
    both_databases, unique, Account, Backend, Database, TestServer, Ws, EVENT_TIMEOUT, SECRET,
};

/// Runs this build's `concord-server` with `env` until it exits or listens.
pub fn spawn_server(env: &[(String, String)]) -> Result<ChildServer, Vec<String>> {
    ChildServer::spawn(env!("CARGO_BIN_EXE_concord-server"), env)
}
