//! Live streams shared by the inputs and outputs of one process.
//!
//! A [`Hub`] maps stream names to [`LiveStream`]s. Each holds the stream's
//! [`media::buffer::StreamBuffer`] behind a lock, plus a `tokio::sync::watch`
//! channel that wakes readers when a frame arrives. An input holds the
//! stream's [`Publisher`]: there is at most one at a time, and dropping it
//! marks the stream offline. Each output reads through its own
//! [`Subscriber`], which starts at the newest keyframe and is moved to the
//! live edge when it falls out of the window: a slow viewer never holds back
//! the input or other viewers. Payloads are shared (`Bytes`), never copied.
//!
//! HLS cuts are decided here, where a stream enters: each stream's
//! [`media::hls::cutter::Cutter`] marks the frames [`Publisher::push`] is
//! given; [`Publisher::push_marked`] keeps the marks of relayed frames.
//!
//! **Invariant:** no sockets and no codec knowledge here; only the sharing of
//! frames between tasks.

mod stream;
mod subscriber;

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;

pub use stream::{LiveStream, PublishError, Publisher, State, ViewerCount};
pub use subscriber::{Event, Protocol, Subscriber};

/// Every stream of this process, by name.
#[derive(Debug, Default)]
pub struct Hub {
    streams: RwLock<HashMap<String, Arc<LiveStream>>>,
    buffer: media::buffer::BufferConfig,
    cuts: media::hls::cutter::CutConfig,
}

// === impl Hub ===

impl Hub {
    /// An empty hub whose streams use `buffer` for their windows.
    pub fn new(buffer: media::buffer::BufferConfig) -> Self {
        Self::with_cuts(buffer, media::hls::cutter::CutConfig::default())
    }

    /// An empty hub whose streams use `buffer` for their windows and are cut
    /// into HLS segments and parts of `cuts` where they enter.
    pub fn with_cuts(buffer: media::buffer::BufferConfig, cuts: media::hls::cutter::CutConfig) -> Self {
        Self {
            streams: RwLock::default(),
            buffer,
            cuts,
        }
    }

    /// How this hub's streams are cut into HLS segments and parts.
    pub fn cut_config(&self) -> media::hls::cutter::CutConfig {
        self.cuts
    }

    /// The stream called `name`, created (offline) if it does not exist yet.
    pub fn stream(&self, name: &str) -> Arc<LiveStream> {
        if let Some(s) = self.streams.read().get(name) {
            return s.clone();
        }
        self.streams
            .write()
            .entry(name.to_owned())
            .or_insert_with(|| Arc::new(LiveStream::new(name, self.buffer.clone(), self.cuts)))
            .clone()
    }

    /// The stream called `name`, if it exists.
    pub fn get(&self, name: &str) -> Option<Arc<LiveStream>> {
        self.streams.read().get(name).cloned()
    }

    /// Removes a stream; its publisher and subscribers see it end.
    pub fn remove(&self, name: &str) -> Option<Arc<LiveStream>> {
        let s = self.streams.write().remove(name);
        if let Some(s) = &s {
            s.close();
        }
        s
    }

    /// Names of all streams, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.streams.read().keys().cloned().collect();
        v.sort();
        v
    }
}
