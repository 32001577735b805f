//! Realtime events. The [`hub::Hub`] holds this instance's websocket
//! connections and tracks presence; it publishes every event through one bus:
//! in-process by default, Redis pub/sub when `redis_url` is set
//! ([`redis_bus`]), so events and presence cross instances. [`session`] runs
//! one websocket connection.

pub mod hub;
pub mod redis_bus;
pub mod session;

pub use hub::Hub;
