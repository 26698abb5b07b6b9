//! Writing LL-HLS media playlists from a [`Timeline`] (RFC 8216bis), and the
//! multivariant playlist of a stream with several video tracks.
//!
//! File names, relative to the playlist: `init{ID}.mp4` (CMAF init segment),
//! `s{MSN}.{m4s,ts}` (segments), `p{N}.{m4s,ts}` (parts; `N` counts parts
//! across segments, so a preload hint never has to guess whether the next
//! part opens a new segment).

use std::fmt::Write;
use std::time::SystemTime;

use super::segmenter::{Format, Timeline};

/// How far from the live end parts are listed, in target durations (§4.4.4.9).
const PART_LIST_SPAN: f64 = 3.0;

/// `CAN-SKIP-UNTIL` in target durations (at least six, §4.4.3.8).
pub const SKIP_SPAN: f64 = 6.0;

/// A media playlist. With `skip`, segments older than `CAN-SKIP-UNTIL` from
/// the end are replaced by `EXT-X-SKIP` (a delta update).
pub fn media(tl: &Timeline, skip: bool) -> String {
    let ext = tl.format.extension();
    let target = tl.target_duration as f64;
    let mut out = String::with_capacity(256 + tl.segments.len() * 160);
    out.push_str("#EXTM3U\n#EXT-X-VERSION:9\n");
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{}", tl.target_duration);
    let skip_until = SKIP_SPAN * target;
    match tl.part_target {
        Some(pt) => {
            let _ = writeln!(
                out,
                "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL={skip_until:.1},PART-HOLD-BACK={:.3}",
                pt * 3.0
            );
            let _ = writeln!(out, "#EXT-X-PART-INF:PART-TARGET={pt:.3}");
        }
        None => {
            let _ = writeln!(
                out,
                "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL={skip_until:.1}"
            );
        }
    }
    let first_msn = tl.segments.front().map_or(tl.next_msn, |s| s.msn);
    let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{first_msn}");
    let _ = writeln!(out, "#EXT-X-DISCONTINUITY-SEQUENCE:{}", tl.discontinuity_sequence);

    // time from each segment's end to the playlist's end
    let mut after = vec![0.0; tl.segments.len()];
    let mut acc = 0.0;
    for (i, s) in tl.segments.iter().enumerate().rev() {
        after[i] = acc;
        acc += s.duration;
    }
    let skipped = if skip {
        tl.segments
            .iter()
            .zip(&after)
            .take_while(|(s, a)| s.complete && **a > skip_until)
            .count()
    } else {
        0
    };
    if skipped > 0 {
        let _ = writeln!(out, "#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}");
    }
    let mut map = None;
    for (i, s) in tl.segments.iter().enumerate().skip(skipped) {
        if s.parts.is_empty() {
            // a segment opened by its first frame, with no part yet
            continue;
        }
        if s.discontinuity && i > skipped {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        if tl.format == Format::Cmaf && map != Some(s.init) {
            let _ = writeln!(out, "#EXT-X-MAP:URI=\"init{}.mp4\"", s.init);
            map = Some(s.init);
        }
        let _ = writeln!(out, "#EXT-X-PROGRAM-DATE-TIME:{}", date_time(s.program_date_time));
        if after[i] + s.duration <= PART_LIST_SPAN * target + 1e-6 || !s.complete {
            for p in &s.parts {
                let _ = write!(
                    out,
                    "#EXT-X-PART:DURATION={:.5},URI=\"p{}.{ext}\"",
                    p.duration, p.seq
                );
                out.push_str(if p.independent { ",INDEPENDENT=YES\n" } else { "\n" });
            }
        }
        if s.complete {
            let _ = writeln!(out, "#EXTINF:{:.5},\ns{}.{ext}", s.duration, s.msn);
        }
    }
    if tl.live && tl.part_target.is_some() && !tl.segments.is_empty() {
        let _ = writeln!(
            out,
            "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p{}.{ext}\"",
            tl.next_part
        );
    }
    out
}

/// One variant of a multivariant playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// Media playlist URI, relative.
    pub uri: String,
    /// Peak bits per second.
    pub bandwidth: u64,
    /// `RESOLUTION`.
    pub resolution: Option<(u32, u32)>,
    /// `CODECS` (RFC 6381), when every track's is known.
    pub codecs: Option<String>,
}

/// A multivariant playlist listing `variants`.
pub fn multivariant(variants: &[Variant]) -> String {
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for v in variants {
        let _ = write!(out, "#EXT-X-STREAM-INF:BANDWIDTH={}", v.bandwidth.max(1));
        if let Some((w, h)) = v.resolution {
            let _ = write!(out, ",RESOLUTION={w}x{h}");
        }
        if let Some(c) = &v.codecs {
            let _ = write!(out, ",CODECS=\"{c}\"");
        }
        let _ = writeln!(out, "\n{}", v.uri);
    }
    out
}

/// RFC 6381 codec string of a track, when this server can tell it.
pub fn codec_string(track: &crate::Track) -> Option<String> {
    match track.codec {
        crate::Codec::H264 => track
            .init
            .get(1..4)
            .map(|b| format!("avc1.{:02x}{:02x}{:02x}", b[0], b[1], b[2])),
        crate::Codec::Aac => {
            let object = track.init.first().map(|b| b >> 3).filter(|o| *o > 0 && *o < 31)?;
            Some(format!("mp4a.40.{object}"))
        }
        crate::Codec::Opus => Some("opus".into()),
        // VP codec ISO media binding §3: profile 0, level 1.0, 8 bits.
        crate::Codec::Vp8 => Some("vp08.00.10.08".into()),
        _ => None,
    }
}

/// `YYYY-MM-DDThh:mm:ss.sssZ` (ISO 8601, UTC).
pub fn date_time(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // civil date from days since 1970-01-01 (Howard Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn date_time_is_iso_8601_utc() {
        assert_eq!(date_time(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_660_923_456);
        assert_eq!(date_time(t), "2026-11-26T02:42:03.456Z");
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(date_time(leap), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn codec_strings() {
        let mut t = crate::Track::new(1, crate::Codec::H264, 90_000);
        t.init = vec![1, 0x64, 0x00, 0x1f, 0xff].into();
        assert_eq!(codec_string(&t).as_deref(), Some("avc1.64001f"));
        let mut a = crate::Track::new(2, crate::Codec::Aac, 48_000);
        a.init = crate::aac::AudioSpecificConfig {
            object_type: 2,
            sample_rate: 48_000,
            channels: 2,
        }
        .encode();
        assert_eq!(codec_string(&a).as_deref(), Some("mp4a.40.2"));
    }
}
