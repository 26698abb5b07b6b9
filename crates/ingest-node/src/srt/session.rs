//! One connected SRT publisher: packets in, tracks and frames out to the
//! stream's [`Publisher`].

use std::fmt;
use std::net::SocketAddr;

use futures_util::StreamExt;
use hub::Publisher;
use media::ts::{Demuxer, Event};
use srt_tokio::SrtSocket;

use super::DATA_IDLE_TIMEOUT;

/// A peer that sends this many bytes without one MPEG-TS packet in sync is
/// not sending MPEG-TS and is dropped.
pub(super) const NOT_TS_LIMIT: u64 = 256 * 1024;

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum End {
    /// The peer closed the connection, or SRT timed it out.
    Closed,
    /// No data for [`DATA_IDLE_TIMEOUT`].
    Idle,
    /// [`NOT_TS_LIMIT`] bytes without MPEG-TS sync.
    NotTs,
    /// The socket failed.
    Error(String),
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed => f.write_str("the peer closed the connection"),
            Self::Idle => write!(f, "no data for {} s", DATA_IDLE_TIMEOUT.as_secs()),
            Self::NotTs => write!(f, "{NOT_TS_LIMIT} bytes without mpeg-ts sync"),
            Self::Error(e) => write!(f, "socket error: {e}"),
        }
    }
}

/// Counters of one connection, for the end-of-session log line.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Counters {
    /// SRT payloads received.
    pub packets: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Frames the demuxer produced.
    pub frames: u64,
    /// Demuxer warnings.
    pub warnings: u64,
}

/// Feeds what `socket` receives into `publisher` until the connection ends;
/// flushes the demuxer then (the last frame of each track) and releases the
/// publisher when this returns.
pub(super) async fn receive(mut socket: SrtSocket, publisher: Publisher, peer: SocketAddr) -> (End, Counters) {
    let mut feed = Feed::new(publisher, peer);
    let end = loop {
        match tokio::time::timeout(DATA_IDLE_TIMEOUT, socket.next()).await {
            Err(_) => break End::Idle,
            Ok(None) => break End::Closed,
            Ok(Some(Err(e))) => break End::Error(e.to_string()),
            Ok(Some(Ok((_, data)))) => {
                if !feed.feed(&data) {
                    break End::NotTs;
                }
            }
        }
    };
    feed.finish();
    if end == End::NotTs {
        tracing::warn!(%peer, stream = feed.publisher.stream().name(), "srt peer sends no mpeg-ts");
        feed.publisher
            .stream()
            .set_error(format!("srt from {peer}: not mpeg-ts ({end})"));
    }
    (end, feed.counters)
}

/// The demuxer between one peer and its publisher.
struct Feed {
    publisher: Publisher,
    demux: Demuxer,
    peer: SocketAddr,
    counters: Counters,
}

impl Feed {
    fn new(publisher: Publisher, peer: SocketAddr) -> Self {
        Self {
            publisher,
            demux: Demuxer::new(),
            peer,
            counters: Counters::default(),
        }
    }

    /// Takes one payload; false once the peer proved not to send MPEG-TS.
    fn feed(&mut self, data: &[u8]) -> bool {
        self.counters.packets += 1;
        self.counters.bytes += data.len() as u64;
        tracing::trace!(len = data.len(), "srt payload");
        self.demux.feed(data);
        self.drain();
        self.demux.has_synced() || self.counters.bytes < NOT_TS_LIMIT
    }

    fn finish(&mut self) {
        self.demux.finish();
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(event) = self.demux.poll_event() {
            match event {
                Event::Tracks(tracks) => self.publisher.set_tracks(tracks),
                Event::Frame(frame) => {
                    self.counters.frames += 1;
                    self.publisher.push(frame);
                }
                Event::Warning(w) => {
                    self.counters.warnings += 1;
                    let stream = self.publisher.stream();
                    // the first one is worth a warning; a bad link makes many
                    if self.counters.warnings == 1 {
                        tracing::warn!(peer = %self.peer, stream = stream.name(), %w, "srt input: bad mpeg-ts");
                    } else {
                        tracing::debug!(peer = %self.peer, stream = stream.name(), %w, "srt input: bad mpeg-ts");
                    }
                    stream.set_error(format!("srt from {}: {w}", self.peer));
                }
            }
        }
    }
}
