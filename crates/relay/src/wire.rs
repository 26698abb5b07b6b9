//! The relay's framing, without IO: length-delimited protobuf messages and
//! raw frame payloads, decoded incrementally from byte chunks as QUIC hands
//! them over.
//!
//! Control streams carry `varint length + message` records
//! ([`ControlDecoder`]); media streams carry one `GroupHeader` record, then
//! `FrameHeader` records each followed by `size` payload bytes
//! ([`MediaDecoder`]). Every length is checked against [`Limits`] before
//! anything is allocated; errors name what was wrong.

use std::collections::VecDeque;
use std::marker::PhantomData;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use prost::Message;
use proto::relay::{FrameHeader, GroupHeader};

/// Largest lengths accepted, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A `ClientMessage` or `ServerMessage` (default 64 KiB).
    pub control: usize,
    /// A `GroupHeader` or `FrameHeader` (default 1 KiB).
    pub header: usize,
    /// A frame payload (default 16 MiB).
    pub payload: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            control: 64 * 1024,
            header: 1024,
            payload: 16 * 1024 * 1024,
        }
    }
}

/// What was wrong with the bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// A length prefix or size field above its limit.
    #[error("{what} of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Which message or payload.
        what: &'static str,
        /// The announced length.
        len: u64,
        /// The limit in force.
        limit: usize,
    },
    /// A length prefix that is not a valid varint (more than 10 bytes).
    #[error("{what}: malformed length prefix")]
    BadLength {
        /// Which message.
        what: &'static str,
    },
    /// The message bytes do not decode.
    #[error("{what}: {reason}")]
    Decode {
        /// Which message.
        what: &'static str,
        /// prost's explanation.
        reason: String,
    },
    /// The stream ended inside a record.
    #[error("stream ended inside {what} ({have} of {need} bytes)")]
    Truncated {
        /// Which message or payload.
        what: &'static str,
        /// Bytes received of it.
        have: usize,
        /// Bytes it needed (for a length prefix: at least one more).
        need: usize,
    },
    /// A message that is well formed but not allowed here.
    #[error("{0}")]
    Invalid(String),
}

/// Encodes `msg` with its varint length prefix.
pub fn encode<M: Message>(msg: &M, out: &mut BytesMut) {
    out.reserve(msg.encoded_len() + 10);
    msg.encode_length_delimited(out).expect("BytesMut grows");
}

/// A `FrameHeader` record (prefix + message) ready to precede the payload.
pub fn encode_frame_header(header: &FrameHeader) -> Bytes {
    let mut out = BytesMut::new();
    encode(header, &mut out);
    out.freeze()
}

/// Pending input: the chunks received but not consumed yet.
#[derive(Debug, Default)]
struct Queue {
    chunks: VecDeque<Bytes>,
    len: usize,
}

impl Queue {
    fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.len += chunk.len();
            self.chunks.push_back(chunk);
        }
    }

    /// Parses a varint length prefix at the front without consuming it:
    /// `Ok(None)` when more bytes are needed, else `(value, prefix length)`.
    fn peek_varint(&self, what: &'static str) -> Result<Option<(u64, usize)>, WireError> {
        let mut value = 0u64;
        let mut i = 0usize;
        for chunk in &self.chunks {
            for &b in chunk.iter() {
                if i == 10 || (i == 9 && b > 1) {
                    return Err(WireError::BadLength { what });
                }
                value |= u64::from(b & 0x7f) << (7 * i);
                i += 1;
                if b & 0x80 == 0 {
                    return Ok(Some((value, i)));
                }
            }
        }
        Ok(None)
    }

    fn advance(&mut self, mut n: usize) {
        self.len -= n;
        while n > 0 {
            let front = self.chunks.front_mut().expect("advance within len");
            if front.len() <= n {
                n -= front.len();
                self.chunks.pop_front();
            } else {
                front.advance(n);
                n = 0;
            }
        }
    }

    /// Takes `n` bytes (`n <= len`): a slice of one chunk when they sit in
    /// one (no copy), else one copy into a buffer of exactly `n` bytes.
    fn take(&mut self, n: usize) -> Bytes {
        debug_assert!(n <= self.len);
        if let Some(front) = self.chunks.front_mut()
            && front.len() >= n
        {
            let out = front.split_to(n);
            if front.is_empty() {
                self.chunks.pop_front();
            }
            self.len -= n;
            return out;
        }
        let mut out = BytesMut::with_capacity(n);
        while out.len() < n {
            let front = self.chunks.front_mut().expect("take within len");
            let k = front.len().min(n - out.len());
            out.put_slice(&front[..k]);
            front.advance(k);
            if front.is_empty() {
                self.chunks.pop_front();
            }
        }
        self.len -= n;
        out.freeze()
    }

    /// One length-delimited record, or `None` when it is not complete yet.
    fn record(&mut self, what: &'static str, limit: usize) -> Result<Option<Bytes>, WireError> {
        let Some((len, prefix)) = self.peek_varint(what)? else {
            return Ok(None);
        };
        if len > limit as u64 {
            return Err(WireError::TooLarge { what, len, limit });
        }
        let len = len as usize;
        if self.len < prefix + len {
            return Ok(None);
        }
        self.advance(prefix);
        Ok(Some(self.take(len)))
    }

    /// The error for input left over when the stream ended.
    fn truncated(&self, what: &'static str) -> Result<(), WireError> {
        if self.len == 0 {
            return Ok(());
        }
        let need = match self.peek_varint(what) {
            Ok(Some((len, prefix))) => prefix.saturating_add(usize::try_from(len).unwrap_or(usize::MAX)),
            _ => self.len + 1,
        };
        Err(WireError::Truncated {
            what,
            have: self.len,
            need,
        })
    }
}

fn decode<M: Message + Default>(what: &'static str, bytes: Bytes) -> Result<M, WireError> {
    M::decode(bytes).map_err(|e| WireError::Decode {
        what,
        reason: e.to_string(),
    })
}

/// Decodes the control stream: a sequence of length-delimited `M`
/// (`ClientMessage` on the ingest, `ServerMessage` on the edge).
#[derive(Debug)]
pub struct ControlDecoder<M> {
    queue: Queue,
    limit: usize,
    what: &'static str,
    failed: bool,
    _m: PhantomData<fn() -> M>,
}

impl<M: Message + Default> ControlDecoder<M> {
    /// A decoder refusing messages above `limits.control`; `what` names the
    /// message type in errors.
    pub fn new(limits: Limits, what: &'static str) -> Self {
        Self {
            queue: Queue::default(),
            limit: limits.control,
            what,
            failed: false,
            _m: PhantomData,
        }
    }

    /// Adds received bytes.
    pub fn push(&mut self, chunk: Bytes) {
        self.queue.push(chunk);
    }

    /// The next complete message, `Ok(None)` when more bytes are needed.
    /// After an error the decoder stays failed (the stream must be closed).
    pub fn next_item(&mut self) -> Result<Option<M>, WireError> {
        if self.failed {
            return Err(WireError::Invalid(format!(
                "{}: decoder failed earlier",
                self.what
            )));
        }
        let r = match self.queue.record(self.what, self.limit) {
            Ok(Some(b)) => decode(self.what, b).map(Some),
            Ok(None) => Ok(None),
            Err(e) => Err(e),
        };
        self.failed = r.is_err();
        r
    }

    /// Call when the stream ended: an error if it ended inside a message.
    pub fn finish(&self) -> Result<(), WireError> {
        self.queue.truncated(self.what)
    }

    /// Bytes received but not decoded yet.
    pub fn buffered(&self) -> usize {
        self.queue.len
    }
}

/// One item of a media stream.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaItem {
    /// The first record of the stream.
    Group(GroupHeader),
    /// A frame: its header and its `header.size` payload bytes.
    Frame(FrameHeader, Bytes),
}

#[derive(Debug)]
enum MediaState {
    Group,
    Header,
    Payload(FrameHeader),
    Failed,
}

/// Decodes one media stream: a `GroupHeader`, then (`FrameHeader`, payload)
/// pairs. A payload held in one received chunk is a slice of it; otherwise it
/// is assembled once into a buffer of its exact size.
#[derive(Debug)]
pub struct MediaDecoder {
    queue: Queue,
    limits: Limits,
    state: MediaState,
}

impl MediaDecoder {
    /// A decoder with the given limits.
    pub fn new(limits: Limits) -> Self {
        Self {
            queue: Queue::default(),
            limits,
            state: MediaState::Group,
        }
    }

    /// Adds received bytes.
    pub fn push(&mut self, chunk: Bytes) {
        self.queue.push(chunk);
    }

    /// Bytes the decoder wants before it can return the next item (at least
    /// one), for sizing reads.
    pub fn wanted(&self) -> usize {
        match &self.state {
            MediaState::Payload(h) => (h.size as usize).saturating_sub(self.queue.len).max(1),
            _ => 1,
        }
    }

    /// The next complete item, `Ok(None)` when more bytes are needed. After
    /// an error the decoder stays failed.
    pub fn next_item(&mut self) -> Result<Option<MediaItem>, WireError> {
        let r = self.step();
        if r.is_err() {
            self.state = MediaState::Failed;
        }
        r
    }

    fn step(&mut self) -> Result<Option<MediaItem>, WireError> {
        loop {
            match &self.state {
                MediaState::Failed => {
                    return Err(WireError::Invalid("media stream: decoder failed earlier".into()));
                }
                MediaState::Group => {
                    let Some(b) = self.queue.record("group header", self.limits.header)? else {
                        return Ok(None);
                    };
                    let g: GroupHeader = decode("group header", b)?;
                    self.state = MediaState::Header;
                    return Ok(Some(MediaItem::Group(g)));
                }
                MediaState::Header => {
                    let Some(b) = self.queue.record("frame header", self.limits.header)? else {
                        return Ok(None);
                    };
                    let h: FrameHeader = decode("frame header", b)?;
                    if h.size as usize > self.limits.payload {
                        return Err(WireError::TooLarge {
                            what: "frame payload",
                            len: u64::from(h.size),
                            limit: self.limits.payload,
                        });
                    }
                    self.state = MediaState::Payload(h);
                }
                MediaState::Payload(h) => {
                    let n = h.size as usize;
                    if self.queue.len < n {
                        return Ok(None);
                    }
                    let payload = self.queue.take(n);
                    let MediaState::Payload(h) = std::mem::replace(&mut self.state, MediaState::Header)
                    else {
                        unreachable!("state checked above")
                    };
                    return Ok(Some(MediaItem::Frame(h, payload)));
                }
            }
        }
    }

    /// Call when the stream ended: an error if it ended inside a record or
    /// payload, or before its group header.
    pub fn finish(&self) -> Result<(), WireError> {
        match &self.state {
            MediaState::Group if self.queue.len == 0 => Err(WireError::Truncated {
                what: "group header",
                have: 0,
                need: 1,
            }),
            MediaState::Group => self.queue.truncated("group header"),
            MediaState::Header => self.queue.truncated("frame header"),
            MediaState::Payload(h) => Err(WireError::Truncated {
                what: "frame payload",
                have: self.queue.len,
                need: h.size as usize,
            }),
            MediaState::Failed => Err(WireError::Invalid("media stream: decoder failed earlier".into())),
        }
    }

    /// Bytes received but not returned yet.
    pub fn buffered(&self) -> usize {
        self.queue.len
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use proto::relay::{ClientMessage, Subscribe, client_message};

    use super::*;

    fn chunks(data: &[u8], cuts: &[usize]) -> Vec<Bytes> {
        let mut out = Vec::new();
        let mut start = 0;
        for &c in cuts {
            let c = c.min(data.len());
            if c > start {
                out.push(Bytes::copy_from_slice(&data[start..c]));
                start = c;
            }
        }
        out.push(Bytes::copy_from_slice(&data[start..]));
        out
    }

    fn header(size: u32, key: bool, dts: i64) -> FrameHeader {
        FrameHeader {
            track: 1,
            dts,
            pts: dts + 3000,
            keyframe: key,
            size,
            mark: None,
            ingest_time_us: 1,
            timescale: 90_000,
        }
    }

    #[test]
    fn oversized_length_is_refused_before_the_bytes_arrive() {
        let mut d = MediaDecoder::new(Limits::default());
        // varint 2000
        d.push(Bytes::from_static(&[0xd0, 0x0f]));
        assert_eq!(
            d.next_item(),
            Err(WireError::TooLarge {
                what: "group header",
                len: 2000,
                limit: 1024
            })
        );
    }

    #[test]
    fn payload_size_over_limit_is_refused() {
        let limits = Limits {
            payload: 10,
            ..Limits::default()
        };
        let mut buf = BytesMut::new();
        encode(&GroupHeader::default(), &mut buf);
        encode(&header(11, true, 0), &mut buf);
        let mut d = MediaDecoder::new(limits);
        d.push(buf.freeze());
        assert!(matches!(d.next_item(), Ok(Some(MediaItem::Group(_)))));
        let e = d.next_item().unwrap_err();
        assert!(e.to_string().contains("frame payload of 11 bytes exceeds"), "{e}");
    }

    #[test]
    fn truncation_is_named() {
        let mut buf = BytesMut::new();
        encode(
            &ClientMessage {
                msg: Some(client_message::Msg::Subscribe(Subscribe {
                    stream: "cam".into(),
                    from_live_edge: true,
                })),
            },
            &mut buf,
        );
        let mut d = ControlDecoder::<ClientMessage>::new(Limits::default(), "client message");
        d.push(buf.freeze().slice(..4));
        assert_eq!(d.next_item(), Ok(None));
        let e = d.finish().unwrap_err();
        assert!(
            e.to_string().starts_with("stream ended inside client message"),
            "{e}"
        );
    }

    #[test]
    fn single_chunk_payload_is_not_copied() {
        let mut buf = BytesMut::new();
        encode(&GroupHeader::default(), &mut buf);
        encode(&header(4, true, 0), &mut buf);
        buf.put_slice(b"abcd");
        let whole = buf.freeze();
        let mut d = MediaDecoder::new(Limits::default());
        d.push(whole.clone());
        d.next_item().unwrap();
        let Some(MediaItem::Frame(_, p)) = d.next_item().unwrap() else {
            panic!()
        };
        assert_eq!(&p[..], b"abcd");
        assert_eq!(p.as_ptr(), whole[whole.len() - 4..].as_ptr());
    }

    fn arb_header() -> impl Strategy<Value = FrameHeader> {
        (
            any::<u32>(),
            any::<i64>(),
            any::<i64>(),
            any::<bool>(),
            0u32..3000,
            proptest::option::of((
                proptest::option::of((any::<u64>(), any::<bool>(), any::<u64>(), any::<u64>())),
                proptest::option::of(any::<u64>()),
                proptest::option::of(any::<i64>()),
            )),
            any::<u64>(),
            any::<u32>(),
        )
            .prop_map(|(track, dts, pts, keyframe, size, mark, t, ts)| FrameHeader {
                track,
                dts,
                pts,
                keyframe,
                size,
                mark: mark.map(|(s, part, part_end)| proto::relay::Mark {
                    segment: s.map(|(msn, d, ds, pdt)| proto::relay::SegmentMark {
                        msn,
                        discontinuity: d,
                        discontinuity_sequence: ds,
                        program_date_time_ms: pdt,
                    }),
                    part,
                    part_end,
                }),
                ingest_time_us: t,
                timescale: ts,
            })
    }

    proptest! {
        #[test]
        fn media_round_trip(
            seq in any::<u64>(),
            headers in proptest::collection::vec(arb_header(), 0..8),
            cuts in proptest::collection::vec(0usize..30_000, 0..20),
        ) {
            let group = GroupHeader { stream: "cam".into(), sequence: seq, epoch: 3 };
            let mut buf = BytesMut::new();
            encode(&group, &mut buf);
            let mut expect = vec![MediaItem::Group(group)];
            for (i, h) in headers.into_iter().enumerate() {
                encode(&h, &mut buf);
                let payload: Vec<u8> = (0..h.size).map(|j| (j as usize + i) as u8).collect();
                buf.put_slice(&payload);
                expect.push(MediaItem::Frame(h, Bytes::from(payload)));
            }
            let mut cuts = cuts;
            cuts.sort_unstable();
            let mut d = MediaDecoder::new(Limits::default());
            let mut got = Vec::new();
            for c in chunks(&buf, &cuts) {
                d.push(c);
                while let Some(item) = d.next_item().unwrap() {
                    got.push(item);
                }
            }
            prop_assert_eq!(got, expect);
            prop_assert!(d.finish().is_ok());
        }

        #[test]
        fn control_round_trip(names in proptest::collection::vec("[a-z0-9/_-]{0,40}", 0..10), cut in 0usize..200) {
            let mut buf = BytesMut::new();
            let msgs: Vec<ClientMessage> = names.iter().map(|n| ClientMessage {
                msg: Some(client_message::Msg::Subscribe(Subscribe { stream: n.clone(), from_live_edge: n.len() % 2 == 0 })),
            }).collect();
            for m in &msgs {
                encode(m, &mut buf);
            }
            let mut d = ControlDecoder::<ClientMessage>::new(Limits::default(), "client message");
            let mut got = Vec::new();
            for c in chunks(&buf, &[cut]) {
                d.push(c);
                while let Some(m) = d.next_item().unwrap() {
                    got.push(m);
                }
            }
            prop_assert_eq!(got, msgs);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..4096), cut in 0usize..4096) {
            let limits = Limits { payload: 1 << 16, ..Limits::default() };
            let mut m = MediaDecoder::new(limits);
            let mut c = ControlDecoder::<proto::relay::ServerMessage>::new(limits, "server message");
            for chunk in chunks(&data, &[cut]) {
                m.push(chunk.clone());
                c.push(chunk);
                while let Ok(Some(_)) = m.next_item() {}
                while let Ok(Some(_)) = c.next_item() {}
            }
            let _ = m.finish();
            let _ = c.finish();
        }
    }
}
