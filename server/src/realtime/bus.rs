//! How events reach other instances. The hub delivers every event to its own
//! connections and hands a copy to a [`Bus`] for everyone else: [`LocalBus`]
//! when this is the only instance, [`super::redis::RedisBus`] when several
//! share a Redis. Events from other instances come back through [`Inbox`].

use std::fmt;
use std::sync::Arc;

use concord_common::UserId;

/// One serialised event, shared by every connection it goes to.
pub type Payload = Arc<str>;

/// A connection's address, unique across instances: the instance's id and
/// the connection's number on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnId {
    /// The instance holding the connection.
    pub instance: u16,
    /// Its number on that instance.
    pub local: u64,
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.instance, self.local)
    }
}

/// A named group of connections (a room's call will be one): events to a
/// topic reach every connection subscribed to it, on any instance.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Topic(String);

impl Topic {
    /// A topic name: 1–128 characters of `[A-Za-z0-9:_-]`.
    pub fn new(name: impl Into<String>) -> Option<Self> {
        let name = name.into();
        let valid = !name.is_empty()
            && name.len() <= 128
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-'));
        valid.then_some(Self(name))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where an event goes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// Every connection (device) of a user.
    User(UserId),
    /// One connection.
    Connection(ConnId),
    /// Every connection subscribed to a topic.
    Topic(Topic),
    /// An instance itself, not its connections: the payload is a message
    /// for the handler it set ([`super::Hub::on_instance_mail`]), such as a
    /// call's request to the instance that hosts the call.
    Instance(u16),
}

impl Target {
    /// The compact text form used on the wire between instances:
    /// `u:<user>`, `c:<instance>:<n>`, `t:<topic>`, `i:<instance>`.
    pub fn encode(&self) -> String {
        match self {
            Target::User(user) => format!("u:{user}"),
            Target::Connection(conn) => format!("c:{}:{}", conn.instance, conn.local),
            Target::Topic(topic) => format!("t:{}", topic.as_str()),
            Target::Instance(instance) => format!("i:{instance}"),
        }
    }

    /// Reads [`Target::encode`]'s form.
    pub fn decode(text: &str) -> Option<Self> {
        let (kind, rest) = text.split_once(':')?;
        match kind {
            "u" => rest.parse().ok().map(Target::User),
            "c" => {
                let (instance, local) = rest.split_once(':')?;
                Some(Target::Connection(ConnId {
                    instance: instance.parse().ok()?,
                    local: local.parse().ok()?,
                }))
            }
            "t" => Topic::new(rest).map(Target::Topic),
            "i" => rest.parse().ok().map(Target::Instance),
            _ => None,
        }
    }
}

/// An event on its way: where to, and the serialised frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// Who receives it.
    pub targets: Vec<Target>,
    /// The JSON frame.
    pub payload: Payload,
}

/// What a bus hands incoming traffic to (the hub).
pub trait Inbox: Send + Sync {
    /// Delivers an event published by another instance to this instance's connections.
    fn deliver(&self, envelope: &Envelope);
    /// Events may have been lost (the bus was down): every local client
    /// should resync its state.
    fn resync_all(&self);
}

/// Carries events between instances.
#[rocket::async_trait]
pub trait Bus: Send + Sync {
    /// `"local"` or `"redis"` (reported by `/api/health`).
    fn name(&self) -> &'static str;
    /// Starts delivering other instances' events to `inbox`; returns once
    /// subscribed, so nothing published after start-up is missed.
    async fn start(&self, inbox: Arc<dyn Inbox>) -> Result<(), String>;
    /// Sends an event to the other instances (never back to this one).
    fn publish(&self, envelope: &Envelope);
    /// Waits until everything published so far has left this instance (or
    /// was given up), at most `limit`; whether it has. Shutdown calls it
    /// last, so no event of an answered request dies with the process.
    async fn flush(&self, _limit: std::time::Duration) -> bool {
        true
    }
}

/// The bus of a single instance: there is nobody else to tell.
pub struct LocalBus;

#[rocket::async_trait]
impl Bus for LocalBus {
    fn name(&self) -> &'static str {
        "local"
    }

    async fn start(&self, _inbox: Arc<dyn Inbox>) -> Result<(), String> {
        Ok(())
    }

    fn publish(&self, _envelope: &Envelope) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_survive_their_wire_form_and_bad_ones_are_refused() {
        let targets = [
            Target::User(UserId(42)),
            Target::Connection(ConnId { instance: 1023, local: 7 }),
            Target::Topic(Topic::new("room:12").unwrap()),
            Target::Instance(1023),
        ];
        for target in targets {
            assert_eq!(Target::decode(&target.encode()), Some(target));
        }
        for bad in ["", "u:", "u:x", "c:1", "c:2000000:1", "t:", "t:a b", "x:1", "i:", "i:x", "i:70000"] {
            assert_eq!(Target::decode(bad), None, "{bad}");
        }
        assert!(Topic::new("room 1").is_none());
        assert!(Topic::new("x".repeat(129)).is_none());
    }
}
