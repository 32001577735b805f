//! `GET /api/search`: words found in the conversations I am in and nowhere
//! else, filtered by conversation and author, newest first in pages,
//! current after edits and deletes, accents and case folded, and a history
//! stored before the index existed indexed when the server starts.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{both_databases, Account, Backend, Database, TestServer};

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

    // Accents and case do not matter; a deleted room takes its chat out.
    assert_eq!(
        search(&server, &carol, "q=SECRET").await.0,
        [(format!("rooms/{secret}"), "the secret lunch".to_owned())]
    );
    say(&server, &carol, &format!("rooms/{secret}"), "Crème BRÛLÉE for the secret club").await;
    assert_eq!(search(&server, bob, "q=creme+brul").await.0.len(), 1);
    let (status, _) =
        server.call(Method::DELETE, &format!("/api/rooms/{secret}"), Some(&bob.token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(search(&server, &carol, "q=secret").await.0.is_empty());
    assert!(search(&server, bob, "q=creme").await.0.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_history_from_before_search_is_indexed_at_start() {
    history_from_before_search_is_indexed_at_start(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(skip_mysql, ignore = "CONCORD_TEST_SKIP_MYSQL=1")]
async fn mariadb_history_from_before_search_is_indexed_at_start() {
    history_from_before_search_is_indexed_at_start(Backend::MariaDb).await;
}

/// Messages stored by a server without the search index (an older version)
/// are found once a server with it starts on the same database.
async fn history_from_before_search_is_indexed_at_start(backend: Backend) {
    use sqlx::{Connection, Executor};
    let db = Database::create(backend).await;
    let first = TestServer::start_on(&db, rocket::figment::Figment::new()).await;
    let (club, people) = first.room_of(&crate::support::unique("history"), 2).await;
    let [ada, bob] = [&people[0], &people[1]];
    say(&first, ada, &format!("dms/{}", bob.id()), "Crème brûlée recipe").await;
    say(&first, bob, &format!("rooms/{club}"), "recipe swap on friday").await;
    drop(first);

    // The database as an older version left it: no index at all (on
    // MariaDB, the FULLTEXT index of the first searching version instead).
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    let older: Vec<String> = match backend {
        Backend::Sqlite => ["direct_messages", "room_messages"]
            .iter()
            .flat_map(|t| {
                ["insert", "delete", "update"]
                    .iter()
                    .map(move |op| format!("DROP TRIGGER {t}_fts_{op}"))
                    .chain([format!("DROP TABLE {t}_fts")])
            })
            .collect(),
        Backend::MariaDb => vec![
            "DROP TABLE dm_words".into(),
            "DROP TABLE room_words".into(),
            "CREATE FULLTEXT INDEX direct_messages_search ON direct_messages (content)".into(),
        ],
    };
    for statement in older {
        conn.execute(sqlx::AssertSqlSafe(statement)).await.unwrap();
    }

    let second = TestServer::start_on(&db, rocket::figment::Figment::new()).await;
    let (hits, _) = search(&second, ada, "q=recipe").await;
    assert_eq!(
        hits,
        [
            (format!("rooms/{club}"), "recipe swap on friday".to_owned()),
            (format!("dms/{}", bob.id()), "Crème brûlée recipe".to_owned()),
        ]
    );
    assert_eq!(search(&second, bob, "q=creme+brulee").await.0.len(), 1);
    // And what is said from now on too.
    say(&second, bob, &format!("rooms/{club}"), "another recipe").await;
    assert_eq!(search(&second, ada, "q=recipe").await.0.len(), 3);
    if backend == Backend::MariaDb {
        let fulltext: Vec<(String,)> = sqlx::query_as(
            "SELECT index_name FROM information_schema.statistics \
             WHERE table_schema = DATABASE() AND index_type = 'FULLTEXT'",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        assert!(fulltext.is_empty(), "the FULLTEXT index is dropped: {fulltext:?}");
    }
}
