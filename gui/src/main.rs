//! The Concord client. The egui app arrives with the desktop-client issue; until
//! then this binary only says where to find the web client.

fn main() {
    println!(
        "concord-gui {}: the desktop client is not built yet; run the server and use the API (docs/API.md).",
        env!("CARGO_PKG_VERSION")
    );
}
