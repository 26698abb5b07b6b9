//! The ingest role: inputs (SRT, RTMP, TS/UDP, RTP/SDP, WHIP, files, HLS pull),
//! the per-stream live buffers they feed, pushes, and the QUIC relay server
//! that edges subscribe to.
//!
//! **Invariant:** ingest code never parses codecs itself (that is `media`'s
//! job) and never depends on `edge-node`.
//!
//! Status: the inputs arrive with the standalone-server work; this crate holds
//! only the role's description so far.

/// Name of this role, as used in `nodes/{role}/{id}` keys.
pub const ROLE: &str = "ingest";
