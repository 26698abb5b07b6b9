//! Local sources: video-on-demand files and SDP files.

use std::fmt::{self, Write};

use super::SourceError;
use super::url::{self, Param};

/// A file played as a live stream, in real time.
///
/// Looping is a query flag on the path: `/media/clip.mp4?loop` (also
/// `loop=1|true|yes`, and `loop=0|false|no` to say it explicitly off). Only
/// the part before the first `?` counts as the path when it already ends in a
/// known extension, so a file whose name contains `?` after such an extension
/// cannot be named; `file://` before the path is accepted and dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSource {
    /// The path as written (relative paths are the node's business).
    pub path: String,
    /// The container, from the extension.
    pub format: FileFormat,
    /// Start again from the beginning at the end of the file.
    pub looping: bool,
}

/// Containers a file source can be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileFormat {
    /// MPEG transport stream (`.ts`).
    Ts,
    /// Flash video (`.flv`).
    Flv,
    /// ISO BMFF (`.mp4`).
    Mp4,
    /// AAC in ADTS frames (`.aac`).
    Aac,
}

/// `sdp:PATH`: RTP streams described by an SDP file (no RTSP/SIP handshake).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SdpSource {
    /// Path of the SDP file, as written after `sdp:`.
    pub path: String,
}

// === impl FileSource ===

impl FileSource {
    /// Parses a path (what follows `file://` when `offset` > 0).
    pub(crate) fn parse(s: &str, offset: usize) -> Result<Self, SourceError> {
        const S: &str = "file";
        let (path, query) = match s.split_once('?') {
            Some((p, q)) if FileFormat::of(p).is_some() => (p, Some(q)),
            _ => (s, None),
        };
        let format = FileFormat::of(path).ok_or(SourceError::UnknownFile)?;
        if path.contains('\0') {
            return Err(SourceError::Invalid {
                scheme: S,
                reason: "NUL character in the path".into(),
            });
        }
        let mut looping = None;
        let params = query.map_or(Ok(Vec::new()), |q| {
            url::parse_query(S, q, offset + path.len() + 1)
        })?;
        for Param { key, value } in params {
            if key != "loop" {
                return Err(SourceError::UnknownParam {
                    scheme: S,
                    param: key.into(),
                });
            }
            let on = match value.as_deref().map(str::to_ascii_lowercase).as_deref() {
                None | Some("" | "1" | "true" | "yes") => true,
                Some("0" | "false" | "no") => false,
                Some(_) => {
                    let reason = "expected nothing, 1, true, yes, 0, false or no".into();
                    return Err(SourceError::InvalidParam {
                        scheme: S,
                        param: key.into(),
                        reason,
                    });
                }
            };
            if looping.replace(on).is_some() {
                return Err(SourceError::DuplicateParam {
                    scheme: S,
                    param: key.into(),
                });
            }
        }
        Ok(Self {
            path: path.to_owned(),
            format,
            looping: looping.unwrap_or(false),
        })
    }

    pub(crate) fn write(&self, f: &mut impl Write) -> fmt::Result {
        // A path that would read as another source (`sdp:x.ts`, `srt://h:1/x.ts`,
        // only reachable through `file://`) keeps its `file://`.
        let (head, _) = self.path.split_once('?').unwrap_or((&self.path, ""));
        let looks_like_url = self.path.starts_with("sdp:")
            || head
                .split_once("://")
                .is_some_and(|(scheme, _)| super::is_scheme(scheme));
        if looks_like_url {
            f.write_str("file://")?;
        }
        f.write_str(&self.path)?;
        if self.looping {
            f.write_str("?loop")?;
        }
        Ok(())
    }
}

// === impl FileFormat ===

impl FileFormat {
    /// The format of a path from its extension (ASCII case ignored).
    pub fn of(path: &str) -> Option<Self> {
        let (stem, ext) = path.rsplit_once('.')?;
        if stem.is_empty() || stem.ends_with('/') {
            return None;
        }
        match ext.to_ascii_lowercase().as_str() {
            "ts" => Some(Self::Ts),
            "flv" => Some(Self::Flv),
            "mp4" => Some(Self::Mp4),
            "aac" => Some(Self::Aac),
            _ => None,
        }
    }
}

// === impl SdpSource ===

impl SdpSource {
    pub(crate) fn parse(path: &str) -> Result<Self, SourceError> {
        const S: &str = "sdp";
        if path.is_empty() {
            return Err(SourceError::Invalid {
                scheme: S,
                reason: "no path after sdp:".into(),
            });
        }
        if path.contains('\0') {
            return Err(SourceError::Invalid {
                scheme: S,
                reason: "NUL character in the path".into(),
            });
        }
        Ok(Self {
            path: path.to_owned(),
        })
    }
}
