//! Server settings. Everything comes from Rocket's figment: built-in defaults,
//! then `Rocket.toml` (or the file named by `ROCKET_CONFIG`), then `ROCKET_*`
//! environment variables — e.g. `ROCKET_DATABASES='{main={url="mysql://..."}}'`,
//! `ROCKET_JWT_SECRET`, `ROCKET_REDIS_URL`, `ROCKET_PORT`.

use std::path::PathBuf;

use rocket::data::{ByteUnit, Limits};
use rocket::figment::Figment;
use serde::Deserialize;

/// Concord's own settings (Rocket's are read by Rocket).
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Where the embedded database and the generated JWT secret live.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// HS256 signing secret. When absent, one is generated on first start and
    /// kept in `data_dir/jwt-secret`.
    #[serde(default)]
    pub jwt_secret: Option<String>,
    /// How long a login stays valid.
    #[serde(default = "default_token_ttl_secs")]
    pub token_ttl_secs: u64,
    /// `redis://host:port` to share events and presence between instances.
    #[serde(default)]
    pub redis_url: Option<String>,
    /// Prefix of every Redis key and channel (several deployments can share a Redis).
    #[serde(default = "default_redis_prefix")]
    pub redis_prefix: String,
    /// This instance's number (0–1023) for id generation; random when absent.
    #[serde(default)]
    pub instance_id: Option<u16>,
    /// The built web client (`index.html`, `concord.js`, `concord_bg.wasm`),
    /// served at `/`. Built by `.ci/build-web`.
    #[serde(default = "default_web_root")]
    pub web_root: PathBuf,
    /// Failed logins allowed per account within `login_window_secs`.
    #[serde(default = "default_login_per_account")]
    pub login_failures_per_account: u32,
    /// Failed logins allowed per client address within `login_window_secs`.
    #[serde(default = "default_login_per_address")]
    pub login_failures_per_address: u32,
    /// The login rate-limit window.
    #[serde(default = "default_login_window_secs")]
    pub login_window_secs: u64,
    /// Clients must send a heartbeat (or any frame) at least this often.
    #[serde(default = "default_heartbeat_ms")]
    pub heartbeat_interval_ms: u64,
    /// Largest websocket message a client may send, in bytes.
    #[serde(default = "default_ws_max_message_bytes")]
    pub ws_max_message_bytes: usize,
    /// Events queued for one websocket before it counts as too slow and is closed.
    #[serde(default = "default_ws_queue_len")]
    pub ws_queue_len: usize,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("concord-data")
}
fn default_web_root() -> PathBuf {
    PathBuf::from(DEFAULT_WEB_ROOT)
}
fn default_redis_prefix() -> String {
    "concord".into()
}
fn default_token_ttl_secs() -> u64 {
    30 * 24 * 3600
}
fn default_login_per_account() -> u32 {
    5
}
fn default_login_per_address() -> u32 {
    30
}
fn default_login_window_secs() -> u64 {
    300
}
fn default_heartbeat_ms() -> u64 {
    30_000
}
fn default_ws_max_message_bytes() -> usize {
    16 * 1024
}
fn default_ws_queue_len() -> usize {
    512
}

/// Where the built web client is served from unless `web_root` says otherwise.
pub const DEFAULT_WEB_ROOT: &str = "gui/dist";

/// Largest accepted JSON request body.
pub const JSON_LIMIT: ByteUnit = ByteUnit::Kibibyte(64);

/// The defaults every figment starts from: Rocket's own, 64 KiB JSON bodies,
/// and an SQLite file in `data_dir` unless a database URL is configured.
pub fn with_defaults(figment: Figment) -> Figment {
    let limits = Limits::default().limit("json", JSON_LIMIT);
    let figment = Figment::from(rocket::Config::default())
        .merge(("limits", limits))
        // Trust no client-supplied address header unless configured (behind a
        // proxy, set `ip_header = "X-Real-IP"`): the login limiter keys on it.
        .merge(("ip_header", false))
        .merge(figment);
    if figment.find_value("databases.main.url").is_ok() {
        return figment;
    }
    let data_dir: PathBuf = figment.extract_inner("data_dir").unwrap_or_else(|_| default_data_dir());
    let url = format!("sqlite://{}?mode=rwc", data_dir.join("concord.db").display());
    figment.merge(("databases.main.url", url))
}

/// The figment `concord-server` runs with: defaults, `Rocket.toml`, `ROCKET_*`.
pub fn figment() -> Figment {
    with_defaults(rocket::Config::figment())
}
