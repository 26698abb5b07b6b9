//! HLS playlists (RFC 8216 and its LL-HLS revision): parsing media and
//! multivariant playlists for HLS pull, and writing them back; and live
//! packaging: [`cutter`] decides where a live stream's segments and LL-HLS
//! parts start and end, [`segmenter`] packages them (CMAF or MPEG-TS), [`live_playlist`] writes their playlists, [`request`]
//! reads the delivery directives of a playlist request.
//!
//! [`parse`] (or [`parse_bytes`]) reads a playlist's text into a
//! [`Playlist`]: a [`MediaPlaylist`] (segments) or a
//! [`MultivariantPlaylist`] (variants and renditions). `Display` writes
//! either back; writing then parsing gives the same model.
//!
//! # What is read
//! - **Basic tags** (§4.3.1): `#EXTM3U` must be the first line (a UTF-8 BOM
//!   before it is tolerated); `EXT-X-VERSION`.
//! - **Media segment tags** (§4.3.2): `EXTINF` (duration exact to the
//!   microsecond, and title), `EXT-X-BYTERANGE` (a missing offset continues
//!   the previous segment's range of the same URI), `EXT-X-DISCONTINUITY`,
//!   `EXT-X-KEY` (only `METHOD=NONE`; encrypted playlists are refused with
//!   [`Error::Encrypted`]), `EXT-X-MAP` (`URI`, `BYTERANGE`; applies to every
//!   later segment), `EXT-X-PROGRAM-DATE-TIME` (kept as written),
//!   `EXT-X-GAP` (RFC 8216bis §4.4.4.7).
//! - **Media playlist tags** (§4.3.3): `EXT-X-TARGETDURATION` (required),
//!   `EXT-X-MEDIA-SEQUENCE`, `EXT-X-DISCONTINUITY-SEQUENCE`, `EXT-X-ENDLIST`,
//!   `EXT-X-PLAYLIST-TYPE`, `EXT-X-I-FRAMES-ONLY`, and from LL-HLS
//!   `EXT-X-SERVER-CONTROL` and `EXT-X-PART-INF`.
//! - **Multivariant playlist tags** (§4.3.4): `EXT-X-STREAM-INF`
//!   (`BANDWIDTH` required, `AVERAGE-BANDWIDTH`, `RESOLUTION`, `CODECS`,
//!   `AUDIO`, `VIDEO`) with the URI line after it, and `EXT-X-MEDIA`.
//! - `EXT-X-INDEPENDENT-SEGMENTS` (§4.3.5) in both kinds.
//!
//! Skipped: LL-HLS parts and hints (`EXT-X-PART`, `EXT-X-PRELOAD-HINT`,
//! `EXT-X-RENDITION-REPORT`, `EXT-X-SKIP`), `EXT-X-I-FRAME-STREAM-INF`,
//! `EXT-X-SESSION-*`, `EXT-X-DATERANGE`, `EXT-X-START`, `EXT-X-BITRATE`,
//! every unknown tag (§6.3.1: clients ignore them) and comments. A playlist
//! is multivariant when its first kind-specific tag is a variant or rendition
//! tag, a media playlist otherwise; a tag of the other kind is an
//! [`Error::WrongKind`].
//!
//! # Limits
//! The text is at most [`MAX_PLAYLIST_SIZE`] bytes in at most [`MAX_LINES`]
//! lines of at most [`MAX_LINE_LENGTH`] bytes; attribute lists hold at most
//! [`attr::MAX_ATTRIBUTES`] attributes. Every error names its 1-based line.
//!
//! URIs are kept as written; [`resolve`] makes them absolute against the
//! playlist's URL.
//!
//! ```
//! let text = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:7\n#EXTINF:2.0,\nseg7.ts\n";
//! let media::hls::Playlist::Media(p) = media::hls::parse(text).unwrap() else { panic!() };
//! assert_eq!(p.segments[0].sequence, 7);
//! assert_eq!(p.segments[0].uri, "seg7.ts");
//! assert!(p.is_live());
//! ```

pub mod attr;
pub mod cutter;
pub mod live_playlist;
mod media_playlist;
mod multivariant;
pub mod request;
pub mod segmenter;
mod uri;

use std::fmt;
use std::time::Duration;

pub use uri::resolve;

/// Largest playlist accepted (4 MiB: about 40,000 segments with long URIs).
pub const MAX_PLAYLIST_SIZE: usize = 4 * 1024 * 1024;
/// Most lines accepted in one playlist.
pub const MAX_LINES: usize = 200_000;
/// Longest line accepted, in bytes (URIs with signed tokens run to a few KiB).
pub const MAX_LINE_LENGTH: usize = 16 * 1024;

/// Errors of playlist parsing. Every message names the 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// More than [`MAX_PLAYLIST_SIZE`] bytes.
    #[error("playlist is {size} bytes, more than the {MAX_PLAYLIST_SIZE} accepted")]
    TooLarge {
        /// Size of the input.
        size: usize,
    },
    /// The bytes are not UTF-8 (§4.1).
    #[error("line {line}: playlist is not utf-8 text (byte offset {offset})")]
    NotUtf8 {
        /// Line of the first bad byte.
        line: usize,
        /// Byte offset of the first bad byte.
        offset: usize,
    },
    /// More than [`MAX_LINES`] lines.
    #[error("line {line}: more than {MAX_LINES} lines")]
    TooManyLines {
        /// The first line over the limit.
        line: usize,
    },
    /// A line of more than [`MAX_LINE_LENGTH`] bytes.
    #[error("line {line}: {len} bytes, longer than the {MAX_LINE_LENGTH} accepted")]
    LineTooLong {
        /// The line.
        line: usize,
        /// Its length.
        len: usize,
    },
    /// The first line is not `#EXTM3U` (§4.3.1.1).
    #[error("line 1: not a playlist (the first line is not #EXTM3U)")]
    NotAPlaylist,
    /// A tag's value or attributes are malformed.
    #[error("line {line}: {tag}: {reason}")]
    BadTag {
        /// The line.
        line: usize,
        /// The tag name, e.g. `EXTINF`.
        tag: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// A tag of the other kind of playlist (§4.1: a playlist is one or the other).
    #[error("line {line}: {tag} cannot appear in a {kind} playlist")]
    WrongKind {
        /// The line.
        line: usize,
        /// The tag name.
        tag: &'static str,
        /// `media` or `multivariant`.
        kind: &'static str,
    },
    /// A URI line where none may be: without `EXTINF` before it (media
    /// playlist, §4.3.2.1) or `EXT-X-STREAM-INF` (multivariant, §4.3.4.2).
    #[error("line {line}: uri {uri:?} without {expected} before it")]
    UnexpectedUri {
        /// The line.
        line: usize,
        /// The start of the URI.
        uri: String,
        /// The tag that should have come first.
        expected: &'static str,
    },
    /// A tag that needs a URI line after it is the last thing in the playlist.
    #[error("line {line}: {tag} is not followed by a uri")]
    MissingUri {
        /// The tag's line.
        line: usize,
        /// The tag name.
        tag: &'static str,
    },
    /// A required tag is absent.
    #[error("line {line}: end of playlist without {tag}")]
    MissingTag {
        /// The last line.
        line: usize,
        /// The tag name.
        tag: &'static str,
    },
    /// Segments are encrypted (§4.3.2.4); decryption is not supported.
    #[error("line {line}: encrypted segments (EXT-X-KEY METHOD={method}) are not supported")]
    Encrypted {
        /// The line of the `EXT-X-KEY` tag.
        line: usize,
        /// The method, e.g. `AES-128`.
        method: String,
    },
}

/// Result of playlist parsing.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A playlist of either kind (§4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playlist {
    /// Segments of one rendition.
    Media(MediaPlaylist),
    /// Variant streams pointing at media playlists.
    Multivariant(MultivariantPlaylist),
}

/// A media playlist (§4.3.3): its segments in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaPlaylist {
    /// `EXT-X-VERSION`.
    pub version: Option<u32>,
    /// `EXT-X-TARGETDURATION`: whole seconds, at least every segment's
    /// rounded duration.
    pub target_duration: Duration,
    /// `EXT-X-MEDIA-SEQUENCE`: the sequence number of the first segment (0 if absent).
    pub media_sequence: u64,
    /// `EXT-X-DISCONTINUITY-SEQUENCE` (0 if absent).
    pub discontinuity_sequence: u64,
    /// `EXT-X-PLAYLIST-TYPE`.
    pub playlist_type: Option<PlaylistType>,
    /// `EXT-X-ENDLIST`: no segment will be added.
    pub end_list: bool,
    /// `EXT-X-INDEPENDENT-SEGMENTS`.
    pub independent_segments: bool,
    /// `EXT-X-I-FRAMES-ONLY`: each segment is one intra frame.
    pub i_frames_only: bool,
    /// `EXT-X-SERVER-CONTROL` (LL-HLS).
    pub server_control: Option<ServerControl>,
    /// `EXT-X-PART-INF:PART-TARGET` (LL-HLS).
    pub part_target: Option<Duration>,
    /// The segments, oldest first.
    pub segments: Vec<Segment>,
}

/// `EXT-X-PLAYLIST-TYPE` (§4.3.3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaylistType {
    /// Segments are only added at the end.
    Event,
    /// The playlist never changes.
    Vod,
}

/// `EXT-X-SERVER-CONTROL` (RFC 8216bis §4.4.3.8).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerControl {
    /// `CAN-SKIP-UNTIL`: delta updates are offered.
    pub can_skip_until: Option<Duration>,
    /// `CAN-SKIP-DATERANGES=YES`.
    pub can_skip_dateranges: bool,
    /// `HOLD-BACK`: how far from the end a player should start.
    pub hold_back: Option<Duration>,
    /// `PART-HOLD-BACK`: the same in low-latency mode.
    pub part_hold_back: Option<Duration>,
    /// `CAN-BLOCK-RELOAD=YES`: blocking playlist reload is offered.
    pub can_block_reload: bool,
}

/// One media segment (§3) with the tags that apply to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Media sequence number: `EXT-X-MEDIA-SEQUENCE` plus its index.
    pub sequence: u64,
    /// `EXTINF` duration.
    pub duration: Duration,
    /// `EXTINF` title (the text after the comma; empty if none).
    pub title: String,
    /// The URI line, as written.
    pub uri: String,
    /// `EXT-X-DISCONTINUITY` before this segment.
    pub discontinuity: bool,
    /// `EXT-X-BYTERANGE`: the segment is a sub-range of its URI.
    pub byte_range: Option<ByteRange>,
    /// The `EXT-X-MAP` in force (media initialization section).
    pub map: Option<Map>,
    /// `EXT-X-PROGRAM-DATE-TIME`, as written (ISO 8601).
    pub program_date_time: Option<String>,
    /// `EXT-X-GAP`: the segment is missing and must not be loaded.
    pub gap: bool,
}

/// A byte range of a resource (§4.3.2.2), with its offset made explicit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// Number of bytes.
    pub length: u64,
    /// First byte.
    pub offset: u64,
}

/// `EXT-X-MAP` (§4.3.2.5): where the initialization section is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Map {
    /// `URI`, as written.
    pub uri: String,
    /// `BYTERANGE` (a missing offset is 0).
    pub byte_range: Option<ByteRange>,
}

/// A multivariant playlist (§4.3.4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MultivariantPlaylist {
    /// `EXT-X-VERSION`.
    pub version: Option<u32>,
    /// `EXT-X-INDEPENDENT-SEGMENTS`.
    pub independent_segments: bool,
    /// `EXT-X-STREAM-INF` entries, in order.
    pub variants: Vec<Variant>,
    /// `EXT-X-MEDIA` entries, in order.
    pub renditions: Vec<Rendition>,
}

/// One variant stream (`EXT-X-STREAM-INF` + URI, §4.3.4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    /// The media playlist URI, as written.
    pub uri: String,
    /// `BANDWIDTH`: peak bits per second.
    pub bandwidth: u64,
    /// `AVERAGE-BANDWIDTH`.
    pub average_bandwidth: Option<u64>,
    /// `RESOLUTION` (width, height).
    pub resolution: Option<(u32, u32)>,
    /// `CODECS`, e.g. `avc1.64001f,mp4a.40.2`.
    pub codecs: Option<String>,
    /// `AUDIO` rendition group.
    pub audio: Option<String>,
    /// `VIDEO` rendition group.
    pub video: Option<String>,
}

/// One rendition (`EXT-X-MEDIA`, §4.3.4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendition {
    /// `TYPE`.
    pub media_type: MediaType,
    /// `GROUP-ID`.
    pub group_id: String,
    /// `NAME`.
    pub name: String,
    /// `URI` (absent: carried in the variant's own segments).
    pub uri: Option<String>,
    /// `LANGUAGE`.
    pub language: Option<String>,
    /// `DEFAULT=YES`.
    pub default: bool,
    /// `AUTOSELECT=YES`.
    pub autoselect: bool,
    /// `CHANNELS`.
    pub channels: Option<String>,
}

/// `EXT-X-MEDIA:TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    /// `AUDIO`.
    Audio,
    /// `VIDEO`.
    Video,
    /// `SUBTITLES`.
    Subtitles,
    /// `CLOSED-CAPTIONS`.
    ClosedCaptions,
}

/// Parses a playlist from bytes: checks the size and UTF-8, then [`parse`].
pub fn parse_bytes(data: &[u8]) -> Result<Playlist> {
    if data.len() > MAX_PLAYLIST_SIZE {
        return Err(Error::TooLarge { size: data.len() });
    }
    match std::str::from_utf8(data) {
        Ok(text) => parse(text),
        Err(e) => {
            let offset = e.valid_up_to();
            let line = 1 + data
                .get(..offset)
                .unwrap_or(&[])
                .iter()
                .filter(|b| **b == b'\n')
                .count();
            Err(Error::NotUtf8 { line, offset })
        }
    }
}

/// Parses a playlist of either kind.
pub fn parse(text: &str) -> Result<Playlist> {
    let lines = lines(text)?;
    match lines.first() {
        Some((_, first)) if first.trim_end() == "#EXTM3U" => {}
        _ => return Err(Error::NotAPlaylist),
    }
    let body = lines.get(1..).unwrap_or(&[]);
    if is_multivariant(body) {
        multivariant::parse(body, lines.len()).map(Playlist::Multivariant)
    } else {
        media_playlist::parse(body, lines.len()).map(Playlist::Media)
    }
}

/// Splits into `(1-based number, line)` on LF or CRLF, checking the limits
/// and dropping a leading byte order mark.
fn lines(text: &str) -> Result<Vec<(usize, &str)>> {
    if text.len() > MAX_PLAYLIST_SIZE {
        return Err(Error::TooLarge { size: text.len() });
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        let n = i + 1;
        if n > MAX_LINES {
            return Err(Error::TooManyLines { line: n });
        }
        if line.len() > MAX_LINE_LENGTH {
            return Err(Error::LineTooLong {
                line: n,
                len: line.len(),
            });
        }
        out.push((n, line.strip_suffix('\r').unwrap_or(line)));
    }
    Ok(out)
}

/// True when the first kind-specific tag belongs to a multivariant playlist.
fn is_multivariant(lines: &[(usize, &str)]) -> bool {
    for (_, line) in lines {
        let tag = tag_name(line);
        if multivariant::TAGS.contains(&tag) {
            return true;
        }
        if media_playlist::TAGS.contains(&tag) {
            return false;
        }
    }
    false
}

/// The tag of a line (`EXTINF` for `#EXTINF:4,`), or "" for other lines.
fn tag_name(line: &str) -> &str {
    match line.strip_prefix('#') {
        Some(t) if t.starts_with("EXT") => t.split(':').next().unwrap_or(t).trim_end(),
        _ => "",
    }
}

// === impl Playlist ===

impl fmt::Display for Playlist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Media(p) => p.fmt(f),
            Self::Multivariant(p) => p.fmt(f),
        }
    }
}

// === impl MediaPlaylist ===

impl MediaPlaylist {
    /// True when segments may still be added: no `EXT-X-ENDLIST` and not a VOD playlist.
    pub fn is_live(&self) -> bool {
        !self.end_list && self.playlist_type != Some(PlaylistType::Vod)
    }

    /// Sum of the segment durations.
    pub fn duration(&self) -> Duration {
        self.segments.iter().map(|s| s.duration).sum()
    }

    /// The sequence number the next new segment will have.
    pub fn next_sequence(&self) -> u64 {
        self.media_sequence.saturating_add(self.segments.len() as u64)
    }
}

// === impl MultivariantPlaylist ===

impl MultivariantPlaylist {
    /// The variant with the highest `BANDWIDTH` (the first of equals).
    pub fn best_variant(&self) -> Option<&Variant> {
        self.variants
            .iter()
            .reduce(|best, v| if v.bandwidth > best.bandwidth { v } else { best })
    }
}

// === impl MediaType ===

impl MediaType {
    /// The enumerated-string of `TYPE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Audio => "AUDIO",
            Self::Video => "VIDEO",
            Self::Subtitles => "SUBTITLES",
            Self::ClosedCaptions => "CLOSED-CAPTIONS",
        }
    }
}

#[cfg(test)]
mod tests;
