//! Per-stream SRT sources (`srt://` in a stream's spec): listener, caller
//! and rendezvous, after MistServer's conventions.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use hub::LiveStream;
use spec::source::{SrtMode, SrtSource};
use srt_protocol::listener::AccessControlRequest;
use srt_protocol::options::Passphrase;
use srt_protocol::packet::{RejectReason, ServerRejectReason};
use srt_tokio::SrtSocket;
use tracing::Instrument;

use super::listener::{Admitted, Gate, Listener, Role};
use super::options::{self, Parsed};
use super::session;

/// First pause of [`run_source_forever`] after a failure.
pub const RETRY_MIN: Duration = Duration::from_millis(500);
/// Longest pause of [`run_source_forever`].
pub const RETRY_MAX: Duration = Duration::from_secs(30);

/// Runs an SRT source for `stream` (see the [module docs](super)):
///
/// - listener: waits for callers, one at a time (others are rejected with
///   `SRT_REJX_CONFLICT` while one publishes); returns only when the port
///   cannot be bound or the listener stops;
/// - caller and rendezvous: connects and publishes while connected; returns
///   an error when the connection fails or ends, for the caller to retry
///   (or use [`run_source_forever`]).
///
/// Never returns `Ok`; the error is for logs and the stream's status.
pub async fn run_source(source: SrtSource, stream: Arc<LiveStream>) -> Result<(), String> {
    Err(attempt(&source, &stream).await.error)
}

/// [`run_source`] again and again, pausing after each failure from
/// [`RETRY_MIN`] doubling up to [`RETRY_MAX`] (back to the minimum once a
/// connection was made). Failures are recorded on the stream. Returns when
/// the stream is removed from its hub.
pub async fn run_source_forever(source: SrtSource, stream: Arc<LiveStream>) {
    let mut delay = RETRY_MIN;
    let mut failures = 0u64;
    while !stream.is_closed() {
        let failure = attempt(&source, &stream).await;
        if stream.is_closed() {
            return;
        }
        if failure.connected {
            delay = RETRY_MIN;
            failures = 0;
        }
        failures += 1;
        if failures == 1 {
            tracing::warn!(stream = stream.name(), error = %failure.error, retry_in = ?delay, "srt source failed");
        } else {
            tracing::debug!(stream = stream.name(), error = %failure.error, failures, retry_in = ?delay, "srt source failed again");
        }
        stream.set_error(failure.error);
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(RETRY_MAX);
    }
}

/// How an attempt ended.
struct Failure {
    /// A connection was made (and has now ended).
    connected: bool,
    error: String,
}

impl Failure {
    fn before_connecting(error: impl ToString) -> Self {
        Self {
            connected: false,
            error: error.to_string(),
        }
    }
}

/// Runs the source once: a listener until it fails, a caller or rendezvous
/// until its connection fails or ends.
async fn attempt(source: &SrtSource, stream: &Arc<LiveStream>) -> Failure {
    match source.mode {
        SrtMode::Listener => {
            let error = match SourceListener::bind(source).await {
                Ok(listener) => listener.run(stream.clone()).await.err().unwrap_or_default(),
                Err(e) => e,
            };
            Failure::before_connecting(error)
        }
        // srt-tokio's handshake runs in this task: keep its panics here
        SrtMode::Caller | SrtMode::Rendezvous => AssertUnwindSafe(connect_once(source, stream))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Failure::before_connecting("srt-tokio panicked during the handshake")),
    }
}

/// One caller or rendezvous connection, fed into `stream` until it ends.
async fn connect_once(source: &SrtSource, stream: &Arc<LiveStream>) -> Failure {
    let parsed = match options::parse(&source.options) {
        Ok(parsed) => parsed,
        Err(e) => return Failure::before_connecting(e),
    };
    let Some(host) = source.host.as_deref() else {
        return Failure::before_connecting("no host to connect to");
    };
    let remote = match resolve(host, source.port).await {
        Ok(remote) => remote,
        Err(e) => return Failure::before_connecting(e),
    };
    let mode = source.mode;
    let socket = match connect(mode, remote, &parsed, source.options.streamid.as_deref()).await {
        Ok(socket) => socket,
        Err(e) => return Failure::before_connecting(format!("srt {mode} to {remote}: {e}")),
    };
    let peer = socket.settings().remote;
    let publisher = match stream.publish() {
        Ok(publisher) => publisher,
        Err(e) => return Failure::before_connecting(format!("srt {mode} to {peer}: {e}")),
    };
    let span = tracing::info_span!("conn", proto = "srt", %peer, stream = stream.name());
    let end = session::receive(socket, publisher, peer).instrument(span).await;
    Failure {
        connected: true,
        error: format!("srt {mode} to {peer}: {end}"),
    }
}

/// Makes the connection of a caller or rendezvous socket.
pub(super) async fn connect(
    mode: SrtMode,
    remote: SocketAddr,
    parsed: &Parsed,
    streamid: Option<&str>,
) -> Result<SrtSocket, String> {
    let mut socket_options = parsed.socket.clone();
    let default_port = if mode == SrtMode::Rendezvous {
        remote.port()
    } else {
        0
    };
    let local = options::local_for(
        remote.is_ipv6(),
        parsed.adapter,
        parsed.local_port.unwrap_or(default_port),
    );
    socket_options.connect.local = local;
    let builder = SrtSocket::builder().set(|o| *o = socket_options);
    let connecting = async {
        match mode {
            SrtMode::Rendezvous => builder.rendezvous(remote).await,
            _ => builder.call(remote, streamid).await,
        }
    };
    // srt-tokio times a caller out itself (conntimeo) but waits for a
    // rendezvous peer forever: bound both, like libsrt (10 x conntimeo).
    let limit = parsed.socket.connect.timeout * if mode == SrtMode::Rendezvous { 10 } else { 1 };
    match tokio::time::timeout(limit + Duration::from_secs(1), connecting).await {
        Ok(Ok(socket)) => Ok(socket),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::TimedOut => {
            Err("no answer (connection timed out)".into())
        }
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer (connection timed out)".into()),
    }
}

/// The first address of `host` (an IP address or a name).
pub(super) async fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("resolving {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("resolving {host}: no address"))
}

/// A bound per-stream SRT listener (`srt://:PORT`, `srt://HOST:PORT?mode=listener`).
#[derive(Debug)]
pub struct SourceListener {
    listener: Listener,
    passphrase: Option<Passphrase>,
}

// === impl SourceListener ===

impl SourceListener {
    /// Binds the source's port (0 picks a free one: see
    /// [`local_addr`](Self::local_addr)) on its host's address, or on every
    /// address without a host.
    pub async fn bind(source: &SrtSource) -> Result<Self, String> {
        let parsed = options::parse(&source.options).map_err(|e| e.to_string())?;
        let addr = match source.host.as_deref() {
            Some(host) => resolve(host, source.port).await?,
            None => SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), source.port),
        };
        let listener = Listener::bind(addr, parsed.socket)
            .map_err(|e| format!("binding srt listener on {addr}: {e}"))?;
        tracing::info!(addr = %listener.local_addr(), encrypted = parsed.passphrase.is_some(), "srt source listening");
        Ok(Self {
            listener,
            passphrase: parsed.passphrase,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr()
    }

    /// Takes callers one at a time into `stream` (others are rejected with
    /// `SRT_REJX_CONFLICT` meanwhile). Returns (an error) only if the
    /// socket fails; dropping the future ends the connection.
    pub async fn run(self, stream: Arc<LiveStream>) -> Result<(), String> {
        let local = self.listener.local_addr();
        let gate = SourceGate {
            stream,
            passphrase: self.passphrase,
        };
        match self.listener.run(gate).await {
            Ok(()) => Err(format!("srt listener on {local} stopped")),
            Err(e) => Err(format!("srt listener on {local}: {e}")),
        }
    }
}

/// A per-stream listener's access control: any streamid, the right
/// passphrase, one caller at a time.
struct SourceGate {
    stream: Arc<LiveStream>,
    passphrase: Option<Passphrase>,
}

impl Gate for SourceGate {
    fn decide(&mut self, request: &AccessControlRequest, encrypts: bool) -> Result<Admitted, RejectReason> {
        let peer = request.remote;
        let decision = options::key_decision(self.passphrase.as_ref(), request.key_size, encrypts)
            .map_err(|(code, why)| (code, why.to_owned()))
            .and_then(|keys| match self.stream.publish() {
                Ok(publisher) => Ok(Admitted {
                    role: Role::Publish(publisher),
                    keys,
                }),
                Err(e) => Err((ServerRejectReason::Conflict.into(), e.to_string())),
            });
        if let Err((code, reason)) = &decision {
            tracing::warn!(%peer, stream = self.stream.name(), %reason, code = i32::from(*code), "srt caller refused");
            self.stream
                .set_error(format!("srt caller {} refused: {reason}", peer.ip()));
        }
        decision.map_err(|(code, _)| code)
    }
}
