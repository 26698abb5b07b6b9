//! The chunk stream (RTMP 1.0 §5.3): messages cut into chunks, chunks of
//! several chunk streams interleaved on one connection.
//!
//! A chunk is a basic header (§5.3.1.1: 2-bit fmt and a chunk stream id in
//! 1, 2 or 3 bytes), a message header (§5.3.1.2: 11, 7, 3 or 0 bytes for fmt
//! 0 to 3), an optional 4-byte extended timestamp (§5.3.1.3) and at most
//! chunk-size bytes of the message payload.
//!
//! Timestamps are 32-bit milliseconds with wrapping arithmetic. Two rules
//! that the spec leaves open follow ffmpeg (`rtmppkt.c`) and SRS:
//! - a fmt 3 chunk that starts a new message adds the last timestamp field
//!   of the chunk stream to the timestamp (after a fmt 0 header that field
//!   is the absolute timestamp); [`ChunkEncoder`] never writes that case.
//! - when the last fmt 0/1/2 header had an extended timestamp, fmt 3 chunks
//!   repeat it (RTMP 1.0 §5.3.1.3, as ffmpeg and librtmp write). Some old
//!   encoders do not repeat it in the continuation chunks of a message, so
//!   there the 4 bytes are taken as the extended timestamp only when they
//!   equal it, and as payload otherwise.

use std::collections::HashMap;

use bytes::{Buf, Bytes, BytesMut};

use super::{Error, Result};
use crate::rtmp::message::type_id;

/// Chunk size at the start of a connection, in both directions (§5.4.1).
pub const DEFAULT_CHUNK_SIZE: u32 = 128;
/// Largest chunk size accepted (the spec's 0xFFFFFF; no message is longer).
pub const MAX_CHUNK_SIZE: u32 = 0xFF_FFFF;
/// Largest message the decoder accepts (8 MiB: a few seconds of 4K video keyframe).
pub const MAX_MESSAGE_SIZE: u32 = 8 << 20;
/// Most chunk streams whose headers the decoder remembers.
pub const MAX_CHUNK_STREAMS: usize = 64;
/// Most incomplete messages the decoder holds at once.
pub const MAX_IN_FLIGHT: usize = 8;
/// Most bytes held by incomplete messages at once.
pub const MAX_BUFFERED_BYTES: usize = 16 << 20;
/// Smallest chunk stream id (0 and 1 mark the longer basic header forms, §5.3.1.1).
pub const MIN_CHUNK_STREAM_ID: u32 = 2;
/// Largest chunk stream id (the 3-byte basic header form).
pub const MAX_CHUNK_STREAM_ID: u32 = 65599;

/// Timestamp field value that says an extended timestamp follows (§5.3.1.3).
pub(super) const EXTENDED: u32 = 0xFF_FFFF;

/// A whole message as carried by the chunk stream (§5.3.1.2, §6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Chunk stream the message came on, or goes out on (2..=65599).
    pub csid: u32,
    /// Timestamp in milliseconds (32 bits, wrapping).
    pub timestamp: u32,
    /// Message type id (see [`super::message::type_id`]).
    pub type_id: u8,
    /// Message stream id (0 for the connection, else a stream from createStream).
    pub stream_id: u32,
    /// The message payload.
    pub payload: Bytes,
}

/// Reassembles messages from chunks (§5.3). Set Chunk Size (type 1) and
/// Abort (type 2) messages are applied by the decoder itself, then returned
/// like any other message.
#[derive(Debug, Clone)]
pub struct ChunkDecoder {
    chunk_size: u32,
    streams: HashMap<u32, InStream>,
    /// Bytes consumed so far (stream offset of the next chunk).
    offset: u64,
    /// Payload bytes held by incomplete messages.
    buffered: usize,
}

/// What the decoder remembers of one chunk stream.
#[derive(Debug, Clone, Default)]
struct InStream {
    timestamp: u32,
    /// Last timestamp field (a delta, or the absolute timestamp after fmt 0).
    delta: u32,
    length: u32,
    type_id: u8,
    stream_id: u32,
    /// The last fmt 0/1/2 header had an extended timestamp.
    extended: bool,
    /// The incomplete message, if any.
    partial: Option<BytesMut>,
}

/// A parsed chunk header, before its payload.
struct Header {
    fmt: u8,
    csid: u32,
    /// Header length including any extended timestamp.
    len: usize,
    /// Timestamp field or extended timestamp (fmt 0-2), or the extended timestamp read in fmt 3.
    ts_field: Option<u32>,
    length: u32,
    type_id: u8,
    stream_id: u32,
    extended: bool,
}

// === impl ChunkDecoder ===

impl Default for ChunkDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkDecoder {
    /// A decoder with the default chunk size of 128.
    pub fn new() -> Self {
        Self {
            chunk_size: DEFAULT_CHUNK_SIZE,
            streams: HashMap::new(),
            offset: 0,
            buffered: 0,
        }
    }

    /// The current incoming chunk size.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Payload bytes held by incomplete messages (at most [`MAX_BUFFERED_BYTES`]).
    pub fn buffered_bytes(&self) -> usize {
        self.buffered
    }

    /// Sets the incoming chunk size (normally done by a Set Chunk Size message).
    pub fn set_chunk_size(&mut self, size: u32) -> Result<()> {
        check_chunk_size(size, self.offset)?;
        self.chunk_size = size;
        Ok(())
    }

    /// Consumes whole chunks from `buf` until one completes a message.
    /// `Ok(None)`: more bytes are needed (an incomplete chunk stays in `buf`).
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Message>> {
        loop {
            let Some(header) = self.peek_header(buf)? else {
                return Ok(None);
            };
            let at = self.offset;
            let chunk_size = self.chunk_size as usize;
            let in_flight = self.streams.values().filter(|s| s.partial.is_some()).count();
            let state = stream_state(&mut self.streams, header.csid, header.fmt, at)?;
            let starting = state.partial.is_none();
            let have = state.partial.as_ref().map_or(0, BytesMut::len);
            let length = if header.fmt <= 1 {
                header.length
            } else {
                state.length
            };
            let n = (length as usize).saturating_sub(have).min(chunk_size);
            let Some(total) = header.len.checked_add(n).filter(|t| *t <= buf.len()) else {
                return Ok(None);
            };
            // the whole chunk is here: commit the header
            if starting && n < length as usize && in_flight >= MAX_IN_FLIGHT {
                return Err(Error::TooManyStreams {
                    what: "incomplete messages",
                    max: MAX_IN_FLIGHT,
                    offset: at,
                });
            }
            if self.buffered + n > MAX_BUFFERED_BYTES {
                return Err(Error::TooMuchBuffered { offset: at });
            }
            apply_header(state, &header, starting);
            buf.advance(header.len);
            let data = buf.split_to(n);
            self.offset += total as u64;
            let partial = state.partial.get_or_insert_with(BytesMut::new);
            if partial.is_empty() && n == length as usize {
                // a message in one chunk: no copy
                *partial = data;
            } else {
                partial.extend_from_slice(&data);
            }
            if partial.len() < length as usize {
                self.buffered += n;
                continue;
            }
            self.buffered -= have;
            let msg = Message {
                csid: header.csid,
                timestamp: state.timestamp,
                type_id: state.type_id,
                stream_id: state.stream_id,
                payload: state.partial.take().unwrap_or_default().freeze(),
            };
            self.apply_control(&msg, at)?;
            return Ok(Some(msg));
        }
    }

    /// Parses the chunk header at the start of `buf` without consuming it.
    fn peek_header(&self, buf: &[u8]) -> Result<Option<Header>> {
        let Some(&first) = buf.first() else {
            return Ok(None);
        };
        let fmt = first >> 6;
        let (csid, mut p) = match first & 0x3f {
            0 => match buf.get(1) {
                Some(&b) => (64 + u32::from(b), 2),
                None => return Ok(None),
            },
            1 => match buf.get(1..3) {
                Some(b) => (64 + u32::from(b[0]) + 256 * u32::from(b[1]), 3),
                None => return Ok(None),
            },
            id => (u32::from(id), 1),
        };
        let mut h = Header {
            fmt,
            csid,
            len: 0,
            ts_field: None,
            length: 0,
            type_id: 0,
            stream_id: 0,
            extended: false,
        };
        let msg_len = [11, 7, 3, 0][usize::from(fmt)];
        let Some(m) = buf.get(p..p + msg_len) else {
            return Ok(None);
        };
        p += msg_len;
        if fmt < 3 {
            let ts = u24(&m[0..3]);
            h.extended = ts == EXTENDED;
            h.ts_field = Some(ts);
        }
        if fmt < 2 {
            h.length = u24(&m[3..6]);
            h.type_id = m[6];
            if h.length > MAX_MESSAGE_SIZE {
                return Err(Error::MessageTooLarge {
                    size: h.length,
                    offset: self.offset,
                });
            }
        }
        if fmt == 0 {
            h.stream_id = u32::from_le_bytes([m[7], m[8], m[9], m[10]]);
        }
        let state = self.streams.get(&csid);
        let ext_in_fmt3 = fmt == 3 && state.is_some_and(|s| s.extended);
        if h.extended || ext_in_fmt3 {
            let Some(e) = buf.get(p..p + 4) else {
                return Ok(None);
            };
            let ext = u32::from_be_bytes([e[0], e[1], e[2], e[3]]);
            let continuation = state.is_some_and(|s| s.partial.is_some());
            // see the module docs: continuation chunks may lack the repeat
            if !(ext_in_fmt3 && continuation && state.is_some_and(|s| s.delta != ext)) {
                h.ts_field = Some(ext);
                p += 4;
            }
        }
        h.len = p;
        Ok(Some(h))
    }

    /// Set Chunk Size and Abort act on the decoder (§5.4.1, §5.4.2).
    fn apply_control(&mut self, msg: &Message, offset: u64) -> Result<()> {
        let value = || match msg.payload.get(..4) {
            Some(b) => Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
            None => Err(Error::BadMessage {
                what: "control",
                offset: msg.payload.len(),
            }),
        };
        match msg.type_id {
            type_id::SET_CHUNK_SIZE => {
                let size = value()?;
                check_chunk_size(size, offset)?;
                self.chunk_size = size;
            }
            type_id::ABORT => {
                let csid = value()?;
                if let Some(p) = self.streams.get_mut(&csid).and_then(|s| s.partial.take()) {
                    self.buffered -= p.len();
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// The state of a chunk stream, created by a fmt 0 header.
fn stream_state(
    streams: &mut HashMap<u32, InStream>,
    csid: u32,
    fmt: u8,
    offset: u64,
) -> Result<&mut InStream> {
    let known = streams.len();
    match streams.entry(csid) {
        std::collections::hash_map::Entry::Occupied(e) => {
            let s = e.into_mut();
            if fmt < 3 && s.partial.is_some() {
                return Err(Error::HeaderMidMessage { csid, offset });
            }
            Ok(s)
        }
        std::collections::hash_map::Entry::Vacant(e) => {
            if fmt != 0 {
                return Err(Error::NoPreviousHeader { fmt, csid, offset });
            }
            if known >= MAX_CHUNK_STREAMS {
                return Err(Error::TooManyStreams {
                    what: "chunk streams",
                    max: MAX_CHUNK_STREAMS,
                    offset,
                });
            }
            Ok(e.insert(InStream::default()))
        }
    }
}

/// Takes a parsed header into the chunk stream state.
fn apply_header(state: &mut InStream, h: &Header, starting: bool) {
    match h.fmt {
        0 => {
            let ts = h.ts_field.unwrap_or_default();
            state.timestamp = ts;
            state.delta = ts;
        }
        1 | 2 => {
            state.delta = h.ts_field.unwrap_or_default();
            state.timestamp = state.timestamp.wrapping_add(state.delta);
        }
        _ => {
            if starting {
                if let Some(ext) = h.ts_field {
                    state.delta = ext;
                }
                state.timestamp = state.timestamp.wrapping_add(state.delta);
            }
        }
    }
    if h.fmt < 3 {
        state.extended = h.extended;
    }
    if h.fmt < 2 {
        state.length = h.length;
        state.type_id = h.type_id;
    }
    if h.fmt == 0 {
        state.stream_id = h.stream_id;
    }
}

pub(super) fn check_chunk_size(size: u32, offset: u64) -> Result<()> {
    if size == 0 || size > MAX_CHUNK_SIZE {
        return Err(Error::ChunkSizeOutOfRange { size, offset });
    }
    Ok(())
}

fn u24(b: &[u8]) -> u32 {
    u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2])
}
