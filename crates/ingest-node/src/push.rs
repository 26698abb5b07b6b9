//! Pushes: a stream sent to a target (SRT, RTMP, MPEG-TS over UDP or RTP,
//! RTP with SDP, a file), started by the engine and retried per its policy.
//!
//! Every target module exposes `run(&Job)`: it subscribes to the job's
//! stream, sends until the stream ends (`Ok`) or the target fails (`Err`),
//! and counts the bytes it sent in [`Job::bytes`].

pub mod cmaf;
pub mod engine;
pub mod file;
pub mod rist;
pub mod rtmp;
pub mod rtp;
pub mod srt;
pub mod tsudp;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use hub::LiveStream;

/// One run of a push, as the engine hands it to a target.
#[derive(Debug, Clone)]
pub struct Job {
    /// The push's name.
    pub name: String,
    /// The stream pushed.
    pub stream: Arc<LiveStream>,
    /// The target URL as configured.
    pub target: String,
    /// `audioOverride`: an ADTS `.aac` file replacing the stream's audio.
    pub audio_override: Option<PathBuf>,
    /// Bytes sent to the target so far.
    pub bytes: Arc<AtomicU64>,
}

/// Why a push stopped.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The target URL or its options are invalid: retrying will not help.
    #[error("bad target: {0}")]
    BadTarget(String),
    /// The target failed (unreachable, refused, stalled, closed).
    #[error("{0}")]
    Failed(String),
    /// A socket or file error.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
