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

/// Largest ADTS frame (13-bit `frame_length`, header included).
pub const MAX_ADTS_FRAME_LEN: usize = 0x1fff;

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
    /// A configuration or frame that an ADTS header cannot describe.
    #[error("cannot write adts: {0}")]
    Unrepresentable(String),
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

/// A parsed ADTS header (ISO/IEC 14496-3 §1.A.2.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdtsHeader {
    /// The stream's configuration.
    pub config: AudioSpecificConfig,
    /// Header length: 7, or 9 with CRC.
    pub header_len: usize,
    /// Whole frame length including the header.
    pub frame_len: usize,
    /// Raw data blocks (access units) in the frame:
    /// `number_of_raw_data_blocks_in_frame + 1`, normally 1.
    pub raw_data_blocks: u8,
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
    ///
    /// Not every value is representable: object type 31 is the escape code
    /// (written as 32), types above 95, more than 15 channels and explicit
    /// rates of 2^24 Hz or more are cut to their field widths.
    pub fn encode(&self) -> Bytes {
        let mut w = BitWriter::new();
        if self.object_type >= 31 {
            w.put(5, 31);
            w.put(6, u64::from(self.object_type.saturating_sub(32)));
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
        r.skip(1)?; // id: MPEG-4 or MPEG-2
        if r.u8(2)? != 0 {
            // layer is always 0 for AAC; anything else is an MPEG audio (mp3) header
            return Err(Error::BadSync { offset });
        }
        let protection_absent = r.bit()?;
        let object_type = r.u8(2)? + 1;
        let index = r.u8(4)?;
        let sample_rate = *SAMPLE_RATES
            .get(usize::from(index))
            .ok_or(Error::BadFrequencyIndex(index))?;
        r.skip(1)?;
        let channels = r.u8(3)?;
        r.skip(4)?; // original_copy, home, copyright id bit and start
        let frame_len = r.u32(13)? as usize;
        r.skip(11)?; // adts_buffer_fullness
        let raw_data_blocks = r.u8(2)? + 1;
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
            raw_data_blocks,
        })
    }

    /// Writes a 7-byte ADTS header (no CRC, one raw data block, buffer
    /// fullness 0x7ff as ffmpeg writes it) for a raw frame of `payload_len` bytes.
    ///
    /// ADTS cannot carry every configuration: callers check
    /// [`AdtsHeader::check_representable`] first, otherwise object types
    /// outside 1..=4 are clamped, rates outside the table become 44100 Hz,
    /// channels are cut to 3 bits and lengths to 13 bits.
    pub fn write(config: &AudioSpecificConfig, payload_len: usize, out: &mut impl BufMut) {
        let frame_len = payload_len
            .saturating_add(ADTS_HEADER_LEN)
            .min(MAX_ADTS_FRAME_LEN) as u64;
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

    /// Checks that `config` and a raw frame of `payload_len` bytes fit an ADTS
    /// header: object type 1 to 4, a table sampling rate, at most 7
    /// channels, and a frame of at most [`MAX_ADTS_FRAME_LEN`] bytes.
    pub fn check_representable(config: &AudioSpecificConfig, payload_len: usize) -> Result<()> {
        let fail = |why: String| Err(Error::Unrepresentable(why));
        if !(1..=4).contains(&config.object_type) {
            return fail(format!(
                "audio object type {} has no adts profile",
                config.object_type
            ));
        }
        if config.frequency_index().is_none() {
            return fail(format!(
                "sample rate {} has no adts frequency index",
                config.sample_rate
            ));
        }
        if config.channels > 7 {
            return fail(format!("{} channels do not fit adts", config.channels));
        }
        if payload_len.saturating_add(ADTS_HEADER_LEN) > MAX_ADTS_FRAME_LEN {
            return fail(format!(
                "frame of {payload_len} bytes exceeds the adts maximum of {}",
                MAX_ADTS_FRAME_LEN - ADTS_HEADER_LEN
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
