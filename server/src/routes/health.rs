//! `GET /api/health` and `GET /api/openapi.json`.

use std::sync::Arc;

use concord_common::Health;
use rocket::http::ContentType;
use rocket::serde::json::Json;
use rocket::{get, routes, Route, State};

use crate::db::{self, Backend, Db};
use crate::error::ApiError;
use crate::realtime::Hub;

/// The OpenAPI 3 document describing every route (kept beside `docs/API.md`).
pub const OPENAPI_JSON: &str = include_str!("../../../docs/openapi.json");

pub fn routes() -> Vec<Route> {
    routes![health, openapi]
}

#[get("/health")]
async fn health(
    database: &Db,
    backend: &State<Backend>,
    hub: &State<Arc<Hub>>,
) -> Result<Json<Health>, ApiError> {
    // A round trip proves the database answers, not just the process.
    db::ping(database.pool()).await?;
    Ok(Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        database: backend.name().into(),
        bus: hub.bus_name().into(),
    }))
}

#[get("/openapi.json")]
fn openapi() -> (ContentType, &'static str) {
    (ContentType::JSON, OPENAPI_JSON)
}
