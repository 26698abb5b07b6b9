//! The ingest side: serves the streams of a [`hub::Hub`] to edges.
//!
//! One QUIC connection per edge. The edge opens a bidirectional control
//! stream and sends `Subscribe`/`Unsubscribe`; each subscription is one task
//! reading the stream through its own [`hub::Subscriber`] (the hub's buffer
//! is the only queue: memory per subscription is bounded by it and by QUIC's
//! flow-control windows) and writing one unidirectional stream per group.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use hub::{Event, Hub, LiveStream, State, Subscriber};
use media::{Frame, Track};
use proto::relay::{self as pb, client_message, server_message};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::convert;
use crate::metrics::{GaugeGuard, Metrics};
use crate::wire::{self, ControlDecoder, Limits};
use crate::{RelayError, codes};

/// Settings of the ingest side.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Wire limits for what edges send.
    pub limits: Limits,
    /// A group whose frame being sent is this far behind the newest buffered
    /// frame (media time) is reset and sending resumes at the newest keyframe.
    pub max_lag: Duration,
    /// Group length of streams without video (cut at the next audio frame
    /// after this much media time).
    pub audio_group: Duration,
    /// How long a subscription to an offline stream waits for it to go live
    /// after asking its on-demand source to start.
    pub start_timeout: Duration,
    /// A connection without traffic for this long is closed (edges send
    /// keep-alives).
    pub idle_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            max_lag: Duration::from_millis(500),
            audio_group: Duration::from_secs(1),
            start_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
        }
    }
}

struct Ctx {
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
    config: ServerConfig,
}

/// The relay server of an ingest node. Dropping it closes every connection.
#[derive(Debug)]
pub struct Server {
    endpoint: quinn::Endpoint,
    task: JoinHandle<()>,
}

impl Server {
    /// Binds `addr` (UDP) and serves `hub` to edges. Call within a Tokio
    /// runtime. `tls` comes from [`crate::tls::server_config`] or
    /// [`crate::tls::SelfSigned::server_config`].
    pub fn bind(
        addr: SocketAddr,
        tls: rustls::ServerConfig,
        hub: Arc<Hub>,
        metrics: Arc<Metrics>,
        config: ServerConfig,
    ) -> Result<Self, RelayError> {
        let mut server_config = crate::tls::quic_server(tls)?;
        let mut transport = quinn::TransportConfig::default();
        transport
            .max_idle_timeout(Some(
                quinn::IdleTimeout::try_from(config.idle_timeout)
                    .map_err(|e| RelayError::Config(e.to_string()))?,
            ))
            // edges open only the control stream
            .max_concurrent_bidi_streams(4u32.into())
            .max_concurrent_uni_streams(0u32.into());
        server_config.transport_config(Arc::new(transport));
        let endpoint = quinn::Endpoint::server(server_config, addr).map_err(RelayError::Io)?;
        let ctx = Arc::new(Ctx { hub, metrics, config });
        let ep = endpoint.clone();
        let task = tokio::spawn(async move {
            while let Some(incoming) = ep.accept().await {
                let ctx = ctx.clone();
                tokio::spawn(async move {
                    let peer = incoming.remote_address();
                    match incoming.await {
                        Ok(conn) => serve_connection(conn, ctx).await,
                        Err(e) => tracing::info!(%peer, "relay: refused connection: {e}"),
                    }
                });
            }
        });
        Ok(Self { endpoint, task })
    }

    /// The bound UDP address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    /// Closes every connection and stops accepting.
    pub fn close(&self) {
        self.endpoint.close(codes::SHUTDOWN, b"server closing");
        self.task.abort();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.close();
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn serve_connection(conn: quinn::Connection, ctx: Arc<Ctx>) {
    let peer = conn.remote_address();
    let _live = GaugeGuard::new(&ctx.metrics.connections);
    tracing::debug!(%peer, "relay: edge connected");
    let (mut send, mut recv) = match conn.accept_bi().await {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(%peer, "relay: connection ended before its control stream: {e}");
            return;
        }
    };
    let (tx, mut rx) = mpsc::channel::<pb::ServerMessage>(64);
    let _writer = AbortOnDrop(tokio::spawn(async move {
        let mut buf = BytesMut::new();
        while let Some(m) = rx.recv().await {
            wire::encode(&m, &mut buf);
            if send.write_all(&buf.split()).await.is_err() {
                return;
            }
        }
    }));
    let mut decoder = ControlDecoder::<pb::ClientMessage>::new(ctx.config.limits, "client message");
    let mut subs: HashMap<String, AbortOnDrop> = HashMap::new();
    let why = loop {
        match recv.read_chunk(64 * 1024, true).await {
            Ok(Some(chunk)) => decoder.push(chunk.bytes),
            Ok(None) => break decoder.finish().err().map(|e| e.to_string()),
            Err(e) => {
                tracing::debug!(%peer, "relay: control stream ended: {e}");
                break None;
            }
        }
        let mut bad = None;
        loop {
            match decoder.next_item() {
                Ok(Some(m)) => match m.msg {
                    Some(client_message::Msg::Subscribe(s)) => {
                        subs.retain(|_, t| !t.0.is_finished());
                        if subs.contains_key(&s.stream) {
                            continue;
                        }
                        let task = tokio::spawn(subscription(
                            ctx.clone(),
                            conn.clone(),
                            s.stream.clone(),
                            s.from_live_edge,
                            tx.clone(),
                        ));
                        subs.insert(s.stream, AbortOnDrop(task));
                    }
                    Some(client_message::Msg::Unsubscribe(u)) => {
                        subs.remove(&u.stream);
                    }
                    None => {}
                },
                Ok(None) => break,
                Err(e) => {
                    bad = Some(e.to_string());
                    break;
                }
            }
        }
        if bad.is_some() {
            break bad;
        }
    };
    if let Some(why) = why {
        tracing::warn!(%peer, "relay: closing connection: bad control stream: {why}");
        conn.close(codes::PROTOCOL, why.as_bytes());
    } else {
        conn.close(codes::SHUTDOWN, b"control stream closed");
    }
}

async fn refuse(tx: &mpsc::Sender<pb::ServerMessage>, stream: &str, reason: String) {
    tracing::info!(stream, "relay: subscription refused: {reason}");
    let _ = tx
        .send(pb::ServerMessage {
            msg: Some(server_message::Msg::Error(pb::SubscribeError {
                stream: stream.to_owned(),
                reason,
            })),
        })
        .await;
}

async fn subscription(
    ctx: Arc<Ctx>,
    conn: quinn::Connection,
    name: String,
    from_live_edge: bool,
    tx: mpsc::Sender<pb::ServerMessage>,
) {
    let Some(stream) = ctx.hub.get(&name) else {
        return refuse(&tx, &name, format!("unknown stream {name}")).await;
    };
    let open = |s: &Arc<LiveStream>| {
        if from_live_edge {
            s.subscribe()
        } else {
            s.subscribe_from_oldest()
        }
    };
    let mut sub = open(&stream);
    if stream.state() != State::Live {
        stream.request();
        if !stream.wait_live(ctx.config.start_timeout).await {
            return refuse(
                &tx,
                &name,
                format!(
                    "stream {name} is offline (no source within {:?})",
                    ctx.config.start_timeout
                ),
            )
            .await;
        }
        sub = open(&stream);
    }
    let _counted = GaugeGuard::new(&ctx.metrics.downstream_subscriptions);
    tracing::debug!(stream = name, peer = %conn.remote_address(), "relay: subscription started");
    let mut s = Sending {
        ctx: &ctx,
        conn: &conn,
        stream: &stream,
        name: &name,
        tx: &tx,
        tracks: None,
        lead: None,
        epoch: 0,
        seq: 0,
        group: None,
        resume_after: None,
        caught_up: false,
        split: false,
    };
    let ended = tokio::select! {
        r = s.run(&mut sub) => r,
        _ = conn.closed() => return,
    };
    if let Some(g) = s.group.take() {
        let mut send = g.send;
        let _ = send.finish();
    }
    if let Some(reason) = ended {
        tracing::debug!(stream = name, "relay: subscription ended: {reason}");
        let _ = tx
            .send(pb::ServerMessage {
                msg: Some(server_message::Msg::Ended(pb::StreamEnded {
                    stream: name.clone(),
                    reason,
                })),
            })
            .await;
    }
}

struct Group {
    send: quinn::SendStream,
    /// Media time of its first frame, seconds.
    start: f64,
}

/// Why a send did not complete.
enum Stop {
    /// The group fell behind: reset it and resume at the newest keyframe.
    Behind,
    /// The connection is gone.
    Lost,
}

struct Sending<'a> {
    ctx: &'a Ctx,
    conn: &'a quinn::Connection,
    stream: &'a Arc<LiveStream>,
    name: &'a str,
    tx: &'a mpsc::Sender<pb::ServerMessage>,
    tracks: Option<Vec<Track>>,
    /// The first video track: its keyframes start groups.
    lead: Option<u32>,
    epoch: u64,
    seq: u64,
    group: Option<Group>,
    /// After a dropped group: media time (seconds) of its start; the next
    /// group starts at a later keyframe.
    resume_after: Option<f64>,
    /// Set once the subscription reached the live edge (before, it is sending
    /// the DVR window and lag is expected).
    caught_up: bool,
    /// The tracks changed inside a group: the next frame starts a group.
    split: bool,
}

impl Sending<'_> {
    /// Sends until the stream ends; returns why (`None`: connection lost).
    async fn run(&mut self, sub: &mut Subscriber) -> Option<String> {
        loop {
            match sub.next().await {
                Event::Tracks(tracks) => {
                    if self.tracks.as_ref() == Some(&tracks) {
                        continue;
                    }
                    // A track change inside a GOP (a source announcing its
                    // audio config late): the next frame opens a group of the
                    // new epoch even if it is not a keyframe, so no frame is
                    // lost. The edge applies the catalog once the groups of
                    // the previous epoch are done.
                    self.split = self.group.is_some();
                    self.finish_group();
                    self.epoch += 1;
                    self.lead = tracks.iter().find(|t| t.codec.is_video()).map(|t| t.id);
                    let catalog = convert::catalog(self.stream, &tracks, self.epoch);
                    self.tracks = Some(tracks);
                    let msg = pb::ServerMessage {
                        msg: Some(server_message::Msg::Catalog(catalog)),
                    };
                    if self.tx.send(msg).await.is_err() {
                        return None;
                    }
                }
                Event::Frame(f) => match self.frame(&f).await {
                    Ok(()) => {}
                    Err(Stop::Lost) => return None,
                    Err(Stop::Behind) => {
                        let dropped_start = match self.group.take() {
                            Some(mut g) => {
                                let _ = g.send.reset(codes::GROUP_DROPPED);
                                g.start
                            }
                            None => f.dts.as_secs_f64(),
                        };
                        self.resume_after = Some(dropped_start);
                        self.split = false;
                        self.ctx.metrics.drop_group(self.name);
                        tracing::debug!(stream = self.name, "relay: group fell behind, reset");
                        // resume at the newest keyframe
                        *sub = self.stream.subscribe();
                    }
                },
                Event::Skipped { .. } => self.finish_group(),
                Event::Offline => return Some("source went offline".into()),
                Event::Closed => return Some("stream removed".into()),
            }
        }
    }

    fn finish_group(&mut self) {
        if let Some(mut g) = self.group.take() {
            let _ = g.send.finish();
        }
    }

    fn lag(&self, dts: f64) -> f64 {
        self.stream.newest_dts().map_or(0.0, |n| n.as_secs_f64() - dts)
    }

    /// Runs `fut` (a write or a stream opening) unless it stays blocked (by
    /// flow control) while the frame at `dts` falls behind the newest one.
    /// Unblocked writes are never interrupted: a burst of frames from the
    /// source is relayed as fast as the path takes it.
    async fn guarded<F: Future>(&self, fut: F, dts: f64) -> Result<F::Output, Stop> {
        let max = self.ctx.config.max_lag.as_secs_f64();
        tokio::pin!(fut);
        loop {
            tokio::select! {
                // the timer is armed only when the write waits
                biased;
                r = &mut fut => return Ok(r),
                () = tokio::time::sleep(Duration::from_millis(20)) => {
                    if self.caught_up && self.lag(dts) > max {
                        return Err(Stop::Behind);
                    }
                }
            }
        }
    }

    async fn frame(&mut self, f: &Frame) -> Result<(), Stop> {
        let dts = f.dts.as_secs_f64();
        let lag = self.lag(dts);
        let max = self.ctx.config.max_lag.as_secs_f64();
        if !self.caught_up && lag <= max {
            self.caught_up = true;
        }
        let starts = match self.lead {
            Some(lead) => f.keyframe && f.track == lead,
            None => {
                f.keyframe
                    && self
                        .group
                        .as_ref()
                        .is_none_or(|g| dts - g.start >= self.ctx.config.audio_group.as_secs_f64())
            }
        };
        let starts = (starts || self.split) && self.resume_after.is_none_or(|r| dts > r);
        if starts {
            self.resume_after = None;
            self.split = false;
            self.finish_group();
            let mut send = match self.guarded(self.conn.open_uni(), dts).await? {
                Ok(s) => s,
                Err(_) => return Err(Stop::Lost),
            };
            self.seq += 1;
            let mut head = BytesMut::new();
            wire::encode(
                &pb::GroupHeader {
                    stream: self.name.to_owned(),
                    sequence: self.seq,
                    epoch: self.epoch,
                },
                &mut head,
            );
            let n = head.len() as u64;
            if send.write_all(&head).await.is_err() {
                return Err(Stop::Lost);
            }
            self.ctx.metrics.bytes_sent.inc_by(n);
            self.group = Some(Group { send, start: dts });
        }
        let Some(mut group) = self.group.take() else {
            // inside a group that was dropped: wait for the next start
            return Ok(());
        };
        let header = wire::encode_frame_header(&convert::frame_header(f, convert::now_us()));
        let n = (header.len() + f.data.len()) as u64;
        let mut chunks: [Bytes; 2] = [header, f.data.clone()];
        let r = self.guarded(group.send.write_all_chunks(&mut chunks), dts).await;
        match r {
            Ok(Ok(())) => {
                self.ctx.metrics.bytes_sent.inc_by(n);
                self.ctx.metrics.frames_sent.inc();
                self.group = Some(group);
                Ok(())
            }
            Ok(Err(quinn::WriteError::Stopped(_))) => {
                // the edge gave up on this group; wait for the next one
                Ok(())
            }
            Ok(Err(_)) => Err(Stop::Lost),
            Err(stop) => {
                self.group = Some(group);
                Err(stop)
            }
        }
    }
}
