//! Server settings. Everything comes from Rocket's figment: built-in defaults,
//! then `Rocket.toml` (or the file named by `ROCKET_CONFIG`), then `ROCKET_*`
//! environment variables — e.g. `ROCKET_DATABASES='{main={url="mysql://..."}}'`,
//! `ROCKET_JWT_SECRET`, `ROCKET_REDIS_URL`, `ROCKET_PORT`.

use std::net::{IpAddr, SocketAddr};
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
    /// This instance's number (0–1023): part of every id it mints and of its
    /// presence lease in Redis. Required with `redis_url` (each instance its
    /// own); a single instance without Redis picks one at random.
    #[serde(default)]
    pub instance_id: Option<u16>,
    /// How long a silent instance's users stay online in Redis before another
    /// instance reaps them (a killed instance's friends see them go offline
    /// within about this long plus a reaping period).
    #[serde(default = "default_presence_lease_secs")]
    pub presence_lease_secs: u64,
    /// `text` (default) or `json` log lines on stderr.
    #[serde(default)]
    pub log_format: LogFormat,
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
    /// The UDP address call media goes through (the SFU's first engine;
    /// engine k listens on the port number k further on).
    #[serde(default = "default_media_udp_address")]
    pub media_udp_address: SocketAddr,
    /// How many SFU engines forward calls, each on a core of its own with
    /// its own UDP (and TCP) port; 0: one per core. 1 keeps all media on
    /// the one port of `media_udp_address` (and `media_tcp_address`).
    #[serde(default)]
    pub media_engines: usize,
    /// Estimate each participant's downlink and fit what the SFU sends them
    /// into it: simulcast layers lowered, videos paused before audio
    /// suffers (`call_video_quality` tells them). Off by default for now
    /// (docs/BENCHMARKS.md, "Bandwidth estimation").
    #[serde(default)]
    pub media_bandwidth_estimation: bool,
    /// Open a TCP port beside the UDP one for participants whose UDP is
    /// blocked (ICE over TCP, RFC 6544). On by default.
    #[serde(default = "default_true")]
    pub media_tcp: bool,
    /// The TCP address for that (engine k: the port number k further on).
    /// Unset: the UDP address's IP and port number (a UDP port of 0 gets
    /// any free TCP port).
    #[serde(default)]
    pub media_tcp_address: Option<SocketAddr>,
    /// The IP address clients are told to send media to, when the server
    /// sits behind NAT or in a container (its public address). Unset: the
    /// bound address, or this host's address on its default route.
    #[serde(default)]
    pub media_advertise_ip: Option<IpAddr>,
    /// TURN relays handed to everyone who joins a call, for networks that
    /// block UDP to the SFU: a coturn run with `use-auth-secret`, e.g.
    /// `["turn:turn.example.com:3478?transport=udp",
    /// "turns:turn.example.com:443?transport=tcp"]`. Needs `turn_secret`.
    #[serde(default)]
    pub turn_urls: Vec<String>,
    /// The relay's `static-auth-secret`, from which each participant's
    /// credential is made (the TURN REST API scheme coturn speaks).
    #[serde(default)]
    pub turn_secret: Option<String>,
    /// How long a handed-out credential can open a relay allocation (coturn
    /// checks it when the allocation is made; a call that rejoins gets a
    /// fresh one).
    #[serde(default = "default_turn_credential_ttl_secs")]
    pub turn_credential_ttl_secs: u64,
    /// Largest file one upload may be (refused with 413 `file_too_large`
    /// before anything is stored).
    #[serde(default = "default_upload_max_bytes")]
    pub upload_max_bytes: ByteUnit,
    /// How much one person may upload in 24 hours (413 `upload_quota`).
    #[serde(default = "default_upload_daily_bytes")]
    pub upload_daily_bytes: ByteUnit,
    /// How long a signed attachment link works, at least (links end on the
    /// hour after this).
    #[serde(default = "default_attachment_link_ttl_secs")]
    pub attachment_link_ttl_secs: u64,
    /// Where uploaded files are kept: a directory (the default,
    /// `data_dir/uploads`) or S3-compatible storage, which several
    /// instances must share.
    #[serde(default)]
    pub file_store: FileStoreSettings,
}

/// `file_store`: where uploaded files go.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum FileStoreSettings {
    /// A directory on this machine (`path`; default `data_dir/uploads`).
    Local {
        /// The directory.
        #[serde(default)]
        path: Option<PathBuf>,
    },
    /// An S3-compatible bucket (AWS S3, MinIO, Garage, Ceph, …).
    S3 {
        /// The bucket (made beforehand).
        bucket: String,
        /// e.g. `http://127.0.0.1:9000` for a self-hosted store; unset: AWS.
        #[serde(default)]
        endpoint: Option<String>,
        /// The region (`us-east-1` unless the store says otherwise).
        #[serde(default = "default_s3_region")]
        region: String,
        /// The access key's id.
        access_key_id: String,
        /// The access key's secret.
        secret_access_key: String,
        /// Allow a plain-HTTP `endpoint` (a store on the same host or network).
        #[serde(default)]
        allow_http: bool,
    },
}

impl Default for FileStoreSettings {
    fn default() -> Self {
        FileStoreSettings::Local { path: None }
    }
}

/// How the server writes its log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Largest instance id (ids carry 10 bits of instance).
pub const MAX_INSTANCE_ID: u16 = 1023;

impl Settings {
    /// Reads and checks the settings in `figment`; fills in a random
    /// `instance_id` for a single instance without Redis.
    pub fn load(figment: &Figment) -> Result<Settings, String> {
        let mut settings: Settings = figment.extract().map_err(|e| format!("invalid configuration: {e}"))?;
        match (settings.instance_id, &settings.redis_url) {
            (Some(id), _) if id > MAX_INSTANCE_ID => {
                return Err(format!(
                    "instance_id {id} is out of range: use a number from 0 to {MAX_INSTANCE_ID}, \
                     different for every instance."
                ))
            }
            (None, Some(_)) => {
                return Err(format!(
                    "instance_id is required when redis_url is set: give every instance its own number \
                     from 0 to {MAX_INSTANCE_ID} (e.g. ROCKET_INSTANCE_ID=1), so their ids never collide."
                ))
            }
            (None, None) => settings.instance_id = Some(rand::random_range(0..=MAX_INSTANCE_ID)),
            (Some(_), _) => {}
        }
        match (settings.turn_urls.is_empty(), settings.turn_secret.as_deref().is_none_or(str::is_empty)) {
            (false, true) => {
                return Err("turn_urls is set without turn_secret: give the relay's static-auth-secret \
                            as turn_secret (ROCKET_TURN_SECRET), or remove turn_urls."
                    .into())
            }
            (true, false) => {
                return Err("turn_secret is set without turn_urls: list the relay's addresses, e.g. \
                            turn_urls = [\"turn:turn.example.com:3478?transport=udp\"]."
                    .into())
            }
            _ => {}
        }
        if let Some(url) =
            settings.turn_urls.iter().find(|u| !(u.starts_with("turn:") || u.starts_with("turns:")))
        {
            return Err(format!(
                "turn_urls entry {url:?} is not a TURN address: write turn:HOST:PORT or turns:HOST:PORT \
                 (optionally ?transport=udp or ?transport=tcp)."
            ));
        }
        if settings.turn_secret.as_deref().is_some_and(|secret| !secret.is_empty() && secret.len() < 32) {
            return Err("turn_secret must be at least 32 bytes (e.g. `openssl rand -hex 32`): every call \
                        participant sees a username and its HMAC, so a short secret could be guessed."
                .into());
        }
        if settings.attachment_link_ttl_secs < 60 {
            return Err("attachment_link_ttl_secs must be at least 60 seconds.".into());
        }
        if settings.turn_credential_ttl_secs == 0 {
            return Err("turn_credential_ttl_secs must be at least 1 second.".into());
        }
        Ok(settings)
    }

    /// Where the SFU listens and what it tells clients.
    pub fn media_addresses(&self) -> crate::sfu::MediaAddresses {
        let tcp = self.media_tcp.then(|| self.media_tcp_address.unwrap_or(self.media_udp_address));
        crate::sfu::MediaAddresses {
            udp: self.media_udp_address,
            tcp,
            advertise_ip: self.media_advertise_ip,
            engines: self.media_engines,
            bandwidth_estimation: self.media_bandwidth_estimation,
        }
    }

    /// This instance's id (set by [`Settings::load`]).
    pub fn instance(&self) -> u16 {
        self.instance_id.unwrap_or(0)
    }
}

/// Checks the settings and manages them; everything else reads them from
/// Rocket's state, so this stage is attached first.
pub fn stage() -> rocket::fairing::AdHoc {
    rocket::fairing::AdHoc::try_on_ignite("Settings", |rocket| async move {
        match Settings::load(rocket.figment()) {
            Ok(settings) => Ok(rocket.manage(settings)),
            Err(message) => {
                crate::report_start_failure(&message);
                Err(rocket)
            }
        }
    })
}

fn default_true() -> bool {
    true
}

fn default_presence_lease_secs() -> u64 {
    15
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
/// A browser's SDP offer with audio, camera and screen is 6–12 KB; 64 KiB
/// leaves room for ICE candidates and codec lists without inviting abuse.
fn default_ws_max_message_bytes() -> usize {
    64 * 1024
}
fn default_ws_queue_len() -> usize {
    512
}
fn default_turn_credential_ttl_secs() -> u64 {
    600
}

fn default_upload_max_bytes() -> ByteUnit {
    ByteUnit::Mebibyte(25)
}
fn default_upload_daily_bytes() -> ByteUnit {
    ByteUnit::Mebibyte(500)
}
fn default_attachment_link_ttl_secs() -> u64 {
    24 * 3600
}
fn default_s3_region() -> String {
    "us-east-1".into()
}

fn default_media_udp_address() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 7882))
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
    let figment = if figment.find_value("databases.main.url").is_ok() {
        figment
    } else {
        let data_dir: PathBuf = figment.extract_inner("data_dir").unwrap_or_else(|_| default_data_dir());
        let url = format!("sqlite://{}?mode=rwc", data_dir.join("concord.db").display());
        figment.merge(("databases.main.url", url))
    };
    // Pool defaults sized for the message path (docs/BENCHMARKS.md): enough
    // connections that reads never queue behind the group-committing writer,
    // a bounded wait for one, and no idle connections kept for ever.
    let defaults = [
        ("databases.main.max_connections", DEFAULT_POOL_SIZE),
        ("databases.main.connect_timeout", 5),
        ("databases.main.idle_timeout", 300),
    ];
    defaults.into_iter().fold(figment, |figment, (key, value)| {
        if figment.find_value(key).is_ok() {
            figment
        } else {
            figment.merge((key, value))
        }
    })
}

/// Database connections per instance unless `databases.main.max_connections` says otherwise.
pub const DEFAULT_POOL_SIZE: u64 = 32;

/// The figment `concord-server` runs with: defaults, `Rocket.toml`, `ROCKET_*`.
pub fn figment() -> Figment {
    with_defaults(rocket::Config::figment())
}
