//! A throw-away etcd server for tests: a real `etcd` process on free
//! loopback ports with its own data directory, killed on drop.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running etcd.
pub struct Etcd {
    child: Child,
    dir: crate::TempDir,
    client: u16,
    peer: u16,
}

fn spawn(dir: &Path, client: u16, peer: u16) -> Child {
    let c = format!("http://127.0.0.1:{client}");
    let p = format!("http://127.0.0.1:{peer}");
    Command::new("etcd")
        .arg("--data-dir")
        .arg(dir)
        .args(["--listen-client-urls", &c, "--advertise-client-urls", &c])
        .args(["--listen-peer-urls", &p, "--initial-advertise-peer-urls", &p])
        .args(["--initial-cluster", &format!("default={p}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn etcd")
}

impl Etcd {
    /// Starts etcd, or prints why not and returns `None` when it is not installed.
    pub fn start(name: &str) -> Option<Self> {
        if Command::new("etcd").arg("--version").output().is_err() {
            eprintln!(
                "skipping: `etcd` is not installed (Debian package etcd-server; make test installs it)"
            );
            return None;
        }
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = crate::TempDir::new(&format!("etcd-{name}-{n}"));
        let (client, peer) = (crate::free_tcp_port(), crate::free_tcp_port());
        let child = spawn(&dir.path("data"), client, peer);
        let etcd = Self {
            child,
            dir,
            client,
            peer,
        };
        etcd.wait_ready();
        Some(etcd)
    }

    /// The client URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client)
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path("data")
    }

    /// Waits until the client port accepts connections (at most 15 s).
    #[expect(
        clippy::disallowed_methods,
        reason = "a synchronous test thread polling a child process"
    )]
    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", self.client)).is_err() {
            assert!(Instant::now() < deadline, "etcd did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the server (SIGKILL); the data directory stays.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills and starts the server again on the same ports and data.
    pub fn restart(&mut self) {
        self.kill();
        self.child = spawn(&self.dir.path("data"), self.client, self.peer);
        self.wait_ready();
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.kill();
    }
}
