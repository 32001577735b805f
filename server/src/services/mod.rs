//! The service layer: what Concord does, called by the REST handlers, the
//! websocket gateway and (later) the rooms' bot alike. Services hold the
//! pool from Rocket's managed [`Db`], the realtime [`Hub`] and the id
//! source; they validate, authorise, call the `db` repositories and publish
//! events. [`stage`] builds them and makes each one Rocket state.

pub mod accounts;
pub mod attachments;
pub mod calls;
pub mod chat;
pub mod messages;
pub mod rooms;
pub mod social;
pub mod turn;

use std::sync::Arc;
use std::time::Duration;

use rocket::fairing::AdHoc;
use rocket_db_pools::Database;

pub use accounts::Accounts;
pub use attachments::Attachments;
pub use calls::Calls;
pub use chat::Chat;
pub use messages::Messages;
pub use rooms::Rooms;
pub use social::Social;

use crate::auth::password::PasswordHasher;
use crate::auth::rate_limit::LoginLimiter;
use crate::auth::token::Tokens;
use crate::config::Settings;
use crate::db::{Backend, Db};
use crate::ids::IdGenerator;
use crate::realtime::{Hub, LeaseStore};
use crate::sfu::{Sfu, SfuStartError};
use crate::shared_redis::SharedRedis;
use crate::uploads::{AttachmentLinks, FileStore};

/// A history page from `fetched`, which was asked for one row more than
/// `limit`: the first `limit` rows, and whether more exist beyond them.
fn history_page<T>(mut fetched: Vec<T>, limit: u32) -> (Vec<T>, bool) {
    let has_more = fetched.len() > limit as usize;
    fetched.truncate(limit as usize);
    (fetched, has_more)
}

/// On shutdown (SIGTERM, Ctrl+C): everyone in a call hosted here is told it
/// moved (they rejoin through another instance, which hosts it from then
/// on), every websocket is told to reconnect (1012) and closed, then the DMs
/// already taken are committed and answered, and their events sent to the
/// other instances, before the process ends — each step within Rocket's
/// `shutdown.grace` (Rocket.toml), while the listener takes no new
/// connection. (`main` flushes the bus once more after Rocket's last request.)
pub fn drain_on_shutdown() -> AdHoc {
    AdHoc::on_shutdown("Drain", |rocket| {
        Box::pin(async move {
            if let Some(calls) = rocket.state::<Calls>() {
                calls.move_all_for_shutdown().await;
            }
            let grace = Duration::from_secs(u64::from(rocket.config().shutdown.grace));
            if let Some(hub) = rocket.state::<Arc<Hub>>() {
                hub.close_all_for_shutdown();
                // The sessions are tasks of their own (gateway::upgrade), not
                // Rocket's: wait for them to have said goodbye.
                if !hub.wait_until_empty(grace).await {
                    tracing::warn!("shutting down: websockets still open after the grace period");
                }
            }
            if let Some(messages) = rocket.state::<Messages>() {
                if messages.drain(grace).await {
                    tracing::info!("shutting down: every message taken is stored");
                } else {
                    tracing::warn!("shutting down: messages still uncommitted after the grace period");
                }
            }
            if let Some(hub) = rocket.state::<Arc<Hub>>() {
                // What the last answers announced must reach the other instances.
                if !hub.flush_bus(grace).await {
                    tracing::warn!(
                        "shutting down: events still unsent to other instances after the grace period"
                    );
                }
            }
        })
    })
}

/// Manages [`Accounts`], [`Social`], [`Messages`], [`Rooms`], [`Chat`], [`Attachments`] and [`Calls`];
/// starts the presence reaper and the upload sweeper. Attached after the settings, Redis, database, auth and realtime stages.
pub fn stage() -> AdHoc {
    AdHoc::try_on_ignite("Services", |rocket| async move {
        let parts = (
            rocket.state::<Settings>(),
            rocket.state::<SharedRedis>(),
            Db::fetch(&rocket),
            rocket.state::<Backend>(),
            rocket.state::<Arc<Hub>>(),
            rocket.state::<Tokens>(),
            rocket.state::<AttachmentLinks>(),
            rocket.state::<LeaseStore>(),
        );
        let (
            Some(settings),
            Some(redis),
            Some(db),
            Some(backend),
            Some(hub),
            Some(tokens),
            Some(links),
            Some(leases),
        ) = parts
        else {
            return Err(rocket);
        };
        let store = match FileStore::open(settings) {
            Ok(store) => store,
            Err(message) => {
                crate::report_start_failure(&message);
                return Err(rocket);
            }
        };
        let pool = db.pool().clone();
        let ids = Arc::new(IdGenerator::new(settings.instance()));
        let limiter = LoginLimiter::new(
            settings.login_failures_per_account,
            settings.login_failures_per_address,
            Duration::from_secs(settings.login_window_secs),
            redis.0.as_ref().map(|r| (r.conn.clone(), settings.redis_prefix.clone())),
        );
        let accounts = Accounts {
            pool: pool.clone(),
            ids: ids.clone(),
            tokens: tokens.clone(),
            hasher: PasswordHasher::default(),
            limiter: Arc::new(limiter),
        };
        let social = Social { pool: pool.clone(), hub: hub.clone(), ids: ids.clone() };
        let files = Attachments {
            pool: pool.clone(),
            ids: ids.clone(),
            store,
            links: links.clone(),
            max_bytes: settings.upload_max_bytes.as_u64(),
            daily_bytes: settings.upload_daily_bytes.as_u64(),
            decoding: Arc::new(tokio::sync::Semaphore::new(2)),
        };
        let (sfu, sfu_events) = match Sfu::start(settings.media_addresses()) {
            Ok(started) => started,
            Err(error) => {
                let setting = match error {
                    SfuStartError::Udp(..) => "media_udp_address (ROCKET_MEDIA_UDP_ADDRESS)",
                    SfuStartError::Tcp(..) => {
                        "media_tcp_address (ROCKET_MEDIA_TCP_ADDRESS), or turn TCP off with media_tcp = false"
                    }
                };
                crate::report_start_failure(&format!(
                    "{error}. Free that port or choose another with {setting}."
                ));
                return Err(rocket);
            }
        };
        let turn = turn::TurnRelays::from_settings(settings);
        let calls = Calls::new(pool.clone(), hub.clone(), sfu.clone(), turn, leases.0.clone());
        calls.spawn_media_events(sfu_events);
        calls.spawn_hosting();
        let rooms = Rooms {
            pool: pool.clone(),
            hub: hub.clone(),
            ids: ids.clone(),
            social: social.clone(),
            calls: calls.clone(),
            files: files.clone(),
        };
        let chat = Chat {
            pool: pool.clone(),
            hub: hub.clone(),
            social: social.clone(),
            rooms: rooms.clone(),
            files: files.clone(),
            backend: *backend,
        };
        let messages = Messages::start(pool, *backend, hub.clone(), ids, social.clone(), files.clone());
        social.spawn_presence_reaper();
        files.spawn_sweeper();
        Ok(rocket
            .manage(accounts)
            .manage(social)
            .manage(messages)
            .manage(rooms)
            .manage(chat)
            .manage(files)
            .manage(calls)
            .manage(sfu))
    })
}
