//! SRT output: a live stream sent as MPEG-TS, 1316-byte payloads (7 TS
//! packets), to players of the shared port, callers of a per-stream
//! listener output and the peer of a push.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use hub::{Event, Subscriber};
use media::ts::Muxer;
use srt_protocol::connection::{Connection, DuplexConnection};
use srt_protocol::packet::Packet;
use srt_protocol::statistics::SocketStatistics;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// Bytes of one SRT payload: 7 TS packets (libsrt's live-mode default).
pub(super) const PAYLOAD: usize = 7 * 188;

/// An output whose stream stays offline this long ends (a returning
/// publisher within it continues the same output).
pub(super) const OFFLINE_GRACE: Duration = Duration::from_secs(10);

/// Once its stream has ended, a connection gets at most this long to
/// deliver what it still holds (retransmissions included) before it is
/// closed anyway.
pub(super) const FLUSH_LIMIT: Duration = Duration::from_secs(5);

/// The MPEG-TS of a live stream as SRT payloads, from the subscriber's
/// position (the newest keyframe) on.
#[derive(Debug)]
pub(super) struct Payloads {
    sub: Subscriber,
    muxer: Option<Muxer>,
    /// Muxed bytes not sent yet: always whole TS packets.
    pending: BytesMut,
    /// When the stream was reported offline (cleared when frames return).
    offline_since: Option<tokio::time::Instant>,
    /// The stream ended: what is pending goes out, then nothing.
    ended: bool,
}

impl Payloads {
    pub(super) fn new(sub: Subscriber) -> Self {
        Self {
            sub,
            muxer: None,
            pending: BytesMut::with_capacity(64 * 1024),
            offline_since: None,
            ended: false,
        }
    }

    /// The next payload: [`PAYLOAD`] bytes, or fewer at the end of the
    /// stream or of a track set. `None` once the stream was removed or
    /// stayed offline for [`OFFLINE_GRACE`]. Cancel-safe: nothing is lost
    /// when the future is dropped.
    pub(super) async fn next(&mut self) -> Option<Bytes> {
        loop {
            if self.pending.len() >= PAYLOAD {
                return Some(self.pending.split_to(PAYLOAD).freeze());
            }
            if self.ended {
                return (!self.pending.is_empty()).then(|| self.pending.split().freeze());
            }
            let event = match self.offline_since {
                Some(since) => tokio::select! {
                    event = self.sub.next() => event,
                    _ = tokio::time::sleep_until(since + OFFLINE_GRACE) => {
                        if self.sub.stream().state() == hub::State::Offline {
                            self.ended = true;
                        } else {
                            self.offline_since = None;
                        }
                        continue;
                    }
                },
                None => self.sub.next().await,
            };
            match event {
                Event::Tracks(tracks) => {
                    self.offline_since = None;
                    let rest = self.pending.split().freeze();
                    match Muxer::new(&media::ts::muxable(tracks)) {
                        Ok(m) => self.muxer = Some(m),
                        Err(e) => {
                            tracing::warn!(stream = self.sub.stream().name(), %e, "cannot mux these tracks as mpeg-ts");
                            self.muxer = None;
                            self.ended = true;
                        }
                    }
                    if !rest.is_empty() {
                        return Some(rest);
                    }
                }
                Event::Frame(frame) => {
                    self.offline_since = None;
                    let Some(muxer) = self.muxer.as_mut() else {
                        continue;
                    };
                    if let Err(e) = muxer.mux_frame(&frame, &mut self.pending) {
                        tracing::debug!(stream = self.sub.stream().name(), %e, "frame skipped");
                    }
                }
                Event::Skipped { lost } => {
                    tracing::debug!(
                        stream = self.sub.stream().name(),
                        lost,
                        "slow srt viewer skipped ahead"
                    );
                }
                Event::Offline => {
                    self.offline_since = Some(tokio::time::Instant::now());
                }
                Event::Closed => self.ended = true,
            }
        }
    }
}

/// A caller let in to play: where it reads, and the counter of bytes sent.
#[derive(Debug)]
pub(super) struct Play {
    pub subscriber: Subscriber,
    pub sent: Option<Arc<AtomicU64>>,
}

/// Why a playing connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PlayEnd {
    /// The stream ended and everything was delivered (or the flush limit passed).
    StreamEnded,
    /// The viewer closed the connection or SRT timed it out.
    Closed,
    /// The listener stopped.
    ListenerGone,
}

/// Drives one playing connection of a listener: payloads of the stream
/// out, the peer's control packets in, until the stream ends or the peer
/// leaves. A slow viewer never holds anything back: payloads go into the
/// SRT send buffer at the stream's pace, and what the peer does not take in
/// time is dropped by SRT's too-late logic.
pub(super) async fn play(
    connection: Connection,
    mut packets: mpsc::Receiver<(Packet, SocketAddr)>,
    socket: Arc<UdpSocket>,
    play: Play,
) -> PlayEnd {
    let mut conn = DuplexConnection::new(connection);
    let mut payloads = Payloads::new(play.subscriber);
    let mut buf = BytesMut::with_capacity(1500);
    let mut stream_done: Option<Instant> = None;
    let mut sent = 0u64;
    tracing::info!("srt output connected");
    let end = loop {
        let now = Instant::now();
        if !conn.is_open() {
            break if stream_done.is_some() {
                PlayEnd::StreamEnded
            } else {
                PlayEnd::Closed
            };
        }
        if stream_done.is_some_and(|at| now.duration_since(at) > FLUSH_LIMIT) {
            break PlayEnd::StreamEnded;
        }
        // a player sends nothing we keep
        while conn.next_data(now).is_some() {}
        let wake = conn.check_timers(now);
        while let Some((packet, to)) = conn.next_packet(now) {
            buf.clear();
            packet.serialize(&mut buf);
            let _ = socket.send_to(&buf, to).await;
        }
        let wake = match stream_done {
            Some(at) => wake.min(at + FLUSH_LIMIT),
            None => wake,
        };
        tokio::select! {
            _ = tokio::time::sleep_until(wake.into()) => {}
            packet = packets.recv() => match packet {
                Some(packet) => conn.handle_packet_input(Instant::now(), Ok(packet)),
                None => break PlayEnd::ListenerGone,
            },
            payload = payloads.next(), if stream_done.is_none() => {
                let now = Instant::now();
                match payload {
                    Some(data) => {
                        let len = data.len() as u64;
                        sent += len;
                        if let Some(counter) = &play.sent {
                            counter.fetch_add(len, Ordering::Relaxed);
                        }
                        conn.handle_data_input(now, Some((now, data)));
                    }
                    None => {
                        stream_done = Some(now);
                        conn.handle_data_input(now, None);
                    }
                }
            }
        }
    };
    if conn.is_open() {
        // tell the peer we are done (best effort)
        let now = Instant::now();
        conn.on_peer_idle_timeout(now);
        while let Some((packet, to)) = conn.next_packet(now) {
            buf.clear();
            packet.serialize(&mut buf);
            let _ = socket.send_to(&buf, to).await;
        }
    }
    log_link(conn.statistics(), sent, &format!("{end:?}"));
    end
}

/// Logs how a sending link went.
pub(super) fn log_link(stats: &SocketStatistics, bytes: u64, end: &str) {
    tracing::info!(
        end,
        bytes,
        packets = stats.tx_unique_data,
        retransmitted = stats.tx_retransmit_data,
        lost = stats.tx_loss_data,
        dropped = stats.tx_dropped_data,
        naks = stats.rx_nak,
        "srt sender done"
    );
}
