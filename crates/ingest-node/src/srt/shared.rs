//! The shared SRT port: one UDP port for every stream, the caller's
//! `streamid` choosing the stream.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use hub::{Hub, Publisher};
use spec::Redacted;
use spec::streamid::{Mode, StreamIdError, StreamIdRequest};
use srt_protocol::access::{RejectReason, ServerRejectReason};
use srt_protocol::options::{Passphrase, SocketOptions};
use srt_protocol::settings::KeySettings;
use srt_tokio::{ConnectionRequest, SrtIncoming, SrtListener};
use tokio::task::JoinSet;
use tracing::Instrument;

use super::options::{self, OptionError};
use super::{DEFAULT_PORT, bind_listener, reject_code, session};
use crate::admission::{Admission, PublishRefusal};

/// How long an accepted caller may take to finish its handshake.
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(5);

/// Pause before binding the port again after srt-tokio's listener stopped.
const REBIND_DELAY: Duration = Duration::from_millis(500);

/// Configuration of the shared SRT port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedSrtConfig {
    /// Address and UDP port to listen on (default `0.0.0.0:8889`).
    pub addr: SocketAddr,
    /// Receive latency (TSBPD) of every connection; the larger of this and
    /// the caller's wins (default 120 ms, libsrt's default).
    pub latency: Duration,
    /// When set, every caller must encrypt with this passphrase (10 to 79 bytes).
    pub passphrase: Option<Redacted<String>>,
}

impl Default for SharedSrtConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from((Ipv4Addr::UNSPECIFIED, DEFAULT_PORT)),
            latency: Duration::from_millis(120),
            passphrase: None,
        }
    }
}

/// The bound shared port; [`run`](Self::run) serves it.
#[derive(Debug)]
pub struct SharedListener {
    listener: SrtListener,
    incoming: SrtIncoming,
    local: SocketAddr,
    options: SocketOptions,
    passphrase: Option<Passphrase>,
}

/// Binds `config.addr` and serves publishers until the port fails; see
/// [`SharedListener`].
pub async fn serve_shared(config: SharedSrtConfig, hub: Arc<Hub>, admission: Admission) -> io::Result<()> {
    SharedListener::bind(&config).await?.run(hub, admission).await
}

// === impl SharedListener ===

impl SharedListener {
    /// Binds the port (port 0 picks a free one: see [`local_addr`](Self::local_addr)).
    pub async fn bind(config: &SharedSrtConfig) -> io::Result<Self> {
        let invalid = |e: OptionError| io::Error::new(io::ErrorKind::InvalidInput, e);
        if config.latency > Duration::from_millis(options::MAX_LATENCY_MS) {
            return Err(invalid(OptionError::Millis {
                name: "latency",
                value: config.latency.as_millis().to_string(),
                max: options::MAX_LATENCY_MS,
            }));
        }
        let passphrase = config
            .passphrase
            .as_ref()
            .map(|p| options::passphrase(p.expose()))
            .transpose()
            .map_err(invalid)?;
        let options = options::base(config.latency);
        let (listener, incoming, local) = bind_listener(config.addr, options.clone()).await?;
        tracing::info!(addr = %local, encrypted = passphrase.is_some(), "srt listening (shared port)");
        Ok(Self {
            listener,
            incoming,
            local,
            options,
            passphrase,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Accepts publishers, one task each. Should srt-tokio's listener task
    /// stop (it panics on some malformed handshakes), the sessions of this
    /// port end and the port is bound again. Returns only when binding
    /// again fails for good; dropping the future ends every session.
    pub async fn run(mut self, hub: Arc<Hub>, admission: Admission) -> io::Result<()> {
        let mut sessions = JoinSet::new();
        loop {
            tokio::select! {
                request = self.incoming.incoming().next() => match request {
                    Some(request) => {
                        let span = tracing::info_span!("conn", proto = "srt", peer = %request.remote());
                        let task = handle(request, hub.clone(), admission.clone(), self.passphrase.clone());
                        sessions.spawn(task.instrument(span));
                    }
                    None => {
                        tracing::error!(addr = %self.local, "srt listener stopped; binding the port again");
                        sessions.shutdown().await;
                        self.rebind().await?;
                    }
                },
                Some(done) = sessions.join_next(), if !sessions.is_empty() => {
                    if let Err(e) = done {
                        tracing::error!(%e, "srt session task failed");
                    }
                }
            }
        }
    }

    /// Binds the same address again, waiting for the old socket to go
    /// (its last connections release it once they notice): up to a minute.
    async fn rebind(&mut self) -> io::Result<()> {
        let mut last = None;
        for _ in 0..120 {
            tokio::time::sleep(REBIND_DELAY).await;
            match bind_listener(self.local, self.options.clone()).await {
                Ok((listener, incoming, _)) => {
                    tracing::info!(addr = %self.local, "srt listening again (shared port)");
                    self.listener = listener;
                    self.incoming = incoming;
                    return Ok(());
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("srt listener could not be bound again")))
    }
}

/// A refused caller: what to log and record, and what it is told.
#[derive(Debug)]
struct Refused {
    /// The stream it asked for, when the streamid named one.
    stream: Option<String>,
    reason: String,
    code: RejectReason,
}

impl Refused {
    fn new(stream: Option<&str>, reason: impl ToString, code: impl Into<RejectReason>) -> Self {
        Self {
            stream: stream.map(str::to_owned),
            reason: reason.to_string(),
            code: code.into(),
        }
    }
}

/// Decides on one caller, then feeds its stream while it stays.
async fn handle(request: ConnectionRequest, hub: Arc<Hub>, admission: Admission, passphrase: Option<Passphrase>) {
    let peer = request.remote();
    let (publisher, keys) = match admit(&request, &hub, &admission, passphrase.as_ref()) {
        Ok(admitted) => admitted,
        Err(refused) => {
            let stream = refused.stream.as_deref().unwrap_or("-");
            tracing::warn!(stream, reason = %refused.reason, code = i32::from(refused.code), "srt connection refused");
            if let Some(s) = refused.stream.as_deref().and_then(|n| hub.get(n)) {
                s.set_error(format!("srt publish from {} refused: {}", peer.ip(), refused.reason));
            }
            if let Err(e) = request.reject(refused.code).await {
                tracing::debug!(%e, "srt reject not sent");
            }
            return;
        }
    };
    let stream = publisher.stream().clone();
    let socket = match tokio::time::timeout(ACCEPT_TIMEOUT, request.accept(keys)).await {
        Ok(Ok(socket)) => socket,
        Ok(Err(_)) | Err(_) => {
            // srt-tokio refused it after our decision: in practice a wrong passphrase
            let reason = "handshake failed after acceptance (wrong passphrase?)";
            tracing::warn!(stream = stream.name(), reason, "srt connection refused");
            stream.set_error(format!("srt publish from {} refused: {reason}", peer.ip()));
            return;
        }
    };
    tracing::info!(stream = stream.name(), "srt publisher connected");
    let (end, counters) = session::receive(socket, publisher, peer).await;
    tracing::info!(
        stream = stream.name(),
        %end,
        packets = counters.packets,
        bytes = counters.bytes,
        frames = counters.frames,
        warnings = counters.warnings,
        "srt publisher left"
    );
}

/// The checks, in order: a publish streamid, [`Admission`], encryption,
/// then the stream's publisher slot.
fn admit(
    request: &ConnectionRequest,
    hub: &Hub,
    admission: &Admission,
    passphrase: Option<&Passphrase>,
) -> Result<(Publisher, Option<KeySettings>), Refused> {
    let Some(streamid) = request.stream_id() else {
        return Err(Refused::new(
            None,
            "no streamid (use streamid=publish:NAME)",
            ServerRejectReason::BadRequest,
        ));
    };
    let wanted = StreamIdRequest::parse(streamid.as_str()).map_err(|e| {
        let code = match e {
            StreamIdError::UnsupportedMode(_) => ServerRejectReason::BadMode,
            StreamIdError::UnsupportedType(_) => ServerRejectReason::NotSupMedia,
            _ => ServerRejectReason::BadRequest,
        };
        Refused::new(None, format!("bad streamid: {e}"), code)
    })?;
    let name = wanted.name.as_str();
    if wanted.mode == Mode::Request {
        return Err(Refused::new(
            Some(name),
            "playing over srt is not offered yet (publish with streamid=publish:NAME)",
            ServerRejectReason::Unimplemented,
        ));
    }
    let key = wanted.key.as_ref().map(|k| k.expose().as_str());
    let refuse = |r: PublishRefusal| Refused::new(Some(name), &r, reject_code(&r));
    admission.check(name, request.remote().ip(), key).map_err(refuse)?;
    let keys = options::key_decision(passphrase, request.key_size()).map_err(|code| {
        Refused::new(Some(name), "the caller encrypts and this port has no passphrase", code)
    })?;
    let publisher = hub
        .stream(name)
        .publish()
        .map_err(|_| refuse(PublishRefusal::Busy(name.to_owned())))?;
    Ok((publisher, keys))
}
