//! `concord-server`: runs the Concord server with the configuration from
//! `Rocket.toml` and `ROCKET_*` environment variables (see `config.rs`).

/// mimalloc holds far less memory per idle connection than glibc's allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[rocket::main]
async fn main() {
    let figment = concord_server::config::figment();
    concord_server::logging::init(&figment);
    let rocket = concord_server::build(figment);
    match rocket.launch().await {
        Ok(stopped) => {
            // Requests that finished after the drain announced their events too:
            // they must reach the other instances before the process ends.
            if let Some(hub) = stopped.state::<std::sync::Arc<concord_server::realtime::Hub>>() {
                hub.flush_bus(std::time::Duration::from_secs(2)).await;
            }
        }
        Err(e) => {
            // Start-up failures were logged by the stage that failed; this says
            // which step stopped the launch.
            tracing::error!("the server stopped: {e}");
            std::process::exit(1);
        }
    }
}
