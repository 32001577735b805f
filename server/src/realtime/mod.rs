//! Realtime delivery, knowing nothing of friends or messages: the
//! addressable [`Hub`] (by user, connection, topic or instance), the
//! [`bus`] that carries events between instances, the [`presence`] store
//! and named [`leases`] (which instance holds what). Each comes in two
//! implementations — in-process, and Redis ([`redis`]) — chosen once at
//! start-up by [`stage`].

pub mod bus;
pub mod hub;
pub mod leases;
pub mod presence;
pub mod redis;

use std::sync::Arc;
use std::time::Duration;

use rocket::fairing::AdHoc;

pub use bus::{ConnId, Target, Topic};
pub use hub::Hub;
pub use leases::Leases;

use crate::config::Settings;
use crate::shared_redis::SharedRedis;

/// The named leases of this deployment, managed beside the hub.
#[derive(Clone)]
pub struct LeaseStore(pub Arc<dyn Leases>);

/// Builds the hub from the settings (Redis bus and presence when `redis_url`
/// is set, in-process otherwise) and manages it as `Arc<Hub>`, with the
/// [`LeaseStore`].
pub fn stage() -> AdHoc {
    AdHoc::try_on_ignite("Realtime hub", |rocket| async move {
        let (Some(settings), Some(shared)) = (rocket.state::<Settings>(), rocket.state::<SharedRedis>())
        else {
            return Err(rocket);
        };
        match build(settings, shared).await {
            Ok((hub, leases)) => Ok(rocket.manage(hub).manage(LeaseStore(leases))),
            Err(message) => {
                crate::report_start_failure(&message);
                Err(rocket)
            }
        }
    })
}

async fn build(settings: &Settings, shared: &SharedRedis) -> Result<(Arc<Hub>, Arc<dyn Leases>), String> {
    let instance = settings.instance();
    let Some(redis) = &shared.0 else {
        let hub = Arc::new(Hub::new(
            instance,
            settings.ws_queue_len,
            Arc::new(bus::LocalBus),
            Arc::new(presence::LocalPresence::default()),
        ));
        hub.start().await?;
        return Ok((hub, Arc::new(leases::LocalLeases::new(instance))));
    };
    let lease = Duration::from_secs(settings.presence_lease_secs.max(1));
    let presence = Arc::new(
        redis::RedisPresence::claim(redis.conn.clone(), &settings.redis_prefix, instance, lease).await?,
    );
    let bus =
        redis::RedisBus::new(redis.client.clone(), redis.conn.clone(), &settings.redis_prefix, instance);
    let hub = Arc::new(Hub::new(instance, settings.ws_queue_len, Arc::new(bus), presence.clone()));
    hub.start().await.map_err(|e| format!("Redis bus: {e}"))?;
    presence.keep_alive(hub.clone());
    let leases = leases::RedisLeases::new(redis.conn.clone(), &settings.redis_prefix, instance, lease);
    Ok((hub, Arc::new(leases)))
}
