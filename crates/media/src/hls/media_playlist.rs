//! Media playlists (RFC 8216 §4.3.2, §4.3.3): reading and writing.

use std::fmt;
use std::time::Duration;

use super::attr::{self, AttributeList, clip, decimal_integer};
use super::{ByteRange, Error, Map, MediaPlaylist, PlaylistType, Result, Segment, ServerControl};

/// Tags only a media playlist has (used to tell the kinds apart).
pub(super) const TAGS: &[&str] = &[
    "EXTINF",
    "EXT-X-TARGETDURATION",
    "EXT-X-MEDIA-SEQUENCE",
    "EXT-X-ENDLIST",
    "EXT-X-PLAYLIST-TYPE",
];

/// Segment tags seen since the last URI line.
#[derive(Default)]
struct Pending {
    /// Line, duration and title of `EXTINF`.
    inf: Option<(usize, Duration, String)>,
    discontinuity: bool,
    /// Line, length and offset of `EXT-X-BYTERANGE`.
    byte_range: Option<(usize, u64, Option<u64>)>,
    program_date_time: Option<String>,
    gap: bool,
}

/// Parses the lines after `#EXTM3U`; `total` is the number of lines.
pub(super) fn parse(lines: &[(usize, &str)], total: usize) -> Result<MediaPlaylist> {
    let mut p = MediaPlaylist::default();
    let mut target = None;
    let mut pending = Pending::default();
    let mut map: Option<Map> = None;
    // URI and end offset of the previous segment, when it was a byte range
    let mut last_range: Option<(String, u64)> = None;
    for &(line, text) in lines {
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        if !text.starts_with('#') {
            let Some((_, duration, title)) = pending.inf.take() else {
                return Err(Error::UnexpectedUri {
                    line,
                    uri: clip(text).to_owned(),
                    expected: "#EXTINF",
                });
            };
            let byte_range = match pending.byte_range.take() {
                None => None,
                Some((range_line, length, offset)) => {
                    let offset = match (offset, &last_range) {
                        (Some(o), _) => o,
                        (None, Some((uri, end))) if uri == text => *end,
                        (None, _) => {
                            return Err(bad(
                                range_line,
                                "EXT-X-BYTERANGE",
                                "no offset, and the previous segment is not a range of the same uri",
                            ));
                        }
                    };
                    let end = offset
                        .checked_add(length)
                        .ok_or_else(|| bad(range_line, "EXT-X-BYTERANGE", "range ends past 2^64"))?;
                    last_range = Some((text.to_owned(), end));
                    Some(ByteRange { length, offset })
                }
            };
            if byte_range.is_none() {
                last_range = None;
            }
            p.segments.push(Segment {
                sequence: 0,
                duration,
                title,
                uri: text.to_owned(),
                discontinuity: std::mem::take(&mut pending.discontinuity),
                byte_range,
                map: map.clone(),
                program_date_time: pending.program_date_time.take(),
                gap: std::mem::take(&mut pending.gap),
            });
            continue;
        }
        let tag = super::tag_name(text);
        let value = text.split_once(':').map_or("", |(_, v)| v.trim());
        match tag {
            "EXT-X-VERSION" => p.version = Some(u32_value(line, "EXT-X-VERSION", value)?),
            "EXT-X-TARGETDURATION" => {
                // an integer (§4.3.3.1); a decimal is tolerated and rounded up
                let d = attr::decimal_duration(value).ok_or_else(|| {
                    bad(
                        line,
                        "EXT-X-TARGETDURATION",
                        format!("{} is not a number of seconds", clip(value)),
                    )
                })?;
                let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
                target = Some(Duration::from_secs(secs));
            }
            "EXT-X-MEDIA-SEQUENCE" => p.media_sequence = u64_value(line, "EXT-X-MEDIA-SEQUENCE", value)?,
            "EXT-X-DISCONTINUITY-SEQUENCE" => {
                p.discontinuity_sequence = u64_value(line, "EXT-X-DISCONTINUITY-SEQUENCE", value)?;
            }
            "EXTINF" => pending.inf = Some(extinf(line, value)?),
            "EXT-X-BYTERANGE" => {
                let (length, offset) = byte_range(value).map_err(|r| bad(line, "EXT-X-BYTERANGE", r))?;
                pending.byte_range = Some((line, length, offset));
            }
            "EXT-X-DISCONTINUITY" => pending.discontinuity = true,
            "EXT-X-GAP" => pending.gap = true,
            "EXT-X-PROGRAM-DATE-TIME" => {
                if value.is_empty() {
                    return Err(bad(line, "EXT-X-PROGRAM-DATE-TIME", "no date"));
                }
                pending.program_date_time = Some(value.to_owned());
            }
            "EXT-X-KEY" => key(line, value)?,
            "EXT-X-MAP" => map = Some(parse_map(line, value)?),
            "EXT-X-ENDLIST" => p.end_list = true,
            "EXT-X-PLAYLIST-TYPE" => {
                p.playlist_type = Some(match value {
                    "EVENT" => PlaylistType::Event,
                    "VOD" => PlaylistType::Vod,
                    other => {
                        return Err(bad(
                            line,
                            "EXT-X-PLAYLIST-TYPE",
                            format!("{} is not EVENT or VOD", clip(other)),
                        ));
                    }
                });
            }
            "EXT-X-I-FRAMES-ONLY" => p.i_frames_only = true,
            "EXT-X-INDEPENDENT-SEGMENTS" => p.independent_segments = true,
            "EXT-X-SERVER-CONTROL" => {
                p.server_control =
                    Some(server_control(value).map_err(|r| bad(line, "EXT-X-SERVER-CONTROL", r))?);
            }
            "EXT-X-PART-INF" => {
                let target = AttributeList::parse(value)
                    .and_then(|a| a.duration("PART-TARGET"))
                    .map_err(|r| bad(line, "EXT-X-PART-INF", r))?;
                p.part_target = Some(target.ok_or_else(|| bad(line, "EXT-X-PART-INF", "no PART-TARGET"))?);
            }
            "EXT-X-STREAM-INF" => return Err(wrong_kind(line, "EXT-X-STREAM-INF")),
            "EXT-X-MEDIA" => return Err(wrong_kind(line, "EXT-X-MEDIA")),
            "EXT-X-I-FRAME-STREAM-INF" => return Err(wrong_kind(line, "EXT-X-I-FRAME-STREAM-INF")),
            // LL-HLS parts and hints, and every other tag: ignored (§6.3.1)
            _ => {}
        }
    }
    if let Some((line, _, _)) = pending.inf {
        return Err(Error::MissingUri { line, tag: "EXTINF" });
    }
    p.target_duration = target.ok_or(Error::MissingTag {
        line: total,
        tag: "#EXT-X-TARGETDURATION",
    })?;
    for (i, s) in p.segments.iter_mut().enumerate() {
        s.sequence = p.media_sequence.saturating_add(i as u64);
    }
    Ok(p)
}

fn bad(line: usize, tag: &'static str, reason: impl Into<String>) -> Error {
    Error::BadTag {
        line,
        tag,
        reason: reason.into(),
    }
}

fn wrong_kind(line: usize, tag: &'static str) -> Error {
    Error::WrongKind {
        line,
        tag,
        kind: "media",
    }
}

fn u64_value(line: usize, tag: &'static str, value: &str) -> Result<u64> {
    decimal_integer(value).ok_or_else(|| bad(line, tag, format!("{} is not a decimal integer", clip(value))))
}

fn u32_value(line: usize, tag: &'static str, value: &str) -> Result<u32> {
    u32::try_from(u64_value(line, tag, value)?).map_err(|_| bad(line, tag, format!("{value} is too large")))
}

/// `#EXTINF:<duration>,[<title>]` (§4.3.2.1); a missing comma is tolerated.
fn extinf(line: usize, value: &str) -> Result<(usize, Duration, String)> {
    let (duration, title) = value.split_once(',').unwrap_or((value, ""));
    let duration = attr::decimal_duration(duration.trim()).ok_or_else(|| {
        bad(
            line,
            "EXTINF",
            format!("{} is not a duration in seconds", clip(duration)),
        )
    })?;
    Ok((line, duration, title.to_owned()))
}

/// `<n>[@<o>]` (§4.3.2.2).
fn byte_range(value: &str) -> Result<(u64, Option<u64>), String> {
    let (n, o) = match value.split_once('@') {
        Some((n, o)) => (n, Some(o)),
        None => (value, None),
    };
    let n = decimal_integer(n).ok_or_else(|| format!("{} is not <length>[@<offset>]", clip(value)))?;
    let o = o
        .map(|o| decimal_integer(o).ok_or_else(|| format!("{} is not <length>[@<offset>]", clip(value))))
        .transpose()?;
    Ok((n, o))
}

/// `EXT-X-KEY` (§4.3.2.4): only `METHOD=NONE` is accepted.
fn key(line: usize, value: &str) -> Result<()> {
    let attrs = AttributeList::parse(value).map_err(|r| bad(line, "EXT-X-KEY", r))?;
    match attrs.enumerated("METHOD") {
        None => Err(bad(line, "EXT-X-KEY", "no METHOD")),
        Some("NONE") => Ok(()),
        Some(method) => Err(Error::Encrypted {
            line,
            method: clip(method).to_owned(),
        }),
    }
}

/// `EXT-X-MAP` (§4.3.2.5).
fn parse_map(line: usize, value: &str) -> Result<Map> {
    let attrs = AttributeList::parse(value).map_err(|r| bad(line, "EXT-X-MAP", r))?;
    let uri = attrs
        .quoted("URI")
        .map_err(|r| bad(line, "EXT-X-MAP", r))?
        .ok_or_else(|| bad(line, "EXT-X-MAP", "no URI"))?;
    let byte_range = attrs
        .quoted("BYTERANGE")
        .map_err(|r| bad(line, "EXT-X-MAP", r))?
        .map(|r| byte_range(r).map_err(|r| bad(line, "EXT-X-MAP", format!("BYTERANGE: {r}"))))
        .transpose()?
        .map(|(length, offset)| ByteRange {
            length,
            offset: offset.unwrap_or(0),
        });
    Ok(Map {
        uri: uri.to_owned(),
        byte_range,
    })
}

/// `EXT-X-SERVER-CONTROL` (RFC 8216bis §4.4.3.8).
fn server_control(value: &str) -> Result<ServerControl, String> {
    let a = AttributeList::parse(value)?;
    Ok(ServerControl {
        can_skip_until: a.duration("CAN-SKIP-UNTIL")?,
        can_skip_dateranges: a.yes_no("CAN-SKIP-DATERANGES")?,
        hold_back: a.duration("HOLD-BACK")?,
        part_hold_back: a.duration("PART-HOLD-BACK")?,
        can_block_reload: a.yes_no("CAN-BLOCK-RELOAD")?,
    })
}

// === impl MediaPlaylist ===

/// Writes the playlist (§4.3): header tags, then each segment with the tags
/// that changed since the previous one, then `EXT-X-ENDLIST`. Byte-range
/// offsets are always written. A segment without a map after one with a map
/// cannot be expressed (a map applies to every later segment) and is written
/// as keeping the previous map.
impl fmt::Display for MediaPlaylist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "#EXTM3U")?;
        if let Some(v) = self.version {
            writeln!(f, "#EXT-X-VERSION:{v}")?;
        }
        let d = self.target_duration;
        writeln!(
            f,
            "#EXT-X-TARGETDURATION:{}",
            d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0))
        )?;
        writeln!(f, "#EXT-X-MEDIA-SEQUENCE:{}", self.media_sequence)?;
        if self.discontinuity_sequence != 0 {
            writeln!(f, "#EXT-X-DISCONTINUITY-SEQUENCE:{}", self.discontinuity_sequence)?;
        }
        match self.playlist_type {
            Some(PlaylistType::Event) => writeln!(f, "#EXT-X-PLAYLIST-TYPE:EVENT")?,
            Some(PlaylistType::Vod) => writeln!(f, "#EXT-X-PLAYLIST-TYPE:VOD")?,
            None => {}
        }
        if self.i_frames_only {
            writeln!(f, "#EXT-X-I-FRAMES-ONLY")?;
        }
        if self.independent_segments {
            writeln!(f, "#EXT-X-INDEPENDENT-SEGMENTS")?;
        }
        if let Some(c) = &self.server_control {
            let mut attrs = Vec::new();
            if let Some(d) = c.can_skip_until {
                attrs.push(format!("CAN-SKIP-UNTIL={}", attr::format_duration(d)));
            }
            if c.can_skip_dateranges {
                attrs.push("CAN-SKIP-DATERANGES=YES".to_owned());
            }
            if let Some(d) = c.hold_back {
                attrs.push(format!("HOLD-BACK={}", attr::format_duration(d)));
            }
            if let Some(d) = c.part_hold_back {
                attrs.push(format!("PART-HOLD-BACK={}", attr::format_duration(d)));
            }
            if c.can_block_reload {
                attrs.push("CAN-BLOCK-RELOAD=YES".to_owned());
            }
            writeln!(f, "#EXT-X-SERVER-CONTROL:{}", attrs.join(","))?;
        }
        if let Some(d) = self.part_target {
            writeln!(f, "#EXT-X-PART-INF:PART-TARGET={}", attr::format_duration(d))?;
        }
        let mut map: Option<&Map> = None;
        for s in &self.segments {
            if let Some(m) = s.map.as_ref().filter(|m| map != Some(*m)) {
                write!(f, "#EXT-X-MAP:URI=\"{}\"", m.uri)?;
                if let Some(r) = m.byte_range {
                    write!(f, ",BYTERANGE=\"{}@{}\"", r.length, r.offset)?;
                }
                writeln!(f)?;
                map = Some(m);
            }
            if s.discontinuity {
                writeln!(f, "#EXT-X-DISCONTINUITY")?;
            }
            if let Some(t) = &s.program_date_time {
                writeln!(f, "#EXT-X-PROGRAM-DATE-TIME:{t}")?;
            }
            if s.gap {
                writeln!(f, "#EXT-X-GAP")?;
            }
            writeln!(f, "#EXTINF:{},{}", attr::format_duration(s.duration), s.title)?;
            if let Some(r) = s.byte_range {
                writeln!(f, "#EXT-X-BYTERANGE:{}@{}", r.length, r.offset)?;
            }
            writeln!(f, "{}", s.uri)?;
        }
        if self.end_list {
            writeln!(f, "#EXT-X-ENDLIST")?;
        }
        Ok(())
    }
}
