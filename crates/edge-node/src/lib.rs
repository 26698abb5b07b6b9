//! The edge role: viewer-facing outputs (HLS/LL-HLS, MPEG-TS and MP4 over
//! HTTP, WS/MP4, WebRTC, SRT) served from a local replica of each watched
//! stream. In a cluster the replica is fed over the QUIC relay; in
//! `standalone` the outputs read the ingest's streams directly from the
//! shared [`hub::Hub`].
//!
//! **Invariant:** an edge never writes desired state (specs, assignments) to
//! the state store, and never depends on `ingest-node`.
//!
//! Built so far (see [`http`]): LL-HLS over CMAF and MPEG-TS ([`hls`]),
//! endless MPEG-TS (`/NAME.ts`) and fragmented MP4 with WS/MP4 ([`mp4_out`]).

pub mod hls;
pub mod http;
pub mod mp4_out;
pub mod ts_out;

/// Name of this role, as used in `nodes/{role}/{id}` keys.
pub const ROLE: &str = "edge";
