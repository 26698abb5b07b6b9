//! One connected SRT publisher: payloads in, tracks and frames out to the
//! stream's [`Publisher`].

use std::fmt;
use std::net::SocketAddr;

use futures_util::StreamExt;
use hub::Publisher;
use media::ts::{Demuxer, Event};
use srt_tokio::SrtSocket;

use super::DATA_IDLE_TIMEOUT;

/// A peer that has sent at least this many bytes, for at least
/// [`NOT_TS_TIME`], and no program (PAT and PMT) in them, is not sending
/// usable MPEG-TS and is dropped. (Random bytes fall into sync now and
/// then, so sync alone proves nothing; muxers repeat the PMT every 100 to
/// 500 ms.)
pub(super) const NOT_TS_BYTES: u64 = 1 << 20;
/// See [`NOT_TS_BYTES`].
pub(super) const NOT_TS_TIME: std::time::Duration = std::time::Duration::from_secs(5);

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum End {
    /// The peer closed the connection, or SRT timed it out.
    Closed,
    /// No data for [`DATA_IDLE_TIMEOUT`].
    Idle,
    /// No MPEG-TS program after [`NOT_TS_BYTES`] and [`NOT_TS_TIME`].
    NotTs,
    /// The socket failed.
    Error(String),
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed => f.write_str("the connection closed"),
            Self::Idle => write!(f, "no data for {} s", DATA_IDLE_TIMEOUT.as_secs()),
            Self::NotTs => write!(
                f,
                "no mpeg-ts program in {} kib and {} s",
                NOT_TS_BYTES / 1024,
                NOT_TS_TIME.as_secs()
            ),
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
    /// When the first payload came.
    started: Option<std::time::Instant>,
    /// The demuxer has announced tracks.
    program: bool,
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
            started: None,
            program: false,
        }
    }

    /// The stream fed.
    pub(super) fn stream(&self) -> &std::sync::Arc<hub::LiveStream> {
        self.publisher.stream()
    }

    /// Takes one payload; false once the peer proved not to send MPEG-TS.
    pub(super) fn feed(&mut self, data: &[u8]) -> bool {
        self.packets += 1;
        self.bytes += data.len() as u64;
        tracing::trace!(len = data.len(), "srt payload");
        let started = *self.started.get_or_insert_with(std::time::Instant::now);
        self.demux.feed(data);
        self.drain();
        self.program || self.bytes < NOT_TS_BYTES || started.elapsed() < NOT_TS_TIME
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
                Event::Tracks(tracks) => {
                    self.program = true;
                    self.publisher.set_tracks(tracks);
                }
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
