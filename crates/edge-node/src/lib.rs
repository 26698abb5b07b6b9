//! The edge role: viewer-facing outputs (HLS/LL-HLS, MPEG-TS and MP4 over
//! HTTP, WS/MP4, WebRTC, SRT) served from a local replica of each watched
//! stream, fetched from its ingest node over the QUIC relay on demand.
//!
//! **Invariant:** an edge never writes desired state (specs, assignments) to
//! the state store, and never depends on `ingest-node`.
//!
//! Status: the outputs arrive with the standalone-server and HLS work; this
//! crate holds only the role's description so far.

/// Name of this role, as used in `nodes/{role}/{id}` keys.
pub const ROLE: &str = "edge";
