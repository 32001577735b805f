//! `concord-server`: runs the Concord server with the configuration from
//! `Rocket.toml` and `ROCKET_*` environment variables (see `config.rs`).

/// mimalloc holds far less memory per idle connection than glibc's allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[rocket::main]
async fn main() {
    let rocket = concord_server::build(concord_server::config::figment());
    if let Err(e) = rocket.launch().await {
        eprintln!("concord-server: {e}");
        std::process::exit(1);
    }
}
