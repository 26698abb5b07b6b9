//! Multivariant playlists (RFC 8216 §4.3.4): reading and writing.

use std::fmt;

use super::attr::{AttributeList, clip, decimal_integer};
use super::{Error, MediaType, MultivariantPlaylist, Rendition, Result, Variant};

/// Tags only a multivariant playlist has (used to tell the kinds apart).
pub(super) const TAGS: &[&str] = &["EXT-X-STREAM-INF", "EXT-X-MEDIA", "EXT-X-I-FRAME-STREAM-INF"];

/// Parses the lines after `#EXTM3U`; `total` is the number of lines. At
/// least one variant is required.
pub(super) fn parse(lines: &[(usize, &str)], total: usize) -> Result<MultivariantPlaylist> {
    let mut p = MultivariantPlaylist::default();
    // line and variant of an EXT-X-STREAM-INF waiting for its URI
    let mut pending: Option<(usize, Variant)> = None;
    for &(line, text) in lines {
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        if !text.starts_with('#') {
            let Some((_, mut v)) = pending.take() else {
                return Err(Error::UnexpectedUri {
                    line,
                    uri: clip(text).to_owned(),
                    expected: "#EXT-X-STREAM-INF",
                });
            };
            v.uri = text.to_owned();
            p.variants.push(v);
            continue;
        }
        let tag = super::tag_name(text);
        let value = text.split_once(':').map_or("", |(_, v)| v.trim());
        match tag {
            "EXT-X-VERSION" => {
                p.version = Some(
                    decimal_integer(value)
                        .and_then(|v| u32::try_from(v).ok())
                        .ok_or_else(|| {
                            bad(line, "EXT-X-VERSION", format!("{} is not a version", clip(value)))
                        })?,
                );
            }
            "EXT-X-INDEPENDENT-SEGMENTS" => p.independent_segments = true,
            "EXT-X-STREAM-INF" => {
                if let Some((line, _)) = pending {
                    return Err(Error::MissingUri {
                        line,
                        tag: "EXT-X-STREAM-INF",
                    });
                }
                pending = Some((
                    line,
                    stream_inf(value).map_err(|r| bad(line, "EXT-X-STREAM-INF", r))?,
                ));
            }
            "EXT-X-MEDIA" => p
                .renditions
                .push(media(value).map_err(|r| bad(line, "EXT-X-MEDIA", r))?),
            t => {
                if let Some(tag) = super::media_playlist::TAGS.iter().find(|m| **m == t) {
                    return Err(Error::WrongKind {
                        line,
                        tag,
                        kind: "multivariant",
                    });
                }
                // EXT-X-I-FRAME-STREAM-INF, EXT-X-SESSION-*, unknown tags: ignored
            }
        }
    }
    if let Some((line, _)) = pending {
        return Err(Error::MissingUri {
            line,
            tag: "EXT-X-STREAM-INF",
        });
    }
    if p.variants.is_empty() {
        return Err(Error::MissingTag {
            line: total,
            tag: "#EXT-X-STREAM-INF",
        });
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

/// `EXT-X-STREAM-INF` attributes (§4.3.4.2); the URI comes from the next line.
fn stream_inf(value: &str) -> Result<Variant, String> {
    let a = AttributeList::parse(value)?;
    Ok(Variant {
        uri: String::new(),
        bandwidth: a.decimal_integer("BANDWIDTH")?.ok_or("no BANDWIDTH")?,
        average_bandwidth: a.decimal_integer("AVERAGE-BANDWIDTH")?,
        resolution: a.resolution("RESOLUTION")?,
        codecs: a.quoted("CODECS")?.map(str::to_owned),
        audio: a.quoted("AUDIO")?.map(str::to_owned),
        video: a.quoted("VIDEO")?.map(str::to_owned),
    })
}

/// `EXT-X-MEDIA` (§4.3.4.1).
fn media(value: &str) -> Result<Rendition, String> {
    let a = AttributeList::parse(value)?;
    let media_type = match a.enumerated("TYPE") {
        Some("AUDIO") => MediaType::Audio,
        Some("VIDEO") => MediaType::Video,
        Some("SUBTITLES") => MediaType::Subtitles,
        Some("CLOSED-CAPTIONS") => MediaType::ClosedCaptions,
        Some(other) => return Err(format!("TYPE={} is not a media type", clip(other))),
        None => return Err("no TYPE".into()),
    };
    Ok(Rendition {
        media_type,
        group_id: a.quoted("GROUP-ID")?.ok_or("no GROUP-ID")?.to_owned(),
        name: a.quoted("NAME")?.ok_or("no NAME")?.to_owned(),
        uri: a.quoted("URI")?.map(str::to_owned),
        language: a.quoted("LANGUAGE")?.map(str::to_owned),
        default: a.yes_no("DEFAULT")?,
        autoselect: a.yes_no("AUTOSELECT")?,
        channels: a.quoted("CHANNELS")?.map(str::to_owned),
    })
}

// === impl MultivariantPlaylist ===

/// Writes the playlist: header tags, the renditions, then each variant's
/// `EXT-X-STREAM-INF` and URI.
impl fmt::Display for MultivariantPlaylist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "#EXTM3U")?;
        if let Some(v) = self.version {
            writeln!(f, "#EXT-X-VERSION:{v}")?;
        }
        if self.independent_segments {
            writeln!(f, "#EXT-X-INDEPENDENT-SEGMENTS")?;
        }
        for r in &self.renditions {
            write!(
                f,
                "#EXT-X-MEDIA:TYPE={},GROUP-ID=\"{}\",NAME=\"{}\"",
                r.media_type.as_str(),
                r.group_id,
                r.name
            )?;
            if let Some(l) = &r.language {
                write!(f, ",LANGUAGE=\"{l}\"")?;
            }
            if r.default {
                write!(f, ",DEFAULT=YES")?;
            }
            if r.autoselect {
                write!(f, ",AUTOSELECT=YES")?;
            }
            if let Some(c) = &r.channels {
                write!(f, ",CHANNELS=\"{c}\"")?;
            }
            if let Some(u) = &r.uri {
                write!(f, ",URI=\"{u}\"")?;
            }
            writeln!(f)?;
        }
        for v in &self.variants {
            write!(f, "#EXT-X-STREAM-INF:BANDWIDTH={}", v.bandwidth)?;
            if let Some(b) = v.average_bandwidth {
                write!(f, ",AVERAGE-BANDWIDTH={b}")?;
            }
            if let Some((w, h)) = v.resolution {
                write!(f, ",RESOLUTION={w}x{h}")?;
            }
            if let Some(c) = &v.codecs {
                write!(f, ",CODECS=\"{c}\"")?;
            }
            if let Some(a) = &v.audio {
                write!(f, ",AUDIO=\"{a}\"")?;
            }
            if let Some(g) = &v.video {
                write!(f, ",VIDEO=\"{g}\"")?;
            }
            writeln!(f)?;
            writeln!(f, "{}", v.uri)?;
        }
        Ok(())
    }
}
