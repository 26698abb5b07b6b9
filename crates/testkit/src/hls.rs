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
///   >= 85% of PART-TARGET except for INDEPENDENT=YES or GAP=YES parts, parts
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
///   only when CAN-SKIP-UNTIL is announced (4.4.5.2); the segments it leaves
///   listed span at least CAN-SKIP-UNTIL less one target duration (6.2.5.1);
/// - EXT-X-PRELOAD-HINT has TYPE and URI, at most one per TYPE (the RFC's
///   SHOULD NOT, enforced), none with EXT-X-ENDLIST (4.4.5.3), comes after the
///   last EXT-X-PART, and a TYPE=PART hint does not name a part already listed;
/// - EXT-X-RENDITION-REPORT has URI, and LAST-MSN / LAST-PART are integers (4.4.5.4);
/// - EXT-X-PROGRAM-DATE-TIME is ISO 8601 with a time zone (this checker
///   requires the zone, a SHOULD in 4.4.4.6), and, between two of them with no
///   discontinuity in between, grows by the durations of the segments in
///   between within 0.5 s;
/// - EXT-X-MAP with URI is present before the first segment when segment or
///   part URIs end in `.m4s` or `.mp4`;
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
                if listed < csu - td as f64 - 0.5 {
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
    if uses_fmp4 && segments.first().is_some_and(|s| s.map.is_none()) {
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
///   with new ones after them;
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
        let back = bm < am || (bm == am && ((ac && !bc) || (!ac && !bc && bp < ap)));
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
        } else if !s.parts.starts_with(&p.parts) {
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
