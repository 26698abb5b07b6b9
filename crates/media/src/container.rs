//! Whole-file helpers over the container modules: format detection, and
//! demuxing or muxing a complete file in memory.

use crate::{Frame, Track};

/// A container format with a demuxer and a muxer in this crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// MPEG transport stream.
    Ts,
    /// Flash video.
    Flv,
    /// MP4 (read: progressive or fragmented; write: fragmented).
    Mp4,
    /// Raw AAC in ADTS frames.
    Adts,
}

/// The tracks and frames of a whole file, frames in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Demuxed {
    /// Tracks, in the order the container declares them.
    pub tracks: Vec<Track>,
    /// Frames, in file (decode) order.
    pub frames: Vec<Frame>,
}

/// Errors of whole-file demuxing and muxing, by container.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// MPEG-TS.
    #[error("mpeg-ts: {0}")]
    Ts(#[from] crate::ts::Error),
    /// FLV.
    #[error("flv: {0}")]
    Flv(#[from] crate::flv::Error),
    /// MP4 reading.
    #[error("mp4: {0}")]
    Mp4(#[from] crate::mp4::Error),
    /// Fragmented MP4 writing.
    #[error("fmp4: {0}")]
    Fmp4(#[from] crate::fmp4::Error),
    /// ADTS.
    #[error("adts: {0}")]
    Adts(#[from] crate::adts::Error),
}

// === impl Format ===

impl Format {
    /// Recognises a container from the first bytes of a file.
    pub fn detect(data: &[u8]) -> Option<Self> {
        let is_ts_at = |o: usize| data.get(o) == Some(&0x47);
        if data.starts_with(b"FLV") {
            return Some(Self::Flv);
        }
        if data.len() >= 8
            && matches!(
                &data[4..8],
                b"ftyp" | b"moov" | b"styp" | b"moof" | b"free" | b"mdat"
            )
        {
            return Some(Self::Mp4);
        }
        if is_ts_at(0) && (data.len() <= 188 || is_ts_at(188)) {
            return Some(Self::Ts);
        }
        if data.starts_with(b"ID3") || (data.len() >= 2 && data[0] == 0xff && data[1] & 0xf6 == 0xf0) {
            return Some(Self::Adts);
        }
        // a TS capture may start mid-packet: look for the sync byte repeating
        (1..188.min(data.len()))
            .any(|o| is_ts_at(o) && is_ts_at(o + 188) && is_ts_at(o + 376))
            .then_some(Self::Ts)
    }

    /// Usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Ts => "ts",
            Self::Flv => "flv",
            Self::Mp4 => "mp4",
            Self::Adts => "aac",
        }
    }
}

/// Demuxes a whole file of the given format.
pub fn demux(format: Format, data: &[u8]) -> Result<Demuxed, Error> {
    Ok(match format {
        Format::Ts => crate::ts::read_all(data)?,
        Format::Flv => crate::flv::read_all(data)?,
        Format::Mp4 => crate::mp4::read_all(data)?,
        Format::Adts => crate::adts::read_all(data)?,
    })
}

/// Muxes tracks and frames into a whole file of the given format (MP4 is
/// written fragmented).
pub fn mux(format: Format, tracks: &[Track], frames: &[Frame]) -> Result<Vec<u8>, Error> {
    Ok(match format {
        Format::Ts => crate::ts::write_all(tracks, frames)?,
        Format::Flv => crate::flv::write_all(tracks, frames)?,
        Format::Mp4 => crate::fmp4::write_all(tracks, frames)?,
        Format::Adts => crate::adts::write_all(tracks, frames)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn detects_by_magic() {
        let mut ts = vec![0u8; 376];
        ts[0] = 0x47;
        ts[188] = 0x47;
        assert_eq!(Format::detect(&ts), Some(Format::Ts));
        assert_eq!(Format::detect(b"FLV\x01\x05"), Some(Format::Flv));
        assert_eq!(Format::detect(b"\0\0\0\x20ftypisom"), Some(Format::Mp4));
        assert_eq!(Format::detect(&[0xff, 0xf1, 0x50, 0x80]), Some(Format::Adts));
        assert_eq!(Format::detect(b"hello world"), None);
        assert_eq!(Format::detect(b""), None);
    }

    proptest! {
        #[test]
        fn detect_and_demux_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
            if let Some(f) = Format::detect(&data) {
                let _ = demux(f, &data);
            }
            for f in [Format::Ts, Format::Flv, Format::Mp4, Format::Adts] {
                let _ = demux(f, &data);
            }
        }
    }
}
