//! The served OpenAPI document describes every mounted route.

use reqwest::{Method, StatusCode};
use rocket::figment::Figment;
use serde_json::Value;

use crate::support::{Backend, Database, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_lists_every_route() {
    let db = Database::create(Backend::Sqlite).await;
    let server = TestServer::start_on(&db, Figment::new()).await;
    let (status, doc) = server.call(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap_or_default().starts_with("3."), "{doc}");
    let paths = doc["paths"].as_object().expect("paths");
    for route in concord_server::routes::api() {
        // "/ws" mounted at "/api", with "<user_id>" written "{user_id}".
        let path = format!("/api{}", route.uri.path()).replace('<', "{").replace('>', "}");
        let path = path.split('?').next().unwrap().to_owned();
        let item: &Value = paths.get(&path).unwrap_or_else(|| panic!("{path} missing from openapi.json"));
        let method = route.method.as_str().to_lowercase();
        assert!(item.get(&method).is_some(), "{method} {path} missing from openapi.json");
    }
}
