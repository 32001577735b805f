//! Logs: one `tracing` subscriber writing to stderr, human-readable lines by
//! default or JSON (`log_format = "json"`), levels from `RUST_LOG` or else
//! from Rocket's `log_level`. Rocket's own `log` records go through it too.
//! At lift-off the server logs one line saying where it listens and what it
//! runs on.

use rocket::fairing::AdHoc;
use rocket::figment::Figment;
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, Settings};
use crate::db::Backend;
use crate::sfu::Sfu;

/// Installs the subscriber described by `figment` (once per process; later
/// calls change nothing).
pub fn init(figment: &Figment) {
    let format: LogFormat = figment.extract_inner("log_format").unwrap_or_default();
    let rocket_level: String = figment.extract_inner("log_level").unwrap_or_else(|_| "normal".into());
    let default_level = match rocket_level.as_str() {
        "off" => "off",
        "critical" => "warn",
        "debug" => "debug",
        _ => "info",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| match default_level {
        "off" => EnvFilter::new("off"),
        // Rocket's per-request lines are noise at `info`; its warnings stay.
        // Concord's own info lines (the start-up line, instances reaped) show
        // even under Rocket's release default (`critical`).
        level => EnvFilter::new(format!("{level},concord_server=info,rocket::server=warn,_=warn,sqlx=warn")),
    });
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    if installed.is_err() {
        tracing::debug!("a log subscriber was already installed");
    }
}

/// Logs, once the server listens: its address, database, Redis, instance
/// and the media (SFU) port.
pub fn startup_line() -> AdHoc {
    AdHoc::on_liftoff("Start-up line", |rocket| {
        Box::pin(async move {
            let config = rocket.config();
            let scheme = if config.tls_enabled() { "https" } else { "http" };
            let url: String = rocket.figment().extract_inner("databases.main.url").unwrap_or_default();
            let database = describe_database(&url);
            let (redis, instance, turn) = match rocket.state::<Settings>() {
                Some(settings) => (
                    settings
                        .redis_url
                        .as_deref()
                        .map_or_else(|| "off".to_owned(), |u| format!("on ({})", host_of(u))),
                    settings.instance(),
                    match settings.turn_urls.len() {
                        0 => "off".to_owned(),
                        n => format!(
                            "{n} relay address(es), credentials for {} s",
                            settings.turn_credential_ttl_secs
                        ),
                    },
                ),
                None => ("off".to_owned(), 0, "off".to_owned()),
            };
            let media = rocket.state::<Sfu>().map_or_else(
                || "off".to_owned(),
                |sfu| {
                    let engines: Vec<String> = sfu
                        .engines()
                        .iter()
                        .map(|engine| format!("udp {} (advertised {})", engine.local, engine.advertised))
                        .collect();
                    // One entry per engine.
                    engines.join(", ")
                },
            );
            tracing::info!(
                "Concord {} listening on {scheme}://{}:{}; database: {database}; redis: {redis}; instance_id: {instance}; media: {media}; turn: {turn}",
                env!("CARGO_PKG_VERSION"),
                config.address,
                config.port,
            );
        })
    })
}

/// "SQLite file PATH" or "MySQL at HOST:PORT/DB", without credentials.
fn describe_database(url: &str) -> String {
    match Backend::from_url(url) {
        Backend::Sqlite => {
            let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
            format!("SQLite file {}", path.split('?').next().unwrap_or_default())
        }
        Backend::MySql => format!("MySQL at {}", host_of(url)),
    }
}

/// The part of a URL after any `user:password@`.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.rsplit_once('@').map_or(rest, |(_, host)| host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_descriptions_leave_out_credentials() {
        assert_eq!(describe_database("sqlite://data/concord.db?mode=rwc"), "SQLite file data/concord.db");
        assert_eq!(
            describe_database("mysql://root:secret@db.example:3306/concord"),
            "MySQL at db.example:3306/concord"
        );
        assert_eq!(host_of("redis://:pw@127.0.0.1:6379"), "127.0.0.1:6379");
    }
}
