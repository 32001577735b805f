//! Bad input of every kind gets a typed error and changes nothing; a restart
//! loses nothing.

use reqwest::{Method, StatusCode};
use rocket::figment::Figment;
use serde_json::{json, Value};

use crate::support::{both_databases, Backend, Database, TestServer};

both_databases!(malformed_bodies_are_typed_errors, junk_never_gets_a_500);

async fn malformed_bodies_are_typed_errors(server: TestServer) {
    let ada = server.register("ada").await;
    let bob = server.register("bob").await;
    server.befriend(&ada, &bob).await;
    let dm_path = format!("/api/dms/{}/messages", bob.id());
    let routes = ["/api/auth/register", "/api/auth/login", "/api/invites", dm_path.as_str()];
    for path in routes {
        for (body, status, code) in [
            ("{not json".to_owned(), StatusCode::BAD_REQUEST, "invalid_json"),
            ("[]".to_owned(), StatusCode::BAD_REQUEST, "invalid_json"),
            (r#"{"unexpected": true}"#.to_owned(), StatusCode::BAD_REQUEST, "invalid_json"),
            (
                format!(r#"{{"email": "{}"}}"#, "a".repeat(100 * 1024)),
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
            ),
        ] {
            let response = server
                .http
                .post(server.url(path))
                .bearer_auth(&ada.token)
                .header("Content-Type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), status, "{path} {}", &body[..body.len().min(40)]);
            let error: Value = response.json().await.unwrap();
            assert_eq!(error["error"]["code"], code, "{path}");
        }
    }
    // Nothing was created by any of it.
    let (_, page) = server.get(&dm_path, &ada.token).await;
    assert_eq!(page["messages"], json!([]));
    assert_eq!(server.get("/api/invites", &ada.token).await.1, json!({"incoming": [], "outgoing": []}));

    // A plain GET of the websocket path, unknown routes and wrong methods.
    let (status, error) = server.call(Method::GET, "/api/ws", None, None).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (StatusCode::UPGRADE_REQUIRED, Some("upgrade_required"))
    );
    let (status, error) = server.call(Method::GET, "/api/nothing-here", None, None).await;
    assert_eq!((status, error["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let (status, error) = server.call(Method::PUT, "/api/friends", Some(&ada.token), None).await;
    assert!(status.is_client_error());
    assert!(error["error"]["code"].is_string());
}

async fn junk_never_gets_a_500(server: TestServer) {
    let ada = server.register("ada").await;
    let junk: Vec<Vec<u8>> = vec![
        vec![],
        b"null".to_vec(),
        b"\xff\xfe\x00garbage".to_vec(),
        br#"{"email": 5, "password": []}"#.to_vec(),
        br#"{"content": "x", "nonce": "\u0000"}"#.to_vec(),
        "{\"email\": \"\u{1F600}@\u{1F600}.com\", \"username\": \"\u{202E}x\", \"password\": \"12345678\"}"
            .as_bytes()
            .to_vec(),
        b"9999999999999999999999999999".to_vec(),
    ];
    let paths = [
        (Method::POST, "/api/auth/register".to_owned()),
        (Method::POST, "/api/auth/login".to_owned()),
        (Method::POST, "/api/invites".to_owned()),
        (Method::POST, "/api/invites/99999999999999999999/accept".to_owned()),
        (Method::POST, "/api/invites/-1/reject".to_owned()),
        (Method::DELETE, "/api/invites/%00".to_owned()),
        (Method::DELETE, "/api/friends/18446744073709551616".to_owned()),
        (Method::POST, "/api/dms/0/messages".to_owned()),
        (Method::GET, "/api/dms/1/messages?before=-5&limit=-1".to_owned()),
        (Method::POST, "/api/dms/%F0%9F%98%80/read".to_owned()),
    ];
    for (method, path) in &paths {
        for body in &junk {
            for token in [Some(ada.token.as_str()), None, Some("x.y.z")] {
                let mut request = server.http.request(method.clone(), server.url(path)).body(body.clone());
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                let response = request.send().await.unwrap();
                let status = response.status();
                assert!(!status.is_server_error(), "{method} {path}: {status}");
                if !status.is_success() {
                    let error: Value = response.json().await.unwrap();
                    assert!(error["error"]["code"].is_string(), "{method} {path}: {error}");
                }
            }
        }
    }
    let (status, _) = server.call(Method::GET, "/api/health", None, None).await;
    assert_eq!(status, StatusCode::OK);
}

async fn restart_keeps_everything(backend: Backend) {
    let db = Database::create(backend).await;
    let first = TestServer::start_on(&db, Figment::new()).await;
    let ada = first.register("ada").await;
    let bob = first.register("bob").await;
    first.befriend(&ada, &bob).await;
    let mut sent = Vec::new();
    for i in 0..20 {
        sent.push(first.send_dm(&ada, bob.id(), &format!("before restart {i} 🔁"), &format!("r{i}")).await.1);
    }
    first.stop().await;

    let second = TestServer::start_on(&db, Figment::new()).await;
    // The same tokens still work (the secret is kept), and so does the password.
    let (status, _) = second.get("/api/users/me", &ada.token).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = second.login(&bob.user.email, "correct horse").await;
    assert_eq!(status, StatusCode::OK);
    let (_, page) = second.get(&format!("/api/dms/{}/messages?limit=100", ada.id()), &bob.token).await;
    let stored: Vec<Value> = page["messages"].as_array().unwrap().iter().rev().cloned().collect();
    assert_eq!(stored, sent);
    // A resend of a nonce from before the restart is still recognised.
    let (status, again) = second.send_dm(&ada, bob.id(), "before restart 0 🔁", "r0").await;
    assert_eq!((status, &again), (StatusCode::OK, &sent[0]));
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_on_sqlite_loses_nothing() {
    restart_keeps_everything(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(skip_mysql, ignore = "CONCORD_TEST_SKIP_MYSQL=1")]
async fn a_restart_on_mariadb_loses_nothing() {
    restart_keeps_everything(Backend::MariaDb).await;
}

/// A failure the client sees as `internal` is logged on the server exactly
/// once, here as JSON lines (`log_format = "json"`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_internal_error_is_logged_once_as_json() {
    use sqlx::{Connection, Executor};
    let db = Database::create(Backend::Sqlite).await;
    let mut env = crate::support::child_env(&db.url, &db.dir);
    env.push(("ROCKET_LOG_FORMAT".into(), "json".into()));
    let process = crate::support::spawn_server(&env).unwrap_or_else(|log| panic!("{log:?}"));
    let server = TestServer::remote(process.port);
    let ada = server.register("ada").await;

    // Someone breaks the database under the running server.
    let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
    conn.execute("DROP TABLE friend_invites").await.unwrap();
    let (status, body) = server.get("/api/invites", &ada.token).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["error"]["code"], "internal");

    // The log line may trail the response by a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let errors = loop {
        let errors = process.lines_with("database error");
        if !errors.is_empty() || std::time::Instant::now() > deadline {
            break errors;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(errors.len(), 1, "{errors:?}");
    let line: serde_json::Value = serde_json::from_str(&errors[0]).unwrap();
    assert_eq!(line["level"], "ERROR");
    assert!(line["error"].as_str().unwrap().contains("friend_invites"), "{line}");
    // Every line is JSON, the start-up line included.
    let log = process.log.lock().unwrap().clone();
    for line in &log {
        assert!(serde_json::from_str::<serde_json::Value>(line).is_ok(), "not JSON: {line}");
    }
    assert_eq!(process.lines_with("listening on").len(), 1);
}

/// SIGTERM while a friend sends DMs as fast as the server answers: the
/// other's websocket is told to reconnect (1012) before the process ends,
/// the process exits cleanly, and every DM answered 201 is in the history
/// once a server is back on the same database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_tells_sockets_to_reconnect_and_loses_no_acknowledged_message() {
    let db = Database::create(Backend::Sqlite).await;
    let env = crate::support::child_env(&db.url, &db.dir);
    let mut process = crate::support::spawn_server(&env).unwrap_or_else(|log| panic!("{log:?}"));
    let server = TestServer::remote(process.port);
    let ada = server.register("ada").await;
    let bob = server.register("bob").await;
    server.befriend(&ada, &bob).await;
    let (mut bobs_socket, _ready) = server.connect(&bob).await;

    // Ada sends until the server stops answering; what it acknowledged is kept.
    let url = server.url(&format!("/api/dms/{}/messages", bob.id()));
    let sender = {
        let (http, token) = (reqwest::Client::new(), ada.token.clone());
        tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for n in 0..100_000 {
                let body = json!({"content": format!("message {n}"), "nonce": format!("n{n}")});
                match http.post(&url).bearer_auth(&token).json(&body).send().await {
                    Ok(answer) if answer.status() == StatusCode::CREATED => {
                        let message: Value = answer.json().await.unwrap();
                        acknowledged.push(message["id"].as_str().unwrap().to_owned());
                    }
                    // Refused or cut off while stopping: not acknowledged, so not promised.
                    _ => break,
                }
            }
            acknowledged
        })
    };
    // Some traffic first (not a fixed wait: bob has received some).
    for _ in 0..20 {
        bobs_socket
            .expect_next("a DM", |e| matches!(e, concord_common::ServerEvent::MessageCreated(_)))
            .await;
    }
    let term = std::process::Command::new("kill").arg(process.pid().to_string()).status().unwrap();
    assert!(term.success());
    assert_eq!(bobs_socket.closed().await, Some(1012), "told to reconnect, not cut off");
    let status = tokio::task::block_in_place(|| process.exit_within(std::time::Duration::from_secs(15)));
    assert_eq!(status.map(|s| s.success()), Some(true), "{:?}", process.lines_with("shutting down"));
    assert!(
        !process.lines_with("every message taken is stored").is_empty(),
        "{:?}",
        process.lines_with("shut")
    );
    let acknowledged = sender.await.unwrap();
    assert!(acknowledged.len() >= 20, "only {} sends were answered", acknowledged.len());

    let process = crate::support::spawn_server(&env).unwrap_or_else(|log| panic!("{log:?}"));
    let server = TestServer::remote(process.port);
    let mut stored = std::collections::HashSet::new();
    let mut before: Option<String> = None;
    loop {
        let path = match &before {
            Some(id) => format!("/api/dms/{}/messages?limit=100&before={id}", ada.id()),
            None => format!("/api/dms/{}/messages?limit=100", ada.id()),
        };
        let (status, page) = server.get(&path, &bob.token).await;
        assert_eq!(status, StatusCode::OK);
        let messages = page["messages"].as_array().unwrap();
        stored.extend(messages.iter().map(|m| m["id"].as_str().unwrap().to_owned()));
        before = messages.last().map(|m| m["id"].as_str().unwrap().to_owned());
        if !page["has_more"].as_bool().unwrap() {
            break;
        }
    }
    let lost: Vec<&String> = acknowledged.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(lost.is_empty(), "{} of {} acknowledged DMs lost: {lost:?}", lost.len(), acknowledged.len());
}
