//! Wiring: the stages that make up a Concord server, in the order their
//! state builds on each other. Each part owns its routes and state.

use rocket::figment::Figment;
use rocket::{Build, Rocket};
use rocket_db_pools::Database;

use crate::{auth, config, db, gateway, realtime, routes, services, shared_redis};

/// The Rocket application configured by `figment` (see [`config::figment`]).
pub fn build(figment: Figment) -> Rocket<Build> {
    rocket::custom(config::with_defaults(figment))
        .attach(config::stage())
        .attach(shared_redis::stage())
        .attach(db::Db::init())
        .attach(db::stage())
        .attach(auth::stage())
        .attach(realtime::stage())
        .attach(services::stage())
        .attach(services::drain_on_shutdown())
        .attach(gateway::stage())
        .attach(routes::stage())
        .attach(crate::logging::startup_line())
}
