//! The server serves the built web client at `/` (or says how to build it):
//! precompressed variants chosen by `Accept-Encoding`, hashed files cached
//! for good, the page revalidated by `ETag`.

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
    // A page without `Accept-Encoding` gets the plain file; revalidation by
    // ETag answers 304 with no body, so a second visit downloads nothing.
    let page = server.http.get(server.url("/")).send().await.unwrap();
    assert_eq!(page.headers()["cache-control"], "no-cache");
    assert!(page.headers().get("content-encoding").is_none());
    let etag = page.headers()["etag"].to_str().unwrap().to_owned();
    let again = server.http.get(server.url("/")).header("If-None-Match", &etag).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert!(again.bytes().await.unwrap().is_empty());

    // The API still wins over the file server, and unknown API paths are JSON 404s.
    let (status, _) = server.call(reqwest::Method::GET, "/api/health", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server.call(reqwest::Method::GET, "/api/no-such-thing", None, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
}

/// What `.ci/build-web` writes: hashed names, each with `.br` and `.gz` beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_variants_follow_accept_encoding_and_hashed_files_are_cached_for_good() {
    let db = Database::create(Backend::Sqlite).await;
    let root = db.dir.join("web");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("index.html"), "<!DOCTYPE html><script src=concord-0123456789abcdef.js>")
        .unwrap();
    let js = root.join("concord-0123456789abcdef.js");
    std::fs::write(&js, "export function start() {}").unwrap();
    std::fs::write(root.join("concord-0123456789abcdef.js.br"), b"BROTLI BYTES").unwrap();
    std::fs::write(root.join("concord-0123456789abcdef.js.gz"), b"GZIP BYTES").unwrap();
    let server =
        TestServer::start_on(&db, Figment::new().merge(("web_root", root.display().to_string()))).await;
    let fetch = |accept: &'static str| {
        let request = server.http.get(server.url("/concord-0123456789abcdef.js"));
        let request = if accept.is_empty() { request } else { request.header("Accept-Encoding", accept) };
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let headers = response.headers().clone();
            let encoding = headers.get("content-encoding").map(|v| v.to_str().unwrap().to_owned());
            assert_eq!(headers["cache-control"], "public, max-age=31536000, immutable");
            assert_eq!(headers["vary"], "Accept-Encoding");
            assert!(headers["content-type"].to_str().unwrap().contains("javascript"), "{headers:?}");
            (encoding, response.bytes().await.unwrap().to_vec())
        }
    };
    // Chromium's header: brotli wins.
    assert_eq!(fetch("gzip, deflate, br, zstd").await, (Some("br".into()), b"BROTLI BYTES".to_vec()));
    assert_eq!(fetch("gzip").await, (Some("gzip".into()), b"GZIP BYTES".to_vec()));
    assert_eq!(fetch("br;q=0, gzip;q=0.8").await, (Some("gzip".into()), b"GZIP BYTES".to_vec()));
    assert_eq!(fetch("").await, (None, b"export function start() {}".to_vec()));
    assert_eq!(fetch("identity").await, (None, b"export function start() {}".to_vec()));
    // Each representation has its own tag.
    let tags: std::collections::HashSet<String> =
        futures_util::future::join_all(["br", "gzip", ""].map(|accept| {
            let request =
                server.http.get(server.url("/concord-0123456789abcdef.js")).header("Accept-Encoding", accept);
            async move { request.send().await.unwrap().headers()["etag"].to_str().unwrap().to_owned() }
        }))
        .await
        .into_iter()
        .collect();
    assert_eq!(tags.len(), 3, "{tags:?}");
    // A file that is not there is a JSON 404 like any other.
    let (status, body) = server.call(reqwest::Method::GET, "/concord-ffffffffffffffff.js", None, None).await;
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

/// With a certificate and key configured (Rocket's `tls` setting), the
/// server speaks HTTPS, which browsers require before they hand a page a
/// camera or microphone: the API and the page answer over TLS to a client
/// that trusts the certificate, a client that does not is refused by its own
/// TLS check, plain http gets no page, and the start-up line says https.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_certificate_and_key_the_server_serves_https() {
    let db = Database::create(Backend::Sqlite).await;
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let certified = rcgen::generate_simple_self_signed(names).expect("a self-signed certificate");
    let (cert, key) = (db.dir.join("cert.pem"), db.dir.join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let web_root = db.dir.join("web");
    std::fs::create_dir_all(&web_root).unwrap();
    std::fs::write(web_root.join("index.html"), "<!doctype html><title>Concord</title>").unwrap();
    let mut env = crate::support::child_env(&db.url, &db.dir);
    env.push(("ROCKET_TLS".into(), format!("{{certs=\"{}\",key=\"{}\"}}", cert.display(), key.display())));
    env.push(("ROCKET_WEB_ROOT".into(), web_root.display().to_string()));
    let process = crate::support::spawn_server(&env).unwrap_or_else(|log| panic!("did not start: {log:#?}"));
    let start_line = process.lines_with("listening on");
    assert!(start_line.iter().any(|l| l.contains("listening on https://")), "{start_line:?}");

    let curl = |args: &[&str]| {
        let output = std::process::Command::new("curl")
            .args(["--silent", "--show-error", "--max-time", "10"])
            .args(args)
            .output()
            .expect("curl runs");
        (output.status.success(), String::from_utf8_lossy(&output.stdout).into_owned())
    };
    let https = |path: &str| format!("https://127.0.0.1:{}{path}", process.port);
    let cert_arg = cert.display().to_string();
    let (ok, health) = curl(&["--cacert", &cert_arg, &https("/api/health")]);
    assert!(ok, "{health}");
    let health: serde_json::Value = serde_json::from_str(&health).unwrap_or_else(|e| panic!("{e}: {health}"));
    assert_eq!(health["status"], "ok", "{health}");
    let (ok, page) = curl(&["--cacert", &cert_arg, &https("/")]);
    assert!(ok && page.contains("<title>Concord</title>"), "{page}");
    // Without trusting the certificate, the client's own check refuses it.
    let (ok, _) = curl(&[&https("/api/health")]);
    assert!(!ok, "an untrusted certificate was accepted");
    // Plain http on the same port gets nothing it could show.
    let (ok, body) = curl(&[&format!("http://127.0.0.1:{}/api/health", process.port)]);
    assert!(!ok || !body.contains("\"status\""), "plain http was served: {body}");
}
