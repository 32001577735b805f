//! The OpenAPI document is generated from the code: every mounted route is
//! documented and every documented route is mounted, the served and the
//! committed document are that one, and real requests and responses —
//! REST bodies and websocket frames — validate against its schemas.

use std::collections::BTreeSet;

use concord_common::events;
use concord_common::{ClientEvent, ClientFrame, UserId};
use reqwest::{Method, StatusCode};
use rocket::figment::Figment;
use serde_json::{json, Value};

use crate::support::{Backend, Database, TestServer};

/// `(method, path)` of every route under `/api`, paths written the OpenAPI way.
fn mounted_api_routes(rocket: &rocket::Rocket<rocket::Ignite>) -> BTreeSet<(String, String)> {
    rocket
        .routes()
        .filter(|route| route.uri.path().starts_with("/api"))
        .map(|route| {
            let path = route.uri.path().replace('<', "{").replace('>', "}");
            (route.method.as_str().to_lowercase(), path)
        })
        .collect()
}

fn documented_routes(doc: &Value) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().unwrap().keys().filter(|k| *k != "parameters") {
            routes.insert((method.clone(), path.clone()));
        }
    }
    routes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mounted_route_is_documented_and_every_documented_one_mounted() {
    let db = Database::create(Backend::Sqlite).await;
    let figment = concord_testkit::test_figment(&db.url, &db.dir, 0);
    let rocket = concord_server::build(figment).ignite().await.unwrap();
    let doc: Value = serde_json::from_str(&concord_server::routes::openapi::document_json()).unwrap();
    let mounted = mounted_api_routes(&rocket);
    let documented = documented_routes(&doc);
    // `GET /api/ws` is mounted twice (upgrade, and the 426 for a plain GET).
    assert_eq!(mounted, documented, "mounted vs documented");
    assert!(mounted.len() >= 16, "{mounted:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_and_committed_documents_are_the_generated_one() {
    let generated = concord_server::routes::openapi::document_json();
    let db = Database::create(Backend::Sqlite).await;
    let server = TestServer::start_on(&db, Figment::new()).await;
    let served = server.http.get(server.url("/api/openapi.json")).send().await.unwrap();
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(served.headers()["content-type"], "application/json");
    assert_eq!(served.text().await.unwrap(), generated);

    let committed_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
    if std::env::var("CONCORD_WRITE_OPENAPI").is_ok_and(|v| v == "1") {
        std::fs::write(committed_path, format!("{generated}\n")).unwrap();
    }
    let committed = std::fs::read_to_string(committed_path).unwrap_or_default();
    assert!(
        committed.trim_end() == generated,
        "docs/openapi.json is not the generated document: run \
         `CONCORD_WRITE_OPENAPI=1 cargo test -p concord-server --test api openapi` and commit it"
    );
    let doc: Value = serde_json::from_str(&generated).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
}

/// Validates `instance` against `#/components/schemas/{name}` of `doc`.
fn assert_valid(doc: &Value, name: &str, instance: &Value) {
    assert!(doc["components"]["schemas"].get(name).is_some(), "no schema {name}");
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": format!("#/components/schemas/{name}"),
        "components": doc["components"],
    });
    let validator = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("schema {name}: {e}"));
    let errors: Vec<String> = validator.iter_errors(instance).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{name} does not describe {instance}: {errors:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_requests_responses_and_frames_match_their_schemas() {
    let doc: Value = serde_json::from_str(&concord_server::routes::openapi::document_json()).unwrap();
    let db = Database::create(Backend::Sqlite).await;
    let server = TestServer::start_on(&db, Figment::new()).await;

    let register = json!({"email": "schema-ada@example.com", "username": "ada", "password": "correct horse"});
    assert_valid(&doc, "RegisterRequest", &register);
    let (status, auth) = server.call(Method::POST, "/api/auth/register", None, Some(register)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_valid(&doc, "AuthResponse", &auth);
    let login = json!({"email": "schema-ada@example.com", "password": "correct horse"});
    assert_valid(&doc, "LoginRequest", &login);
    let (_, login) = server.call(Method::POST, "/api/auth/login", None, Some(login)).await;
    assert_valid(&doc, "AuthResponse", &login);
    let ada: concord_common::AuthResponse = serde_json::from_value(auth).unwrap();
    let ada = crate::support::Account { token: ada.token, user: ada.user };
    let bob = server.register("bob").await;

    let (_, me) = server.get("/api/users/me", &ada.token).await;
    assert_valid(&doc, "User", &me);
    let (_, health) = server.call(Method::GET, "/api/health", None, None).await;
    assert_valid(&doc, "Health", &health);

    let (mut bob_ws, ready) = server.connect(&bob).await;
    assert_valid(&doc, "ServerFrame", &serde_json::to_value(&ready).unwrap());
    let invite = json!({"email": bob.user.email});
    assert_valid(&doc, "CreateInviteRequest", &invite);
    let (status, created) = server.post("/api/invites", &ada.token, invite).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_valid(&doc, "CreateInviteResponse", &created);
    let (_, invites) = server.get("/api/invites", &bob.token).await;
    assert_valid(&doc, "InviteList", &invites);
    let id = created["invite"]["id"].as_str().unwrap();
    let (_, friend) = server.post(&format!("/api/invites/{id}/accept"), &bob.token, json!({})).await;
    assert_valid(&doc, "Friend", &friend);
    let (_, friends) = server.get("/api/friends", &ada.token).await;
    for friend in friends.as_array().unwrap() {
        assert_valid(&doc, "Friend", friend);
    }

    let send = json!({"content": "schema check 🎉", "nonce": "schema-1"});
    assert_valid(&doc, "SendMessageRequest", &send);
    let (_, message) = server.post(&format!("/api/dms/{}/messages", bob.id()), &ada.token, send).await;
    assert_valid(&doc, "DirectMessage", &message);
    let (_, page) = server.get(&format!("/api/dms/{}/messages", ada.id()), &bob.token).await;
    assert_valid(&doc, "MessagePage", &page);
    let (_, read) = server.post(&format!("/api/dms/{}/read", ada.id()), &bob.token, json!({})).await;
    assert_valid(&doc, "UnreadCount", &read);

    // Every frame Bob received, and the answer to a request, match ServerFrame.
    bob_ws.send_request("schema-hb", ClientEvent::Heartbeat).await;
    bob_ws.send_request("schema-typing", ClientEvent::Typing(events::TypingTo { user_id: UserId(1) })).await;
    let mut seen = BTreeSet::new();
    while seen.len() < 7 {
        let frame = bob_ws.next_frame_within(crate::support::EVENT_TIMEOUT).await.unwrap();
        let value = serde_json::to_value(&frame).unwrap();
        assert_valid(&doc, "ServerFrame", &value);
        seen.insert(value["type"].as_str().unwrap().to_owned());
    }
    for client in [
        ClientFrame {
            request_id: None,
            event: ClientEvent::Identify(events::Identify { token: "t".into() }),
        },
        ClientFrame {
            request_id: Some("r".into()),
            event: ClientEvent::Typing(events::TypingTo { user_id: UserId(7) }),
        },
        ClientFrame { request_id: Some("h".into()), event: ClientEvent::Heartbeat },
    ] {
        assert_valid(&doc, "ClientFrame", &serde_json::to_value(&client).unwrap());
    }

    // Errors, from REST: each matches ErrorResponse.
    for (method, path, token, body) in [
        (
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"email": "x@example.com", "password": "nope nope"})),
        ),
        (Method::GET, "/api/friends", None, None),
        (Method::GET, "/api/dms/1/messages?limit=0", Some(ada.token.as_str()), None),
        (Method::GET, "/api/ws", None, None),
    ] {
        let (status, error) = server.call(method, path, token, body).await;
        assert!(status.is_client_error(), "{status}");
        assert_valid(&doc, "ErrorResponse", &error);
    }
    // A body the schema refuses is one the server refuses too.
    let bad = json!({"email": "schema-eve@example.com", "username": "eve"});
    let schema_ok = {
        let schema = json!({"$ref": "#/components/schemas/RegisterRequest", "components": doc["components"]});
        jsonschema::validator_for(&schema).unwrap().is_valid(&bad)
    };
    assert!(!schema_ok, "a register request without a password passes the schema");
    let (status, _) = server.call(Method::POST, "/api/auth/register", None, Some(bad)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
