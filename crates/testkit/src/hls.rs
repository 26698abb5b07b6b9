//! A checker of HLS and LL-HLS playlists against the rules of RFC 8216bis
//! (draft-pantos-hls-rfc8216bis): one media playlist ([`check_media`]), one
//! multivariant playlist ([`check_multivariant`]), and a later reload of a
//! media playlist against an earlier one ([`check_reload`]).
//!
//! The playlist text is parsed here, line by line; every broken rule gives
//! one message that names the line (`line N: ...`) or, for a rule about the
//! whole playlist, starts with `playlist: `. Messages name the tag or
//! attribute concerned, so a test can look for it.
//!
//! Where the checker is stricter than the RFC, the item says so: these are
//! conventions the server keeps (EXT-X-VERSION always present, EXT-X-ENDLIST
//! last, CODECS on every variant, parts only near the live end). RFC SHOULDs
//! that are not enforced are listed on the function that would check them.

use std::collections::{HashMap, HashSet};

/// What [`check_media`] read from a valid media playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaSummary {
    /// EXT-X-TARGETDURATION, in seconds.
    pub target_duration: u64,
    /// PART-TARGET of EXT-X-PART-INF, when present.
    pub part_target: Option<f64>,
    /// EXT-X-MEDIA-SEQUENCE (0 when absent): the MSN of the first segment,
    /// skipped or not.
    pub media_sequence: u64,
    /// EXT-X-DISCONTINUITY-SEQUENCE (0 when absent).
    pub discontinuity_sequence: u64,
    /// The segments listed (those an EXT-X-SKIP replaced are not), oldest
    /// first, the trailing in-progress segment last.
    pub segments: Vec<SegmentSummary>,
    /// URI of the EXT-X-PRELOAD-HINT with TYPE=PART.
    pub preload_hint: Option<String>,
    /// SKIPPED-SEGMENTS of EXT-X-SKIP (0 when absent).
    pub skipped_segments: u64,
    /// CAN-BLOCK-RELOAD=YES in EXT-X-SERVER-CONTROL.
    pub can_block_reload: bool,
    /// CAN-SKIP-UNTIL of EXT-X-SERVER-CONTROL.
    pub can_skip_until: Option<f64>,
    /// PART-HOLD-BACK of EXT-X-SERVER-CONTROL.
    pub part_hold_back: Option<f64>,
    /// HOLD-BACK of EXT-X-SERVER-CONTROL.
    pub hold_back: Option<f64>,
    /// URI of the last EXT-X-MAP, the one that applies at the live end.
    pub map_uri: Option<String>,
    /// EXT-X-ENDLIST is present.
    pub ended: bool,
}

/// One media segment of a [`MediaSummary`].
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentSummary {
    /// Media sequence number.
    pub msn: u64,
    /// The segment URI; `None` for the trailing in-progress segment, which
    /// only has parts so far.
    pub uri: Option<String>,
    /// EXTINF duration; `None` for the trailing in-progress segment.
    pub duration: Option<f64>,
    /// Its EXT-X-PART tags, in order.
    pub parts: Vec<PartSummary>,
    /// An EXT-X-DISCONTINUITY tag applies to it.
    pub discontinuity: bool,
    /// Its EXT-X-PROGRAM-DATE-TIME value, as written.
    pub program_date_time: Option<String>,
    /// URI of the EXT-X-MAP that applies to it.
    pub map_uri: Option<String>,
}

/// One EXT-X-PART of a [`SegmentSummary`].
#[derive(Debug, Clone, PartialEq)]
pub struct PartSummary {
    /// URI attribute.
    pub uri: String,
    /// DURATION attribute, in seconds.
    pub duration: f64,
    /// INDEPENDENT=YES.
    pub independent: bool,
}

/// Tags only a multivariant playlist may carry (RFC 8216bis 4.4.6).
const MULTIVARIANT_TAGS: &[&str] = &[
    "#EXT-X-MEDIA",
    "#EXT-X-STREAM-INF",
    "#EXT-X-I-FRAME-STREAM-INF",
    "#EXT-X-SESSION-DATA",
    "#EXT-X-SESSION-KEY",
    "#EXT-X-CONTENT-STEERING",
];

/// Tags only a media playlist may carry (RFC 8216bis 4.4.3 to 4.4.5).
const MEDIA_TAGS: &[&str] = &[
    "#EXT-X-TARGETDURATION",
    "#EXT-X-MEDIA-SEQUENCE",
    "#EXT-X-DISCONTINUITY-SEQUENCE",
    "#EXT-X-ENDLIST",
    "#EXT-X-PLAYLIST-TYPE",
    "#EXT-X-I-FRAMES-ONLY",
    "#EXT-X-PART-INF",
    "#EXT-X-SERVER-CONTROL",
    "#EXTINF",
    "#EXT-X-BYTERANGE",
    "#EXT-X-DISCONTINUITY",
    "#EXT-X-KEY",
    "#EXT-X-MAP",
    "#EXT-X-PROGRAM-DATE-TIME",
    "#EXT-X-GAP",
    "#EXT-X-BITRATE",
    "#EXT-X-PART",
    "#EXT-X-DATERANGE",
    "#EXT-X-SKIP",
    "#EXT-X-PRELOAD-HINT",
    "#EXT-X-RENDITION-REPORT",
];

/// Other tags whose value is an attribute list, parsed only to check its syntax.
const ATTRIBUTE_LIST_TAGS: &[&str] = &["#EXT-X-KEY", "#EXT-X-DATERANGE", "#EXT-X-START", "#EXT-X-DEFINE"];

/// A decimal number as printed: its value and half a unit of its last digit.
#[derive(Debug, Clone, Copy)]
struct Dec {
    value: f64,
    half_ulp: f64,
}

/// A decimal-integer or decimal-floating-point (RFC 8216bis 4.2): digits,
/// optionally a point and more digits; no sign, no exponent.
fn parse_dec(s: &str) -> Option<Dec> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit());
    if !digits(int) || frac.is_some_and(|f| !digits(f)) {
        return None;
    }
    let places = frac.map_or(0, str::len) as i32;
    Some(Dec {
        value: s.parse().ok()?,
        half_ulp: 0.5 * 10f64.powi(-places),
    })
}

/// A decimal-integer (RFC 8216bis 4.2).
fn parse_int(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[derive(Debug, Clone)]
enum Value {
    Quoted(String),
    Plain(String),
}

/// A parsed attribute list (RFC 8216bis 4.2).
struct Attrs(Vec<(String, Value)>);

impl Attrs {
    /// Parses `NAME=VALUE,...`: names of `[A-Z0-9-]`, values either a
    /// quoted-string or a run of characters without comma, quote or
    /// whitespace; no name twice.
    fn parse(s: &str) -> Result<Self, String> {
        let b = s.as_bytes();
        let mut i = 0;
        let mut list: Vec<(String, Value)> = Vec::new();
        if s.is_empty() {
            return Err("malformed attribute list: empty".into());
        }
        loop {
            let start = i;
            while i < b.len() && (b[i].is_ascii_uppercase() || b[i].is_ascii_digit() || b[i] == b'-') {
                i += 1;
            }
            if i == start {
                return Err(format!(
                    "malformed attribute list: no attribute name at column {}",
                    i + 1
                ));
            }
            let name = &s[start..i];
            if b.get(i) != Some(&b'=') {
                return Err(format!("malformed attribute list: attribute {name} has no '='"));
            }
            i += 1;
            let value = if b.get(i) == Some(&b'"') {
                let from = i + 1;
                let Some(len) = s[from..].find('"') else {
                    return Err(format!(
                        "malformed attribute list: {name} has an unterminated quoted-string"
                    ));
                };
                i = from + len + 1;
                Value::Quoted(s[from..from + len].to_string())
            } else {
                let from = i;
                while i < b.len() && b[i] != b',' {
                    i += 1;
                }
                let v = &s[from..i];
                if v.is_empty() || v.contains(['"', ' ', '\t']) {
                    return Err(format!(
                        "malformed attribute list: {name} has a malformed value {v:?}"
                    ));
                }
                Value::Plain(v.to_string())
            };
            if list.iter().any(|(n, _)| n == name) {
                return Err(format!(
                    "malformed attribute list: attribute {name} appears twice"
                ));
            }
            list.push((name.to_string(), value));
            if i == b.len() {
                return Ok(Self(list));
            }
            if b[i] != b',' {
                return Err(format!(
                    "malformed attribute list: expected ',' after the value of {name}"
                ));
            }
            i += 1;
            if i == b.len() {
                return Err("malformed attribute list: trailing ','".into());
            }
        }
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// A quoted-string attribute.
    fn quoted(&self, name: &str) -> Result<Option<&str>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Quoted(v)) => Ok(Some(v)),
            Some(Value::Plain(v)) => Err(format!("attribute {name}={v} must be a quoted-string")),
        }
    }

    /// An attribute that is not a quoted-string.
    fn plain(&self, name: &str) -> Result<Option<&str>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Plain(v)) => Ok(Some(v)),
            Some(Value::Quoted(v)) => Err(format!("attribute {name}=\"{v}\" must not be quoted")),
        }
    }

    fn dec(&self, name: &str) -> Result<Option<Dec>, String> {
        match self.plain(name)? {
            None => Ok(None),
            Some(v) => parse_dec(v)
                .map(Some)
                .ok_or_else(|| format!("attribute {name}={v} is not a decimal number")),
        }
    }

    fn int(&self, name: &str) -> Result<Option<u64>, String> {
        match self.plain(name)? {
            None => Ok(None),
            Some(v) => parse_int(v)
                .map(Some)
                .ok_or_else(|| format!("attribute {name}={v} is not a decimal-integer")),
        }
    }

    /// An enumerated-string whose only defined value is YES.
    fn yes(&self, name: &str) -> Result<bool, String> {
        match self.plain(name)? {
            None => Ok(false),
            Some("YES") => Ok(true),
            Some(v) => Err(format!("attribute {name}={v}: the only value allowed is YES")),
        }
    }

    /// An enumerated-string of YES or NO.
    fn yes_no(&self, name: &str) -> Result<Option<bool>, String> {
        match self.plain(name)? {
            None => Ok(None),
            Some("YES") => Ok(Some(true)),
            Some("NO") => Ok(Some(false)),
            Some(v) => Err(format!("attribute {name}={v} must be YES or NO")),
        }
    }
}

/// Seconds since 1970 of an ISO 8601 date-time with a time zone, such as
/// `2024-05-01T12:00:00.000Z` or `2010-02-19T14:54:23.031+08:00`.
fn parse_date_time(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let num = |from: usize, to: usize| -> Option<i64> {
        let t = s.get(from..to)?;
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(at(4, b'-') && at(7, b'-') && at(10, b'T') && at(13, b':') && at(16, b':')) {
        return None;
    }
    let mut i = 19;
    let mut fraction = 0.0;
    if at(i, b'.') {
        let from = i + 1;
        i = from;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == from {
            return None;
        }
        fraction = format!("0.{}", &s[from..i]).parse().ok()?;
    }
    let zone = &s[i..];
    let offset = if zone == "Z" {
        0
    } else {
        let sign = match zone.as_bytes().first()? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let z = i + 1;
        let (h, m) = match zone.len() - 1 {
            5 if at(z + 2, b':') => (num(z, z + 2)?, num(z + 3, z + 5)?),
            4 => (num(z, z + 2)?, num(z + 2, z + 4)?),
            2 => (num(z, z + 2)?, 0),
            _ => return None,
        };
        if h > 23 || m > 59 {
            return None;
        }
        sign * (h * 3600 + m * 60)
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month) || day < 1 || day > month_days[(month - 1) as usize] {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    // Days from 1970-01-01 to the civil date (proleptic Gregorian).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    Some((days * 86_400 + hour * 3600 + minute * 60 + second - offset) as f64 + fraction)
}

/// The lines of a playlist, numbered from 1, without line terminators.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split('\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)))
}

/// A tag line split into its name and the value after the first ':'.
fn split_tag(line: &str) -> (&str, Option<&str>) {
    match line.split_once(':') {
        Some((tag, value)) => (tag, Some(value)),
        None => (line, None),
    }
}

/// Collects the messages of one check.
#[derive(Default)]
struct Errors(Vec<String>);

impl Errors {
    fn at(&mut self, line: usize, msg: impl std::fmt::Display) {
        self.0.push(format!("line {line}: {msg}"));
    }

    fn playlist(&mut self, msg: impl std::fmt::Display) {
        self.0.push(format!("playlist: {msg}"));
    }

    /// The value of an attribute accessor, or `None` after recording its error.
    fn attr<T>(&mut self, line: usize, tag: &str, r: Result<T, String>) -> Option<T> {
        r.map_err(|e| self.at(line, format!("{tag}: {e}"))).ok()
    }

    /// A required attribute, or `None` after recording why it is missing or bad.
    fn required<T>(&mut self, line: usize, tag: &str, name: &str, r: Result<Option<T>, String>) -> Option<T> {
        match self.attr(line, tag, r)? {
            Some(v) => Some(v),
            None => {
                self.at(line, format!("{tag} has no {name} attribute"));
                None
            }
        }
    }
}

struct Part {
    uri: String,
    duration: Dec,
    independent: bool,
    gap: bool,
    byterange: bool,
    line: usize,
}

struct Segment {
    uri: Option<String>,
    duration: Option<Dec>,
    uri_line: usize,
    parts: Vec<Part>,
    discontinuity: bool,
    pdt: Option<(String, Option<f64>, usize)>,
    map: Option<String>,
}

impl Segment {
    /// Its EXTINF duration, or the sum of its parts while in progress.
    fn length(&self) -> f64 {
        self.duration
            .map_or_else(|| self.parts.iter().map(|p| p.duration.value).sum(), |d| d.value)
    }
}

/// Media segment tags seen since the last segment URI.
#[derive(Default)]
struct Pending {
    extinf: Option<(Dec, usize)>,
    parts: Vec<Part>,
    discontinuity: bool,
    pdt: Option<(String, Option<f64>, usize)>,
}

/// Checks one media playlist; Err lists every rule broken (one message
/// each, naming the line).
///
/// Enforced (RFC 8216bis section in brackets):
/// - the first line is `#EXTM3U` (4.4.1.1);
/// - EXT-X-VERSION is present (this checker requires it always) and at
///   most once; it is at least 3 with non-integer EXTINF durations (4.4.4.1),
///   4 with EXT-X-BYTERANGE or EXT-X-I-FRAMES-ONLY, 6 with EXT-X-MAP
///   (4.4.4.5) or EXT-X-PART (a convention of this checker, as in Apple's
///   LL-HLS examples), 9 with EXT-X-SKIP (section 8);
/// - EXT-X-TARGETDURATION exactly once, at least 1, before the first
///   segment; every EXTINF rounded to the nearest integer is at most it (4.4.3.1);
/// - EXT-X-MEDIA-SEQUENCE and EXT-X-DISCONTINUITY-SEQUENCE at most once and
///   before the first segment, the latter before any EXT-X-DISCONTINUITY (4.4.3.2-3);
/// - no multivariant playlist tag (4.4.6); attribute lists of the tags this
///   checker knows are well-formed, with no attribute twice (4.2); unknown
///   tags are ignored;
/// - every EXTINF is followed by a URI line and every URI line has an
///   EXTINF; only the trailing in-progress segment may lack a URI, and then
///   it has parts (4.4.4.1, 3.2);
/// - EXT-X-PART-INF is present when EXT-X-PART is, PART-TARGET > 0; it may
///   only go without parts alongside a TYPE=PART preload hint or EXT-X-ENDLIST
///   (4.4.3.7);
/// - every EXT-X-PART has URI and DURATION; DURATION <= PART-TARGET; DURATION
///   at least 85% of PART-TARGET except for INDEPENDENT=YES or GAP=YES parts, parts
///   followed by a GAP=YES part and the final part of a parent segment (the
///   last part of the in-progress segment counts as possibly final) (4.4.4.9);
/// - EXT-X-DISCONTINUITY, EXT-X-KEY, EXT-X-MAP, EXT-X-PROGRAM-DATE-TIME come
///   before the first EXT-X-PART of their parent segment (4.4.4.9);
/// - the parts of a completed segment add up to its EXTINF, within 1 ms per
///   part plus the rounding of the printed values (3.2: same samples);
/// - parts only on segments that start within four target durations (plus
///   0.5 s) of the end of the playlist: the RFC says parts more than three
///   target durations from the end SHOULD be removed (6.2.2); one segment of
///   margin is allowed for servers that remove the parts of a whole segment;
/// - EXT-X-SERVER-CONTROL at most once; PART-HOLD-BACK present with
///   EXT-X-PART-INF and >= 2 x PART-TARGET; HOLD-BACK >= 3 x TARGETDURATION;
///   CAN-SKIP-UNTIL >= 6 x TARGETDURATION; CAN-SKIP-DATERANGES only with
///   CAN-SKIP-UNTIL (4.4.3.8);
/// - EXT-X-SKIP at most once, before the first segment, with SKIPPED-SEGMENTS,
///   only when CAN-SKIP-UNTIL is announced (4.4.5.2); it replaces only
///   segments that end further than CAN-SKIP-UNTIL from the end of the last
///   completed segment, so the completed segments left span at least
///   CAN-SKIP-UNTIL, within 50 ms (6.2.5.1; the RFC's own example skips so);
/// - EXT-X-PRELOAD-HINT has TYPE and URI, at most one per TYPE (the RFC's
///   SHOULD NOT, enforced), none with EXT-X-ENDLIST (4.4.5.3), comes after the
///   last EXT-X-PART, and a TYPE=PART hint does not name a part already listed;
/// - EXT-X-RENDITION-REPORT has URI, and LAST-MSN / LAST-PART are integers (4.4.5.4);
/// - EXT-X-PROGRAM-DATE-TIME is ISO 8601 with a time zone (this checker
///   requires the zone, a SHOULD in 4.4.4.6), and, between two of them with no
///   discontinuity in between, grows by the durations of the segments in
///   between within 0.5 s;
/// - EXT-X-MAP with URI is present before the first segment when segment or
///   part URIs end in `.m4s` or `.mp4` (in a delta update it may have been
///   skipped with the segments it preceded);
/// - EXT-X-ENDLIST, if present, is the last line (a convention of this
///   checker; the RFC lets it appear anywhere).
///
/// Not enforced (SHOULDs): PART-HOLD-BACK >= 3 x PART-TARGET, INDEPENDENT=YES
/// on every part holding an independent frame, the EXT-X-RENDITION-REPORT set.
pub fn check_media(text: &str) -> Result<MediaSummary, Vec<String>> {
    let mut e = Errors::default();
    let mut first = true;
    let mut version: Option<u64> = None;
    let mut needs: Vec<(u64, &str, usize)> = Vec::new();
    let mut target: Option<(u64, usize)> = None;
    let mut media_sequence: Option<u64> = None;
    let mut discontinuity_sequence: Option<u64> = None;
    let mut part_target: Option<(f64, usize)> = None;
    let mut server_control: Option<usize> = None;
    let mut can_block_reload = false;
    let mut can_skip_until = None;
    let mut hold_back = None;
    let mut part_hold_back = None;
    let mut skip: Option<(u64, usize)> = None;
    let mut map: Option<String> = None;
    let mut hints: Vec<(String, String, bool, usize)> = Vec::new();
    let mut endlist: Option<usize> = None;
    let mut after_endlist = false;
    let mut first_segment_line: Option<usize> = None;
    let mut last_part_line = 0;
    let mut pending = Pending::default();
    let mut segments: Vec<Segment> = Vec::new();

    for (no, line) in lines(text) {
        if first {
            first = false;
            if line != "#EXTM3U" {
                e.at(no, "the first line must be #EXTM3U");
            }
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        if endlist.is_some() && !after_endlist {
            after_endlist = true;
            e.at(no, "EXT-X-ENDLIST must be the last line");
        }
        if !line.starts_with('#') {
            first_segment_line.get_or_insert(no);
            let Some((duration, _)) = pending.extinf.take() else {
                e.at(no, format!("URI line {line:?} has no EXTINF before it"));
                continue;
            };
            let p = std::mem::take(&mut pending);
            segments.push(Segment {
                uri: Some(line.to_string()),
                duration: Some(duration),
                uri_line: no,
                parts: p.parts,
                discontinuity: p.discontinuity,
                pdt: p.pdt,
                map: map.clone(),
            });
            continue;
        }
        if !line.starts_with("#EXT") {
            continue; // a comment
        }
        let (tag, value) = split_tag(line);
        if MULTIVARIANT_TAGS.contains(&tag) {
            e.at(
                no,
                format!("{tag} is a Multivariant Playlist tag, not allowed in a media playlist"),
            );
            continue;
        }
        let attrs = |e: &mut Errors| -> Option<Attrs> {
            match value {
                None => {
                    e.at(no, format!("{tag} needs an attribute list"));
                    None
                }
                Some(v) => e.attr(no, tag, Attrs::parse(v)),
            }
        };
        let before_segments = |e: &mut Errors| {
            if let Some(s) = first_segment_line {
                e.at(no, format!("{tag} must come before the first segment (line {s})"));
            }
        };
        let before_parts = |e: &mut Errors, p: &Pending| {
            if let Some(part) = p.parts.first() {
                e.at(
                    no,
                    format!(
                        "{tag} must come before the first EXT-X-PART of its segment (line {})",
                        part.line
                    ),
                );
            }
        };
        match tag {
            "#EXTM3U" => e.at(no, "#EXTM3U may only be the first line"),
            "#EXT-X-VERSION" => match value.and_then(parse_int) {
                _ if version.is_some() => e.at(no, "EXT-X-VERSION appears more than once"),
                Some(v) => version = Some(v),
                None => e.at(no, "EXT-X-VERSION needs a decimal-integer"),
            },
            "#EXT-X-TARGETDURATION" => {
                before_segments(&mut e);
                match value.and_then(parse_int) {
                    _ if target.is_some() => e.at(no, "EXT-X-TARGETDURATION appears more than once"),
                    Some(0) => e.at(no, "EXT-X-TARGETDURATION must be at least 1"),
                    Some(v) => target = Some((v, no)),
                    None => e.at(no, "EXT-X-TARGETDURATION needs a decimal-integer"),
                }
            }
            "#EXT-X-MEDIA-SEQUENCE" => {
                before_segments(&mut e);
                match value.and_then(parse_int) {
                    _ if media_sequence.is_some() => e.at(no, "EXT-X-MEDIA-SEQUENCE appears more than once"),
                    Some(v) => media_sequence = Some(v),
                    None => e.at(no, "EXT-X-MEDIA-SEQUENCE needs a decimal-integer"),
                }
            }
            "#EXT-X-DISCONTINUITY-SEQUENCE" => {
                before_segments(&mut e);
                if pending.discontinuity || segments.iter().any(|s| s.discontinuity) {
                    e.at(
                        no,
                        "EXT-X-DISCONTINUITY-SEQUENCE must come before any EXT-X-DISCONTINUITY",
                    );
                }
                match value.and_then(parse_int) {
                    _ if discontinuity_sequence.is_some() => {
                        e.at(no, "EXT-X-DISCONTINUITY-SEQUENCE appears more than once")
                    }
                    Some(v) => discontinuity_sequence = Some(v),
                    None => e.at(no, "EXT-X-DISCONTINUITY-SEQUENCE needs a decimal-integer"),
                }
            }
            "#EXT-X-ENDLIST" => endlist = Some(no),
            "#EXT-X-I-FRAMES-ONLY" | "#EXT-X-BYTERANGE" => needs.push((4, tag, no)),
            "#EXT-X-PART-INF" => {
                let Some(a) = attrs(&mut e) else { continue };
                if part_target.is_some() {
                    e.at(no, "EXT-X-PART-INF appears more than once");
                }
                match e.required(no, tag, "PART-TARGET", a.dec("PART-TARGET")) {
                    Some(d) if d.value <= 0.0 => e.at(no, "EXT-X-PART-INF: PART-TARGET must be > 0"),
                    Some(d) => part_target = Some((d.value, no)),
                    None => {}
                }
            }
            "#EXT-X-SERVER-CONTROL" => {
                let Some(a) = attrs(&mut e) else { continue };
                if server_control.is_some() {
                    e.at(no, "EXT-X-SERVER-CONTROL appears more than once");
                }
                server_control = Some(no);
                can_block_reload = e.attr(no, tag, a.yes("CAN-BLOCK-RELOAD")).unwrap_or(false);
                can_skip_until = e
                    .attr(no, tag, a.dec("CAN-SKIP-UNTIL"))
                    .flatten()
                    .map(|d| d.value);
                hold_back = e.attr(no, tag, a.dec("HOLD-BACK")).flatten().map(|d| d.value);
                part_hold_back = e
                    .attr(no, tag, a.dec("PART-HOLD-BACK"))
                    .flatten()
                    .map(|d| d.value);
                if e.attr(no, tag, a.yes("CAN-SKIP-DATERANGES")) == Some(true) && can_skip_until.is_none() {
                    e.at(
                        no,
                        "EXT-X-SERVER-CONTROL: CAN-SKIP-DATERANGES requires CAN-SKIP-UNTIL",
                    );
                }
            }
            "#EXT-X-SKIP" => {
                before_segments(&mut e);
                needs.push((9, tag, no));
                let Some(a) = attrs(&mut e) else { continue };
                if skip.is_some() {
                    e.at(no, "EXT-X-SKIP appears more than once");
                }
                if let Some(n) = e.required(no, tag, "SKIPPED-SEGMENTS", a.int("SKIPPED-SEGMENTS")) {
                    skip = Some((n, no));
                }
            }
            "#EXTINF" => {
                first_segment_line.get_or_insert(no);
                let dur = value.and_then(|v| v.split_once(',')).map(|(d, _)| d.trim());
                match dur.and_then(parse_dec) {
                    None => e.at(no, "EXTINF needs <duration>,[<title>] with a decimal duration"),
                    Some(d) => {
                        if let Some((_, at)) = pending.extinf {
                            e.at(no, format!("EXTINF of line {at} has no URI line"));
                        }
                        if d.half_ulp < 0.5 {
                            needs.push((3, "a non-integer EXTINF duration", no));
                        }
                        pending.extinf = Some((d, no));
                    }
                }
            }
            "#EXT-X-PART" => {
                first_segment_line.get_or_insert(no);
                needs.push((6, tag, no));
                last_part_line = no;
                let Some(a) = attrs(&mut e) else { continue };
                if let Some((_, at)) = pending.extinf {
                    e.at(
                        no,
                        format!("EXT-X-PART between the EXTINF of line {at} and its URI"),
                    );
                }
                let uri = e.required(no, tag, "URI", a.quoted("URI"));
                let duration = e.required(no, tag, "DURATION", a.dec("DURATION"));
                let independent = e.attr(no, tag, a.yes("INDEPENDENT")).unwrap_or(false);
                let gap = e.attr(no, tag, a.yes("GAP")).unwrap_or(false);
                let byterange = e.attr(no, tag, a.quoted("BYTERANGE")).flatten().is_some();
                if let (Some(uri), Some(duration)) = (uri, duration) {
                    pending.parts.push(Part {
                        uri: uri.to_string(),
                        duration,
                        independent,
                        gap,
                        byterange,
                        line: no,
                    });
                }
            }
            "#EXT-X-DISCONTINUITY" => {
                before_parts(&mut e, &pending);
                pending.discontinuity = true;
            }
            "#EXT-X-PROGRAM-DATE-TIME" => {
                before_parts(&mut e, &pending);
                let v = value.unwrap_or("");
                let secs = parse_date_time(v);
                if secs.is_none() {
                    e.at(
                        no,
                        format!(
                            "EXT-X-PROGRAM-DATE-TIME {v:?} is not an ISO 8601 date-time with a time zone"
                        ),
                    );
                }
                pending.pdt = Some((v.to_string(), secs, no));
            }
            "#EXT-X-MAP" => {
                before_parts(&mut e, &pending);
                needs.push((6, tag, no));
                let Some(a) = attrs(&mut e) else { continue };
                if let Some(uri) = e.required(no, tag, "URI", a.quoted("URI")) {
                    map = Some(uri.to_string());
                }
                e.attr(no, tag, a.quoted("BYTERANGE"));
            }
            "#EXT-X-PRELOAD-HINT" => {
                let Some(a) = attrs(&mut e) else { continue };
                let kind = e.required(no, tag, "TYPE", a.plain("TYPE"));
                let uri = e.required(no, tag, "URI", a.quoted("URI"));
                let ranged = e.attr(no, tag, a.int("BYTERANGE-START")).flatten().is_some();
                e.attr(no, tag, a.int("BYTERANGE-LENGTH"));
                if let (Some(kind), Some(uri)) = (kind, uri) {
                    if hints.iter().any(|(k, ..)| k == kind) {
                        e.at(no, format!("EXT-X-PRELOAD-HINT: more than one with TYPE={kind}"));
                    }
                    hints.push((kind.to_string(), uri.to_string(), ranged, no));
                }
            }
            "#EXT-X-RENDITION-REPORT" => {
                let Some(a) = attrs(&mut e) else { continue };
                e.required(no, tag, "URI", a.quoted("URI"));
                e.attr(no, tag, a.int("LAST-MSN"));
                e.attr(no, tag, a.int("LAST-PART"));
            }
            _ if ATTRIBUTE_LIST_TAGS.contains(&tag) => {
                if tag == "#EXT-X-KEY" {
                    before_parts(&mut e, &pending);
                }
                attrs(&mut e);
            }
            _ => {} // EXT-X-GAP, EXT-X-BITRATE, EXT-X-PLAYLIST-TYPE, unknown tags
        }
    }

    // The trailing in-progress segment, or dangling segment tags.
    if let Some((_, at)) = pending.extinf {
        e.at(at, "EXTINF has no URI line after it");
    } else if !pending.parts.is_empty() {
        segments.push(Segment {
            uri: None,
            duration: None,
            uri_line: pending.parts[0].line,
            parts: std::mem::take(&mut pending.parts),
            discontinuity: pending.discontinuity,
            pdt: pending.pdt.take(),
            map: map.clone(),
        });
    } else if let Some((_, _, at)) = pending.pdt {
        e.at(at, "EXT-X-PROGRAM-DATE-TIME applies to no segment");
    } else if pending.discontinuity {
        e.playlist("EXT-X-DISCONTINUITY at the end applies to no segment");
    }

    // Version.
    match version {
        None => e.playlist("EXT-X-VERSION is missing"),
        Some(v) => {
            let mut seen = HashSet::new();
            for (min, what, at) in &needs {
                if *min > v && seen.insert(what) {
                    e.at(
                        *at,
                        format!("{what} needs EXT-X-VERSION {min} or more, the playlist has {v}"),
                    );
                }
            }
        }
    }

    // Target duration.
    let td = match target {
        None => {
            e.playlist("EXT-X-TARGETDURATION is missing");
            0
        }
        Some((td, _)) => td,
    };
    for s in &segments {
        if let Some(d) = s.duration
            && target.is_some()
            && d.value.round() > td as f64
        {
            e.at(
                s.uri_line,
                format!("EXTINF {} rounds above EXT-X-TARGETDURATION {td}", d.value),
            );
        }
    }

    // Parts.
    let all_parts = || segments.iter().flat_map(|s| &s.parts);
    let have_parts = all_parts().next().is_some();
    let part_hint = hints.iter().any(|(k, ..)| k == "PART");
    match part_target {
        None if have_parts => e.playlist("EXT-X-PART tags without EXT-X-PART-INF"),
        Some((_, at)) if !have_parts && !part_hint && endlist.is_none() => {
            e.at(at, "EXT-X-PART-INF without any EXT-X-PART")
        }
        _ => {}
    }
    if let Some((pt, _)) = part_target {
        for s in &segments {
            for (pi, p) in s.parts.iter().enumerate() {
                let d = p.duration.value;
                if d > pt + 1e-9 {
                    e.at(
                        p.line,
                        format!("EXT-X-PART DURATION {d} exceeds PART-TARGET {pt}"),
                    );
                }
                let next_gap = s.parts.get(pi + 1).is_some_and(|n| n.gap);
                let last = pi + 1 == s.parts.len();
                let exempt = p.independent || p.gap || next_gap || last;
                if !exempt && d < 0.85 * pt - 1e-9 {
                    e.at(
                        p.line,
                        format!(
                            "EXT-X-PART DURATION {d} is under 85% of PART-TARGET {pt} and the part is not \
                             INDEPENDENT, GAP, before a GAP or the last of its segment"
                        ),
                    );
                }
            }
        }
        match part_hold_back {
            None => e.playlist("EXT-X-SERVER-CONTROL PART-HOLD-BACK is required with EXT-X-PART-INF"),
            Some(phb) if phb < 2.0 * pt - 1e-9 => e.at(
                server_control.unwrap_or(0),
                format!("PART-HOLD-BACK {phb} is under twice PART-TARGET {pt}"),
            ),
            Some(_) => {}
        }
    }
    for s in segments.iter().filter(|s| s.uri.is_some() && !s.parts.is_empty()) {
        let (Some(d), n) = (s.duration, s.parts.len()) else {
            continue;
        };
        let sum: f64 = s.parts.iter().map(|p| p.duration.value).sum();
        let rounding: f64 = s.parts.iter().map(|p| p.duration.half_ulp).sum::<f64>() + d.half_ulp;
        let tolerance = 0.001 * n as f64 + rounding;
        if (sum - d.value).abs() > tolerance + 1e-9 {
            e.at(
                s.uri_line,
                format!(
                    "the {n} EXT-X-PART durations sum to {sum:.5}, not the EXTINF {} (tolerance {tolerance:.5})",
                    d.value
                ),
            );
        }
    }
    if target.is_some() {
        let limit = 4.0 * td as f64 + 0.5;
        let mut from_end: f64 = segments.iter().map(Segment::length).sum();
        for s in &segments {
            if !s.parts.is_empty() && from_end > limit {
                e.at(
                    s.parts[0].line,
                    format!(
                        "EXT-X-PART on a segment starting {from_end:.3} s from the live end: parts more than three \
                         Target Durations from the end must be removed (limit with one segment of margin {limit} s)"
                    ),
                );
            }
            from_end -= s.length();
        }
    }

    // Server control.
    if let Some(at) = server_control
        && target.is_some()
    {
        if let Some(hb) = hold_back
            && hb < 3.0 * td as f64
        {
            e.at(
                at,
                format!("HOLD-BACK {hb} is under three times EXT-X-TARGETDURATION {td}"),
            );
        }
        if let Some(csu) = can_skip_until
            && csu < 6.0 * td as f64
        {
            e.at(
                at,
                format!("CAN-SKIP-UNTIL {csu} is under six times EXT-X-TARGETDURATION {td}"),
            );
        }
    }

    // Skip.
    if let Some((n, at)) = skip {
        match can_skip_until {
            None => e.at(at, "EXT-X-SKIP without CAN-SKIP-UNTIL in EXT-X-SERVER-CONTROL"),
            Some(csu) if n > 0 => {
                let listed: f64 = segments.iter().filter_map(|s| s.duration).map(|d| d.value).sum();
                if listed < csu - 0.05 {
                    e.at(
                        at,
                        format!(
                            "EXT-X-SKIP replaced segments within the skip boundary: the segments left span \
                             {listed:.3} s, CAN-SKIP-UNTIL is {csu}"
                        ),
                    );
                }
            }
            Some(_) => {}
        }
    }

    // Preload hints.
    let part_uris: HashSet<&str> = all_parts()
        .filter(|p| !p.byterange)
        .map(|p| p.uri.as_str())
        .collect();
    for (kind, uri, ranged, at) in &hints {
        if endlist.is_some() {
            e.at(*at, "EXT-X-PRELOAD-HINT is not allowed with EXT-X-ENDLIST");
        }
        if *at < last_part_line {
            e.at(
                *at,
                format!("EXT-X-PRELOAD-HINT must come after the last EXT-X-PART (line {last_part_line})"),
            );
        }
        if kind == "PART" && !ranged && part_uris.contains(uri.as_str()) {
            e.at(
                *at,
                format!("EXT-X-PRELOAD-HINT names {uri:?}, a part already listed"),
            );
        }
    }

    // Program date-times.
    let mut anchor: Option<(f64, f64)> = None; // (date-time, seconds since it)
    for s in &segments {
        if s.discontinuity {
            anchor = None;
        }
        if let Some((v, Some(t), at)) = &s.pdt {
            if let Some((a, since)) = anchor
                && (t - (a + since)).abs() > 0.5
            {
                e.at(
                    *at,
                    format!(
                        "EXT-X-PROGRAM-DATE-TIME {v} is {:.3} s after the previous one, the segments in \
                         between last {since:.3} s",
                        t - a
                    ),
                );
            }
            anchor = Some((*t, 0.0));
        } else if s.pdt.is_some() {
            anchor = None;
        }
        if let Some((_, since)) = &mut anchor {
            *since += s.length();
        }
    }

    // Initialization section.
    let fmp4 = |u: &str| u.ends_with(".m4s") || u.ends_with(".mp4");
    let uses_fmp4 =
        segments.iter().any(|s| s.uri.as_deref().is_some_and(fmp4)) || all_parts().any(|p| fmp4(&p.uri));
    let skipped_any = skip.is_some_and(|(n, _)| n > 0);
    if uses_fmp4 && !skipped_any && segments.first().is_some_and(|s| s.map.is_none()) {
        e.at(
            first_segment_line.unwrap_or(0),
            "fMP4 segments (.m4s/.mp4) need an EXT-X-MAP before the first segment",
        );
    }

    if !e.0.is_empty() {
        return Err(e.0);
    }
    let media_sequence = media_sequence.unwrap_or(0);
    let skipped_segments = skip.map_or(0, |(n, _)| n);
    let first_msn = media_sequence + skipped_segments;
    Ok(MediaSummary {
        target_duration: td,
        part_target: part_target.map(|(pt, _)| pt),
        media_sequence,
        discontinuity_sequence: discontinuity_sequence.unwrap_or(0),
        segments: segments
            .into_iter()
            .enumerate()
            .map(|(i, s)| SegmentSummary {
                msn: first_msn + i as u64,
                uri: s.uri,
                duration: s.duration.map(|d| d.value),
                parts: s
                    .parts
                    .into_iter()
                    .map(|p| PartSummary {
                        uri: p.uri,
                        duration: p.duration.value,
                        independent: p.independent,
                    })
                    .collect(),
                discontinuity: s.discontinuity,
                program_date_time: s.pdt.map(|(v, ..)| v),
                map_uri: s.map,
            })
            .collect(),
        preload_hint: hints.into_iter().find(|(k, ..)| k == "PART").map(|(_, u, ..)| u),
        skipped_segments,
        can_block_reload,
        can_skip_until,
        part_hold_back,
        hold_back,
        map_uri: map,
        ended: endlist.is_some(),
    })
}

/// Checks a multivariant playlist; Err lists every rule broken. Returns the
/// variant URIs, in order.
///
/// Enforced (RFC 8216bis section in brackets): the first line is `#EXTM3U`;
/// EXT-X-VERSION at most once; no media playlist or media segment tag
/// (4.4.6); well-formed attribute lists; at least one EXT-X-STREAM-INF;
/// every EXT-X-STREAM-INF has BANDWIDTH (a decimal-integer), CODECS (the
/// RFC's SHOULD, required here), a well-formed RESOLUTION and FRAME-RATE if
/// present, and a URI line after it with no tag in between (4.4.6.2); its
/// AUDIO, VIDEO, SUBTITLES and CLOSED-CAPTIONS name an EXT-X-MEDIA group of
/// that TYPE (CLOSED-CAPTIONS may be NONE); every EXT-X-MEDIA has TYPE
/// (AUDIO, VIDEO, SUBTITLES or CLOSED-CAPTIONS), GROUP-ID and NAME, no URI
/// for CLOSED-CAPTIONS and INSTREAM-ID for them, FORCED only for SUBTITLES,
/// CHANNELS only for AUDIO, AUTOSELECT=YES when DEFAULT=YES, distinct NAMEs
/// and at most one DEFAULT=YES per group (4.4.6.1); every
/// EXT-X-I-FRAME-STREAM-INF has BANDWIDTH and URI (4.4.6.3).
pub fn check_multivariant(text: &str) -> Result<Vec<String>, Vec<String>> {
    let mut e = Errors::default();
    let mut version_seen = false;
    let mut variants = Vec::new();
    let mut awaiting_uri: Option<usize> = None;
    // (TYPE, GROUP-ID) -> (NAMEs, DEFAULT=YES count)
    let mut groups: HashMap<(String, String), (HashSet<String>, u32)> = HashMap::new();
    let mut references: Vec<(String, String, usize)> = Vec::new();
    let mut first = true;
    for (no, line) in lines(text) {
        if first {
            first = false;
            if line != "#EXTM3U" {
                e.at(no, "the first line must be #EXTM3U");
            }
            continue;
        }
        if line.trim().is_empty() || (line.starts_with('#') && !line.starts_with("#EXT")) {
            continue;
        }
        if !line.starts_with('#') {
            match awaiting_uri.take() {
                Some(_) => variants.push(line.to_string()),
                None => e.at(no, format!("URI line {line:?} has no EXT-X-STREAM-INF before it")),
            }
            continue;
        }
        if let Some(at) = awaiting_uri.take() {
            e.at(
                no,
                format!("EXT-X-STREAM-INF of line {at} must be followed by its URI line"),
            );
        }
        let (tag, value) = split_tag(line);
        if MEDIA_TAGS.contains(&tag) {
            e.at(
                no,
                format!("{tag} is a media playlist tag, not allowed in a Multivariant Playlist"),
            );
            continue;
        }
        let attrs = match (tag, value) {
            ("#EXT-X-VERSION", v) => {
                if version_seen {
                    e.at(no, "EXT-X-VERSION appears more than once");
                }
                version_seen = true;
                if v.and_then(parse_int).is_none() {
                    e.at(no, "EXT-X-VERSION needs a decimal-integer");
                }
                continue;
            }
            (
                "#EXT-X-STREAM-INF"
                | "#EXT-X-I-FRAME-STREAM-INF"
                | "#EXT-X-MEDIA"
                | "#EXT-X-SESSION-DATA"
                | "#EXT-X-SESSION-KEY"
                | "#EXT-X-CONTENT-STEERING"
                | "#EXT-X-START"
                | "#EXT-X-DEFINE",
                v,
            ) => match v.map(Attrs::parse) {
                None => {
                    e.at(no, format!("{tag} needs an attribute list"));
                    continue;
                }
                Some(Err(m)) => {
                    e.at(no, format!("{tag}: {m}"));
                    if tag == "#EXT-X-STREAM-INF" {
                        awaiting_uri = Some(no);
                    }
                    continue;
                }
                Some(Ok(a)) => a,
            },
            _ => continue,
        };
        match tag {
            "#EXT-X-STREAM-INF" | "#EXT-X-I-FRAME-STREAM-INF" => {
                e.required(no, tag, "BANDWIDTH", attrs.int("BANDWIDTH"));
                e.attr(no, tag, attrs.int("AVERAGE-BANDWIDTH"));
                if tag == "#EXT-X-STREAM-INF" {
                    e.required(no, tag, "CODECS", attrs.quoted("CODECS"));
                    awaiting_uri = Some(no);
                } else {
                    e.attr(no, tag, attrs.quoted("CODECS"));
                    e.required(no, tag, "URI", attrs.quoted("URI"));
                }
                if let Some(Some(r)) = e.attr(no, tag, attrs.plain("RESOLUTION")) {
                    let ok = r
                        .split_once('x')
                        .is_some_and(|(w, h)| parse_int(w).is_some() && parse_int(h).is_some());
                    if !ok {
                        e.at(no, format!("{tag}: RESOLUTION={r} is not <width>x<height>"));
                    }
                }
                e.attr(no, tag, attrs.dec("FRAME-RATE"));
                for kind in ["AUDIO", "VIDEO", "SUBTITLES", "CLOSED-CAPTIONS"] {
                    match attrs.get(kind) {
                        Some(Value::Quoted(g)) => references.push((kind.to_string(), g.clone(), no)),
                        Some(Value::Plain(v)) if kind == "CLOSED-CAPTIONS" && v == "NONE" => {}
                        Some(Value::Plain(v)) => {
                            e.at(no, format!("{tag}: {kind}={v} must be a quoted GROUP-ID"))
                        }
                        None => {}
                    }
                }
            }
            "#EXT-X-MEDIA" => {
                let kind = e.required(no, tag, "TYPE", attrs.plain("TYPE"));
                let group = e.required(no, tag, "GROUP-ID", attrs.quoted("GROUP-ID"));
                let name = e.required(no, tag, "NAME", attrs.quoted("NAME"));
                let uri = e.attr(no, tag, attrs.quoted("URI")).flatten();
                let default = e.attr(no, tag, attrs.yes_no("DEFAULT")).flatten();
                let autoselect = e.attr(no, tag, attrs.yes_no("AUTOSELECT")).flatten();
                let forced = e.attr(no, tag, attrs.yes_no("FORCED")).flatten();
                let instream = e.attr(no, tag, attrs.quoted("INSTREAM-ID")).flatten();
                let channels = e.attr(no, tag, attrs.quoted("CHANNELS")).flatten();
                let Some(kind) = kind else { continue };
                if !["AUDIO", "VIDEO", "SUBTITLES", "CLOSED-CAPTIONS"].contains(&kind) {
                    e.at(
                        no,
                        format!("EXT-X-MEDIA: TYPE={kind} is not AUDIO, VIDEO, SUBTITLES or CLOSED-CAPTIONS"),
                    );
                }
                if kind == "CLOSED-CAPTIONS" {
                    if uri.is_some() {
                        e.at(no, "EXT-X-MEDIA: URI is not allowed with TYPE=CLOSED-CAPTIONS");
                    }
                    if instream.is_none() {
                        e.at(
                            no,
                            "EXT-X-MEDIA: INSTREAM-ID is required with TYPE=CLOSED-CAPTIONS",
                        );
                    }
                }
                if forced.is_some() && kind != "SUBTITLES" {
                    e.at(no, "EXT-X-MEDIA: FORCED is only allowed with TYPE=SUBTITLES");
                }
                if channels.is_some() && kind != "AUDIO" {
                    e.at(no, "EXT-X-MEDIA: CHANNELS is only allowed with TYPE=AUDIO");
                }
                if default == Some(true) && autoselect == Some(false) {
                    e.at(no, "EXT-X-MEDIA: AUTOSELECT must be YES when DEFAULT is YES");
                }
                if let (Some(group), Some(name)) = (group, name) {
                    let entry = groups.entry((kind.to_string(), group.to_string())).or_default();
                    if !entry.0.insert(name.to_string()) {
                        e.at(
                            no,
                            format!("EXT-X-MEDIA: NAME {name:?} appears twice in GROUP-ID {group:?}"),
                        );
                    }
                    if default == Some(true) {
                        entry.1 += 1;
                        if entry.1 > 1 {
                            e.at(
                                no,
                                format!("EXT-X-MEDIA: GROUP-ID {group:?} has more than one DEFAULT=YES"),
                            );
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(at) = awaiting_uri {
        e.at(at, "EXT-X-STREAM-INF has no URI line after it");
    }
    for (kind, group, at) in references {
        if !groups.contains_key(&(kind.clone(), group.clone())) {
            e.at(
                at,
                format!("{kind}={group:?} names no EXT-X-MEDIA group of TYPE={kind}"),
            );
        }
    }
    if variants.is_empty() && e.0.is_empty() {
        e.playlist("no EXT-X-STREAM-INF variant");
    }
    if e.0.is_empty() { Ok(variants) } else { Err(e.0) }
}

/// Checks that `next` is a valid later reload of `prev` (the same stream):
/// - MSN numbering is continuous within each playlist, starting at
///   EXT-X-MEDIA-SEQUENCE plus SKIPPED-SEGMENTS;
/// - the media sequence number never goes back, nor does the live end (the
///   last segment, completed or not, and its parts);
/// - a segment URI that appears in both has the same MSN and duration; a
///   segment completed in `prev` is not in progress in `next`;
/// - the parts of a segment completed in `prev` are unchanged in `next` (or
///   removed altogether); those of the in-progress segment are kept, in order,
///   with new ones after them (or, once it completed, removed altogether);
/// - the discontinuity sequence grows by exactly the number of
///   EXT-X-DISCONTINUITY tags that left the window (a range when they left
///   from segments `prev` itself skipped);
/// - segments skipped by `next` (EXT-X-SKIP) are segments `prev` had, and
///   `next` skips only when it announces CAN-SKIP-UNTIL;
/// - once `prev` has EXT-X-ENDLIST, `next` has it too and adds no segment.
pub fn check_reload(prev: &MediaSummary, next: &MediaSummary) -> Result<(), Vec<String>> {
    let mut e = Vec::new();
    for (which, p) in [("prev", prev), ("next", next)] {
        let start = p.media_sequence + p.skipped_segments;
        for (i, s) in p.segments.iter().enumerate() {
            if s.msn != start + i as u64 {
                e.push(format!(
                    "{which}: segment {i} has MSN {}, expected {} (numbering is not continuous)",
                    s.msn,
                    start + i as u64
                ));
            }
        }
        if p.skipped_segments > 0 && p.can_skip_until.is_none() {
            e.push(format!(
                "{which}: EXT-X-SKIP of {} segments without CAN-SKIP-UNTIL",
                p.skipped_segments
            ));
        }
    }
    if next.media_sequence < prev.media_sequence {
        e.push(format!(
            "EXT-X-MEDIA-SEQUENCE went back from {} to {}",
            prev.media_sequence, next.media_sequence
        ));
    }
    // The live end: (MSN, completed, parts).
    let end = |p: &MediaSummary| p.segments.last().map(|s| (s.msn, s.uri.is_some(), s.parts.len()));
    if let (Some(a), Some(b)) = (end(prev), end(next)) {
        let (am, ac, ap) = a;
        let (bm, bc, bp) = b;
        let back = bm < am || (bm == am && !bc && (ac || bp < ap));
        if back {
            e.push(format!(
                "the live end went back: MSN {am} ({}) then MSN {bm} ({})",
                if ac {
                    "completed".to_string()
                } else {
                    format!("{ap} parts")
                },
                if bc {
                    "completed".to_string()
                } else {
                    format!("{bp} parts")
                },
            ));
        }
    } else if prev.segments.last().is_some() && next.segments.is_empty() {
        e.push("next lists no segment while prev did".to_string());
    }

    let prev_by_uri: HashMap<&str, &SegmentSummary> = prev
        .segments
        .iter()
        .filter_map(|s| s.uri.as_deref().map(|u| (u, s)))
        .collect();
    let prev_by_msn: HashMap<u64, &SegmentSummary> = prev.segments.iter().map(|s| (s.msn, s)).collect();
    for s in &next.segments {
        if let Some(uri) = s.uri.as_deref()
            && let Some(p) = prev_by_uri.get(uri)
        {
            if p.msn != s.msn {
                e.push(format!("segment {uri:?} had MSN {}, now {}", p.msn, s.msn));
            }
            if let (Some(a), Some(b)) = (p.duration, s.duration)
                && (a - b).abs() > 1e-6
            {
                e.push(format!("segment {uri:?} had duration {a}, now {b}"));
            }
        }
        let Some(p) = prev_by_msn.get(&s.msn) else {
            continue;
        };
        match (&p.uri, &s.uri) {
            (Some(a), Some(b)) if a != b => e.push(format!("MSN {} had URI {a:?}, now {b:?}", s.msn)),
            (Some(_), None) => e.push(format!(
                "MSN {} was completed, now it is in progress again",
                s.msn
            )),
            _ => {}
        }
        if p.uri.is_some() {
            if !s.parts.is_empty() && s.parts != p.parts {
                e.push(format!("the parts of completed segment MSN {} changed", s.msn));
            }
        } else if !s.parts.is_empty() && !s.parts.starts_with(&p.parts) {
            let kept = s.parts.len().min(p.parts.len());
            if s.parts[..kept] != p.parts[..kept] {
                e.push(format!("the parts of in-progress segment MSN {} changed", s.msn));
            } else {
                e.push(format!(
                    "in-progress segment MSN {} lost parts: {} then {}",
                    s.msn,
                    p.parts.len(),
                    s.parts.len()
                ));
            }
        }
    }

    // Discontinuities that left the window: segments with MSN in
    // [prev.media_sequence, next.media_sequence).
    if next.media_sequence >= prev.media_sequence {
        let left = prev.media_sequence..next.media_sequence;
        let known = prev
            .segments
            .iter()
            .filter(|s| left.contains(&s.msn) && s.discontinuity)
            .count() as u64;
        let prev_first_listed = prev.media_sequence + prev.skipped_segments;
        let unknown = next
            .media_sequence
            .min(prev_first_listed)
            .saturating_sub(prev.media_sequence);
        let grew = next
            .discontinuity_sequence
            .checked_sub(prev.discontinuity_sequence);
        match grew {
            None => e.push(format!(
                "EXT-X-DISCONTINUITY-SEQUENCE went back from {} to {}",
                prev.discontinuity_sequence, next.discontinuity_sequence
            )),
            Some(g) if g < known || g > known + unknown => e.push(format!(
                "EXT-X-DISCONTINUITY-SEQUENCE grew by {g} but {known}{} EXT-X-DISCONTINUITY tags left the window",
                if unknown > 0 { format!(" to {}", known + unknown) } else { String::new() }
            )),
            Some(_) => {}
        }
    }

    // Skipped segments of next must be ones prev had.
    if next.skipped_segments > 0 {
        let skipped = next.media_sequence..next.media_sequence + next.skipped_segments;
        let prev_last_complete = prev
            .segments
            .iter()
            .rev()
            .find(|s| s.uri.is_some())
            .map(|s| s.msn);
        let covered = skipped.start >= prev.media_sequence
            && prev_last_complete.is_some_and(|last| skipped.end == 0 || skipped.end - 1 <= last);
        if !covered {
            e.push(format!(
                "next skips MSN {}..{} which prev did not all have completed",
                skipped.start, skipped.end
            ));
        }
    }

    if prev.ended {
        if !next.ended {
            e.push("prev has EXT-X-ENDLIST, next does not".to_string());
        }
        if end(next).map(|(m, ..)| m) > end(prev).map(|(m, ..)| m) {
            e.push("next adds segments after EXT-X-ENDLIST".to_string());
        }
    }
    if e.is_empty() { Ok(()) } else { Err(e) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Low-Latency HLS playlist of the RFC 8216bis / Apple LL-HLS examples,
    /// the response to `GET .../2M/waitForMSN.php?_HLS_msn=273&_HLS_part=2`.
    const RFC_LL: &str = r#"#EXTM3U
#// This Playlist is a response to:
#//     GET https://example.com/2M/waitForMSN.php?_HLS_msn=273&_HLS_part=2
#EXT-X-TARGETDURATION:4
#EXT-X-VERSION:6
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.0,CAN-SKIP-UNTIL=24.0
#EXT-X-PART-INF:PART-TARGET=0.33334
#EXT-X-MEDIA-SEQUENCE:264
#EXT-X-PROGRAM-DATE-TIME:2019-02-14T02:13:28.106Z
#EXT-X-MAP:URI="init.mp4"
#EXTINF:4.00008,
fileSequence264.mp4
#EXTINF:4.00008,
fileSequence265.mp4
#EXTINF:4.00008,
fileSequence266.mp4
#EXTINF:4.00008,
fileSequence267.mp4
#EXTINF:4.00008,
fileSequence268.mp4
#EXTINF:4.00008,
fileSequence269.mp4
#EXTINF:4.00008,
fileSequence270.mp4
#EXT-X-PART:DURATION=0.33334,URI="filePart271.0.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart271.1.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart271.2.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart271.3.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart271.4.mp4",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.33334,URI="filePart271.5.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart271.6.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart271.7.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart271.8.mp4",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.33334,URI="filePart271.9.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart271.10.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart271.11.mp4"
#EXTINF:4.00008,
fileSequence271.mp4
#EXT-X-PROGRAM-DATE-TIME:2019-02-14T02:14:00.106Z
#EXT-X-PART:DURATION=0.33334,URI="filePart272.a.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart272.b.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart272.c.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart272.d.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart272.e.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart272.f.mp4",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.33334,URI="filePart272.g.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart272.h.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart272.i.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart272.j.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart272.k.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart272.l.mp4"
#EXTINF:4.00008,
fileSequence272.mp4
#EXT-X-PART:DURATION=0.33334,URI="filePart273.0.mp4",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.33334,URI="filePart273.1.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart273.2.mp4"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="filePart273.3.mp4"

#EXT-X-RENDITION-REPORT:URI="../1M/waitForMSN.php",LAST-MSN=273,LAST-PART=2
#EXT-X-RENDITION-REPORT:URI="../4M/waitForMSN.php",LAST-MSN=273,LAST-PART=1
"#;

    /// The Playlist Delta Update of the same examples, the response to
    /// `GET .../2M/waitForMSN.php?_HLS_msn=273&_HLS_part=3&_HLS_skip=YES`.
    const RFC_DELTA: &str = r#"#EXTM3U
#EXT-X-TARGETDURATION:4
#EXT-X-VERSION:10
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.0,CAN-SKIP-UNTIL=24.0
#EXT-X-PART-INF:PART-TARGET=0.33334
#EXT-X-MEDIA-SEQUENCE:264
#EXT-X-SKIP:SKIPPED-SEGMENTS=3
#EXTINF:4.00008,
fileSequence267.mp4
#EXTINF:4.00008,
fileSequence268.mp4
#EXTINF:4.00008,
fileSequence269.mp4
#EXTINF:4.00008,
fileSequence270.mp4
#EXT-X-PART:DURATION=0.33334,URI="filePart271.0.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart271.1.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart271.2.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart271.3.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart271.4.mp4",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.33334,URI="filePart271.5.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart271.6.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart271.7.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart271.8.mp4",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.33334,URI="filePart271.9.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart271.10.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart271.11.mp4"
#EXTINF:4.00008,
fileSequence271.mp4
#EXT-X-PROGRAM-DATE-TIME:2019-02-14T02:14:00.106Z
#EXT-X-PART:DURATION=0.33334,URI="filePart272.a.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart272.b.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart272.c.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart272.d.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart272.e.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart272.f.mp4",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.33334,URI="filePart272.g.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart272.h.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart272.i.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart272.j.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart272.k.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart272.l.mp4"
#EXTINF:4.00008,
fileSequence272.mp4
#EXT-X-PART:DURATION=0.33334,URI="filePart273.0.mp4",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.33334,URI="filePart273.1.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart273.2.mp4"
#EXT-X-PART:DURATION=0.33334,URI="filePart273.3.mp4"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="filePart273.4.mp4"

#EXT-X-RENDITION-REPORT:URI="../1M/waitForMSN.php",LAST-MSN=273,LAST-PART=3
#EXT-X-RENDITION-REPORT:URI="../4M/waitForMSN.php",LAST-MSN=273,LAST-PART=3
"#;

    /// Plain HLS over MPEG-TS.
    const TS: &str = "#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:6
#EXT-X-MEDIA-SEQUENCE:7
#EXTINF:6.000,
s7.ts
#EXTINF:5.960,
s8.ts
#EXTINF:6.040,
s9.ts
";

    /// LL-HLS over fMP4, the way the server writes it: 2 s segments of four
    /// 0.5 s parts, parts on the last two segments and the one in progress.
    const LL: &str = r#"#EXTM3U
#EXT-X-VERSION:9
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:5
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.5,HOLD-BACK=6,CAN-SKIP-UNTIL=12
#EXT-X-PART-INF:PART-TARGET=0.5
#EXT-X-MAP:URI="init.mp4"
#EXTINF:2.000,
s5.m4s
#EXTINF:2.000,
s6.m4s
#EXTINF:2.000,
s7.m4s
#EXTINF:2.000,
s8.m4s
#EXTINF:2.000,
s9.m4s
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:00.000Z
#EXTINF:2.000,
s10.m4s
#EXTINF:2.000,
s11.m4s
#EXTINF:2.000,
s12.m4s
#EXT-X-PART:DURATION=0.500,URI="p13.0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.500,URI="p13.1.m4s"
#EXT-X-PART:DURATION=0.500,URI="p13.2.m4s"
#EXT-X-PART:DURATION=0.500,URI="p13.3.m4s"
#EXTINF:2.000,
s13.m4s
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:08.000Z
#EXT-X-PART:DURATION=0.500,URI="p14.0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.500,URI="p14.1.m4s"
#EXT-X-PART:DURATION=0.500,URI="p14.2.m4s"
#EXT-X-PART:DURATION=0.460,URI="p14.3.m4s"
#EXTINF:1.960,
s14.m4s
#EXT-X-PART:DURATION=0.500,URI="p15.0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.500,URI="p15.1.m4s"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="p15.2.m4s"
#EXT-X-RENDITION-REPORT:URI="../audio/index.m3u8",LAST-MSN=15,LAST-PART=1
"#;

    /// A delta update of [`LL`] one part later: s5 to s7 end more than the
    /// 12 s skip boundary before the end of s14, and are skipped.
    const LL_DELTA: &str = r#"#EXTM3U
#EXT-X-VERSION:9
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:5
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.5,HOLD-BACK=6,CAN-SKIP-UNTIL=12
#EXT-X-PART-INF:PART-TARGET=0.5
#EXT-X-MAP:URI="init.mp4"
#EXT-X-SKIP:SKIPPED-SEGMENTS=3
#EXTINF:2.000,
s8.m4s
#EXTINF:2.000,
s9.m4s
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:00.000Z
#EXTINF:2.000,
s10.m4s
#EXTINF:2.000,
s11.m4s
#EXTINF:2.000,
s12.m4s
#EXT-X-PART:DURATION=0.500,URI="p13.0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.500,URI="p13.1.m4s"
#EXT-X-PART:DURATION=0.500,URI="p13.2.m4s"
#EXT-X-PART:DURATION=0.500,URI="p13.3.m4s"
#EXTINF:2.000,
s13.m4s
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:08.000Z
#EXT-X-PART:DURATION=0.500,URI="p14.0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.500,URI="p14.1.m4s"
#EXT-X-PART:DURATION=0.500,URI="p14.2.m4s"
#EXT-X-PART:DURATION=0.460,URI="p14.3.m4s"
#EXTINF:1.960,
s14.m4s
#EXT-X-PART:DURATION=0.500,URI="p15.0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.500,URI="p15.1.m4s"
#EXT-X-PART:DURATION=0.500,URI="p15.2.m4s"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="p15.3.m4s"
"#;

    /// A discontinuity: the source restarted after s21.
    const DISCONTINUITY: &str = "#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:4
#EXT-X-MEDIA-SEQUENCE:20
#EXT-X-DISCONTINUITY-SEQUENCE:3
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:00.000+02:00
#EXTINF:4.000,
s20.ts
#EXTINF:4.000,
s21.ts
#EXT-X-DISCONTINUITY
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:05:00.000+02:00
#EXTINF:4.000,
s22.ts
#EXTINF:3.000,
s23.ts
#EXT-X-ENDLIST
";

    fn ok(text: &str) -> MediaSummary {
        check_media(text).unwrap_or_else(|e| panic!("valid playlist refused: {e:#?}"))
    }

    /// Replaces `from` by `to` in `base` and returns the errors of the result,
    /// asserting one mentions `needle`.
    fn broken(base: &str, from: &str, to: &str, needle: &str) -> Vec<String> {
        assert!(base.contains(from), "{from:?} is not in the playlist");
        let errs = check_media(&base.replacen(from, to, 1)).expect_err("broken playlist accepted");
        assert!(
            errs.iter().any(|m| m.contains(needle)),
            "no error mentions {needle:?}: {errs:#?}"
        );
        errs
    }

    #[test]
    fn rfc_low_latency_example() {
        let m = ok(RFC_LL);
        assert_eq!(
            (m.target_duration, m.media_sequence, m.part_target),
            (4, 264, Some(0.33334))
        );
        assert_eq!(m.segments.len(), 10);
        let last = m.segments.last().unwrap();
        assert_eq!((last.msn, last.uri.as_deref(), last.duration), (273, None, None));
        assert_eq!(last.parts.len(), 3);
        assert!(last.parts[0].independent);
        assert_eq!(m.segments[7].parts.len(), 12);
        assert_eq!(m.segments[7].uri.as_deref(), Some("fileSequence271.mp4"));
        assert_eq!(m.preload_hint.as_deref(), Some("filePart273.3.mp4"));
        assert!(m.can_block_reload);
        assert_eq!(
            (m.part_hold_back, m.can_skip_until, m.hold_back),
            (Some(1.0), Some(24.0), None)
        );
        assert_eq!(m.map_uri.as_deref(), Some("init.mp4"));
        assert_eq!(
            m.segments[8].program_date_time.as_deref(),
            Some("2019-02-14T02:14:00.106Z")
        );
    }

    #[test]
    fn rfc_delta_update_example() {
        let m = ok(RFC_DELTA);
        assert_eq!((m.media_sequence, m.skipped_segments), (264, 3));
        assert_eq!(m.segments[0].msn, 267);
        assert_eq!(m.segments[0].uri.as_deref(), Some("fileSequence267.mp4"));
        assert_eq!(m.segments.last().unwrap().parts.len(), 4);
        check_reload(&ok(RFC_LL), &m).unwrap();
    }

    #[test]
    fn plain_ts_playlist() {
        let m = ok(TS);
        assert_eq!(m.media_sequence, 7);
        let msns: Vec<u64> = m.segments.iter().map(|s| s.msn).collect();
        assert_eq!(msns, [7, 8, 9]);
        assert_eq!(m.segments[1].duration, Some(5.96));
        assert!(m.part_target.is_none() && !m.ended && m.map_uri.is_none());
    }

    #[test]
    fn low_latency_fmp4_playlist() {
        let m = ok(LL);
        assert_eq!(m.segments.len(), 11);
        assert_eq!(m.segments[9].parts.len(), 4);
        assert_eq!(m.segments[10].msn, 15);
        assert_eq!(m.segments[10].map_uri.as_deref(), Some("init.mp4"));
        assert_eq!(m.preload_hint.as_deref(), Some("p15.2.m4s"));
        assert_eq!(m.hold_back, Some(6.0));
    }

    #[test]
    fn delta_update_playlist() {
        let m = ok(LL_DELTA);
        assert_eq!((m.skipped_segments, m.segments[0].msn), (3, 8));
        check_reload(&ok(LL), &m).unwrap();
    }

    #[test]
    fn discontinuity_playlist() {
        let m = ok(DISCONTINUITY);
        assert_eq!(m.discontinuity_sequence, 3);
        assert!(m.segments[2].discontinuity && !m.segments[1].discontinuity);
        assert!(m.ended);
    }

    #[test]
    fn byterange_parts() {
        let text = r#"#EXTM3U
#EXT-X-VERSION:9
#EXT-X-TARGETDURATION:5
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=3.06
#EXT-X-PART-INF:PART-TARGET=1.02
#EXT-X-MAP:URI="init.mp4"
#EXTINF:4.08,
fs270.mp4
#EXT-X-PART:DURATION=1.02,URI="fs271.mp4",BYTERANGE="20000@0"
#EXT-X-PART:DURATION=1.02,URI="fs271.mp4",BYTERANGE="23000@20000"
#EXT-X-PART:DURATION=1.02,URI="fs271.mp4",BYTERANGE="18000@43000"
#EXT-X-PART:DURATION=1.02,URI="fs271.mp4",BYTERANGE="19000@61000"
#EXTINF:4.08,
fs271.mp4
#EXT-X-PART:DURATION=1.02,URI="fs272.mp4",BYTERANGE="21000@0"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="fs272.mp4",BYTERANGE-START=21000
"#;
        assert_eq!(ok(text).segments.len(), 3);
    }

    #[test]
    fn first_line_is_extm3u() {
        broken(TS, "#EXTM3U\n", "\n#EXTM3U\n", "#EXTM3U");
    }

    #[test]
    fn version_present_and_high_enough() {
        broken(TS, "#EXT-X-VERSION:3\n", "", "EXT-X-VERSION is missing");
        broken(TS, "#EXT-X-VERSION:3", "#EXT-X-VERSION:2", "non-integer EXTINF");
        broken(
            LL,
            "#EXT-X-VERSION:9",
            "#EXT-X-VERSION:5",
            "EXT-X-PART needs EXT-X-VERSION 6",
        );
        broken(
            LL_DELTA,
            "#EXT-X-VERSION:9",
            "#EXT-X-VERSION:8",
            "EXT-X-SKIP needs EXT-X-VERSION 9",
        );
        broken(
            TS,
            "#EXT-X-VERSION:3",
            "#EXT-X-VERSION:3\n#EXT-X-VERSION:3",
            "more than once",
        );
    }

    #[test]
    fn target_duration_once_before_segments() {
        broken(
            TS,
            "#EXT-X-TARGETDURATION:6\n",
            "",
            "EXT-X-TARGETDURATION is missing",
        );
        broken(
            TS,
            "#EXT-X-TARGETDURATION:6",
            "#EXT-X-TARGETDURATION:6\n#EXT-X-TARGETDURATION:6",
            "more than once",
        );
        let moved = TS.replacen("#EXT-X-TARGETDURATION:6\n", "", 1) + "#EXT-X-TARGETDURATION:6\n";
        let errs = check_media(&moved).unwrap_err();
        assert!(
            errs.iter()
                .any(|m| m.contains("EXT-X-TARGETDURATION must come before the first segment"))
        );
    }

    #[test]
    fn extinf_rounds_within_target_duration() {
        broken(
            TS,
            "#EXTINF:6.040,",
            "#EXTINF:6.5,",
            "rounds above EXT-X-TARGETDURATION",
        );
        // 6.4 rounds to 6: allowed.
        ok(&TS.replacen("#EXTINF:6.040,", "#EXTINF:6.4,", 1));
    }

    #[test]
    fn sequence_tags_before_first_segment() {
        let late = TS.replacen("#EXT-X-MEDIA-SEQUENCE:7\n", "", 1).replacen(
            "s8.ts\n",
            "s8.ts\n#EXT-X-MEDIA-SEQUENCE:7\n",
            1,
        );
        let errs = check_media(&late).unwrap_err();
        assert!(
            errs.iter()
                .any(|m| m.contains("EXT-X-MEDIA-SEQUENCE must come before the first segment"))
        );
        let late = DISCONTINUITY
            .replacen("#EXT-X-DISCONTINUITY-SEQUENCE:3\n", "", 1)
            .replacen("s20.ts\n", "s20.ts\n#EXT-X-DISCONTINUITY-SEQUENCE:3\n", 1);
        let errs = check_media(&late).unwrap_err();
        assert!(
            errs.iter()
                .any(|m| m.contains("EXT-X-DISCONTINUITY-SEQUENCE must come before the first segment"))
        );
    }

    #[test]
    fn part_inf_iff_parts() {
        broken(
            LL,
            "#EXT-X-PART-INF:PART-TARGET=0.5\n",
            "",
            "EXT-X-PART tags without EXT-X-PART-INF",
        );
        let no_parts = TS.replacen(
            "#EXT-X-TARGETDURATION:6",
            "#EXT-X-TARGETDURATION:6\n#EXT-X-PART-INF:PART-TARGET=1",
            1,
        );
        let errs = check_media(&no_parts).unwrap_err();
        assert!(
            errs.iter()
                .any(|m| m.contains("EXT-X-PART-INF without any EXT-X-PART"))
        );
        broken(LL, "PART-TARGET=0.5", "PART-TARGET=0", "PART-TARGET must be > 0");
    }

    #[test]
    fn part_duration_within_part_target() {
        broken(
            LL,
            r#"DURATION=0.500,URI="p15.1.m4s""#,
            r#"DURATION=0.510,URI="p15.1.m4s""#,
            "exceeds PART-TARGET",
        );
    }

    #[test]
    fn part_minimum_duration() {
        broken(
            LL,
            r#"DURATION=0.500,URI="p14.1.m4s""#,
            r#"DURATION=0.400,URI="p14.1.m4s""#,
            "under 85%",
        );
        // The last part of a segment and INDEPENDENT parts are exempt.
        let short_last = LL
            .replacen(
                r#"DURATION=0.460,URI="p14.3.m4s""#,
                r#"DURATION=0.100,URI="p14.3.m4s""#,
                1,
            )
            .replacen("#EXTINF:1.960,", "#EXTINF:1.600,", 1);
        ok(&short_last);
        let short_independent = LL.replacen(
            r#"DURATION=0.500,URI="p15.0.m4s""#,
            r#"DURATION=0.200,URI="p15.0.m4s""#,
            1,
        );
        ok(&short_independent);
    }

    #[test]
    fn part_has_uri_and_duration() {
        broken(
            LL,
            r#"DURATION=0.500,URI="p13.1.m4s""#,
            "DURATION=0.500",
            "EXT-X-PART has no URI attribute",
        );
        broken(
            LL,
            r#"DURATION=0.500,URI="p13.1.m4s""#,
            r#"URI="p13.1.m4s""#,
            "EXT-X-PART has no DURATION",
        );
    }

    #[test]
    fn parts_sum_to_extinf() {
        broken(
            LL,
            "#EXTINF:1.960,",
            "#EXTINF:1.990,",
            "EXT-X-PART durations sum to",
        );
    }

    #[test]
    fn parts_only_near_live_end() {
        let old = LL.replacen(
            "#EXTINF:2.000,\ns10.m4s",
            "#EXT-X-PART:DURATION=0.500,URI=\"p10.0.m4s\",INDEPENDENT=YES\n\
             #EXT-X-PART:DURATION=0.500,URI=\"p10.1.m4s\"\n\
             #EXT-X-PART:DURATION=0.500,URI=\"p10.2.m4s\"\n\
             #EXT-X-PART:DURATION=0.500,URI=\"p10.3.m4s\"\n#EXTINF:2.000,\ns10.m4s",
            1,
        );
        let errs = check_media(&old).unwrap_err();
        assert!(
            errs.iter().any(|m| m.contains("three Target Durations")),
            "{errs:#?}"
        );
    }

    #[test]
    fn server_control_limits() {
        broken(LL, "PART-HOLD-BACK=1.5,", "", "PART-HOLD-BACK is required");
        broken(
            LL,
            "PART-HOLD-BACK=1.5",
            "PART-HOLD-BACK=0.9",
            "PART-HOLD-BACK 0.9 is under twice",
        );
        broken(
            LL,
            "HOLD-BACK=6,",
            "HOLD-BACK=5.9,",
            "HOLD-BACK 5.9 is under three times",
        );
        broken(
            LL,
            "CAN-SKIP-UNTIL=12",
            "CAN-SKIP-UNTIL=11",
            "CAN-SKIP-UNTIL 11 is under six times",
        );
    }

    #[test]
    fn skip_rules() {
        broken(
            LL_DELTA,
            ",CAN-SKIP-UNTIL=12",
            "",
            "EXT-X-SKIP without CAN-SKIP-UNTIL",
        );
        let late = LL_DELTA
            .replacen("#EXT-X-SKIP:SKIPPED-SEGMENTS=3\n", "", 1)
            .replacen("s11.m4s\n", "s11.m4s\n#EXT-X-SKIP:SKIPPED-SEGMENTS=3\n", 1);
        let errs = check_media(&late).unwrap_err();
        assert!(
            errs.iter()
                .any(|m| m.contains("EXT-X-SKIP must come before the first segment"))
        );
        broken(
            LL_DELTA,
            "SKIPPED-SEGMENTS=3",
            "SKIPPED=3",
            "EXT-X-SKIP has no SKIPPED-SEGMENTS",
        );
        // Skipping s8 and s9 too leaves less than the 12 s skip boundary listed.
        broken(
            LL_DELTA,
            "SKIPPED-SEGMENTS=3\n#EXTINF:2.000,\ns8.m4s\n#EXTINF:2.000,\ns9.m4s\n",
            "SKIPPED-SEGMENTS=5\n",
            "within the skip boundary",
        );
    }

    #[test]
    fn preload_hint_rules() {
        let hint = "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p15.2.m4s\"";
        broken(
            LL,
            hint,
            &format!("{hint}\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p15.3.m4s\""),
            "more than one with TYPE=PART",
        );
        broken(
            LL,
            hint,
            "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p15.1.m4s\"",
            "a part already listed",
        );
        let early = LL.replacen(&format!("{hint}\n"), "", 1).replacen(
            "#EXT-X-PART:DURATION=0.500,URI=\"p15.1.m4s\"",
            &format!("{hint}\n#EXT-X-PART:DURATION=0.500,URI=\"p15.1.m4s\""),
            1,
        );
        let errs = check_media(&early).unwrap_err();
        assert!(
            errs.iter()
                .any(|m| m.contains("must come after the last EXT-X-PART"))
        );
        broken(
            LL,
            "#EXT-X-PRELOAD-HINT:TYPE=PART,",
            "#EXT-X-PRELOAD-HINT:",
            "EXT-X-PRELOAD-HINT has no TYPE",
        );
        let ended = LL.replacen(
            "#EXT-X-RENDITION-REPORT:URI=\"../audio/index.m3u8\",LAST-MSN=15,LAST-PART=1\n",
            "#EXT-X-ENDLIST\n",
            1,
        );
        let errs = check_media(&ended).unwrap_err();
        assert!(errs.iter().any(|m| m.contains("not allowed with EXT-X-ENDLIST")));
    }

    #[test]
    fn program_date_time_rules() {
        broken(
            LL,
            "2024-05-01T12:00:00.000Z",
            "2024-05-01T12:00:00.000",
            "not an ISO 8601 date-time",
        );
        broken(
            LL,
            "2024-05-01T12:00:00.000Z",
            "2024-05-01 12:00:00Z",
            "not an ISO 8601 date-time",
        );
        broken(
            LL,
            "2024-05-01T12:00:00.000Z",
            "2024-02-30T12:00:00.000Z",
            "not an ISO 8601 date-time",
        );
        // Four segments of 2 s after 12:00:00 is 12:00:08; 12:00:09 is a jump.
        broken(
            LL,
            "2024-05-01T12:00:08.000Z",
            "2024-05-01T12:00:09.000Z",
            "EXT-X-PROGRAM-DATE-TIME",
        );
        // Within 0.5 s, and with another time zone, it is fine.
        ok(&LL.replacen("2024-05-01T12:00:08.000Z", "2024-05-01T14:00:08.400+02:00", 1));
        // A discontinuity resets the expectation (5 minutes later is fine).
        assert_eq!(parse_date_time("1970-01-01T00:00:01.5Z"), Some(1.5));
        assert_eq!(
            parse_date_time("2010-02-19T14:54:23.031+08:00"),
            Some(1_266_562_463.031)
        );
    }

    #[test]
    fn map_before_fmp4_segments() {
        broken(LL, "#EXT-X-MAP:URI=\"init.mp4\"\n", "", "need an EXT-X-MAP");
        broken(
            LL,
            "#EXT-X-MAP:URI=\"init.mp4\"\n",
            "#EXT-X-MAP:BYTERANGE=\"10@0\"\n",
            "EXT-X-MAP has no URI",
        );
    }

    #[test]
    fn malformed_attribute_lists() {
        broken(
            LL,
            "CAN-BLOCK-RELOAD=YES,",
            "CAN-BLOCK-RELOAD=YES,,",
            "malformed attribute list",
        );
        broken(
            LL,
            r#"URI="p13.2.m4s""#,
            r#"URI="p13.2.m4s"#,
            "unterminated quoted-string",
        );
        broken(
            LL,
            r#"URI="p13.2.m4s""#,
            r#"URI="p13.2.m4s",URI="x""#,
            "appears twice",
        );
        broken(
            LL,
            r#"URI="p13.2.m4s""#,
            "URI=p13.2.m4s",
            "must be a quoted-string",
        );
        broken(
            LL,
            "INDEPENDENT=YES",
            "independent=YES",
            "malformed attribute list",
        );
        broken(
            TS,
            "#EXTINF:6.000,\ns7.ts",
            "#EXT-X-KEY:METHOD=NONE,\n#EXTINF:6.000,\ns7.ts",
            "malformed",
        );
        // Unknown tags are ignored, attribute list or not.
        ok(&TS.replacen("#EXTINF:6.000,", "#EXT-X-FUTURE:what ever\n#EXTINF:6.000,", 1));
    }

    #[test]
    fn every_segment_has_extinf_and_uri() {
        broken(TS, "s8.ts\n", "", "has no URI line");
        broken(TS, "#EXTINF:5.960,\n", "", "has no EXTINF before it");
        broken(TS, "s9.ts\n", "", "EXTINF has no URI line after it");
        // Only the trailing segment may go without a URI, and only with parts.
        broken(LL, "s14.m4s\n", "", "has no URI line");
    }

    #[test]
    fn segment_tags_before_first_part() {
        broken(
            LL,
            "#EXT-X-PART:DURATION=0.500,URI=\"p14.1.m4s\"",
            "#EXT-X-DISCONTINUITY\n#EXT-X-PART:DURATION=0.500,URI=\"p14.1.m4s\"",
            "must come before the first EXT-X-PART",
        );
    }

    #[test]
    fn endlist_is_last() {
        broken(
            DISCONTINUITY,
            "s23.ts\n#EXT-X-ENDLIST\n",
            "#EXT-X-ENDLIST\ns23.ts\n",
            "EXT-X-ENDLIST must be the last",
        );
    }

    #[test]
    fn no_multivariant_tags_in_media_playlist() {
        broken(
            TS,
            "#EXT-X-TARGETDURATION:6",
            "#EXT-X-TARGETDURATION:6\n#EXT-X-STREAM-INF:BANDWIDTH=1",
            "Multivariant",
        );
    }

    const MULTIVARIANT: &str = r#"#EXTM3U
#EXT-X-VERSION:6
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aac",NAME="English",LANGUAGE="en",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="audio/index.m3u8"
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aac",NAME="French",LANGUAGE="fr",URI="audio-fr/index.m3u8"
#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID="cc",NAME="CC1",INSTREAM-ID="CC1"
#EXT-X-STREAM-INF:BANDWIDTH=4400000,AVERAGE-BANDWIDTH=4000000,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=1280x720,FRAME-RATE=25.000,AUDIO="aac",CLOSED-CAPTIONS="cc"
video/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=1200000,CODECS="avc1.4d401e,mp4a.40.2",RESOLUTION=640x360,AUDIO="aac",CLOSED-CAPTIONS="cc"
low/index.m3u8
#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=300000,CODECS="avc1.64001f",URI="iframes.m3u8"
"#;

    fn broken_mv(from: &str, to: &str, needle: &str) {
        assert!(MULTIVARIANT.contains(from), "{from:?} is not in the playlist");
        let errs =
            check_multivariant(&MULTIVARIANT.replacen(from, to, 1)).expect_err("broken playlist accepted");
        assert!(
            errs.iter().any(|m| m.contains(needle)),
            "no error mentions {needle:?}: {errs:#?}"
        );
    }

    #[test]
    fn multivariant_valid() {
        assert_eq!(
            check_multivariant(MULTIVARIANT).unwrap(),
            ["video/index.m3u8", "low/index.m3u8"]
        );
        let minimal = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000,CODECS=\"avc1.42c01e\"\nv.m3u8\n";
        assert_eq!(check_multivariant(minimal).unwrap(), ["v.m3u8"]);
    }

    #[test]
    fn multivariant_rules() {
        broken_mv("#EXTM3U\n", "", "#EXTM3U");
        broken_mv("BANDWIDTH=1200000,", "", "has no BANDWIDTH");
        broken_mv("BANDWIDTH=1200000", "BANDWIDTH=1.2M", "not a decimal-integer");
        broken_mv(r#"CODECS="avc1.4d401e,mp4a.40.2","#, "", "has no CODECS");
        broken_mv("low/index.m3u8\n", "", "must be followed by its URI line");
        let last = "#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=300000,CODECS=\"avc1.64001f\",URI=\"iframes.m3u8\"\n";
        broken_mv(&format!("low/index.m3u8\n{last}"), "", "has no URI line after it");
        broken_mv(
            "video/index.m3u8\n",
            "#EXT-X-GAP\nvideo/index.m3u8\n",
            "media playlist tag",
        );
        broken_mv("RESOLUTION=640x360", "RESOLUTION=640", "RESOLUTION=640 is not");
        broken_mv(
            r#"AUDIO="aac",CLOSED"#,
            r#"AUDIO="ac3",CLOSED"#,
            "names no EXT-X-MEDIA group",
        );
        broken_mv(r#"NAME="French""#, r#"NAME="English""#, "appears twice");
        broken_mv(
            r#"LANGUAGE="fr","#,
            r#"LANGUAGE="fr",DEFAULT=YES,"#,
            "more than one DEFAULT=YES",
        );
        broken_mv("AUTOSELECT=YES", "AUTOSELECT=NO", "AUTOSELECT must be YES");
        broken_mv(
            r#"NAME="CC1",INSTREAM-ID="CC1""#,
            r#"NAME="CC1""#,
            "INSTREAM-ID is required",
        );
        broken_mv(
            r#"TYPE=AUDIO,GROUP-ID="aac",NAME="French""#,
            r#"TYPE=AUDIO,GROUP-ID="aac""#,
            "has no NAME",
        );
        broken_mv(
            r#"TYPE=AUDIO,GROUP-ID="aac",NAME="French""#,
            r#"TYPE=SOUND,GROUP-ID="aac",NAME="French""#,
            "TYPE=SOUND",
        );
        broken_mv(
            r#",URI="iframes.m3u8""#,
            "",
            "EXT-X-I-FRAME-STREAM-INF has no URI",
        );
        broken_mv(
            "CODECS=\"avc1.64001f\",URI",
            "CODECS=avc1,URI",
            "must be a quoted-string",
        );
        let none = "#EXTM3U\n#EXT-X-VERSION:6\n";
        assert!(check_multivariant(none).unwrap_err()[0].contains("no EXT-X-STREAM-INF"));
    }

    /// A live window of `n` 2 s TS segments from `first`, with discontinuity
    /// tags on the listed MSNs.
    fn window(first: u64, n: u64, disc_seq: u64, discontinuities: &[u64]) -> MediaSummary {
        let mut t = format!(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:{first}\n\
             #EXT-X-DISCONTINUITY-SEQUENCE:{disc_seq}\n"
        );
        for msn in first..first + n {
            if discontinuities.contains(&msn) {
                t.push_str("#EXT-X-DISCONTINUITY\n");
            }
            t.push_str(&format!("#EXTINF:2.000,\ns{msn}.ts\n"));
        }
        ok(&t)
    }

    fn reload_err(prev: &MediaSummary, next: &MediaSummary, needle: &str) {
        let errs = check_reload(prev, next).expect_err("bad reload accepted");
        assert!(
            errs.iter().any(|m| m.contains(needle)),
            "no error mentions {needle:?}: {errs:#?}"
        );
    }

    #[test]
    fn reload_sliding_window() {
        check_reload(&window(10, 5, 0, &[]), &window(12, 5, 0, &[])).unwrap();
        check_reload(&window(10, 5, 0, &[]), &window(10, 5, 0, &[])).unwrap();
        // The discontinuity on s11 left the window when s10 and s11 did.
        check_reload(&window(10, 5, 4, &[11, 13]), &window(12, 5, 5, &[13])).unwrap();
        reload_err(
            &window(10, 5, 4, &[11, 13]),
            &window(12, 5, 4, &[13]),
            "grew by 0 but 1",
        );
        reload_err(&window(10, 5, 4, &[]), &window(12, 5, 5, &[]), "grew by 1 but 0");
        reload_err(
            &window(12, 5, 0, &[]),
            &window(10, 5, 0, &[]),
            "EXT-X-MEDIA-SEQUENCE went back",
        );
    }

    #[test]
    fn reload_segment_identity() {
        let prev = window(10, 5, 0, &[]);
        let mut next = window(11, 5, 0, &[]);
        next.segments[1].duration = Some(1.5);
        reload_err(&prev, &next, "had duration 2, now 1.5");
        let mut next = window(11, 5, 0, &[]);
        next.segments[0].uri = Some("s12.ts".into());
        reload_err(&prev, &next, "had MSN 12, now 11");
        let mut next = window(11, 5, 0, &[]);
        next.segments.remove(2);
        reload_err(&prev, &next, "numbering is not continuous");
    }

    #[test]
    fn reload_parts() {
        let prev = ok(LL);
        // One more part, then the segment completes.
        let more = LL.replacen(
            "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p15.2.m4s\"",
            "#EXT-X-PART:DURATION=0.500,URI=\"p15.2.m4s\"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p15.3.m4s\"",
            1,
        );
        let next = ok(&more);
        check_reload(&prev, &next).unwrap();
        // The in-progress segment going back a part.
        reload_err(&next, &prev, "the live end went back");
        // A part of a completed segment changing.
        let changed = ok(&LL.replacen("p13.2.m4s", "p13.2b.m4s", 1));
        reload_err(&prev, &changed, "parts of completed segment MSN 13 changed");
        // A part of the in-progress segment changing.
        let changed = ok(&more.replacen("p15.1.m4s", "p15.1b.m4s", 1));
        reload_err(&prev, &changed, "parts of in-progress segment MSN 15 changed");
        // The in-progress segment completing without one of its parts.
        let cut = LL.replacen(
            "#EXT-X-PART:DURATION=0.500,URI=\"p15.1.m4s\"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p15.2.m4s\"",
            "#EXTINF:0.500,\ns15.m4s\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p16.0.m4s\"",
            1,
        );
        reload_err(
            &prev,
            &ok(&cut),
            "in-progress segment MSN 15 lost parts: 2 then 1",
        );
    }

    #[test]
    fn reload_skips() {
        let prev = ok(LL);
        check_reload(&prev, &ok(LL_DELTA)).unwrap();
        // A delta update skipping segments the previous playlist never had.
        let mut next = ok(LL_DELTA);
        next.media_sequence = 3;
        next.skipped_segments = 5;
        reload_err(&prev, &next, "prev did not all have completed");
        let mut next = ok(LL_DELTA);
        next.can_skip_until = None;
        reload_err(&prev, &next, "without CAN-SKIP-UNTIL");
    }

    #[test]
    fn reload_after_endlist() {
        let prev = window(10, 5, 0, &[]);
        let mut ended = prev.clone();
        ended.ended = true;
        check_reload(&prev, &ended).unwrap();
        check_reload(&ended, &ended).unwrap();
        reload_err(&ended, &prev, "prev has EXT-X-ENDLIST");
    }
}
