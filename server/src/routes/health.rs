//! `GET /api/health` and `GET /api/openapi.json`.

use std::sync::Arc;

use concord_common::{ErrorResponse, Health};
use rocket::http::ContentType;
use rocket::serde::json::Json;
use rocket::{get, routes, Route, State};

use crate::db::{self, Backend, Db};
use crate::error::ApiError;
use crate::realtime::Hub;

pub fn routes() -> Vec<Route> {
    routes![health, openapi]
}

/// Liveness and configuration (round-trips the database).
#[utoipa::path(get, path = "/api/health", tag = "meta", security(()),
    responses(
        (status = 200, description = "The server and its database answer.", body = Health),
        (status = 500, description = "The database does not answer (`internal`).", body = ErrorResponse),
    ))]
#[get("/health")]
pub(crate) async fn health(
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
        instance_id: hub.instance(),
        connections: hub.local_connections() as u64,
    }))
}

/// This OpenAPI document, generated from the code.
#[utoipa::path(get, path = "/api/openapi.json", tag = "meta", security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document.", content_type = "application/json")))]
#[get("/openapi.json")]
pub(crate) fn openapi() -> (ContentType, String) {
    (ContentType::JSON, super::openapi::document_json())
}
