//! The shared SRT port: one UDP port for every stream, the caller's
//! `streamid` choosing the stream.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hub::Hub;
use spec::Redacted;
use spec::streamid::{Mode, StreamIdError, StreamIdRequest};
use srt_protocol::listener::AccessControlRequest;
use srt_protocol::options::Passphrase;
use srt_protocol::packet::{RejectReason, ServerRejectReason};

use super::listener::{Admitted, Gate, Listener, Role};
use super::options::{self, OptionError};
use super::output::Play;
use super::{DEFAULT_PORT, reject_code};
use crate::admission::{Admission, PublishRefusal};

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
    listener: Listener,
    passphrase: Option<Passphrase>,
}

/// Binds `config.addr` and serves publishers and players until the socket fails; see
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
        let listener = Listener::bind(config.addr, options::base(config.latency))?;
        tracing::info!(addr = %listener.local_addr(), encrypted = passphrase.is_some(), "srt listening (shared port)");
        Ok(Self { listener, passphrase })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr()
    }

    /// Serves publishers and players, one task per connection, until the socket fails.
    /// Dropping the future ends every connection.
    pub async fn run(self, hub: Arc<Hub>, admission: Admission) -> io::Result<()> {
        let gate = SharedGate {
            hub,
            admission,
            passphrase: self.passphrase,
        };
        self.listener.run(gate).await
    }
}

/// The shared port's access control.
struct SharedGate {
    hub: Arc<Hub>,
    admission: Admission,
    passphrase: Option<Passphrase>,
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

impl Gate for SharedGate {
    fn decide(&mut self, request: &AccessControlRequest, encrypts: bool) -> Result<Admitted, RejectReason> {
        let peer = request.remote;
        match self.admit(request, encrypts) {
            Ok(admitted) => {
                tracing::debug!(%peer, stream = admitted.role.stream().name(), "srt caller accepted");
                Ok(admitted)
            }
            Err(refused) => {
                let stream = refused.stream.as_deref().unwrap_or("-");
                tracing::warn!(%peer, stream, reason = %refused.reason, code = i32::from(refused.code), "srt connection refused");
                if let Some(s) = refused.stream.as_deref().and_then(|n| self.hub.get(n)) {
                    s.set_error(format!(
                        "srt publish from {} refused: {}",
                        peer.ip(),
                        refused.reason
                    ));
                }
                Err(refused.code)
            }
        }
    }
}

impl SharedGate {
    /// The checks, in order: the streamid; for a publisher [`Admission`],
    /// encryption, then the stream's publisher slot; for a player the
    /// stream's existence, then encryption.
    fn admit(&self, request: &AccessControlRequest, encrypts: bool) -> Result<Admitted, Refused> {
        let Some(streamid) = request.stream_id.as_ref() else {
            return Err(Refused::new(
                None,
                "no streamid (use streamid=publish:NAME or request:NAME)",
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
            return self.admit_player(request, encrypts, name);
        }
        let key = wanted.key.as_ref().map(|k| k.expose().as_str());
        let refuse = |r: PublishRefusal| Refused::new(Some(name), &r, reject_code(&r));
        self.admission
            .check(name, request.remote.ip(), key)
            .map_err(refuse)?;
        let keys = options::key_decision(self.passphrase.as_ref(), request.key_size, encrypts)
            .map_err(|(code, why)| Refused::new(Some(name), why, code))?;
        let publisher = self
            .hub
            .stream(name)
            .publish()
            .map_err(|_| refuse(PublishRefusal::Busy(name.to_owned())))?;
        Ok(Admitted {
            role: Role::Publish(publisher),
            keys,
        })
    }

    /// A player: the stream must exist (publish keys guard publishing
    /// only); an offline stream is asked to start (on-demand inputs) and
    /// the player waits for it.
    fn admit_player(
        &self,
        request: &AccessControlRequest,
        encrypts: bool,
        name: &str,
    ) -> Result<Admitted, Refused> {
        let Some(stream) = self.hub.get(name) else {
            return Err(Refused::new(
                None,
                format!("no stream {name:?} to play"),
                ServerRejectReason::Notfound,
            ));
        };
        let keys = options::key_decision(self.passphrase.as_ref(), request.key_size, encrypts)
            .map_err(|(code, why)| Refused::new(Some(name), why, code))?;
        if stream.state() != hub::State::Live {
            stream.request();
        }
        Ok(Admitted {
            role: Role::Play(Play {
                subscriber: stream.subscribe_as(hub::Protocol::Srt),
                sent: None,
            }),
            keys,
        })
    }
}
