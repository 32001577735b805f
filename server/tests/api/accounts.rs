//! Register, log in, tokens, validation and the login rate limit.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{both_databases, TestServer, SECRET};

both_databases!(
    register_then_login_and_read_me,
    registration_validates_each_field,
    duplicate_email_is_a_conflict_case_insensitively,
    wrong_password_is_401_never_200,
    bad_and_expired_tokens_are_refused,
    login_is_rate_limited_per_account,
    login_is_rate_limited_per_address,
    emoji_usernames_roundtrip,
);

async fn register_then_login_and_read_me(server: TestServer) {
    let (status, body) = server
        .call(
            Method::POST,
            "/api/auth/register",
            None,
            Some(json!({"email": "  Ada@Example.com ", "username": " ada ", "password": "longenough"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["user"]["email"], "ada@example.com", "email is normalised");
    assert_eq!(body["user"]["username"], "ada", "username is trimmed");
    assert!(body["user"]["id"].is_string());
    assert!(body["expires_at_ms"].as_i64().unwrap() > concord_server::ids::now_ms());

    let (status, login) = server.login("ADA@example.com", "longenough").await;
    assert_eq!(status, StatusCode::OK, "{login}");
    assert_eq!(login["user"], body["user"]);

    let (status, me) = server.get("/api/users/me", login["token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me, body["user"]);
    assert!(me.get("password_hash").is_none() && me.get("password").is_none());
}

async fn registration_validates_each_field(server: TestServer) {
    let cases = [
        (json!({"email": "not-an-email", "username": "ok", "password": "longenough"}), "email"),
        (json!({"email": "a@example.com", "username": "x", "password": "longenough"}), "username"),
        (json!({"email": "a@example.com", "username": "y".repeat(33), "password": "longenough"}), "username"),
        (json!({"email": "a@example.com", "username": "ok", "password": "short"}), "password"),
        (json!({"email": "a@example.com", "username": "ok", "password": "p".repeat(129)}), "password"),
    ];
    for (body, field) in cases {
        let (status, error) = server.call(Method::POST, "/api/auth/register", None, Some(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
        assert_eq!(error["error"]["code"], "validation");
        assert_eq!(error["error"]["field"], field);
        assert!(!error["error"]["message"].as_str().unwrap().is_empty());
    }
    // Nothing was created by the refused attempts.
    let (status, _) = server.login("a@example.com", "longenough").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn duplicate_email_is_a_conflict_case_insensitively(server: TestServer) {
    let ada = server.register("ada").await;
    let (status, body) = server
        .call(
            Method::POST,
            "/api/auth/register",
            None,
            Some(json!({"email": ada.user.email.to_uppercase(), "username": "other", "password": "longenough"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "email_taken");
    assert_eq!(body["error"]["field"], "email");
}

async fn wrong_password_is_401_never_200(server: TestServer) {
    let ada = server.register("ada").await;
    for (email, password) in
        [(ada.user.email.as_str(), "wrong password"), ("nobody@example.com", "correct horse")]
    {
        let (status, body) = server.login(email, password).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"]["code"], "invalid_credentials");
        assert!(body.get("token").is_none());
    }
}

async fn bad_and_expired_tokens_are_refused(server: TestServer) {
    let ada = server.register("ada").await;
    let (status, body) = server.call(Method::GET, "/api/users/me", None, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")));

    let (status, body) = server.get("/api/users/me", "not.a.token").await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")));

    // Signed with another secret.
    let forged = concord_server::auth::token::Tokens::new(b"another-secret-another-secret-0123", 3600)
        .issue(ada.id(), concord_server::ids::now_ms())
        .unwrap()
        .0;
    let (status, _) = server.get("/api/users/me", &forged).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Our secret, but expired an hour ago.
    let expired = concord_server::auth::token::Tokens::new(SECRET.as_bytes(), 60)
        .issue(ada.id(), concord_server::ids::now_ms() - 3_600_000)
        .unwrap()
        .0;
    let (status, body) = server.get("/api/users/me", &expired).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "token_expired");

    // A plain "Token x" header is not a bearer token.
    let response = server
        .http
        .get(server.url("/api/users/me"))
        .header("Authorization", ada.token.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

async fn login_is_rate_limited_per_account(server: TestServer) {
    let ada = server.register("ada").await;
    let attempt = |password: &'static str| {
        let email = ada.user.email.clone();
        let server = &server;
        async move { server.login(email, password).await }
    };
    for _ in 0..5 {
        assert_eq!(attempt("wrong password").await.0, StatusCode::UNAUTHORIZED);
    }
    // Locked now, even with the right password.
    let (status, body) = attempt("correct horse").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["error"]["code"], "rate_limited");
    let response = server
        .http
        .post(server.url("/api/auth/login"))
        .json(&json!({"email": ada.user.email, "password": "correct horse"}))
        .send()
        .await
        .unwrap();
    assert!(response.headers().get("Retry-After").is_some());
    // Other accounts are unaffected.
    let bob = server.register("bob").await;
    let (status, _) = server.login(&bob.user.email, "correct horse").await;
    assert_eq!(status, StatusCode::OK);
}

async fn login_is_rate_limited_per_address(server: TestServer) {
    // 30 failures from one address across many accounts lock the address.
    for i in 0..30 {
        let (status, _) = server.login(format!("ghost{i}@example.com"), "whatever1").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = server.login("fresh@example.com", "whatever1").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
}

async fn emoji_usernames_roundtrip(server: TestServer) {
    let name = "Zoë 🦀👩🏽‍💻";
    let (status, body) = server
        .call(
            Method::POST,
            "/api/auth/register",
            None,
            Some(json!({"email": "zoe@example.com", "username": name, "password": "longenough"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, me) = server.get("/api/users/me", body["token"].as_str().unwrap()).await;
    assert_eq!(me["username"], name);
}

/// 200 logins at once: the server hashes a few at a time and tells the rest
/// to come back (503 `server_busy` with `Retry-After`), never failing one
/// with a 500; the retried logins then succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_flood_is_answered_with_retry_after_not_memory() {
    let db = crate::support::Database::create(crate::support::Backend::Sqlite).await;
    let figment = rocket::figment::Figment::new().merge(("login_failures_per_address", 10_000));
    let server = TestServer::start_on(&db, figment).await;
    let ada = server.register("ada").await;
    let email = ada.user.email.clone();
    let attempts: Vec<_> = (0..200)
        .map(|_| {
            let (http, url, email) = (server.http.clone(), server.url("/api/auth/login"), email.clone());
            tokio::spawn(async move {
                let response = http
                    .post(url)
                    .json(&json!({"email": email, "password": "correct horse"}))
                    .send()
                    .await
                    .unwrap();
                let retry_after =
                    response.headers().get("Retry-After").map(|v| v.to_str().unwrap().to_owned());
                let status = response.status();
                let body: serde_json::Value = response.json().await.unwrap();
                (status, retry_after, body)
            })
        })
        .collect();
    let (mut ok, mut busy) = (0, 0);
    for attempt in attempts {
        let (status, retry_after, body) = attempt.await.unwrap();
        match status {
            StatusCode::OK => ok += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(body["error"]["code"], "server_busy", "{body}");
                assert_eq!(retry_after.as_deref(), Some("1"));
                busy += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(ok >= 1 && busy >= 1, "{ok} logged in, {busy} told to retry");
    // Once the flood has passed, the same login works.
    assert_eq!(server.login(&email, "correct horse").await.0, StatusCode::OK);
}
