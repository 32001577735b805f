//! `GET /api/search`: words found in the conversations I am in and nowhere
//! else, filtered by conversation and author, newest first in pages, and
//! current after edits and deletes.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{both_databases, Account, TestServer};

both_databases!(search_finds_words_only_where_i_can_read_them,);

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

async fn say(server: &TestServer, who: &Account, conversation: &str, content: &str) -> Value {
    let nonce = crate::support::unique("s");
    let (status, message) = server
        .post(
            &format!("/api/{conversation}/messages"),
            &who.token,
            json!({"content": content, "nonce": nonce}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    message
}

/// The hits of a search as (conversation, content), newest first, and `has_more`.
async fn search(server: &TestServer, who: &Account, query: &str) -> (Vec<(String, String)>, bool) {
    let (status, page) = server.get(&format!("/api/search?{query}"), &who.token).await;
    assert_eq!(status, StatusCode::OK, "{query}: {page}");
    let hits = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["conversation"].as_str().unwrap().to_owned(), m["content"].as_str().unwrap().to_owned()))
        .collect();
    (hits, page["has_more"].as_bool().unwrap())
}

async fn search_finds_words_only_where_i_can_read_them(server: TestServer) {
    let (club, people) = server.room_of(&crate::support::unique("club"), 2).await;
    let [ada, bob] = [&people[0], &people[1]];
    let carol = server.register("carol").await;
    server.befriend(bob, &carol).await;
    let (status, secret) = server.post("/api/rooms", &bob.token, json!({"label": "secret"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let secret = secret["id"].as_str().unwrap().to_owned();
    server.post(&format!("/api/rooms/{secret}/members"), &bob.token, json!({"user_id": carol.id()})).await;

    let with_bob = format!("dms/{}", bob.id());
    let dm = say(&server, ada, &with_bob, "lunch tomorrow at noon?").await;
    say(&server, bob, &format!("dms/{}", carol.id()), "lunch with carol, just us").await;
    let plans = say(&server, bob, &format!("rooms/{club}"), "Lunch plans for the club").await;
    say(&server, bob, &format!("rooms/{secret}"), "the secret lunch").await;
    say(&server, ada, &format!("rooms/{club}"), "unrelated words here").await;

    // Everything ada can read, newest first, each hit named as she sees it.
    let (hits, more) = search(&server, ada, "q=lunch").await;
    assert_eq!(
        hits,
        [
            (format!("rooms/{club}"), "Lunch plans for the club".to_owned()),
            (with_bob.clone(), "lunch tomorrow at noon?".to_owned()),
        ]
    );
    assert!(!more);
    // Bob sees the same DM as dms/ada; every word must match; the last may be a prefix.
    let (hits, _) = search(&server, bob, "q=noon+tomor").await;
    assert_eq!(hits, [(format!("dms/{}", ada.id()), "lunch tomorrow at noon?".to_owned())]);
    // One conversation; one author.
    assert_eq!(search(&server, ada, &format!("q=lunch&in=rooms/{club}")).await.0.len(), 1);
    assert_eq!(search(&server, ada, &format!("q=lunch&in={with_bob}")).await.0.len(), 1);
    assert_eq!(search(&server, ada, &format!("q=lunch&from={}", ada.id())).await.0.len(), 1);
    // Where she is not: refused as the conversation itself would be.
    let (status, body) = server.get(&format!("/api/search?q=lunch&in=rooms/{secret}"), &ada.token).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "room_not_found"));
    let (status, body) = server.get(&format!("/api/search?q=lunch&in=dms/{}", carol.id()), &ada.token).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "not_friends"));
    for bad in ["q=%20%3F%21", "", "q=lunch&in=nowhere", "q=lunch&from=x", "q=lunch&limit=0"] {
        let (status, body) = server.get(&format!("/api/search?{bad}"), &ada.token).await;
        assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "validation"), "{bad}: {body}");
    }
    let (status, _) = server.call(Method::GET, "/api/search?q=lunch", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // An edit changes what finds it; a delete takes it out.
    let (status, _) = server
        .patch(
            &format!("/api/{with_bob}/messages/{}", dm["id"].as_str().unwrap()),
            &ada.token,
            json!({"content": "dinner tomorrow instead"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(search(&server, ada, "q=lunch").await.0.len(), 1);
    assert_eq!(
        search(&server, ada, "q=dinner").await.0,
        [(with_bob.clone(), "dinner tomorrow instead".to_owned())]
    );
    let (status, _) = server
        .call(
            Method::DELETE,
            &format!("/api/rooms/{club}/messages/{}", plans["id"].as_str().unwrap()),
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(search(&server, ada, "q=lunch").await.0.is_empty());

    // Pages: `before` the last hit's id.
    for n in 0..3 {
        say(
            &server,
            bob,
            &with_bob.replace(&bob.id().to_string(), &ada.id().to_string()),
            &format!("paging test {n}"),
        )
        .await;
    }
    let (status, page) = server.get("/api/search?q=paging&limit=2", &ada.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((page["messages"].as_array().unwrap().len(), page["has_more"].as_bool()), (2, Some(true)));
    let last = page["messages"][1]["id"].as_str().unwrap();
    let (hits, more) = search(&server, ada, &format!("q=paging&limit=2&before={last}")).await;
    assert_eq!((hits, more), (vec![(with_bob.clone(), "paging test 0".to_owned())], false));
}
