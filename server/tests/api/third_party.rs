//! Clients we did not write: scripts in `server/tests/clients/` speak the
//! public contract from docs/API.md alone (Python's `requests` and
//! `websocket-client`, installed by `.ci/setup`) against a real server.

use concord_testkit::{Backend, Database, TestServer};
use rocket::figment::Figment;

/// Runs `server/tests/clients/{script}` against a fresh server on SQLite;
/// asserts it exits 0 having printed `ok: {what}`.
async fn run_client(script: &str, what: &str) {
    let db = Database::create(Backend::Sqlite).await;
    let server = TestServer::start_on(&db, Figment::new()).await;
    let script = format!("{}/tests/clients/{script}", env!("CARGO_MANIFEST_DIR"));
    let child = tokio::process::Command::new("python3")
        .arg(script)
        .arg(server.url(""))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs (./.ci/setup installs it with requests and websocket-client)");
    let output = tokio::time::timeout(std::time::Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the Python client finished within 60 s")
        .expect("its output");
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the Python client failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains(&format!("ok: {what}")), "{stdout}");
    server.stop().await;
}

#[tokio::test]
async fn a_python_client_uses_rooms_chat_and_calls_from_the_document() {
    run_client("rooms_and_calls.py", "rooms and calls").await;
}

#[tokio::test]
async fn a_python_client_replies_mentions_reacts_edits_and_deletes_from_the_document() {
    run_client("chat_depth.py", "chat depth").await;
}
