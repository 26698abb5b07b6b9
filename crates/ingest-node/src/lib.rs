//! The ingest role: inputs (SRT, RTMP, TS/UDP, RTP/SDP, WHIP, files, HLS pull)
//! feeding the per-stream live buffers of a [`hub::Hub`], pushes, and the
//! QUIC relay server that edges subscribe to.
//!
//! **Invariant:** ingest code never parses codecs itself (that is `media`'s
//! job) and never depends on `edge-node`.
//!
//! Built so far: publishing over RTMP ([`rtmp`]) and SRT ([`srt`], also SRT
//! listener/caller/rendezvous sources), checked by [`admission`]; MPEG-TS over
//! UDP or RTP, unicast and multicast ([`tsudp`]); RTP described by SDP
//! ([`rtp`]); RIST ([`rist`]); HLS pull ([`hls_pull`]); files
//! played in real time ([`mod@file`]); the [`supervisor`] that runs the input
//! of each defined stream; and pushes to SRT, RTMP, UDP, RTP, RIST, CMAF
//! ingest and files ([`push`]).

pub mod admission;
pub mod file;
pub mod hls_pull;
pub mod push;
pub mod rist;
pub mod rtmp;
pub mod rtp;
pub mod srt;
pub mod supervisor;
pub mod tsudp;

/// Name of this role, as used in `nodes/{role}/{id}` keys.
pub const ROLE: &str = "ingest";

/// A source that sends nothing for this long is considered gone: the stream
/// goes offline until data comes again.
pub const SOURCE_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
