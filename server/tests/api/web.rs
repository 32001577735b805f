//! The server serves the built web client at `/` (or says how to build it).

use reqwest::StatusCode;
use rocket::figment::Figment;

use crate::support::{Backend, Database, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_client_is_served_from_web_root() {
    let db = Database::create(Backend::Sqlite).await;
    let root = db.dir.join("web");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("index.html"), "<!DOCTYPE html><title>Concord</title>").unwrap();
    std::fs::write(root.join("concord_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let server =
        TestServer::start_on(&db, Figment::new().merge(("web_root", root.display().to_string()))).await;

    let page = server.http.get(server.url("/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(page.text().await.unwrap().contains("<title>Concord</title>"));
    let wasm = server.http.get(server.url("/concord_bg.wasm")).send().await.unwrap();
    assert_eq!(
        wasm.headers()["content-type"],
        "application/wasm",
        "browsers stream-compile only application/wasm"
    );
    // The API still wins over the file server, and unknown API paths are JSON 404s.
    let (status, _) = server.call(reqwest::Method::GET, "/api/health", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server.call(reqwest::Method::GET, "/api/no-such-thing", None, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_built_web_client_the_root_says_how_to_build_it() {
    let db = Database::create(Backend::Sqlite).await;
    let missing = db.dir.join("not-built");
    let server =
        TestServer::start_on(&db, Figment::new().merge(("web_root", missing.display().to_string()))).await;
    let page = server.http.get(server.url("/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains(".ci/build-web"));
}
