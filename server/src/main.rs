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
    if let Err(e) = rocket.launch().await {
        // Start-up failures were logged by the stage that failed; this says
        // which step stopped the launch.
        tracing::error!("the server stopped: {e}");
        std::process::exit(1);
    }
}
