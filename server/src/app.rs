//! Assembling the server: database pool, settings, token keys, rate limiter,
//! realtime hub (with the Redis bus when configured), routes and catchers.

use std::sync::Arc;
use std::time::Duration;

use rocket::fairing::AdHoc;
use rocket::figment::Figment;
use rocket::{Build, Rocket};
use rocket_db_pools::Database;
use sqlx::AnyPool;

use crate::auth::rate_limit::LoginLimiter;
use crate::auth::token::{load_or_create_secret, Tokens};
use crate::config::{self, Settings};
use crate::db::{self, Backend, Db};
use crate::ids::IdGenerator;
use crate::realtime::redis_bus::RedisBus;
use crate::realtime::Hub;
use crate::routes;

/// Everything a request handler or websocket session needs, cheap to clone.
#[derive(Clone)]
pub struct App {
    /// The database pool (the same one `rocket_db_pools` manages as [`Db`]).
    pub pool: AnyPool,
    /// Which database engine.
    pub backend: Backend,
    /// Concord's settings.
    pub settings: Arc<Settings>,
    /// Id source for users, invites and messages.
    pub ids: Arc<IdGenerator>,
    /// Token issuing and checking.
    pub tokens: Arc<Tokens>,
    /// Failed-login limiter.
    pub login_limiter: Arc<LoginLimiter>,
    /// Realtime connections, presence and event bus.
    pub hub: Arc<Hub>,
}

/// The Rocket application configured by `figment` (see [`config::figment`]).
pub fn build(figment: Figment) -> Rocket<Build> {
    let figment = config::with_defaults(figment);
    // Read before ignition (routes are mounted now); a bad configuration is
    // reported by `init_state`, which extracts the same settings.
    let web_root = figment
        .extract::<Settings>()
        .map_or_else(|_| std::path::PathBuf::from(config::DEFAULT_WEB_ROOT), |s| s.web_root);
    let rocket = rocket::custom(figment);
    let rocket = if web_root.join("index.html").is_file() {
        rocket.mount("/", rocket::fs::FileServer::new(web_root, rocket::fs::Options::Index).rank(20))
    } else {
        rocket.mount("/", rocket::routes![routes::web_client_missing])
    };
    rocket
        .attach(Db::init())
        .attach(AdHoc::try_on_ignite("Concord state", |rocket| async move {
            match init_state(&rocket).await {
                Ok(app) => Ok(rocket.manage(app)),
                Err(message) => {
                    tracing::error!("{message}");
                    eprintln!("concord-server: {message}");
                    Err(rocket)
                }
            }
        }))
        .mount("/api", routes::api())
        .register("/", routes::catchers())
}

async fn init_state(rocket: &Rocket<Build>) -> Result<App, String> {
    let settings: Settings = rocket.figment().extract().map_err(|e| format!("invalid configuration: {e}"))?;
    let url: String = rocket.figment().extract_inner("databases.main.url").unwrap_or_default();
    let backend = Backend::from_url(&url);
    let pool = Db::fetch(rocket).ok_or("the database pool did not start")?.0.clone();
    db::migrate(&pool).await.map_err(|e| format!("database migration failed: {e}"))?;
    let secret = load_or_create_secret(settings.jwt_secret.as_deref(), &settings.data_dir)?;
    let tokens = Tokens::new(&secret, settings.token_ttl_secs);
    let login_limiter = LoginLimiter::new(
        settings.login_failures_per_account,
        settings.login_failures_per_address,
        Duration::from_secs(settings.login_window_secs),
    );
    let hub = match &settings.redis_url {
        None => Arc::new(Hub::new(settings.ws_queue_len, None)),
        Some(url) => {
            let (bus, outgoing) = RedisBus::open(url, &settings.redis_prefix)
                .await
                .map_err(|e| format!("cannot connect to Redis at {url}: {e}"))?;
            let hub = Arc::new(Hub::new(settings.ws_queue_len, Some(bus.clone())));
            bus.start(hub.clone(), outgoing)
                .await
                .map_err(|e| format!("cannot subscribe to Redis at {url}: {e}"))?;
            hub
        }
    };
    let instance = settings.instance_id.unwrap_or_else(rand::random);
    Ok(App {
        pool,
        backend,
        ids: Arc::new(IdGenerator::new(instance)),
        tokens: Arc::new(tokens),
        login_limiter: Arc::new(login_limiter),
        hub,
        settings: Arc::new(settings),
    })
}
