//! Persistence. One sqlx `AnyPool` serves SQLite and MySQL/MariaDB through the
//! same queries and the same `migrations/`; it is created by `rocket_db_pools`
//! (see [`AnyDbPool`]) and reached through Rocket's managed [`Db`]. All SQL
//! lives here: services call the repository functions in the submodules.
//! [`stage`] opens the pool (configured by `databases.main`) and migrates.

pub mod attachments;
pub mod chat;
pub mod friends;
pub mod invites;
pub mod messages;
pub mod rooms;
pub mod search;
pub mod users;

use std::path::Path;
use std::time::Duration;

use rocket::fairing::AdHoc;
use rocket::figment::Figment;
use rocket_db_pools::Database;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{Any, AnyPool, Connection, Executor, SqlSafeStr};

/// `rocket_db_pools` pool type around sqlx 0.9's `AnyPool`.
///
/// rocket_db_pools 0.2 ships pools for sqlx 0.7 only, whose Any driver reads
/// MySQL `TEXT` as `BLOB`; wrapping 0.9 ourselves keeps one code path.
pub struct AnyDbPool(pub AnyPool);

/// The database, as Rocket knows it (`[default.databases.main]`).
#[derive(Database)]
#[database("main")]
pub struct Db(AnyDbPool);

impl Db {
    /// The pool.
    pub fn pool(&self) -> &AnyPool {
        &self.0 .0
    }
}

/// Applies the migrations to the pool opened by `Db::init()` (attached just
/// before this stage: a fairing attached during ignition would run after the
/// stages that need the pool), makes the search index ([`search::ensure_index`])
/// and manages the [`Backend`] in use.
pub fn stage() -> AdHoc {
    AdHoc::try_on_ignite("Database migrations", |rocket| async move {
        let Some(db) = Db::fetch(&rocket) else {
            return Err(rocket);
        };
        if let Err(e) = migrate(db.pool()).await {
            crate::report_start_failure(&format!("database migration failed: {e}"));
            return Err(rocket);
        }
        let url: String = rocket.figment().extract_inner("databases.main.url").unwrap_or_default();
        let backend = Backend::from_url(&url);
        if let Err(e) = search::ensure_index(db.pool(), backend).await {
            crate::report_start_failure(&format!("cannot make the message search index: {e}"));
            return Err(rocket);
        }
        Ok(rocket.manage(backend))
    })
}

/// One round trip, proving the database answers.
pub async fn ping(pool: &AnyPool) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1").execute(pool).await.map(|_| ())
}

/// Which engine is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// MySQL or MariaDB server.
    MySql,
}

impl Backend {
    /// Infers the engine from a database URL.
    pub fn from_url(url: &str) -> Self {
        if url.starts_with("mysql:") || url.starts_with("mariadb:") {
            Backend::MySql
        } else {
            Backend::Sqlite
        }
    }

    /// The engine behind `pool`.
    pub fn of(pool: &AnyPool) -> Self {
        Backend::from_url(pool.connect_options().database_url.as_str())
    }

    /// `"sqlite"` or `"mysql"`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::MySql => "mysql",
        }
    }
}

#[rocket::async_trait]
impl rocket_db_pools::Pool for AnyDbPool {
    type Connection = sqlx::pool::PoolConnection<Any>;
    type Error = sqlx::Error;

    async fn init(figment: &Figment) -> Result<Self, Self::Error> {
        let config: rocket_db_pools::Config =
            figment.extract().map_err(|e| sqlx::Error::Configuration(Box::new(e)))?;
        connect(&config).await.map(AnyDbPool)
    }

    async fn get(&self) -> Result<Self::Connection, Self::Error> {
        self.0.acquire().await
    }

    async fn close(&self) {
        self.0.close().await;
    }
}

/// Opens the pool described by `config`; for SQLite, creates the file's
/// directory and sets WAL mode.
pub async fn connect(config: &rocket_db_pools::Config) -> Result<AnyPool, sqlx::Error> {
    sqlx::any::install_default_drivers();
    let backend = Backend::from_url(&config.url);
    if backend == Backend::Sqlite {
        create_sqlite_dir(&config.url)?;
    }
    let options: AnyConnectOptions = config.url.parse()?;
    let mut pool = AnyPoolOptions::new()
        .max_connections(config.max_connections.max(1) as u32)
        .acquire_timeout(Duration::from_secs(config.connect_timeout.max(1)));
    if let Some(min) = config.min_connections {
        pool = pool.min_connections(min);
    }
    if let Some(idle) = config.idle_timeout {
        pool = pool.idle_timeout(Duration::from_secs(idle));
    }
    if backend == Backend::Sqlite {
        pool = pool.after_connect(|conn, _| {
            Box::pin(async move {
                // WAL lets readers run beside the writer; NORMAL sync is still
                // durable across a process crash or restart.
                conn.execute("PRAGMA journal_mode = WAL").await?;
                conn.execute("PRAGMA synchronous = NORMAL").await?;
                conn.execute("PRAGMA foreign_keys = ON").await?;
                conn.execute("PRAGMA busy_timeout = 10000").await?;
                Ok(())
            })
        });
    }
    let pool = pool.connect_with(options).await?;
    // Fail at start-up, not on the first request, if the server is unreachable.
    pool.acquire().await?.ping().await?;
    Ok(pool)
}

fn create_sqlite_dir(url: &str) -> Result<(), sqlx::Error> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    if let Some(dir) = Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(sqlx::Error::Io)?;
    }
    Ok(())
}

/// The files of `migrations/` (version, description, SQL), embedded at compile
/// time. sqlx's `migrate!` would embed them too, but it needs sqlx's `macros`
/// feature, which compiled sqlx and a second bundled SQLite for the host only
/// for this. A new file goes here too: a test compares this list with the
/// folder as sqlx reads it (names, descriptions and checksums).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../../../migrations/0001_init.sql")),
    (2, "rooms", include_str!("../../../migrations/0002_rooms.sql")),
    (3, "chat", include_str!("../../../migrations/0003_chat.sql")),
    (4, "attachments", include_str!("../../../migrations/0004_attachments.sql")),
];

/// `migrations/` as sqlx runs them: the same versions, descriptions and
/// checksums (SHA-384 of the file) that `migrate!` recorded in existing databases.
fn migrator() -> Migrator {
    Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|&(version, description, sql)| {
                let no_tx = sql.starts_with("-- no-transaction");
                Migration::new(version, description.into(), MigrationType::Simple, sql.into_sql_str(), no_tx)
            })
            .collect(),
    )
}

/// Applies `migrations/` (idempotent; run at every start).
pub async fn migrate(pool: &AnyPool) -> Result<(), sqlx::migrate::MigrateError> {
    migrator().run(pool).await
}

/// Whether a database error is a unique-key violation (on either engine).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What sqlx reads from `migrations/` at run time is what we embedded.
    #[tokio::test]
    async fn the_embedded_migrations_are_the_folder() {
        let folder = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations"));
        let from_folder = Migrator::new(folder).await.expect("migrations/ reads");
        let summary = |m: &Migrator| -> Vec<(i64, String, Vec<u8>, bool)> {
            m.iter().map(|m| (m.version, m.description.to_string(), m.checksum.to_vec(), m.no_tx)).collect()
        };
        assert_eq!(summary(&migrator()), summary(&from_folder));
        assert_eq!(from_folder.iter().count(), MIGRATIONS.len());
    }
}
