//! One connected SRT publisher: payloads in, tracks and frames out to the
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
            Self::Closed => f.write_str("the connection closed"),
            Self::Idle => write!(f, "no data for {} s", DATA_IDLE_TIMEOUT.as_secs()),
            Self::NotTs => write!(f, "{NOT_TS_LIMIT} bytes without mpeg-ts sync"),
            Self::Error(e) => write!(f, "socket error: {e}"),
        }
    }
}

/// Feeds what a connected srt-tokio socket receives into `publisher` until
/// the connection ends (caller and rendezvous sources).
pub(super) async fn receive(mut socket: SrtSocket, publisher: Publisher, peer: SocketAddr) -> End {
    let mut feed = Feed::new(publisher, peer);
    tracing::info!("srt source connected");
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
    feed.end(&end);
    end
}

/// The demuxer between one peer and its publisher. Dropping it releases
/// the publisher (the stream goes offline).
#[derive(Debug)]
pub(super) struct Feed {
    publisher: Publisher,
    demux: Demuxer,
    peer: SocketAddr,
    /// SRT payloads received.
    packets: u64,
    /// Their bytes.
    bytes: u64,
    /// Frames the demuxer produced.
    frames: u64,
    /// Demuxer warnings.
    warnings: u64,
}

impl Feed {
    pub(super) fn new(publisher: Publisher, peer: SocketAddr) -> Self {
        Self {
            publisher,
            demux: Demuxer::new(),
            peer,
            packets: 0,
            bytes: 0,
            frames: 0,
            warnings: 0,
        }
    }

    /// Takes one payload; false once the peer proved not to send MPEG-TS.
    pub(super) fn feed(&mut self, data: &[u8]) -> bool {
        self.packets += 1;
        self.bytes += data.len() as u64;
        tracing::trace!(len = data.len(), "srt payload");
        self.demux.feed(data);
        self.drain();
        self.demux.has_synced() || self.bytes < NOT_TS_LIMIT
    }

    /// Flushes the demuxer (the last frame of each track), logs how the
    /// connection went, and releases the publisher.
    pub(super) fn end(mut self, end: &End) {
        self.demux.finish();
        self.drain();
        let stream = self.publisher.stream();
        if *end == End::NotTs {
            tracing::warn!(peer = %self.peer, stream = stream.name(), "srt peer sends no mpeg-ts");
            stream.set_error(format!("srt from {}: not mpeg-ts ({end})", self.peer));
        }
        tracing::info!(
            %end,
            packets = self.packets,
            bytes = self.bytes,
            frames = self.frames,
            warnings = self.warnings,
            "srt connection ended"
        );
    }

    fn drain(&mut self) {
        while let Some(event) = self.demux.poll_event() {
            match event {
                Event::Tracks(tracks) => self.publisher.set_tracks(tracks),
                Event::Frame(frame) => {
                    self.frames += 1;
                    self.publisher.push(frame);
                }
                Event::Warning(w) => {
                    self.warnings += 1;
                    let stream = self.publisher.stream();
                    // the first one is worth a warning; a bad link makes many
                    if self.warnings == 1 {
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
