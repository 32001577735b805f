//! Throwaway databases: a SQLite file in a fresh directory, or a MariaDB
//! database created for one test and dropped when it ends.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::Connection;

/// Which database a test server uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A file in the test's directory.
    Sqlite,
    /// A database of its own on the local MariaDB.
    MariaDb,
}

impl Backend {
    /// `sqlite` or `mariadb`, as benchmarks print it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::MariaDb => "mariadb",
        }
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name no other test (or test run) uses.
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}_{}_{}_{n}", std::process::id(), rand::random::<u32>())
}

/// MariaDB server URL (no database), `CONCORD_TEST_MYSQL_URL` or the local default.
pub fn mysql_server_url() -> String {
    std::env::var("CONCORD_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// A database created for one test (with a data directory) and dropped afterwards.
pub struct Database {
    /// The URL a server connects with.
    pub url: String,
    /// A fresh directory for the server's data (and the SQLite file).
    pub dir: PathBuf,
    /// The MariaDB server and the database's name on it.
    mariadb: Option<(String, String)>,
}

impl Database {
    /// Creates an empty database of kind `backend`.
    pub async fn create(backend: Backend) -> Database {
        let dir = fresh_dir();
        match backend {
            Backend::Sqlite => Database {
                url: format!("sqlite://{}?mode=rwc", dir.join("concord.db").display()),
                mariadb: None,
                dir,
            },
            Backend::MariaDb => Database::create_on(&mysql_server_url(), dir).await,
        }
    }

    /// Creates an empty database on the MariaDB server at `server_url`
    /// (`mysql://user@host:port`), with `dir` for the server's data.
    async fn create_on(server_url: &str, dir: PathBuf) -> Database {
        let name = unique("concord_test");
        let mut conn = sqlx::MySqlConnection::connect(server_url).await.unwrap_or_else(|e| {
            panic!(
                "MariaDB is not reachable at {server_url} ({e}). Start it, set CONCORD_TEST_MYSQL_URL, \
                 or set CONCORD_TEST_SKIP_MYSQL=1 to run the SQLite half only."
            )
        });
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )))
        .execute(&mut conn)
        .await
        .unwrap();
        let server_url = server_url.to_owned();
        Database { url: format!("{server_url}/{name}"), mariadb: Some((server_url, name)), dir }
    }

    /// An empty database on the MariaDB server of a test's own
    /// ([`MariaDbServer`](crate::mariadb::MariaDbServer)).
    pub async fn create_on_server(server: &crate::mariadb::MariaDbServer) -> Database {
        Database::create_on(&server.url(), fresh_dir()).await
    }
}

/// A new, empty directory for a server's data.
fn fresh_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(unique("concord-test"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some((server_url, name)) = self.mariadb.take() {
            // Drop may run inside or outside a runtime: use a private one on a thread.
            let _ = std::thread::Builder::new()
                .name("drop-test-db".into())
                .spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                    rt.block_on(async move {
                        if let Ok(mut conn) = sqlx::MySqlConnection::connect(&server_url).await {
                            let drop = format!("DROP DATABASE IF EXISTS {name}");
                            let _ = sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&mut conn).await;
                        }
                    });
                })
                .map(|h| h.join());
        }
    }
}
