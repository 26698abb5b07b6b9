//! SRT pushes: a stream sent as MPEG-TS to an `srt://` target, as a caller
//! (`srt://HOST:PORT`), a rendezvous peer (`?mode=rendezvous`) or a
//! listener that serves every caller (`srt://:PORT`, `?mode=listener`).

use std::net::{Ipv4Addr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use futures_util::{FutureExt, SinkExt, StreamExt};
use hub::LiveStream;
use spec::Source;
use spec::source::{SrtMode, SrtSource};
use srt_protocol::listener::AccessControlRequest;
use srt_protocol::options::Passphrase;
use srt_protocol::packet::RejectReason;
use srt_protocol::statistics::SocketStatistics;

use super::caller::{self, Called};
use super::listener::{Admitted, Gate, Listener, Role};
use super::options::{self, Parsed};
use super::output::{self, FLUSH_LIMIT, OFFLINE_GRACE, Payloads, Play, PlayEnd, log_link};
use super::source::{connect, resolve};
use crate::push::{Job, PushError};

/// How often a listener push looks whether its stream has ended.
const END_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// Runs an SRT push (see [`crate::push::srt::run`]).
pub(crate) async fn run(job: &Job) -> Result<(), PushError> {
    let source = match Source::parse(&job.target) {
        Ok(Source::Srt(source)) => source,
        Ok(_) => return Err(PushError::BadTarget("not an srt:// target".into())),
        Err(e) => return Err(PushError::BadTarget(e.to_string())),
    };
    let parsed = options::parse(&source.options).map_err(|e| PushError::BadTarget(e.to_string()))?;
    match source.mode {
        SrtMode::Listener => serve(job, &source, parsed).await,
        // srt-tokio's handshake and connection run in this task: keep its panics here
        SrtMode::Caller | SrtMode::Rendezvous => AssertUnwindSafe(call(job, &source, &parsed))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Err(PushError::Failed("srt-tokio panicked".into()))),
    }
}

/// A caller or rendezvous push: one connection, until the stream ends
/// (`Ok`, after SRT delivered what it holds) or the connection fails.
async fn call(job: &Job, source: &SrtSource, parsed: &Parsed) -> Result<(), PushError> {
    let mode = source.mode;
    let host = source
        .host
        .as_deref()
        .ok_or_else(|| PushError::BadTarget("no host to connect to".into()))?;
    let remote = resolve(host, source.port).await.map_err(PushError::Failed)?;
    let failed = |why: &dyn std::fmt::Display| PushError::Failed(format!("srt {mode} to {remote}: {why}"));
    let streamid = source.options.streamid.as_deref();
    if mode == SrtMode::Rendezvous {
        return rendezvous(job, remote, parsed, streamid)
            .await
            .map_err(|e| failed(&e));
    }
    let local = options::local_for(remote.is_ipv6(), parsed.adapter, parsed.local_port.unwrap_or(0));
    let Called {
        socket,
        packets,
        connection,
        reader: _reader,
    } = caller::call(remote, local, parsed.socket.clone(), streamid)
        .await
        .map_err(|e| failed(&e))?;
    tracing::info!(push = job.name, stream = job.stream.name(), %remote, "srt push connected");
    let play = Play {
        subscriber: job.stream.subscribe_as(hub::Protocol::Push),
        sent: Some(job.bytes.clone()),
    };
    match output::play(connection, packets, socket, play).await {
        PlayEnd::StreamEnded => {
            tracing::info!(push = job.name, %remote, "srt push ended with its stream");
            Ok(())
        }
        PlayEnd::Closed => Err(failed(&"the peer closed the connection")),
        PlayEnd::ListenerGone => Err(failed(&"the socket failed")),
    }
}

/// A rendezvous push over an srt-tokio socket.
async fn rendezvous(
    job: &Job,
    remote: SocketAddr,
    parsed: &Parsed,
    streamid: Option<&str>,
) -> Result<(), String> {
    let mut socket = connect(SrtMode::Rendezvous, remote, parsed, streamid).await?;
    tracing::info!(push = job.name, stream = job.stream.name(), %remote, "srt push connected (rendezvous)");
    let mut payloads = Payloads::new(job.stream.subscribe_as(hub::Protocol::Push));
    let mut sent = 0u64;
    let statistics = socket.statistics().clone();
    {
        let (mut incoming, mut outgoing) = socket.split_mut();
        loop {
            tokio::select! {
                payload = payloads.next() => match payload {
                    Some(data) => {
                        let len = data.len() as u64;
                        outgoing
                            .send((Instant::now(), data))
                            .await
                            .map_err(|_| "the connection closed".to_owned())?;
                        sent += len;
                        job.bytes.fetch_add(len, Ordering::Relaxed);
                    }
                    None => break,
                },
                // a receiver sends no data; the stream ends when the connection does
                data = incoming.next() => if data.is_none() {
                    return Err("the peer closed the connection".into());
                },
            }
        }
    }
    // the stream ended: let SRT deliver (and retransmit) what it holds
    match tokio::time::timeout(FLUSH_LIMIT, socket.close_and_finish()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(%e, "srt push: closing"),
        Err(_) => tracing::debug!("srt push: closing timed out"),
    }
    if let Some(stats) = latest(statistics) {
        log_link(&stats, sent, "stream ended");
    }
    tracing::info!(push = job.name, %remote, bytes = sent, "srt push ended with its stream");
    Ok(())
}

/// The newest of the statistics a socket published.
fn latest(
    mut statistics: impl futures_util::Stream<Item = SocketStatistics> + Unpin,
) -> Option<SocketStatistics> {
    let mut newest = None;
    while let Some(Some(s)) = statistics.next().now_or_never() {
        newest = Some(s);
    }
    newest
}

/// A listener push: every caller gets the stream (any streamid) until the
/// stream ends (`Ok`) or the socket fails.
async fn serve(job: &Job, source: &SrtSource, parsed: Parsed) -> Result<(), PushError> {
    let addr = match source.host.as_deref() {
        Some(host) => resolve(host, source.port).await.map_err(PushError::Failed)?,
        None => SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), source.port),
    };
    let listener = Listener::bind(addr, parsed.socket)?;
    let local = listener.local_addr();
    tracing::info!(push = job.name, stream = job.stream.name(), addr = %local, "srt push listening");
    let gate = OutputGate {
        stream: job.stream.clone(),
        passphrase: parsed.passphrase,
        sent: job.bytes.clone(),
    };
    tokio::select! {
        result = listener.run(gate) => match result {
            Ok(()) => Err(PushError::Failed(format!("srt listener on {local} stopped"))),
            Err(e) => Err(PushError::Failed(format!("srt listener on {local}: {e}"))),
        },
        () = ended(&job.stream) => Ok(()),
    }
}

/// Returns once `stream` is removed or has been offline for [`OFFLINE_GRACE`].
async fn ended(stream: &LiveStream) {
    let mut offline_since = None;
    loop {
        if stream.is_closed() {
            return;
        }
        if stream.state() == hub::State::Offline {
            let since = *offline_since.get_or_insert_with(tokio::time::Instant::now);
            if since.elapsed() >= OFFLINE_GRACE {
                return;
            }
        } else {
            offline_since = None;
        }
        tokio::time::sleep(END_POLL).await;
    }
}

/// A listener output's access control: any caller with the right
/// passphrase (or none when the output has none) plays the stream.
struct OutputGate {
    stream: Arc<LiveStream>,
    passphrase: Option<Passphrase>,
    sent: Arc<AtomicU64>,
}

impl Gate for OutputGate {
    fn decide(&mut self, request: &AccessControlRequest, encrypts: bool) -> Result<Admitted, RejectReason> {
        match options::key_decision(self.passphrase.as_ref(), request.key_size, encrypts) {
            Ok(keys) => {
                tracing::debug!(peer = %request.remote, stream = self.stream.name(), "srt viewer accepted");
                Ok(Admitted {
                    role: Role::Play(Play {
                        subscriber: self.stream.subscribe_as(hub::Protocol::Push),
                        sent: Some(self.sent.clone()),
                    }),
                    keys,
                })
            }
            Err((code, why)) => {
                tracing::warn!(peer = %request.remote, stream = self.stream.name(), reason = why, code = i32::from(code), "srt viewer refused");
                Err(code)
            }
        }
    }
}
