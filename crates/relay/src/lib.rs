//! The ingest -> edge relay over QUIC (wire format: `proto/relay.proto`).
//!
//! | module | what |
//! |---|---|
//! | [`wire`] | pure codec: length-delimited messages, limits, incremental decoding |
//! | [`server`] | ingest side: [`Server`] serves a [`hub::Hub`] to edges |
//! | [`client`] | edge side: [`Client`] feeds the local hub from ingests |
//! | [`edge`] | on-demand driver: [`edge::Puller`] subscribes when viewers ask, through a [`edge::Resolver`] |
//! | [`tls`] | rustls (ring) configurations: CA, mutual TLS, self-signed + pinning |
//! | [`metrics`] | prometheus-client families |
//!
//! **Invariant:** the relay never interprets payloads; it only reads the
//! keyframe flag of frames to start groups.

pub mod client;
mod convert;
pub mod edge;
pub mod metrics;
pub mod server;
pub mod tls;
pub mod wire;

pub use client::{Client, ClientConfig, Ended, Subscription};
pub use edge::{Puller, PullerConfig, Resolver};
pub use metrics::Metrics;
pub use server::{Server, ServerConfig};

use std::net::SocketAddr;

use rustls::pki_types::CertificateDer;

/// Where a stream's ingest is and how to trust it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// The ingest's relay (UDP) address.
    pub addr: SocketAddr,
    /// The TLS server name (checked against the certificate unless pinned).
    pub server_name: String,
    /// The ingest's self-signed certificate (DER), trusted exactly and alone;
    /// `None`: trust the client's CA.
    pub pinned_cert: Option<CertificateDer<'static>>,
}

/// Errors of the relay's IO side.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// Socket trouble.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// TLS configuration.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// A setting out of range.
    #[error("config: {0}")]
    Config(String),
    /// Connecting to an ingest failed.
    #[error("connecting to {addr}: {reason}")]
    Connect {
        /// The ingest.
        addr: SocketAddr,
        /// What went wrong.
        reason: String,
    },
    /// The ingest refused the subscription.
    #[error("subscription to {stream} refused: {reason}")]
    Refused {
        /// The stream.
        stream: String,
        /// The ingest's reason.
        reason: String,
    },
    /// The local stream already has a publisher (another subscription or input).
    #[error(transparent)]
    Publish(#[from] hub::PublishError),
    /// The subscription ended before its catalog arrived.
    #[error("subscription to {stream} ended before it started: {why}")]
    Ended {
        /// The stream.
        stream: String,
        /// Why.
        why: Ended,
    },
}

/// QUIC application error codes of the relay.
pub mod codes {
    use quinn::VarInt;

    /// Normal close.
    pub const SHUTDOWN: VarInt = VarInt::from_u32(0);
    /// The peer broke the wire format.
    pub const PROTOCOL: VarInt = VarInt::from_u32(1);
    /// A media stream reset because its group fell behind.
    pub const GROUP_DROPPED: VarInt = VarInt::from_u32(2);
    /// A media stream the receiver does not want (unknown subscription).
    pub const UNWANTED: VarInt = VarInt::from_u32(3);
}
