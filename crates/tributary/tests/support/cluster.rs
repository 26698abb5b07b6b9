//! Cluster nodes (ingest, edge) as the integration tests run them: child
//! processes on free loopback ports against a test etcd.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use testkit::{free_tcp_port, free_udp_port};

use super::{request, wait_for};

/// Lease TTL of the nodes under test, in seconds.
pub const TTL: u64 = 3;

/// A node process (ingest or edge); killed on drop.
pub struct Node {
    pub child: Child,
    pub id: String,
    pub http: SocketAddr,
    pub srt: SocketAddr,
    pub grpc: SocketAddr,
}

impl Node {
    pub fn start(role: &str, id: &str, etcd: &str, extra: &[&str]) -> Self {
        let http: SocketAddr = format!("127.0.0.1:{}", free_tcp_port()).parse().unwrap();
        let srt: SocketAddr = format!("127.0.0.1:{}", free_udp_port()).parse().unwrap();
        let grpc: SocketAddr = format!("127.0.0.1:{}", free_tcp_port()).parse().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tributary"));
        cmd.args([
            role,
            "--etcd",
            etcd,
            "--node-id",
            id,
            "--lease-ttl",
            &TTL.to_string(),
        ])
        .args([
            "--http-listen",
            &http.to_string(),
            "--srt-listen",
            &srt.to_string(),
        ])
        .args(["--grpc-listen", &grpc.to_string()])
        .args(["--webrtc-listen", &format!("127.0.0.1:{}", free_udp_port())]);
        if role == "ingest" {
            cmd.args(["--rtmp-listen", &format!("127.0.0.1:{}", free_tcp_port())])
                .args(["--relay-listen", &format!("127.0.0.1:{}", free_udp_port())]);
        }
        let child = cmd
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let node = Self {
            child,
            id: id.to_owned(),
            http,
            srt,
            grpc,
        };
        wait_for(20, &format!("{id} to be registered (/readyz)"), || {
            node.get("/readyz").is_some_and(|(s, _)| s == 200)
        });
        node
    }

    pub fn ingest(id: &str, etcd: &str) -> Self {
        Self::start("ingest", id, etcd, &[])
    }

    pub fn edge(id: &str, etcd: &str) -> Self {
        Self::start("edge", id, etcd, &[])
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        request("GET", &self.url(path), None)
    }

    pub fn stream(&self, name: &str) -> serde_json::Value {
        let (status, body) = self
            .get(&format!("/api/v1/streams/{name}"))
            .expect("node answers");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// The state of stream `name` on this node, if the node knows the stream.
    pub fn stream_state(&self, name: &str) -> Option<String> {
        let (status, body) = self.get(&format!("/api/v1/streams/{name}"))?;
        if status != 200 {
            return None;
        }
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        v["status"]["state"].as_str().map(str::to_owned)
    }

    /// The value of the metric line starting with `prefix` (name and labels).
    pub fn metric(&self, prefix: &str) -> Option<f64> {
        let (_, text) = self.get("/metrics")?;
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    /// SIGKILL: no goodbye, the lease must run out.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A child process killed on drop.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
