//! [`Time`]: a point in time, unix milliseconds inside, RFC 3339 on the wire.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A UTC point in time with millisecond precision, as Kubernetes' `metav1.Time`
/// carries it: serialized as RFC 3339 (`2024-05-01T12:00:00.123Z`, the
/// fraction only when non-zero). This crate never reads a clock: callers
/// build a `Time` from their own clock with [`Time::from_unix_millis`].
///
/// ```
/// use spec::Time;
/// let t = Time::from_unix_millis(1_714_564_800_123);
/// assert_eq!(t.to_string(), "2024-05-01T12:00:00.123Z");
/// assert_eq!("2024-05-01T14:00:00.123+02:00".parse::<Time>().unwrap(), t);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Time(i64);

/// Why a string is not an RFC 3339 time.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not an RFC 3339 time (like 2024-05-01T12:00:00Z): {reason}")]
pub struct TimeError {
    text: String,
    reason: &'static str,
}

/// Years this type formats and parses (four-digit years only).
const MIN_MILLIS: i64 = -62_135_596_800_000; // 0001-01-01T00:00:00Z
const MAX_MILLIS: i64 = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z

// === impl Time ===

impl Time {
    /// From milliseconds since 1970-01-01T00:00:00Z, clamped to years 1 to 9999.
    pub fn from_unix_millis(ms: i64) -> Self {
        Self(ms.clamp(MIN_MILLIS, MAX_MILLIS))
    }

    /// Milliseconds since 1970-01-01T00:00:00Z.
    pub fn unix_millis(self) -> i64 {
        self.0
    }

    /// Parses RFC 3339 `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`; digits of the
    /// fraction beyond milliseconds are truncated. `t`, `z` and a space for `T` are accepted.
    pub fn parse(s: &str) -> Result<Self, TimeError> {
        let err = |reason| TimeError {
            text: s.to_owned(),
            reason,
        };
        let b = s.as_bytes();
        if b.len() < 20 || !s.is_ascii() {
            return Err(err("too short"));
        }
        let num = |r: std::ops::Range<usize>| -> Result<i64, TimeError> {
            let part = &s[r];
            if part.bytes().all(|c| c.is_ascii_digit()) {
                part.parse().map_err(|_| err("not a number"))
            } else {
                Err(err("expected digits"))
            }
        };
        let seps = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
        if seps.iter().any(|&(i, c)| b[i] != c) || !matches!(b[10], b'T' | b't' | b' ') {
            return Err(err("misplaced separator"));
        }
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
            return Err(err("no such date"));
        }
        // A leap second (:60) is read as :59.
        if hour > 23 || minute > 59 || second > 60 {
            return Err(err("no such time of day"));
        }
        let mut i = 19;
        let mut millis = 0;
        if b[i] == b'.' {
            let start = i + 1;
            i = start;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i == start {
                return Err(err("empty fraction"));
            }
            let digits = &s[start..i.min(start + 3)];
            millis =
                digits.parse::<i64>().map_err(|_| err("bad fraction"))? * 10i64.pow(3 - digits.len() as u32);
        }
        let offset_minutes = match &b[i..] {
            [b'Z' | b'z'] => 0,
            [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
                let (h, m) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
                if h > 23 || m > 59 {
                    return Err(err("offset out of range"));
                }
                let minutes = h * 60 + m;
                if *sign == b'-' { -minutes } else { minutes }
            }
            _ => return Err(err("expected Z or an offset like +02:00")),
        };
        let days = days_from_civil(year, month, day);
        let secs = days * 86_400 + hour * 3600 + minute * 60 + second.min(59) - offset_minutes * 60;
        Ok(Self::from_unix_millis(secs * 1000 + millis))
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (days, ms_of_day) = (self.0.div_euclid(86_400_000), self.0.rem_euclid(86_400_000));
        let (y, m, d) = civil_from_days(days);
        let s = ms_of_day / 1000;
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
            s / 3600,
            s / 60 % 60,
            s % 60
        )?;
        match ms_of_day % 1000 {
            0 => f.write_str("Z"),
            ms => write!(f, ".{ms:03}Z"),
        }
    }
}

impl FromStr for Time {
    type Err = TimeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = Cow::<'de, str>::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Time {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "Time".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "format": "date-time" })
    }
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(Time::from_unix_millis(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(
            Time::from_unix_millis(951_782_400_000).to_string(),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(Time::from_unix_millis(-1).to_string(), "1969-12-31T23:59:59.999Z");
        assert_eq!(
            Time::parse("2000-02-29T00:00:00Z").unwrap().unix_millis(),
            951_782_400_000
        );
        assert_eq!(Time::parse("1970-01-01t00:00:00.5z").unwrap().unix_millis(), 500);
        assert_eq!(
            Time::parse("1970-01-01 00:00:00.123456789Z")
                .unwrap()
                .unix_millis(),
            123
        );
        assert_eq!(Time::parse("1970-01-01T01:00:00+01:00").unwrap().unix_millis(), 0);
        assert_eq!(Time::parse("1969-12-31T23:00:00-01:00").unwrap().unix_millis(), 0);
        assert_eq!(
            Time::parse("2016-12-31T23:59:60Z").unwrap().to_string(),
            "2016-12-31T23:59:59Z"
        );
        assert_eq!(
            Time::from_unix_millis(i64::MAX).to_string(),
            "9999-12-31T23:59:59.999Z"
        );
        assert_eq!(
            Time::from_unix_millis(i64::MIN).to_string(),
            "0001-01-01T00:00:00Z"
        );
    }

    #[test]
    fn rejects() {
        for s in [
            "",
            "2024-05-01",
            "2024-05-01T12:00:00",
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-05-01T24:00:00Z",
            "2024-05-01T12:00:00.Z",
            "2024-05-01T12:00:00+2:00",
            "2024-05-01T12:00:00+24:00",
            "2024-05-01X12:00:00Z",
            "+024-05-01T12:00:00Z",
            "2024-05-01T12:00:00Zjunk",
            "2024-05-01T12:00:00Ä",
        ] {
            assert!(Time::parse(s).is_err(), "{s:?}");
        }
        let e = Time::parse("2023-02-29T00:00:00Z").unwrap_err().to_string();
        assert!(e.contains("no such date"), "{e}");
    }

    #[test]
    fn serde() {
        let t: Time = serde_json::from_str("\"2024-05-01T12:00:00Z\"").unwrap();
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"2024-05-01T12:00:00Z\"");
    }

    proptest! {
        #[test]
        fn round_trip(ms in MIN_MILLIS..=MAX_MILLIS) {
            let t = Time::from_unix_millis(ms);
            prop_assert_eq!(Time::parse(&t.to_string()).unwrap(), t);
        }

        #[test]
        fn never_panics(s in any::<String>(), t in "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,12})?(Z|[+-][0-9]{2}:[0-9]{2})") {
            let _ = Time::parse(&s);
            let _ = Time::parse(&t);
        }
    }
}
