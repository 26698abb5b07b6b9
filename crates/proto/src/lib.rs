//! Wire types of Tributary's two protocols, generated from the `.proto` files
//! in the repository's `proto/` folder:
//!
//! | file | package | what |
//! |---|---|---|
//! | `relay.proto` | `tributary.relay.v1` | ingest -> edge QUIC relay: control messages, track catalog, frame headers |
//! | `control.proto` | `tributary.control.v1` | gRPC control API (port 4242) |
//!
//! **Invariant:** no logic lives here and this crate never depends on `media`:
//! the relay carries opaque timestamped frames plus a catalog.
//!
//! ```
//! let hello = proto::relay::Subscribe { stream: "cam1".into(), from_live_edge: true };
//! assert_eq!(hello.stream, "cam1");
//! ```
#![deny(missing_docs)]

/// The ingest -> edge relay protocol.
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod relay {
    tonic::include_proto!("tributary.relay.v1");
}

/// The encoded `FileDescriptorSet` of every file in `proto/` (for gRPC
/// server reflection).
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptors.bin"));

/// The gRPC control API.
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod control {
    tonic::include_proto!("tributary.control.v1");
}
