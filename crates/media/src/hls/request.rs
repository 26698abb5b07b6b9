//! The LL-HLS delivery directives of a playlist request (RFC 8216bis §6.2.5):
//! `_HLS_msn`, `_HLS_part` and `_HLS_skip` in the query string.

/// Largest media sequence number accepted in a directive (RFC 8216bis
/// decimal-integers are below 2^64; numbers this large are never near a
/// live playlist's end anyway).
pub const MAX_NUMBER: u64 = 1 << 62;

/// What a client asked of a playlist request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Directives {
    /// `_HLS_msn`: hold the response until this media sequence number is in the playlist.
    pub msn: Option<u64>,
    /// `_HLS_part`: with `msn`, hold until this part of that segment is in the playlist.
    pub part: Option<u64>,
    /// `_HLS_skip=YES` (or `v2`): a delta update is wanted.
    pub skip: bool,
}

/// Why a query's directives are refused (answered with 400 Bad Request).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectiveError {
    /// A number that is not a decimal integer, or is too large.
    #[error("{name}={value:?} is not a decimal integer up to 2^62")]
    BadNumber {
        /// The parameter.
        name: &'static str,
        /// The value as sent (cut to 32 bytes).
        value: String,
    },
    /// `_HLS_part` without `_HLS_msn`.
    #[error("_HLS_part needs _HLS_msn")]
    PartWithoutMsn,
    /// `_HLS_skip` with a value other than `YES` or `v2`.
    #[error("_HLS_skip={0:?} is neither YES nor v2")]
    BadSkip(String),
    /// A directive given twice.
    #[error("{0} is given more than once")]
    Repeated(&'static str),
}

impl Directives {
    /// Reads the directives from a raw query string (without `?`); other
    /// parameters are ignored.
    ///
    /// ```
    /// use media::hls::request::Directives;
    /// let d = Directives::parse("_HLS_msn=12&_HLS_part=3&_HLS_skip=YES").unwrap();
    /// assert_eq!((d.msn, d.part, d.skip), (Some(12), Some(3), true));
    /// assert!(Directives::parse("_HLS_msn=-1").is_err());
    /// ```
    pub fn parse(query: &str) -> Result<Self, DirectiveError> {
        let mut d = Self::default();
        let mut skip_seen = false;
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "_HLS_msn" => set_once(&mut d.msn, "_HLS_msn", number("_HLS_msn", value)?)?,
                "_HLS_part" => set_once(&mut d.part, "_HLS_part", number("_HLS_part", value)?)?,
                "_HLS_skip" => {
                    if skip_seen {
                        return Err(DirectiveError::Repeated("_HLS_skip"));
                    }
                    skip_seen = true;
                    match value {
                        "YES" | "v2" => d.skip = true,
                        other => return Err(DirectiveError::BadSkip(cut(other))),
                    }
                }
                _ => {}
            }
        }
        if d.part.is_some() && d.msn.is_none() {
            return Err(DirectiveError::PartWithoutMsn);
        }
        Ok(d)
    }
}

fn set_once(slot: &mut Option<u64>, name: &'static str, value: u64) -> Result<(), DirectiveError> {
    if slot.replace(value).is_some() {
        return Err(DirectiveError::Repeated(name));
    }
    Ok(())
}

fn number(name: &'static str, value: &str) -> Result<u64, DirectiveError> {
    let bad = || DirectiveError::BadNumber {
        name,
        value: cut(value),
    };
    if value.is_empty() || value.len() > 20 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    value
        .parse::<u64>()
        .ok()
        .filter(|n| *n <= MAX_NUMBER)
        .ok_or_else(bad)
}

fn cut(s: &str) -> String {
    s.chars().take(32).collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn directives_are_read_and_others_ignored() {
        assert_eq!(Directives::parse("").unwrap(), Directives::default());
        assert_eq!(
            Directives::parse("token=abc&_HLS_msn=7").unwrap(),
            Directives {
                msn: Some(7),
                part: None,
                skip: false
            }
        );
        assert!(Directives::parse("_HLS_skip=v2").unwrap().skip);
    }

    #[test]
    fn bad_directives_are_refused_with_a_reason() {
        for (q, want) in [
            ("_HLS_msn=-1", "_HLS_msn"),
            ("_HLS_msn=99999999999999999999999", "_HLS_msn"),
            ("_HLS_msn=4611686018427387905", "_HLS_msn"),
            ("_HLS_msn=", "_HLS_msn"),
            ("_HLS_msn=1e3", "_HLS_msn"),
            ("_HLS_part=2", "needs _HLS_msn"),
            ("_HLS_msn=1&_HLS_part=x", "_HLS_part"),
            ("_HLS_skip=NO", "YES"),
            ("_HLS_msn=1&_HLS_msn=2", "more than once"),
        ] {
            let e = Directives::parse(q).unwrap_err().to_string();
            assert!(e.contains(want), "{q}: {e}");
        }
    }

    proptest! {
        #[test]
        fn any_query_parses_or_is_refused(q in ".{0,200}") {
            let _ = Directives::parse(&q);
        }

        #[test]
        fn numbers_round_trip(msn in 0u64..=MAX_NUMBER, part in 0u64..1000) {
            let d = Directives::parse(&format!("_HLS_msn={msn}&_HLS_part={part}")).unwrap();
            prop_assert_eq!(d.msn, Some(msn));
            prop_assert_eq!(d.part, Some(part));
        }
    }
}
