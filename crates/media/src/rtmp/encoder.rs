//! Writing the chunk stream (RTMP 1.0 §5.3): the counterpart of
//! [`super::ChunkDecoder`], following the same timestamp rules.

use std::collections::HashMap;

use bytes::BufMut;

use super::chunk::{
    DEFAULT_CHUNK_SIZE, EXTENDED, MAX_CHUNK_STREAM_ID, MIN_CHUNK_STREAM_ID, check_chunk_size,
};
use super::message::type_id;
use super::{Error, Message, Result};

/// Writes messages as chunks (§5.3), choosing the shortest message header.
#[derive(Debug, Clone)]
pub struct ChunkEncoder {
    chunk_size: u32,
    streams: HashMap<u32, OutStream>,
}

/// What the encoder last wrote on one chunk stream.
#[derive(Debug, Clone, Copy)]
struct OutStream {
    timestamp: u32,
    delta: u32,
    length: u32,
    type_id: u8,
    stream_id: u32,
    extended: bool,
    /// The last header was fmt 0 (so `delta` is an absolute timestamp).
    after_fmt0: bool,
}

// === impl ChunkEncoder ===

impl Default for ChunkEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkEncoder {
    /// An encoder with the default chunk size of 128.
    pub fn new() -> Self {
        Self {
            chunk_size: DEFAULT_CHUNK_SIZE,
            streams: HashMap::new(),
        }
    }

    /// The current outgoing chunk size.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Sets the outgoing chunk size. [`Self::encode`] does this itself when
    /// it writes a Set Chunk Size message, which is the usual way.
    pub fn set_chunk_size(&mut self, size: u32) -> Result<()> {
        check_chunk_size(size, 0)?;
        self.chunk_size = size;
        Ok(())
    }

    /// Writes `msg` as chunks of the current chunk size.
    pub fn encode(&mut self, msg: &Message, out: &mut impl BufMut) -> Result<()> {
        if !(MIN_CHUNK_STREAM_ID..=MAX_CHUNK_STREAM_ID).contains(&msg.csid) {
            return Err(Error::BadChunkStreamId(msg.csid));
        }
        let length = msg.payload.len();
        if length > EXTENDED as usize {
            return Err(Error::PayloadTooLarge(length));
        }
        let length = length as u32;
        // a Set Chunk Size message applies to what follows: check it before writing
        let new_chunk_size = match msg.payload.get(..4) {
            Some(b) if msg.type_id == type_id::SET_CHUNK_SIZE => {
                let size = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                check_chunk_size(size, 0)?;
                Some(size)
            }
            _ => None,
        };
        let prev = self.streams.get(&msg.csid).copied();
        let delta = prev.map_or(0, |p| msg.timestamp.wrapping_sub(p.timestamp));
        let fmt = match prev {
            None => 0,
            Some(p) if p.stream_id != msg.stream_id || msg.timestamp < p.timestamp => 0,
            Some(p) if p.length != length || p.type_id != msg.type_id => 1,
            Some(p) if p.after_fmt0 || p.delta != delta => 2,
            Some(_) => 3,
        };
        let mut state = prev.unwrap_or(OutStream {
            timestamp: 0,
            delta: 0,
            length,
            type_id: msg.type_id,
            stream_id: msg.stream_id,
            extended: false,
            after_fmt0: true,
        });
        if fmt < 3 {
            state.delta = if fmt == 0 { msg.timestamp } else { delta };
            state.extended = state.delta >= EXTENDED;
        }
        state.timestamp = msg.timestamp;
        state.length = length;
        state.type_id = msg.type_id;
        state.stream_id = msg.stream_id;
        state.after_fmt0 = fmt == 0;

        put_basic_header(out, fmt, msg.csid);
        if fmt < 3 {
            put_u24(out, state.delta.min(EXTENDED));
        }
        if fmt < 2 {
            put_u24(out, length);
            out.put_u8(msg.type_id);
        }
        if fmt == 0 {
            out.put_u32_le(msg.stream_id);
        }
        let ext = state.extended.then_some(state.delta);
        if let Some(e) = ext {
            out.put_u32(e);
        }
        let mut chunks = msg.payload.chunks(self.chunk_size as usize);
        if let Some(first) = chunks.next() {
            out.put_slice(first);
        }
        for chunk in chunks {
            put_basic_header(out, 3, msg.csid);
            if let Some(e) = ext {
                out.put_u32(e);
            }
            out.put_slice(chunk);
        }
        self.streams.insert(msg.csid, state);
        if let Some(size) = new_chunk_size {
            self.chunk_size = size;
        }
        Ok(())
    }
}

/// Basic header in its shortest form (§5.3.1.1); `csid` is in range.
fn put_basic_header(out: &mut impl BufMut, fmt: u8, csid: u32) {
    let fmt = fmt << 6;
    match csid {
        0..=63 => out.put_u8(fmt | csid as u8),
        64..=319 => out.put_slice(&[fmt, (csid - 64) as u8]),
        _ => {
            let id = csid - 64;
            out.put_slice(&[fmt | 1, id as u8, (id >> 8) as u8]);
        }
    }
}

fn put_u24(out: &mut impl BufMut, v: u32) {
    out.put_slice(&v.to_be_bytes()[1..]);
}
