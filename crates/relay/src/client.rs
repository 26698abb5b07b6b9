//! The edge side: feeds streams of the local [`hub::Hub`] from ingests.
//!
//! One QUIC connection per ingest address, opened on first use and again
//! after it is lost, with one control stream. Each [`Subscription`] holds the
//! local stream's [`hub::Publisher`] and one task, the feeder, that reads
//! its groups (each on its own QUIC stream, handed over once its header named
//! the stream), puts them back in order, applies catalogs and pushes frames
//! with their marks. Frames go from QUIC straight into the local hub: no task
//! hand-off per frame.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use hub::{Hub, Publisher};
use proto::relay::{self as pb, client_message, server_message};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::convert;
use crate::metrics::{GaugeGuard, Metrics};
use crate::tls::ClientTls;
use crate::wire::{self, ControlDecoder, Limits, MediaDecoder, MediaItem};
use crate::{RelayError, Upstream, codes};

/// Settings of the edge side.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Wire limits for what ingests send.
    pub limits: Limits,
    /// Start at the ingest's newest keyframe instead of its oldest buffered
    /// group (default false: the edge gets the whole DVR window).
    pub from_live_edge: bool,
    /// Giving up on connecting after this long.
    pub connect_timeout: Duration,
    /// Giving up on the first catalog after this long (the ingest itself
    /// waits up to 5 s for an on-demand source).
    pub catalog_timeout: Duration,
    /// Keep-alive interval of connections.
    pub keep_alive: Duration,
    /// A connection without any packet for this long is lost.
    pub idle_timeout: Duration,
    /// This many groups reset by the ingest within `reset_window` end the
    /// subscription (the path cannot carry the stream).
    pub reset_storm: u32,
    /// See `reset_storm`.
    pub reset_window: Duration,
    /// A group still open while later groups wait is abandoned after this
    /// long without data.
    pub group_stall: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            from_live_edge: false,
            connect_timeout: Duration::from_secs(5),
            catalog_timeout: Duration::from_secs(10),
            keep_alive: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(10),
            reset_storm: 20,
            reset_window: Duration::from_secs(10),
            group_stall: Duration::from_millis(500),
        }
    }
}

/// Why a subscription ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Ended {
    /// The ingest ended it (source offline, stream removed).
    #[error("ingest ended the stream: {0}")]
    StreamEnded(String),
    /// The ingest refused it.
    #[error("ingest refused: {0}")]
    Refused(String),
    /// The connection to the ingest was lost.
    #[error("connection lost: {0}")]
    ConnectionLost(String),
    /// Too many groups were reset by the ingest.
    #[error("{0} groups reset by the ingest within {1:?}")]
    ResetStorm(u32, Duration),
    /// The ingest broke the wire format.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// No catalog in time.
    #[error("no catalog within {0:?}")]
    Timeout(Duration),
}

/// What the connection's tasks hand to a subscription.
#[derive(Debug)]
enum Input {
    Catalog(pb::Catalog),
    Refused(String),
    StreamEnded(String),
    /// A group's stream, its header read: the feeder reads the rest.
    Group(Box<GroupStream>),
    Protocol(String),
}

/// The QUIC stream of one group, read by its subscription's feeder.
#[derive(Debug)]
struct GroupStream {
    seq: u64,
    epoch: u64,
    recv: quinn::RecvStream,
    /// Holds what arrived after the group header.
    decoder: MediaDecoder,
    /// How the stream ended, read together with its last data and not told yet.
    end: Option<Result<GroupRead, quinn::ReadError>>,
}

/// What reading a group stream gave.
#[derive(Debug)]
enum GroupRead {
    /// This many bytes, already in the group's decoder.
    Data(usize),
    /// The ingest finished the stream.
    Finished,
}

struct Conn {
    connection: quinn::Connection,
    control: mpsc::Sender<pb::ClientMessage>,
    subs: parking_lot::Mutex<HashMap<String, mpsc::Sender<Input>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

struct Inner {
    hub: Arc<Hub>,
    tls: ClientTls,
    metrics: Arc<Metrics>,
    config: ClientConfig,
    endpoints: parking_lot::Mutex<HashMap<bool, quinn::Endpoint>>,
    conns: tokio::sync::Mutex<HashMap<SocketAddr, Arc<Conn>>>,
}

/// The relay client of an edge node: feeds `hub` from ingests.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

impl Client {
    /// A client feeding `hub`. Call within a Tokio runtime.
    pub fn new(hub: Arc<Hub>, tls: ClientTls, metrics: Arc<Metrics>, config: ClientConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                hub,
                tls,
                metrics,
                config,
                endpoints: parking_lot::Mutex::default(),
                conns: tokio::sync::Mutex::default(),
            }),
        }
    }

    /// The hub this client feeds.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.inner.hub
    }

    /// Number of subscriptions running now.
    pub fn subscriptions(&self) -> u64 {
        self.inner.metrics.upstream_subscriptions.get().max(0) as u64
    }

    /// Takes the publisher of the local stream `stream`, subscribes to it on
    /// `upstream` and returns once the ingest's catalog is applied (the
    /// stream is then fed until the [`Subscription`] ends or is dropped).
    pub async fn subscribe(&self, stream: &str, upstream: &Upstream) -> Result<Subscription, RelayError> {
        self.subscribe_counted(stream, upstream, None).await
    }

    /// [`subscribe`](Self::subscribe), counting the subscription in `active`
    /// from the moment it starts feeding the local stream (its first catalog
    /// applied) until it ends.
    pub(crate) async fn subscribe_counted(
        &self,
        stream: &str,
        upstream: &Upstream,
        active: Option<Arc<AtomicUsize>>,
    ) -> Result<Subscription, RelayError> {
        let publisher = self.inner.hub.stream(stream).publish()?;
        let conn = self.connection(upstream).await?;
        let (tx, rx) = mpsc::channel(1024);
        {
            let mut subs = conn.subs.lock();
            if subs.get(stream).is_some_and(|s| !s.is_closed()) {
                return Err(RelayError::Publish(hub::PublishError::Busy(stream.to_owned())));
            }
            subs.insert(stream.to_owned(), tx);
        }
        let subscribe = pb::ClientMessage {
            msg: Some(client_message::Msg::Subscribe(pb::Subscribe {
                stream: stream.to_owned(),
                from_live_edge: self.inner.config.from_live_edge,
            })),
        };
        if conn.control.send(subscribe).await.is_err() {
            conn.subs.lock().remove(stream);
            return Err(RelayError::Connect {
                addr: upstream.addr,
                reason: "connection closed".into(),
            });
        }
        let (ready_tx, ready_rx) = oneshot::channel();
        let feeder = Feeder {
            name: stream.to_owned(),
            conn: Arc::downgrade(&conn),
            publisher,
            metrics: self.inner.metrics.clone(),
            config: self.inner.config.clone(),
            applied_epoch: 0,
            catalogs: VecDeque::new(),
            timescales: HashMap::new(),
            groups: BTreeMap::new(),
            done_up_to: 0,
            resets: VecDeque::new(),
            active,
            counted: None,
        };
        let connection = conn.connection.clone();
        let task = tokio::spawn(feeder.run(rx, connection, ready_tx));
        let mut sub = Subscription {
            stream: stream.to_owned(),
            conn,
            task: Some(task),
        };
        let ready = ready_rx.await;
        if !matches!(ready, Ok(Ok(()))) {
            // the feeder is ending by itself: once it has, the local stream
            // is released (offline, free for another publisher)
            if let Some(t) = sub.task.take() {
                let _ = t.await;
            }
        }
        match ready {
            Ok(Ok(())) => Ok(sub),
            Ok(Err(Ended::Refused(reason))) => Err(RelayError::Refused {
                stream: stream.to_owned(),
                reason,
            }),
            Ok(Err(why)) => Err(RelayError::Ended {
                stream: stream.to_owned(),
                why,
            }),
            Err(_) => Err(RelayError::Ended {
                stream: stream.to_owned(),
                why: Ended::ConnectionLost("subscription task ended".into()),
            }),
        }
    }

    fn endpoint(&self, v6: bool) -> Result<quinn::Endpoint, RelayError> {
        let mut eps = self.inner.endpoints.lock();
        if let Some(e) = eps.get(&v6) {
            return Ok(e.clone());
        }
        let bind: SocketAddr = if v6 {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        };
        let e = quinn::Endpoint::client(bind)?;
        eps.insert(v6, e.clone());
        Ok(e)
    }

    async fn connection(&self, up: &Upstream) -> Result<Arc<Conn>, RelayError> {
        let mut conns = self.inner.conns.lock().await;
        if let Some(c) = conns.get(&up.addr)
            && c.connection.close_reason().is_none()
        {
            return Ok(c.clone());
        }
        conns.remove(&up.addr);
        let cfg = &self.inner.config;
        let mut client = crate::tls::quic_client(self.inner.tls.config_for(up.pinned_cert.as_ref())?)?;
        let mut transport = quinn::TransportConfig::default();
        transport
            .keep_alive_interval(Some(cfg.keep_alive))
            .max_idle_timeout(Some(
                quinn::IdleTimeout::try_from(cfg.idle_timeout)
                    .map_err(|e| RelayError::Config(e.to_string()))?,
            ))
            .stream_receive_window((8u32 << 20).into())
            .receive_window((64u32 << 20).into())
            .max_concurrent_uni_streams(256u32.into());
        client.transport_config(Arc::new(transport));
        let err = |reason: String| RelayError::Connect {
            addr: up.addr,
            reason,
        };
        let connecting = self
            .endpoint(up.addr.is_ipv6())?
            .connect_with(client, up.addr, &up.server_name)
            .map_err(|e| err(e.to_string()))?;
        let connection = tokio::time::timeout(cfg.connect_timeout, connecting)
            .await
            .map_err(|_| err(format!("no handshake within {:?}", cfg.connect_timeout)))?
            .map_err(|e| err(e.to_string()))?;
        let (send, recv) = connection.open_bi().await.map_err(|e| err(e.to_string()))?;
        let (ctl_tx, ctl_rx) = mpsc::channel(64);
        let conn = Arc::new_cyclic(|weak: &std::sync::Weak<Conn>| {
            let metrics = self.inner.metrics.clone();
            let limits = cfg.limits;
            let tasks = vec![
                tokio::spawn(control_writer(send, ctl_rx)),
                tokio::spawn(control_reader(recv, weak.clone(), limits)),
                tokio::spawn(accept_groups(
                    connection.clone(),
                    weak.clone(),
                    limits,
                    metrics.clone(),
                )),
                tokio::spawn({
                    let c = connection.clone();
                    async move {
                        let _g = GaugeGuard::new(&metrics.connections);
                        c.closed().await;
                    }
                }),
            ];
            Conn {
                connection: connection.clone(),
                control: ctl_tx,
                subs: parking_lot::Mutex::default(),
                tasks,
            }
        });
        tracing::debug!(addr = %up.addr, "relay: connected to ingest");
        conns.insert(up.addr, conn.clone());
        Ok(conn)
    }
}

async fn control_writer(mut send: quinn::SendStream, mut rx: mpsc::Receiver<pb::ClientMessage>) {
    let mut buf = BytesMut::new();
    while let Some(m) = rx.recv().await {
        wire::encode(&m, &mut buf);
        if send.write_all(&buf.split()).await.is_err() {
            return;
        }
    }
}

fn sub_of(conn: &std::sync::Weak<Conn>, stream: &str) -> Option<mpsc::Sender<Input>> {
    conn.upgrade()?.subs.lock().get(stream).cloned()
}

fn protocol_error(conn: &std::sync::Weak<Conn>, why: &str) {
    tracing::warn!("relay: closing connection to ingest: {why}");
    if let Some(c) = conn.upgrade() {
        for s in c.subs.lock().values() {
            let _ = s.try_send(Input::Protocol(why.to_owned()));
        }
        c.connection.close(codes::PROTOCOL, why.as_bytes());
    }
}

async fn control_reader(mut recv: quinn::RecvStream, conn: std::sync::Weak<Conn>, limits: Limits) {
    let mut decoder = ControlDecoder::<pb::ServerMessage>::new(limits, "server message");
    loop {
        match recv.read_chunk(64 * 1024, true).await {
            Ok(Some(c)) => decoder.push(c.bytes),
            Ok(None) => {
                if let Err(e) = decoder.finish() {
                    protocol_error(&conn, &e.to_string());
                }
                return;
            }
            Err(_) => return,
        }
        loop {
            match decoder.next_item() {
                Ok(Some(m)) => {
                    let (stream, input) = match m.msg {
                        Some(server_message::Msg::Catalog(c)) => (c.stream.clone(), Input::Catalog(c)),
                        Some(server_message::Msg::Error(e)) => (e.stream, Input::Refused(e.reason)),
                        Some(server_message::Msg::Ended(e)) => (e.stream, Input::StreamEnded(e.reason)),
                        None => continue,
                    };
                    if let Some(s) = sub_of(&conn, &stream) {
                        let _ = s.send(input).await;
                    }
                }
                Ok(None) => break,
                Err(e) => return protocol_error(&conn, &format!("control stream: {e}")),
            }
        }
    }
}

async fn accept_groups(
    connection: quinn::Connection,
    conn: std::sync::Weak<Conn>,
    limits: Limits,
    metrics: Arc<Metrics>,
) {
    while let Ok(recv) = connection.accept_uni().await {
        tokio::spawn(read_group(recv, conn.clone(), limits, metrics.clone()));
    }
}

/// Reads a group's header and hands the stream to the subscription it names.
async fn read_group(
    mut recv: quinn::RecvStream,
    conn: std::sync::Weak<Conn>,
    limits: Limits,
    metrics: Arc<Metrics>,
) {
    let mut decoder = MediaDecoder::new(limits);
    loop {
        let chunk = match recv.read_chunk(limits.payload.max(64 * 1024), true).await {
            Ok(Some(c)) => c.bytes,
            Ok(None) => {
                if let Err(e) = decoder.finish() {
                    protocol_error(&conn, &format!("media stream: {e}"));
                }
                return;
            }
            Err(_) => return,
        };
        metrics.bytes_received.inc_by(chunk.len() as u64);
        decoder.push(chunk);
        match decoder.next_item() {
            Ok(Some(MediaItem::Group(g))) => {
                let Some(tx) = sub_of(&conn, &g.stream) else {
                    let _ = recv.stop(codes::UNWANTED);
                    return;
                };
                let group = Box::new(GroupStream {
                    seq: g.sequence,
                    epoch: g.epoch,
                    recv,
                    decoder,
                    end: None,
                });
                if let Err(e) = tx.send(Input::Group(group)).await
                    && let Input::Group(mut g) = e.0
                {
                    let _ = g.recv.stop(codes::UNWANTED);
                }
                return;
            }
            Ok(Some(MediaItem::Frame(..))) => unreachable!("a media stream starts with its group header"),
            Ok(None) => {}
            Err(e) => return protocol_error(&conn, &format!("media stream: {e}")),
        }
    }
}

/// Waits for data on any of `streams` (the first with data is read until it
/// has no more for now): (index, what was read), or an error.
async fn read_any(streams: &mut [GroupStream], max: usize) -> (usize, Result<GroupRead, quinn::ReadError>) {
    std::future::poll_fn(|cx| {
        for (i, g) in streams.iter_mut().enumerate() {
            if let Some(end) = g.end.take() {
                return Poll::Ready((i, end));
            }
            let mut n = 0;
            loop {
                let read = std::pin::pin!(g.recv.read_chunk(max, true));
                let end = match read.poll(cx) {
                    Poll::Ready(Ok(Some(c))) => {
                        n += c.bytes.len();
                        g.decoder.push(c.bytes);
                        continue;
                    }
                    Poll::Ready(Ok(None)) => Ok(GroupRead::Finished),
                    Poll::Ready(Err(e)) => Err(e),
                    Poll::Pending if n > 0 => return Poll::Ready((i, Ok(GroupRead::Data(n)))),
                    Poll::Pending => break,
                };
                if n == 0 {
                    return Poll::Ready((i, end));
                }
                // the data first, the end on the next call
                g.end = Some(end);
                return Poll::Ready((i, Ok(GroupRead::Data(n))));
            }
        }
        Poll::Pending
    })
    .await
}

/// A running subscription: the local stream is fed while it lives. Dropping
/// it unsubscribes and marks the local stream offline.
pub struct Subscription {
    stream: String,
    conn: Arc<Conn>,
    task: Option<JoinHandle<Ended>>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("stream", &self.stream)
            .finish()
    }
}

impl Subscription {
    /// The stream fed.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// Waits until the subscription ends by itself and tells why (the local
    /// stream is offline by then).
    pub async fn ended(&mut self) -> Ended {
        match self.task.as_mut() {
            Some(t) => {
                let why = match t.await {
                    Ok(why) => why,
                    Err(e) => Ended::ConnectionLost(format!("subscription task failed: {e}")),
                };
                self.task = None;
                why
            }
            None => std::future::pending().await,
        }
    }

    /// True once the subscription ended.
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(JoinHandle::is_finished)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
        self.conn.subs.lock().remove(&self.stream);
        let _ = self.conn.control.try_send(pb::ClientMessage {
            msg: Some(client_message::Msg::Unsubscribe(pb::Unsubscribe {
                stream: self.stream.clone(),
            })),
        });
    }
}

struct PendingGroup {
    epoch: u64,
    frames: VecDeque<(pb::FrameHeader, Bytes)>,
    bytes: usize,
    done: bool,
    arrived: Instant,
    last_data: Instant,
}

/// What woke the feeder.
enum Step {
    Input(Input),
    Read(usize, Result<GroupRead, quinn::ReadError>),
}

/// Reads the groups, puts them in order and feeds the publisher.
struct Feeder {
    name: String,
    conn: std::sync::Weak<Conn>,
    publisher: Publisher,
    metrics: Arc<Metrics>,
    config: ClientConfig,
    applied_epoch: u64,
    /// Catalogs received but not applied yet: a catalog takes effect once
    /// the groups of older epochs are done (it travels on the control stream,
    /// ahead of or behind them).
    catalogs: VecDeque<(pb::Catalog, Instant)>,
    timescales: HashMap<u32, u32>,
    groups: BTreeMap<u64, PendingGroup>,
    /// Groups up to this sequence number are done (or abandoned).
    done_up_to: u64,
    resets: VecDeque<Instant>,
    /// Counter of subscriptions feeding (the puller's).
    active: Option<Arc<AtomicUsize>>,
    /// Counts this one in `active` once it feeds, until the feeder ends.
    counted: Option<Counted>,
}

/// Counts one in a counter while alive.
struct Counted(Arc<AtomicUsize>);

impl Counted {
    fn new(n: Arc<AtomicUsize>) -> Self {
        n.fetch_add(1, Ordering::Relaxed);
        Self(n)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Groups waiting behind an open one are held up to this many bytes; past
/// it the open group is abandoned.
const MAX_PENDING: usize = 64 << 20;

impl Feeder {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Input>,
        connection: quinn::Connection,
        ready: oneshot::Sender<Result<(), Ended>>,
    ) -> Ended {
        let _counted = GaugeGuard::new(&self.metrics.upstream_subscriptions);
        let mut ready = Some(ready);
        let deadline = Instant::now() + self.config.catalog_timeout;
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        // the streams of groups being received, oldest first
        let mut streams: Vec<GroupStream> = Vec::new();
        let max_read = self.config.limits.payload.max(64 * 1024);
        let closed = connection.closed();
        tokio::pin!(closed);
        let ended = loop {
            let step = tokio::select! {
                i = rx.recv() => match i {
                    Some(i) => Step::Input(i),
                    None => break Ended::ConnectionLost("connection tasks ended".into()),
                },
                (i, r) = read_any(&mut streams, max_read), if !streams.is_empty() => Step::Read(i, r),
                e = &mut closed => {
                    // a protocol error is queued before the connection is closed for it
                    let mut why = Ended::ConnectionLost(e.to_string());
                    while let Ok(i) = rx.try_recv() {
                        if let Input::Protocol(p) = i {
                            why = Ended::Protocol(p);
                        }
                    }
                    break why;
                }
                _ = tick.tick() => {
                    if ready.is_some() && Instant::now() >= deadline {
                        break Ended::Timeout(self.config.catalog_timeout);
                    }
                    self.drain();
                    continue;
                }
            };
            let done = match step {
                Step::Input(Input::Catalog(c)) => {
                    let newest = self.catalogs.back().map_or(self.applied_epoch, |c| c.0.epoch);
                    if c.epoch > newest {
                        self.catalogs.push_back((c, Instant::now()));
                    }
                    Ok(())
                }
                Step::Input(Input::Refused(reason)) => Err(Ended::Refused(reason)),
                Step::Input(Input::StreamEnded(reason)) => Err(Ended::StreamEnded(reason)),
                Step::Input(Input::Protocol(why)) => Err(Ended::Protocol(why)),
                Step::Input(Input::Group(mut g)) => {
                    if g.seq > self.done_up_to {
                        self.groups.insert(
                            g.seq,
                            PendingGroup {
                                epoch: g.epoch,
                                frames: VecDeque::new(),
                                bytes: 0,
                                done: false,
                                arrived: Instant::now(),
                                last_data: Instant::now(),
                            },
                        );
                    }
                    // frames that came with the header
                    let r = self.take_frames(&mut g);
                    streams.push(*g);
                    r
                }
                Step::Read(i, Ok(GroupRead::Data(n))) => {
                    self.metrics.bytes_received.inc_by(n as u64);
                    match streams.get_mut(i) {
                        Some(g) => self.take_frames(g),
                        None => Ok(()),
                    }
                }
                Step::Read(i, end) => {
                    let g = streams.remove(i);
                    match end {
                        Ok(GroupRead::Finished | GroupRead::Data(_)) => match g.decoder.finish() {
                            Ok(()) => self.group_end(g.seq, false),
                            Err(e) => Err(self.protocol(&format!("media stream: {e}"))),
                        },
                        Err(e) => self.group_end(g.seq, matches!(e, quinn::ReadError::Reset(_))),
                    }
                }
            };
            if let Err(ended) = done {
                break ended;
            }
            self.drain();
            if self.applied_epoch > 0
                && let Some(r) = ready.take()
            {
                self.counted = self.active.take().map(Counted::new);
                let _ = r.send(Ok(()));
            }
        };
        if let Some(r) = ready.take() {
            let _ = r.send(Err(ended.clone()));
        }
        tracing::info!(stream = self.name, "relay: upstream subscription ended: {ended}");
        ended
    }

    /// Moves the frames decoded from `g` into its pending group (frames of a
    /// group no longer pending are dropped).
    fn take_frames(&mut self, g: &mut GroupStream) -> Result<(), Ended> {
        loop {
            match g.decoder.next_item() {
                Ok(Some(MediaItem::Frame(header, payload))) => {
                    if let Some(p) = self.groups.get_mut(&g.seq) {
                        p.bytes += payload.len();
                        p.frames.push_back((header, payload));
                        p.last_data = Instant::now();
                    }
                }
                Ok(Some(MediaItem::Group(_))) => {
                    unreachable!("the decoder returns one group header per stream, read before")
                }
                Ok(None) => return Ok(()),
                Err(e) => return Err(self.protocol(&format!("media stream: {e}"))),
            }
        }
    }

    /// A group's stream ended (`reset`: by the ingest); too many resets
    /// end the subscription.
    fn group_end(&mut self, seq: u64, reset: bool) -> Result<(), Ended> {
        if let Some(g) = self.groups.get_mut(&seq) {
            g.done = true;
        }
        if reset {
            let now = Instant::now();
            self.resets.push_back(now);
            while self
                .resets
                .front()
                .is_some_and(|t| now.duration_since(*t) > self.config.reset_window)
            {
                self.resets.pop_front();
            }
            if self.resets.len() >= self.config.reset_storm as usize {
                return Err(Ended::ResetStorm(
                    self.config.reset_storm,
                    self.config.reset_window,
                ));
            }
        }
        Ok(())
    }

    /// The ingest broke the wire format: closes the connection (ending its
    /// other subscriptions too) and tells why.
    fn protocol(&self, why: &str) -> Ended {
        protocol_error(&self.conn, why);
        Ended::Protocol(why.to_owned())
    }

    /// Applies the newest received catalog of epoch `limit` or older.
    fn apply_up_to(&mut self, limit: u64) {
        let mut due = None;
        while self.catalogs.front().is_some_and(|c| c.0.epoch <= limit) {
            due = self.catalogs.pop_front();
        }
        if let Some((c, _)) = due {
            self.apply(c);
        }
    }

    fn apply(&mut self, c: pb::Catalog) {
        if c.epoch <= self.applied_epoch {
            return;
        }
        self.applied_epoch = c.epoch;
        let tracks: Vec<media::Track> = c.tracks.into_iter().map(convert::track_from_wire).collect();
        self.timescales = tracks.iter().map(|t| (t.id, t.timescale)).collect();
        if let Some(cut) = c.cut.as_ref().and_then(convert::cut_from_wire) {
            self.publisher.set_cut_config(cut);
        }
        if c.window_ms > 0 {
            self.publisher
                .stream()
                .set_window(Duration::from_millis(c.window_ms));
        }
        self.publisher.set_tracks(tracks);
    }

    /// Pushes what can be pushed in order.
    fn drain(&mut self) {
        loop {
            // Catalogs take effect in order with the groups: once the groups
            // of older epochs are done.
            let Some((head, epoch, arrived)) = self
                .groups
                .first_key_value()
                .map(|(s, g)| (*s, g.epoch, g.arrived))
            else {
                // no group pending: the first catalog, or one that waited
                // (a track change without media) applies now
                if self
                    .catalogs
                    .front()
                    .is_some_and(|c| self.applied_epoch == 0 || c.1.elapsed() >= self.config.group_stall)
                {
                    self.apply_up_to(u64::MAX);
                }
                return;
            };
            if head > self.done_up_to + 1 && arrived.elapsed() < self.config.group_stall {
                // an earlier group is still on its way (each group has its
                // own QUIC stream and reader task), or was reset before its
                // header arrived: wait for it a while
                return;
            }
            self.apply_up_to(epoch);
            let pending: usize = self.groups.values().map(|g| g.bytes).sum();
            let waiting = self.groups.len() > 1;
            let Some(mut entry) = self.groups.first_entry() else {
                return;
            };
            let seq = *entry.key();
            let g = entry.get_mut();
            if g.epoch > self.applied_epoch {
                // its catalog is still on the way
                return;
            }
            if g.epoch == self.applied_epoch {
                // older groups arriving late are ignored from now on
                self.done_up_to = self.done_up_to.max(seq - 1);
                while let Some((h, payload)) = g.frames.pop_front() {
                    g.bytes -= payload.len();
                    let ts = self.timescales.get(&h.track).copied().unwrap_or(1);
                    let ingest = h.ingest_time_us;
                    self.publisher
                        .push_marked(convert::frame_from_wire(&h, payload, ts));
                    self.metrics.frames_received.inc();
                    let now = convert::now_us();
                    if ingest > 0 && now >= ingest {
                        self.metrics.latency.observe((now - ingest) as f64 / 1e6);
                    }
                }
            }
            let stalled =
                waiting && (pending > MAX_PENDING || g.last_data.elapsed() >= self.config.group_stall);
            if g.done || g.epoch < self.applied_epoch || stalled {
                if stalled && !g.done {
                    tracing::debug!(stream = self.name, seq, "relay: abandoning a stalled group");
                }
                entry.remove();
                self.done_up_to = self.done_up_to.max(seq);
                continue;
            }
            return;
        }
    }
}
