//! Named leases: which instance holds a name (a room's call is one: the
//! instance that hosts it), with a short note the holder keeps beside it
//! (the call's roster, for the others' room lists). With one instance
//! ([`LocalLeases`]) it holds every name; with several ([`RedisLeases`]) a
//! name is a Redis hash `{prefix}:lease:{name}` (`holder`, `note`) that
//! expires a lease after its holder's last renewal, and is taken over at
//! once when its holder's instance lease (`{prefix}:instance:{id}`, see
//! [`super::redis`]) is gone: a killed holder's names are free within one
//! lease.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use redis::aio::ConnectionManager;

use crate::lock;

/// Where the names are kept.
#[rocket::async_trait]
pub trait Leases: Send + Sync {
    /// Who holds `name` now: this instance takes it when nobody does, or
    /// when its holder's instance is no longer alive.
    async fn claim(&self, name: &str) -> Result<u16, String>;
    /// Who holds each of `names`, and the note kept with it.
    async fn holders(&self, names: &[String]) -> Result<Vec<Option<(u16, String)>>, String>;
    /// Keeps this instance's `names` for another lease and writes each one's
    /// note (taking back any found free: Redis restarted); returns the names
    /// another instance holds now.
    async fn renew(&self, names: &[(String, String)]) -> Result<Vec<String>, String>;
    /// Gives `names` up, those this instance still holds.
    async fn release(&self, names: &[String]);
    /// How long a name outlives its holder's last renewal.
    fn lease(&self) -> Duration;
}

/// The only instance holds every name.
pub struct LocalLeases {
    instance: u16,
    notes: Mutex<HashMap<String, String>>,
}

impl LocalLeases {
    /// Leases of the single instance `instance`.
    pub fn new(instance: u16) -> Self {
        Self { instance, notes: Mutex::new(HashMap::new()) }
    }
}

#[rocket::async_trait]
impl Leases for LocalLeases {
    async fn claim(&self, name: &str) -> Result<u16, String> {
        lock(&self.notes).entry(name.to_owned()).or_default();
        Ok(self.instance)
    }

    async fn holders(&self, names: &[String]) -> Result<Vec<Option<(u16, String)>>, String> {
        let notes = lock(&self.notes);
        Ok(names.iter().map(|name| notes.get(name).map(|note| (self.instance, note.clone()))).collect())
    }

    async fn renew(&self, names: &[(String, String)]) -> Result<Vec<String>, String> {
        let mut notes = lock(&self.notes);
        for (name, note) in names {
            notes.insert(name.clone(), note.clone());
        }
        Ok(Vec::new())
    }

    async fn release(&self, names: &[String]) {
        let mut notes = lock(&self.notes);
        for name in names {
            notes.remove(name);
        }
    }

    fn lease(&self) -> Duration {
        // Nobody else to take a name over: this only paces the renewals.
        Duration::from_secs(5)
    }
}

/// `ARGV`: prefix, name, me, lease in ms. Returns the holder.
const CLAIM: &str = r"
local key = ARGV[1] .. ':lease:' .. ARGV[2]
local holder = redis.call('HGET', key, 'holder')
if holder and holder ~= ARGV[3] and redis.call('EXISTS', ARGV[1] .. ':instance:' .. holder) == 1 then
  return tonumber(holder)
end
if holder ~= ARGV[3] then redis.call('DEL', key) end
redis.call('HSET', key, 'holder', ARGV[3])
redis.call('PEXPIRE', key, ARGV[4])
return tonumber(ARGV[3])
";

/// `ARGV`: prefix, me, lease in ms, then name and note pairs. Returns the
/// names another instance holds.
const RENEW: &str = r"
local lost = {}
for i = 4, #ARGV, 2 do
  local key = ARGV[1] .. ':lease:' .. ARGV[i]
  local holder = redis.call('HGET', key, 'holder')
  if holder == false or holder == ARGV[2] then
    redis.call('HSET', key, 'holder', ARGV[2], 'note', ARGV[i + 1])
    redis.call('PEXPIRE', key, ARGV[3])
  else
    lost[#lost + 1] = ARGV[i]
  end
end
return lost
";

/// `ARGV`: prefix, me, then names.
const RELEASE: &str = r"
for i = 3, #ARGV do
  local key = ARGV[1] .. ':lease:' .. ARGV[i]
  if redis.call('HGET', key, 'holder') == ARGV[2] then redis.call('DEL', key) end
end
return 0
";

/// Leases in Redis, shared by every instance on the same prefix.
pub struct RedisLeases {
    prefix: String,
    instance: u16,
    lease: Duration,
    conn: ConnectionManager,
    claim: redis::Script,
    renew: redis::Script,
    release: redis::Script,
}

impl RedisLeases {
    /// Instance `instance`'s view of the leases under `prefix`, each
    /// lasting `lease` (the instance lease: a name outlives its holder no
    /// longer than the holder's own lease).
    pub fn new(conn: ConnectionManager, prefix: &str, instance: u16, lease: Duration) -> Self {
        Self {
            prefix: prefix.to_owned(),
            instance,
            lease,
            conn,
            claim: redis::Script::new(CLAIM),
            renew: redis::Script::new(RENEW),
            release: redis::Script::new(RELEASE),
        }
    }

    fn lease_ms(&self) -> u64 {
        u64::try_from(self.lease.as_millis()).unwrap_or(u64::MAX)
    }
}

fn unreachable(error: &redis::RedisError) -> String {
    format!("cannot reach Redis: {error}")
}

#[rocket::async_trait]
impl Leases for RedisLeases {
    async fn claim(&self, name: &str) -> Result<u16, String> {
        let mut invocation = self.claim.prepare_invoke();
        invocation.arg(&self.prefix).arg(name).arg(self.instance).arg(self.lease_ms());
        let holder: i64 =
            invocation.invoke_async(&mut self.conn.clone()).await.map_err(|e| unreachable(&e))?;
        u16::try_from(holder).map_err(|_| format!("lease {name} held by {holder}, not an instance id"))
    }

    async fn holders(&self, names: &[String]) -> Result<Vec<Option<(u16, String)>>, String> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for name in names {
            pipe.cmd("HMGET").arg(format!("{}:lease:{name}", self.prefix)).arg("holder").arg("note");
        }
        let rows: Vec<(Option<u16>, Option<String>)> =
            pipe.query_async(&mut self.conn.clone()).await.map_err(|e| unreachable(&e))?;
        Ok(rows.into_iter().map(|(holder, note)| holder.map(|h| (h, note.unwrap_or_default()))).collect())
    }

    async fn renew(&self, names: &[(String, String)]) -> Result<Vec<String>, String> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut invocation = self.renew.prepare_invoke();
        invocation.arg(&self.prefix).arg(self.instance).arg(self.lease_ms());
        for (name, note) in names {
            invocation.arg(name).arg(note);
        }
        invocation.invoke_async(&mut self.conn.clone()).await.map_err(|e| unreachable(&e))
    }

    async fn release(&self, names: &[String]) {
        if names.is_empty() {
            return;
        }
        let mut invocation = self.release.prepare_invoke();
        invocation.arg(&self.prefix).arg(self.instance);
        for name in names {
            invocation.arg(name);
        }
        let released: redis::RedisResult<i64> = invocation.invoke_async(&mut self.conn.clone()).await;
        if let Err(error) = released {
            tracing::warn!(%error, "leases not released; they lapse within a lease");
        }
    }

    fn lease(&self) -> Duration {
        self.lease
    }
}
