//! AAC: AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1) and ADTS framing
//! (ISO/IEC 14496-3 §1.A.2.2).

use bytes::{BufMut, Bytes};

use crate::bits::{BitReader, BitWriter};

/// Sampling frequencies by `samplingFrequencyIndex`.
pub const SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// Length of an ADTS header without CRC.
pub const ADTS_HEADER_LEN: usize = 7;

/// Samples per AAC-LC frame.
pub const SAMPLES_PER_FRAME: u32 = 1024;

/// Errors of AAC parsing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// An ADTS header does not start with the 12-bit sync word.
    #[error("no adts sync word at byte {offset}")]
    BadSync {
        /// Byte offset of the header.
        offset: usize,
    },
    /// An ADTS frame is cut off.
    #[error("adts frame at byte {offset} needs {needed} bytes, {available} available")]
    Truncated {
        /// Byte offset of the frame.
        offset: usize,
        /// Bytes the header announces.
        needed: usize,
        /// Bytes present.
        available: usize,
    },
    /// An ADTS frame length shorter than its own header.
    #[error("adts frame length {length} at byte {offset} is shorter than its header")]
    BadLength {
        /// Byte offset of the frame.
        offset: usize,
        /// The announced length.
        length: usize,
    },
    /// A reserved or unsupported sampling frequency index.
    #[error("unsupported sampling frequency index {0}")]
    BadFrequencyIndex(u8),
    /// A bit read ran out of data.
    #[error(transparent)]
    Bits(#[from] crate::bits::Error),
}

/// Result of AAC parsing.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The fields of an AudioSpecificConfig that players need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioSpecificConfig {
    /// `audioObjectType` (2 = AAC-LC).
    pub object_type: u8,
    /// Sampling rate in Hz.
    pub sample_rate: u32,
    /// `channelConfiguration` (1 = mono, 2 = stereo, ...).
    pub channels: u8,
}

/// A parsed ADTS header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdtsHeader {
    /// The stream's configuration.
    pub config: AudioSpecificConfig,
    /// Header length: 7, or 9 with CRC.
    pub header_len: usize,
    /// Whole frame length including the header.
    pub frame_len: usize,
}

// === impl AudioSpecificConfig ===

impl AudioSpecificConfig {
    /// Parses the leading fields of an AudioSpecificConfig.
    pub fn parse(data: &[u8]) -> Result<Self> {
        let mut r = BitReader::new(data);
        let mut object_type = r.u8(5)?;
        if object_type == 31 {
            object_type = 32 + r.u8(6)?;
        }
        let index = r.u8(4)?;
        let sample_rate = if index == 15 {
            r.u32(24)?
        } else {
            *SAMPLE_RATES
                .get(usize::from(index))
                .ok_or(Error::BadFrequencyIndex(index))?
        };
        let channels = r.u8(4)?;
        Ok(Self {
            object_type,
            sample_rate,
            channels,
        })
    }

    /// `samplingFrequencyIndex` of the rate, if it is in the table.
    pub fn frequency_index(&self) -> Option<u8> {
        SAMPLE_RATES
            .iter()
            .position(|r| *r == self.sample_rate)
            .map(|i| i as u8)
    }

    /// Serialises a minimal AudioSpecificConfig (2 bytes for table rates).
    pub fn encode(&self) -> Bytes {
        let mut w = BitWriter::new();
        if self.object_type >= 31 {
            w.put(5, 31);
            w.put(6, u64::from(self.object_type - 32));
        } else {
            w.put(5, u64::from(self.object_type));
        }
        match self.frequency_index() {
            Some(i) => w.put(4, u64::from(i)),
            None => {
                w.put(4, 15);
                w.put(24, u64::from(self.sample_rate));
            }
        }
        w.put(4, u64::from(self.channels));
        w.put(3, 0); // frameLengthFlag, dependsOnCoreCoder, extensionFlag
        Bytes::from(w.finish())
    }
}

// === impl AdtsHeader ===

impl AdtsHeader {
    /// Parses the ADTS header at the start of `data`; `offset` is only used in errors.
    pub fn parse(data: &[u8], offset: usize) -> Result<Self> {
        if data.len() < ADTS_HEADER_LEN {
            return Err(Error::Truncated {
                offset,
                needed: ADTS_HEADER_LEN,
                available: data.len(),
            });
        }
        let mut r = BitReader::new(data);
        if r.u32(12)? != 0xfff {
            return Err(Error::BadSync { offset });
        }
        r.skip(3)?; // id, layer
        let protection_absent = r.bit()?;
        let object_type = r.u8(2)? + 1;
        let index = r.u8(4)?;
        let sample_rate = *SAMPLE_RATES
            .get(usize::from(index))
            .ok_or(Error::BadFrequencyIndex(index))?;
        r.skip(1)?;
        let channels = r.u8(3)?;
        r.skip(4)?;
        let frame_len = r.u32(13)? as usize;
        let header_len = if protection_absent { 7 } else { 9 };
        if frame_len < header_len {
            return Err(Error::BadLength {
                offset,
                length: frame_len,
            });
        }
        Ok(Self {
            config: AudioSpecificConfig {
                object_type,
                sample_rate,
                channels,
            },
            header_len,
            frame_len,
        })
    }

    /// Writes a 7-byte ADTS header (no CRC) for a raw frame of `payload_len` bytes.
    pub fn write(config: &AudioSpecificConfig, payload_len: usize, out: &mut impl BufMut) {
        let frame_len = (payload_len + ADTS_HEADER_LEN).min(0x1fff) as u64;
        let mut w = BitWriter::new();
        w.put(12, 0xfff);
        w.put(1, 0); // MPEG-4
        w.put(2, 0); // layer
        w.put(1, 1); // protection absent
        w.put(2, u64::from(config.object_type.clamp(1, 4) - 1));
        w.put(4, u64::from(config.frequency_index().unwrap_or(4)));
        w.put(1, 0);
        w.put(3, u64::from(config.channels & 7));
        w.put(4, 0);
        w.put(13, frame_len);
        w.put(11, 0x7ff); // buffer fullness: variable rate
        w.put(2, 0); // one raw data block
        out.put_slice(&w.finish());
    }
}
