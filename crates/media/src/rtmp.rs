//! RTMP: handshake, chunk stream codec, AMF0 commands and a sans-IO server session (Adobe RTMP 1.0, Enhanced RTMP v1).
//!
//! This is the ingest side of RTMP: OBS, ffmpeg and other encoders publish to
//! `rtmp://HOST:1935/APP/NAME`, and a [`ServerSession`] turns the bytes they
//! send into [`SessionEvent`]s. The layers, each usable on its own:
//!
//! - [`handshake`]: the plain (simple) handshake of RTMP 1.0 §5.2. Servers
//!   answer with S1 version bytes of zero, which tells ffmpeg and librtmp
//!   (OBS) not to expect the digest handshake; publishers never need it.
//! - [`ChunkDecoder`] / [`ChunkEncoder`]: the chunk stream (§5.3): basic
//!   header forms of 1 to 3 bytes, message header types 0 to 3, extended
//!   timestamps, interleaved chunk streams, Set Chunk Size and Abort.
//! - [`amf0`]: AMF0 values (Adobe AMF0 spec) for command messages.
//! - [`message`]: typed protocol control messages (§5.4), user control
//!   messages (§6.2, §7.1.7) and commands (§7.1.1, §7.2).
//! - [`ServerSession`]: the server state machine (§7.2.1.1 connect,
//!   §7.2.1.3 createStream, §7.2.2.6 publish, FCPublish, deleteStream, ...).
//!
//! Audio and video messages carry FLV tag bodies (FLV 10.1 §E.4.2, §E.4.3);
//! [`SessionEvent::Video`] / [`SessionEvent::Audio`] hand them over as they
//! are, for [`crate::flv::Demuxer::handle_video`] /
//! [`crate::flv::Demuxer::handle_audio`] to turn into tracks and frames.
//!
//! Limits (each a named constant): messages up to [`MAX_MESSAGE_SIZE`],
//! chunk sizes 1..=[`MAX_CHUNK_SIZE`], [`MAX_CHUNK_STREAMS`] chunk streams,
//! [`MAX_IN_FLIGHT`] incomplete messages holding at most
//! [`MAX_BUFFERED_BYTES`], commands up to [`MAX_COMMAND_SIZE`], AMF0 nesting
//! up to [`crate::flv::MAX_AMF_DEPTH`], [`MAX_STREAMS`] message streams per
//! connection. Going over a limit is an error, never a large allocation.
//!
//! Not supported: the digest handshake and RTMPE/RTMPS (TLS is the caller's
//! business), playing (refused with `NetStream.Play.Failed`), AMF3 values
//! (AMF3 command and data messages are read when they carry AMF0 after the
//! format byte 0, as clients send them), shared objects.
//!
//! ```
//! use media::rtmp::{ServerConfig, ServerSession};
//! let mut session = ServerSession::new(ServerConfig::default());
//! // C0 + C1 from the client: the server answers S0 + S1 + S2.
//! let mut c0c1 = vec![3u8];
//! c0c1.extend_from_slice(&[0u8; 1536]);
//! session.handle_input(&c0c1).unwrap();
//! let out = session.poll_output().unwrap();
//! assert_eq!(out.len(), 1 + 2 * 1536);
//! assert_eq!(out[0], 3);
//! ```

pub mod amf0;
mod chunk;
pub mod client;
mod encoder;
mod event;
pub mod handshake;
pub mod message;
mod name;
mod session;

pub use chunk::{
    ChunkDecoder, DEFAULT_CHUNK_SIZE, MAX_BUFFERED_BYTES, MAX_CHUNK_SIZE, MAX_CHUNK_STREAM_ID,
    MAX_CHUNK_STREAMS, MAX_IN_FLIGHT, MAX_MESSAGE_SIZE, MIN_CHUNK_STREAM_ID, Message,
};
pub use encoder::ChunkEncoder;
pub use event::{ServerConfig, SessionEvent};
pub use name::{StreamPath, parse_stream_path};
pub use session::{MAX_COMMAND_SIZE, MAX_STREAMS, ServerSession};

/// Errors of the RTMP layers. Every error of the chunk decoder and the
/// session is fatal for the connection.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// C0 asked for an RTMP version other than 3 (§5.2.2).
    #[error("unsupported rtmp version {0} in c0 at byte 0")]
    BadVersion(u8),
    /// A chunk size outside 1..=[`MAX_CHUNK_SIZE`] (Set Chunk Size, §5.4.1).
    #[error("chunk size {size} at byte {offset} is out of range 1..={MAX_CHUNK_SIZE}")]
    ChunkSizeOutOfRange {
        /// The requested chunk size.
        size: u32,
        /// Stream offset of the chunk carrying the message.
        offset: u64,
    },
    /// A message longer than [`MAX_MESSAGE_SIZE`].
    #[error("message of {size} bytes at byte {offset} is above the limit of {MAX_MESSAGE_SIZE} bytes")]
    MessageTooLarge {
        /// The message length field.
        size: u32,
        /// Stream offset of the chunk header.
        offset: u64,
    },
    /// A chunk of type 1, 2 or 3 on a chunk stream with no earlier type 0 header (§5.3.1.2).
    #[error("chunk of type {fmt} on chunk stream {csid} at byte {offset} has no previous header")]
    NoPreviousHeader {
        /// Message header type (fmt).
        fmt: u8,
        /// Chunk stream id.
        csid: u32,
        /// Stream offset of the chunk.
        offset: u64,
    },
    /// A type 0, 1 or 2 chunk while a message on the same chunk stream is incomplete.
    #[error("new message header on chunk stream {csid} at byte {offset} while a message is incomplete")]
    HeaderMidMessage {
        /// Chunk stream id.
        csid: u32,
        /// Stream offset of the chunk.
        offset: u64,
    },
    /// More chunk streams, or more incomplete messages, than the decoder keeps.
    #[error("too many {what} at byte {offset} (limit {max})")]
    TooManyStreams {
        /// `chunk streams` or `incomplete messages`.
        what: &'static str,
        /// The limit.
        max: usize,
        /// Stream offset of the chunk.
        offset: u64,
    },
    /// Incomplete messages hold more than [`MAX_BUFFERED_BYTES`].
    #[error("incomplete messages at byte {offset} hold more than {MAX_BUFFERED_BYTES} bytes")]
    TooMuchBuffered {
        /// Stream offset of the chunk.
        offset: u64,
    },
    /// A message payload longer than the 24-bit length field allows (writing).
    #[error("message payload of {0} bytes does not fit the 24-bit length field")]
    PayloadTooLarge(usize),
    /// A chunk stream id outside 2..=65599 (writing).
    #[error("chunk stream id {0} is out of range 2..=65599")]
    BadChunkStreamId(u32),
    /// A message body that does not parse.
    #[error("bad {what} message at byte {offset} of its body")]
    BadMessage {
        /// The kind of message and the field.
        what: &'static str,
        /// Offset inside the message body.
        offset: usize,
    },
    /// Malformed AMF0 data.
    #[error("bad amf0 {what} at byte {offset}")]
    Amf {
        /// What was malformed.
        what: &'static str,
        /// Offset inside the AMF0 data.
        offset: usize,
    },
    /// AMF0 values nested deeper than [`crate::flv::MAX_AMF_DEPTH`].
    #[error(
        "amf0 values nested deeper than {} at byte {offset}",
        crate::flv::MAX_AMF_DEPTH
    )]
    AmfTooDeep {
        /// Offset inside the AMF0 data.
        offset: usize,
    },
    /// A command message above [`MAX_COMMAND_SIZE`].
    #[error("command message of {0} bytes is above the limit of {MAX_COMMAND_SIZE} bytes")]
    CommandTooLarge(usize),
    /// [`ServerSession::accept_publish`] or [`ServerSession::reject_publish`]
    /// without a publish request waiting for an answer.
    #[error("no publish request is waiting for an answer")]
    NoPendingPublish,
    /// Input after the session was closed (by an error or end of input).
    #[error("the session is closed")]
    Closed,
}

/// Result of the RTMP layers.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests;
