//! Raw AAC files: a sequence of ADTS frames (ISO/IEC 14496-3 §1.A.2).
//!
//! Demuxing gives one AAC track (id [`TRACK_ID`], timescale = sample rate,
//! `init` = the AudioSpecificConfig built from the first header) and one
//! frame per ADTS frame, with the header and CRC stripped and timestamps
//! counting [`SAMPLES_PER_FRAME`] per frame. An ID3v2 tag before the first
//! frame and ID3v1/ID3v2 tags between frames (as some recorders append) are
//! skipped.
//!
//! [`Reader`] is the incremental form for live input: push bytes, poll
//! [`Event`]s. [`read_all`] and [`write_all`] handle whole files.

use bytes::{Buf, BufMut, BytesMut};

use crate::aac::{self, ADTS_HEADER_LEN, AdtsHeader, AudioSpecificConfig, SAMPLES_PER_FRAME};
use crate::container::Demuxed;
use crate::{AudioInfo, Codec, Frame, Timestamp, Track};

/// Track id of the single track of an ADTS stream.
pub const TRACK_ID: u32 = 1;

/// Length of an ID3v2 header (and footer), ID3v2.4 §3.1.
const ID3V2_HEADER_LEN: usize = 10;
/// Length of an ID3v1 tag.
const ID3V1_LEN: usize = 128;

/// Errors of ADTS reading and writing. Reading errors name the byte offset
/// in the stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Neither an ADTS frame nor a tag starts where one must.
    #[error("no adts sync word at byte {offset}")]
    NoSync {
        /// Stream offset of the unexpected bytes.
        offset: u64,
    },
    /// The stream ends inside a frame or tag.
    #[error("truncated {what} at byte {offset}: needs {needed} bytes, {available} available")]
    Truncated {
        /// "adts frame" or "id3 tag".
        what: &'static str,
        /// Stream offset of the frame or tag.
        offset: u64,
        /// Bytes it needs.
        needed: u64,
        /// Bytes present.
        available: u64,
    },
    /// An ADTS frame length shorter than its own header.
    #[error("adts frame length {length} at byte {offset} is shorter than its header")]
    BadLength {
        /// Stream offset of the frame.
        offset: u64,
        /// The announced `frame_length`.
        length: usize,
    },
    /// An ADTS header with an invalid field.
    #[error("bad adts header at byte {offset}: {source}")]
    BadHeader {
        /// Stream offset of the frame.
        offset: u64,
        /// What was wrong.
        source: aac::Error,
    },
    /// An ID3v2 tag whose size is not a syncsafe integer.
    #[error("bad id3v2 tag size at byte {offset}")]
    BadTag {
        /// Stream offset of the tag.
        offset: u64,
    },
    /// A frame with several raw data blocks, whose boundaries only a decoder finds.
    #[error("adts frame at byte {offset} holds {blocks} raw data blocks; only 1 is supported")]
    MultipleBlocks {
        /// Stream offset of the frame.
        offset: u64,
        /// `number_of_raw_data_blocks_in_frame + 1`.
        blocks: u8,
    },
    /// A frame whose object type, rate or channels differ from the first frame's.
    #[error("adts frame at byte {offset} changes the stream configuration from {from:?} to {to:?}")]
    ConfigChange {
        /// Stream offset of the frame.
        offset: u64,
        /// The configuration of the first frame.
        from: AudioSpecificConfig,
        /// The new configuration.
        to: AudioSpecificConfig,
    },
    /// The input holds no ADTS frame.
    #[error("no adts frames in {0} bytes")]
    NoFrames(u64),
    /// [`write_all`] was given no AAC track.
    #[error("no aac track to write")]
    NoAacTrack,
    /// The AAC track's `init` is not a usable AudioSpecificConfig.
    #[error("aac track config: {0}")]
    BadConfig(aac::Error),
    /// A frame that does not fit an ADTS frame.
    #[error("aac frame {index}: {source}")]
    BadFrame {
        /// Index of the frame among the AAC track's frames.
        index: usize,
        /// What was wrong.
        source: aac::Error,
    },
}

/// Result of ADTS reading and writing.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a [`Reader`] produces.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The stream's track, once, before its first frame.
    Track(Track),
    /// One access unit of track [`TRACK_ID`].
    Frame(Frame),
}

/// Incremental ADTS reader for live input: [`Reader::push`] bytes as they
/// arrive, then call [`Reader::poll`] until it returns `Ok(None)`.
///
/// Bytes are consumed only once a whole frame (or tag) is present; frames are
/// at most 8191 bytes, so the buffer stays small when polled after each push.
/// After an error, [`Reader::poll`] keeps failing until [`Reader::resync`]
/// skips ahead to the next sync word.
#[derive(Debug, Default)]
pub struct Reader {
    buf: BytesMut,
    /// Stream offset of `buf[0]`.
    offset: u64,
    /// Bytes of a tag still to be skipped (they may not have arrived yet).
    skip: u64,
    /// Stream offset of the tag being skipped, for errors.
    skip_start: u64,
    config: Option<AudioSpecificConfig>,
    track: Option<Track>,
    frames: u64,
}

// === impl Reader ===

impl Reader {
    /// A reader at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Stream offset of the first byte not consumed yet.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The track, once the first frame header has been seen.
    pub fn track(&self) -> Option<&Track> {
        self.track.as_ref()
    }

    /// Number of frames returned so far.
    pub fn frame_count(&self) -> u64 {
        self.frames
    }

    /// The next event, or `Ok(None)` when more bytes are needed.
    pub fn poll(&mut self) -> Result<Option<Event>> {
        loop {
            if self.skip > 0 {
                let n = self.skip.min(self.buf.len() as u64);
                self.consume(n as usize);
                self.skip -= n;
                if self.skip > 0 {
                    return Ok(None);
                }
            }
            match self.buf.first() {
                None => return Ok(None),
                Some(0xff) => return self.poll_frame(),
                Some(_) => {
                    if !self.poll_tag()? {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Checks that the stream ended on a frame boundary: an error names the
    /// frame or tag that is cut off.
    pub fn finish(&self) -> Result<()> {
        if self.skip > 0 {
            return Err(Error::Truncated {
                what: "id3 tag",
                offset: self.skip_start,
                needed: self.offset - self.skip_start + self.skip,
                available: self.offset - self.skip_start,
            });
        }
        if self.buf.is_empty() {
            return Ok(());
        }
        let available = self.buf.len() as u64;
        let (what, needed) = if self.buf[0] == 0xff {
            let needed = AdtsHeader::parse(&self.buf, 0).map_or(ADTS_HEADER_LEN, |h| h.frame_len);
            ("adts frame", needed as u64)
        } else if b"TAG".starts_with(&self.buf[..self.buf.len().min(3)]) {
            ("id3 tag", ID3V1_LEN as u64)
        } else if b"ID3".starts_with(&self.buf[..self.buf.len().min(3)]) {
            ("id3 tag", ID3V2_HEADER_LEN as u64)
        } else {
            return Err(Error::NoSync { offset: self.offset });
        };
        Err(Error::Truncated {
            what,
            offset: self.offset,
            needed,
            available,
        })
    }

    /// Skips to the next possible ADTS sync word (at least one byte), for
    /// recovery after an error; returns the number of bytes dropped.
    pub fn resync(&mut self) -> u64 {
        let found = (1..self.buf.len())
            .find(|&i| self.buf[i] == 0xff && self.buf.get(i + 1).is_none_or(|b| b & 0xf6 == 0xf0));
        let n = found.unwrap_or(self.buf.len());
        self.consume(n);
        n as u64
    }

    fn consume(&mut self, n: usize) {
        self.buf.advance(n);
        self.offset += n as u64;
    }

    /// Handles a tag at the front of the buffer: returns false when more
    /// bytes are needed to tell or to skip it.
    fn poll_tag(&mut self) -> Result<bool> {
        let offset = self.offset;
        let prefix_of = |tag: &[u8]| tag.starts_with(&self.buf);
        if self.buf.len() < 3 && (prefix_of(b"ID3") || prefix_of(b"TAG")) {
            return Ok(false);
        }
        if self.buf.starts_with(b"TAG") {
            // ID3v1: a fixed 128-byte tag, normally at the very end
            self.skip = ID3V1_LEN as u64;
        } else if self.buf.starts_with(b"ID3") {
            let Some(header) = self.buf.get(..ID3V2_HEADER_LEN) else {
                return Ok(false);
            };
            if header[6..].iter().any(|b| b & 0x80 != 0) {
                return Err(Error::BadTag { offset });
            }
            let size = header[6..].iter().fold(0u64, |a, b| (a << 7) | u64::from(*b));
            let footer = if header[5] & 0x10 != 0 {
                ID3V2_HEADER_LEN
            } else {
                0
            };
            self.skip = (ID3V2_HEADER_LEN + footer) as u64 + size;
        } else {
            return Err(Error::NoSync { offset });
        }
        self.skip_start = offset;
        Ok(true)
    }

    fn poll_frame(&mut self) -> Result<Option<Event>> {
        let offset = self.offset;
        if self.buf.len() < ADTS_HEADER_LEN {
            return Ok(None);
        }
        let header = AdtsHeader::parse(&self.buf, 0).map_err(|e| match e {
            aac::Error::BadSync { .. } => Error::NoSync { offset },
            aac::Error::BadLength { length, .. } => Error::BadLength { offset, length },
            source => Error::BadHeader { offset, source },
        })?;
        if header.raw_data_blocks != 1 {
            return Err(Error::MultipleBlocks {
                offset,
                blocks: header.raw_data_blocks,
            });
        }
        match self.config {
            None => {
                let config = header.config;
                let mut track = Track::new(TRACK_ID, Codec::Aac, config.sample_rate);
                track.init = config.encode();
                track.audio = Some(AudioInfo {
                    sample_rate: config.sample_rate,
                    channels: config.channels,
                });
                self.config = Some(config);
                self.track = Some(track.clone());
                return Ok(Some(Event::Track(track)));
            }
            Some(from) if from != header.config => {
                return Err(Error::ConfigChange {
                    offset,
                    from,
                    to: header.config,
                });
            }
            Some(_) => {}
        }
        if self.buf.len() < header.frame_len {
            return Ok(None);
        }
        let mut data = self.buf.split_to(header.frame_len).freeze();
        self.offset += header.frame_len as u64;
        data.advance(header.header_len);
        let rate = header.config.sample_rate;
        let ticks = i64::try_from(self.frames * u64::from(SAMPLES_PER_FRAME)).unwrap_or(i64::MAX);
        let ts = Timestamp::new(ticks, rate);
        self.frames += 1;
        Ok(Some(Event::Frame(Frame::new(TRACK_ID, ts, ts, true, data))))
    }
}

/// Demuxes a whole ADTS file: one track and its frames in file order.
pub fn read_all(data: &[u8]) -> Result<Demuxed, Error> {
    let mut reader = Reader::new();
    reader.push(data);
    let mut out = Demuxed::default();
    while let Some(event) = reader.poll()? {
        match event {
            Event::Track(t) => out.tracks.push(t),
            Event::Frame(f) => out.frames.push(f),
        }
    }
    reader.finish()?;
    if out.frames.is_empty() {
        return Err(Error::NoFrames(data.len() as u64));
    }
    Ok(out)
}

/// Writes one raw AAC frame as an ADTS frame (7-byte header, no CRC).
pub fn write_frame(
    config: &AudioSpecificConfig,
    payload: &[u8],
    out: &mut impl BufMut,
) -> Result<(), aac::Error> {
    AdtsHeader::check_representable(config, payload.len())?;
    AdtsHeader::write(config, payload.len(), out);
    out.put_slice(payload);
    Ok(())
}

/// Muxes the frames of the first AAC track in `tracks` into an ADTS file,
/// in the order given; frames of other tracks are ignored. ADTS carries no
/// timestamps, so gaps between frames are lost.
pub fn write_all(tracks: &[Track], frames: &[Frame]) -> Result<Vec<u8>, Error> {
    let track = tracks
        .iter()
        .find(|t| t.codec == Codec::Aac)
        .ok_or(Error::NoAacTrack)?;
    let config = AudioSpecificConfig::parse(&track.init).map_err(Error::BadConfig)?;
    AdtsHeader::check_representable(&config, 0).map_err(Error::BadConfig)?;
    let ours = frames.iter().filter(|f| f.track == track.id);
    let mut out = Vec::with_capacity(ours.clone().map(|f| f.data.len() + ADTS_HEADER_LEN).sum());
    for (index, frame) in ours.enumerate() {
        write_frame(&config, &frame.data, &mut out).map_err(|source| Error::BadFrame { index, source })?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
