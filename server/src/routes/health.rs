//! `GET /api/health` and `GET /api/openapi.json`.

use concord_common::Health;
use rocket::http::ContentType;
use rocket::serde::json::Json;
use rocket::{get, routes, Route, State};

use crate::app::App;
use crate::error::ApiError;

/// The OpenAPI 3 document describing every route (kept beside `docs/API.md`).
pub const OPENAPI_JSON: &str = include_str!("../../../docs/openapi.json");

pub fn routes() -> Vec<Route> {
    routes![health, openapi]
}

#[get("/health")]
async fn health(app: &State<App>) -> Result<Json<Health>, ApiError> {
    // A round trip proves the database answers, not just the process.
    sqlx::query("SELECT 1").execute(&app.pool).await?;
    Ok(Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        database: app.backend.name().into(),
        bus: app.hub.bus_name().into(),
    }))
}

#[get("/openapi.json")]
fn openapi() -> (ContentType, &'static str) {
    (ContentType::JSON, OPENAPI_JSON)
}
