//! An S3-compatible object store of the test's own: moto's server (Python,
//! `moto[server]` from PyPI, which `.ci/setup` installs), on a free port,
//! keeping everything in memory, with one bucket made.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rocket::figment::Figment;

/// A moto S3 server child process.
pub struct S3Server {
    child: Child,
    /// Its port.
    pub port: u16,
    /// The bucket made at start.
    pub bucket: String,
}

impl S3Server {
    /// Starts one on a free port, waits until it answers, and makes `bucket`.
    pub async fn start(bucket: &str) -> S3Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("python3")
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs");
        let server = S3Server { child, port, bucket: bucket.to_owned() };
        let deadline = Instant::now() + Duration::from_secs(20);
        let http = reqwest::Client::new();
        loop {
            // An unsigned PUT makes the bucket (moto checks no signature).
            if let Ok(made) = http.put(format!("{}/{bucket}", server.endpoint())).send().await {
                assert!(made.status().is_success(), "moto refused the bucket: {}", made.status());
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "moto's S3 server did not answer on {port}: is `moto[server]` installed (.ci/setup installs it)?"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The server settings that keep uploaded files here.
    pub fn settings(&self) -> Figment {
        Figment::new()
            .merge(("file_store.kind", "s3"))
            .merge(("file_store.bucket", self.bucket.as_str()))
            .merge(("file_store.endpoint", self.endpoint()))
            .merge(("file_store.access_key_id", "test"))
            .merge(("file_store.secret_access_key", "test"))
            .merge(("file_store.allow_http", true))
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
