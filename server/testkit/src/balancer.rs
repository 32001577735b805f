//! A TCP load balancer in front of several server instances, as a
//! deployment has one: each connection goes to the first of its backends,
//! in its order of preference, that accepts it. When that backend goes away
//! the connection closes, and the client's reconnect lands on the next live
//! one — so a test can stop an instance under its clients and see them
//! carry on through another.

use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A listening balancer; stops when dropped.
pub struct Balancer {
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    task: JoinHandle<()>,
}

impl Balancer {
    /// Listens on a port of its own and sends each connection to the first
    /// of `backends` (ports on 127.0.0.1, most preferred first) that accepts.
    pub async fn start(backends: Vec<u16>) -> Balancer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port for the balancer");
        let port = listener.local_addr().expect("its address").port();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let backends = backends.clone();
                tokio::spawn(async move {
                    if let Some(backend) = first_accepting(&backends).await {
                        relay(client, backend).await;
                    }
                });
            }
        });
        Balancer { port, task }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn first_accepting(backends: &[u16]) -> Option<TcpStream> {
    for port in backends {
        let connect = TcpStream::connect(("127.0.0.1", *port));
        if let Ok(Ok(stream)) = tokio::time::timeout(Duration::from_secs(1), connect).await {
            return Some(stream);
        }
    }
    None
}

/// Copies both ways until either side ends; then both are closed.
async fn relay(mut client: TcpStream, mut backend: TcpStream) {
    let _ = client.set_nodelay(true);
    let _ = backend.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut client, &mut backend).await;
}

/// A port free on 127.0.0.1 now (for a server that must come back on the
/// same one after a restart).
pub fn free_port() -> u16 {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    socket.local_addr().expect("its address").port()
}
