//! What a [`ServerSession`] is configured with and what it reports.

use bytes::Bytes;

#[cfg(doc)]
use super::{MAX_CHUNK_SIZE, ServerSession, StreamPath};
use crate::flv::Metadata;

/// Settings of a [`ServerSession`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Chunk size the server announces after `connect` and writes with
    /// (default 4096; clamped to 1..=[`MAX_CHUNK_SIZE`]).
    pub chunk_size: u32,
    /// Window Acknowledgement Size sent to the client (default 2 500 000 bytes).
    pub window_ack_size: u32,
    /// Set Peer Bandwidth window sent to the client (default 2 500 000 bytes, limit type dynamic).
    pub peer_bandwidth: u32,
    /// Time field of S1 in milliseconds (the server's epoch; may be 0).
    pub epoch: u32,
    /// Seed of the random bytes of S1 (they need not be secret).
    pub seed: u64,
}

/// What happened on the connection, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    /// `connect` succeeded (answered automatically).
    Connect {
        /// The `app` of the command object, without any `?query`.
        app: String,
        /// The `tcUrl` of the command object.
        tc_url: Option<String>,
    },
    /// The client wants to publish. Answer with [`ServerSession::accept_publish`]
    /// or [`ServerSession::reject_publish`]; media flows only after accepting.
    Publish {
        /// Application (see [`StreamPath::app`]).
        app: String,
        /// Stream name (see [`StreamPath::stream_name`]).
        stream_name: String,
        /// The `key` query parameter, if any (a secret: do not log it).
        key: Option<String>,
        /// `live`, `record` or `append` (§7.2.2.6).
        publishing_type: String,
    },
    /// The client wants to play; it was refused with `NetStream.Play.Failed`
    /// (this server only ingests).
    Play {
        /// Application.
        app: String,
        /// Stream name.
        stream_name: String,
        /// The `key` query parameter, if any.
        key: Option<String>,
    },
    /// `@setDataFrame` / `onMetaData` of the published stream.
    Metadata(Metadata),
    /// A video message of the published stream: an FLV video tag body.
    Video {
        /// Timestamp in milliseconds (32 bits, wrapping).
        timestamp_ms: u32,
        /// FLV video tag body (FLV 10.1 §E.4.3), for [`crate::flv::Demuxer::handle_video`].
        body: Bytes,
    },
    /// An audio message of the published stream: an FLV audio tag body.
    Audio {
        /// Timestamp in milliseconds (32 bits, wrapping).
        timestamp_ms: u32,
        /// FLV audio tag body (FLV 10.1 §E.4.2), for [`crate::flv::Demuxer::handle_audio`].
        body: Bytes,
    },
    /// Publishing ended (`FCUnpublish`, `closeStream`, `deleteStream`, end of
    /// input or an error). Follows every [`SessionEvent::Publish`] that was not rejected.
    Unpublish {
        /// The stream name of the publish.
        stream_name: String,
    },
    /// `deleteStream` for a message stream.
    DeleteStream {
        /// The message stream id.
        stream_id: u32,
    },
    /// The session is over (end of input, or a fatal error from `handle_input`).
    Closed,
}

// === impl ServerConfig ===

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            chunk_size: 4096,
            window_ack_size: 2_500_000,
            peer_bandwidth: 2_500_000,
            epoch: 0,
            seed: 0x5eed,
        }
    }
}
