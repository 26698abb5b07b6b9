//! The RTP packet (RFC 3550 §5.1, header extension §5.3.1).

use bytes::{BufMut, Bytes, BytesMut};

use super::{Error, HEADER_LEN, Result, VERSION};

/// Most CSRC identifiers in one header (4-bit CC field).
pub const MAX_CSRC: usize = 15;

/// An RTP packet (RFC 3550 §5.1).
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |V=2|P|X|  CC   |M|     PT      |       sequence number         |
/// |                           timestamp                           |
/// |           synchronization source (SSRC) identifier            |
/// |            contributing source (CSRC) identifiers ...         |
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Marker bit: the last packet of a video access unit; for RFC 3640,
    /// the last fragment of an access unit.
    pub marker: bool,
    /// Payload type (7 bits).
    pub payload_type: u8,
    /// Sequence number (wraps at 2^16).
    pub sequence: u16,
    /// Media timestamp in the payload format's clock (wraps at 2^32).
    pub timestamp: u32,
    /// Synchronization source.
    pub ssrc: u32,
    /// Contributing sources (at most [`MAX_CSRC`]).
    pub csrc: Vec<u32>,
    /// Header extension, when the X bit is set.
    pub extension: Option<Extension>,
    /// Number of padding bytes after the payload (the last of them holds the
    /// count); 0 when the P bit is clear.
    pub padding: u8,
    /// The payload, without padding.
    pub payload: Bytes,
}

/// A header extension (RFC 3550 §5.3.1): a profile-defined 16-bit value and
/// data in whole 32-bit words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// "defined by profile" field (0xBEDE for RFC 8285 one-byte headers).
    pub profile: u16,
    /// Extension data; its length is a multiple of 4.
    pub data: Bytes,
}

/// Numbers outgoing packets of one stream: SSRC, payload type and the next
/// sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequencer {
    /// SSRC of every packet.
    pub ssrc: u32,
    /// Payload type of every packet.
    pub payload_type: u8,
    /// Sequence number of the next packet.
    pub sequence: u16,
}

// === impl Packet ===

impl Packet {
    /// A packet with no CSRC, extension or padding.
    pub fn new(
        payload_type: u8,
        sequence: u16,
        timestamp: u32,
        ssrc: u32,
        marker: bool,
        payload: Bytes,
    ) -> Self {
        Self {
            marker,
            payload_type,
            sequence,
            timestamp,
            ssrc,
            csrc: Vec::new(),
            extension: None,
            padding: 0,
            payload,
        }
    }

    /// Parses a packet, copying its payload.
    pub fn parse(data: &[u8]) -> Result<Self> {
        Self::parse_bytes(Bytes::copy_from_slice(data))
    }

    /// Parses a packet; the payload and extension share `data`'s buffer.
    pub fn parse_bytes(data: Bytes) -> Result<Self> {
        let len = data.len();
        let need = |what, offset: usize, needed: usize| {
            if offset.saturating_add(needed) > len {
                Err(Error::Truncated {
                    what,
                    offset,
                    needed,
                    len,
                })
            } else {
                Ok(())
            }
        };
        need("fixed header", 0, HEADER_LEN)?;
        let version = data[0] >> 6;
        if version != VERSION {
            return Err(Error::BadVersion(version));
        }
        let has_padding = data[0] & 0x20 != 0;
        let has_extension = data[0] & 0x10 != 0;
        let csrc_count = usize::from(data[0] & 0x0f);
        let be32 = |at: usize| u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
        let mut pos = HEADER_LEN;
        need("csrc list", pos, 4 * csrc_count)?;
        let csrc = (0..csrc_count).map(|i| be32(pos + 4 * i)).collect();
        pos += 4 * csrc_count;
        let extension = if has_extension {
            need("header extension", pos, 4)?;
            let profile = u16::from_be_bytes([data[pos], data[pos + 1]]);
            let words = usize::from(u16::from_be_bytes([data[pos + 2], data[pos + 3]]));
            need("header extension data", pos + 4, 4 * words)?;
            let ext = data.slice(pos + 4..pos + 4 + 4 * words);
            pos += 4 + 4 * words;
            Some(Extension { profile, data: ext })
        } else {
            None
        };
        let mut end = len;
        let mut padding = 0;
        if has_padding {
            need("padding count", pos, 1)?;
            let count = data[len - 1];
            let available = len - pos;
            if count == 0 || usize::from(count) > available {
                return Err(Error::BadPadding {
                    offset: len - 1,
                    count,
                    available,
                });
            }
            padding = count;
            end -= usize::from(count);
        }
        Ok(Self {
            marker: data[1] & 0x80 != 0,
            payload_type: data[1] & 0x7f,
            sequence: u16::from_be_bytes([data[2], data[3]]),
            timestamp: be32(4),
            ssrc: be32(8),
            csrc,
            extension,
            padding,
            payload: data.slice(pos..end),
        })
    }

    /// Length of the packet on the wire.
    pub fn len(&self) -> usize {
        HEADER_LEN
            + 4 * self.csrc.len()
            + self.extension.as_ref().map_or(0, |e| 4 + e.data.len())
            + self.payload.len()
            + usize::from(self.padding)
    }

    /// True when the packet has neither payload nor padding.
    pub fn is_empty(&self) -> bool {
        self.payload.is_empty() && self.padding == 0
    }

    /// Writes the packet. Fails (writing nothing) when a field does not fit:
    /// more than 15 CSRCs, a payload type above 127, or extension data that is
    /// not whole 32-bit words or longer than 65535 words.
    pub fn write(&self, out: &mut impl BufMut) -> Result<()> {
        if self.csrc.len() > MAX_CSRC {
            return Err(Error::Unwritable("more than 15 csrc identifiers"));
        }
        if self.payload_type > 0x7f {
            return Err(Error::Unwritable("payload type above 127"));
        }
        let bad_extension = self
            .extension
            .as_ref()
            .is_some_and(|e| !e.data.len().is_multiple_of(4) || e.data.len() / 4 > usize::from(u16::MAX));
        if bad_extension {
            return Err(Error::Unwritable(
                "header extension is not 0 to 65535 whole words",
            ));
        }
        let mut b0 = (VERSION << 6) | self.csrc.len() as u8;
        if self.padding > 0 {
            b0 |= 0x20;
        }
        if self.extension.is_some() {
            b0 |= 0x10;
        }
        out.put_u8(b0);
        out.put_u8(u8::from(self.marker) << 7 | self.payload_type);
        out.put_u16(self.sequence);
        out.put_u32(self.timestamp);
        out.put_u32(self.ssrc);
        for c in &self.csrc {
            out.put_u32(*c);
        }
        if let Some(e) = &self.extension {
            out.put_u16(e.profile);
            out.put_u16((e.data.len() / 4) as u16);
            out.put_slice(&e.data);
        }
        out.put_slice(&self.payload);
        if self.padding > 0 {
            out.put_bytes(0, usize::from(self.padding) - 1);
            out.put_u8(self.padding);
        }
        Ok(())
    }

    /// The packet as bytes (see [`Packet::write`]).
    pub fn to_bytes(&self) -> Result<Bytes> {
        let mut out = BytesMut::with_capacity(self.len());
        self.write(&mut out)?;
        Ok(out.freeze())
    }
}

// === impl Sequencer ===

impl Sequencer {
    /// Numbers packets from `sequence` on.
    pub fn new(ssrc: u32, payload_type: u8, sequence: u16) -> Self {
        Self {
            ssrc,
            payload_type,
            sequence,
        }
    }

    /// The next packet of the stream.
    pub fn packet(&mut self, timestamp: u32, marker: bool, payload: Bytes) -> Packet {
        let p = Packet::new(
            self.payload_type,
            self.sequence,
            timestamp,
            self.ssrc,
            marker,
            payload,
        );
        self.sequence = self.sequence.wrapping_add(1);
        p
    }
}
