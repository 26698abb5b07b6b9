//! The standalone server as the integration tests run it: a child process on
//! free loopback ports, plain HTTP requests, ffmpeg pushes.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use testkit::{SINE, TESTSRC, free_tcp_port, free_udp_port, lavfi};

pub mod cluster;

/// The server under test; killed on drop.
pub struct Server {
    child: Child,
    pub http: SocketAddr,
    pub rtmp: SocketAddr,
    pub srt: SocketAddr,
    pub grpc: SocketAddr,
    /// The WebRTC UDP port.
    pub webrtc: SocketAddr,
}

impl Server {
    pub fn start(config: &Path) -> Self {
        Self::start_with(config, &[])
    }

    /// Starts the server with extra command-line arguments.
    pub fn start_with(config: &Path, extra: &[&str]) -> Self {
        let http: SocketAddr = format!("127.0.0.1:{}", free_tcp_port()).parse().unwrap();
        let rtmp: SocketAddr = format!("127.0.0.1:{}", free_tcp_port()).parse().unwrap();
        let srt: SocketAddr = format!("127.0.0.1:{}", free_udp_port()).parse().unwrap();
        let grpc: SocketAddr = format!("127.0.0.1:{}", free_tcp_port()).parse().unwrap();
        let webrtc: SocketAddr = format!("127.0.0.1:{}", free_udp_port()).parse().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_tributary"))
            .args(["standalone", "--config"])
            .arg(config)
            .args([
                "--http-listen",
                &http.to_string(),
                "--rtmp-listen",
                &rtmp.to_string(),
                "--srt-listen",
                &srt.to_string(),
                "--grpc-listen",
                &grpc.to_string(),
                "--webrtc-listen",
                &webrtc.to_string(),
            ])
            .args(extra)
            .env("RUST_LOG", "info")
            .env_remove("TRIBUTARY_API_TOKEN")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let server = Self {
            child,
            http,
            rtmp,
            srt,
            grpc,
            webrtc,
        };
        wait_for(10, "the server to answer /healthz", || {
            server.get("/healthz").is_some_and(|(s, _)| s == 200)
        });
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    /// (status, body) of a GET, or None when the server does not answer.
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        request("GET", &self.url(path), None)
    }

    /// (status, `Access-Control-Allow-Origin`) of a GET sent with an `Origin` header.
    pub fn cors(&self, path: &str, origin: &str) -> Option<(u16, Option<String>)> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .into();
        let response = agent.get(&self.url(path)).header("origin", origin).call().ok()?;
        let allowed = response
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Some((response.status().as_u16(), allowed))
    }

    pub fn put(&self, path: &str, body: &str) -> (u16, String) {
        request("PUT", &self.url(path), Some(body)).expect("server answers")
    }

    pub fn stream(&self, name: &str) -> serde_json::Value {
        let (status, body) = self
            .get(&format!("/api/v1/streams/{name}"))
            .expect("server answers");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn request(method: &str, url: &str, body: Option<&str>) -> Option<(u16, String)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let response = match (method, body) {
        ("PUT", Some(b)) => agent.put(url).header("content-type", "application/json").send(b),
        _ => agent.get(url).call(),
    };
    let mut response = response.ok()?;
    let status = response.status().as_u16();
    Some((status, response.body_mut().read_to_string().unwrap_or_default()))
}

#[expect(
    clippy::disallowed_methods,
    reason = "a synchronous test thread polling a child process"
)]
pub fn wait_for(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// ffmpeg sending H.264+AAC test media for `secs` seconds to `url` as `format`.
pub fn push(url: &str, format: &str, secs: u32) -> Child {
    testkit::ffmpeg_push(url, format, &secs.to_string())
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// ffmpeg decoding `secs` seconds of `url`: (exit ok, stderr, decoded seconds).
pub fn play(url: String, secs: u32) -> JoinHandle<(bool, String, f64)> {
    std::thread::spawn(move || {
        let out = Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin", "-nostats", "-i", &url])
            .args(["-t", &secs.to_string(), "-f", "null", "-progress", "pipe:1", "-"])
            .output()
            .unwrap();
        let progress = String::from_utf8_lossy(&out.stdout);
        let decoded = progress
            .lines()
            .filter_map(|l| l.strip_prefix("out_time_us="))
            .filter_map(|v| v.trim().parse::<f64>().ok())
            .fold(0.0, f64::max)
            / 1e6;
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            decoded,
        )
    })
}

/// ffmpeg encoding the test pattern and a sine live (`-re`, H.264 with a 1 s
/// GOP and `-tune zerolatency`, AAC) for `secs` seconds, then `output`.
pub fn ffmpeg_live(secs: u32, output: &[&str]) -> cluster::Killed {
    let secs = secs.to_string();
    let child = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-re"])
        .args(lavfi(&[TESTSRC, SINE], &secs))
        .args([
            "-c:v",
            "libx264",
            "-g",
            "25",
            "-tune",
            "zerolatency",
            "-c:a",
            "aac",
        ])
        .args(output)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    cluster::Killed(child)
}
