//! Stream names ([`StreamName`]) and the patterns pushes select streams by
//! ([`StreamPattern`]).
//!
//! A name is 1 to [`MAX_LEN`] characters of `A-Z a-z 0-9 _ - .`. A name
//! `BASE+SUFFIX` is a *wildcard child* of stream `BASE` (MistServer's wildcard
//! streams): it has no spec of its own and inherits `BASE`'s. The suffix uses
//! the same characters; there is at most one `+`, and both sides are non-empty.

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest stream name, wildcard suffix included.
pub const MAX_LEN: usize = 64;

/// The JSON-schema pattern of a stream name (the same rules as [`StreamName::parse`]).
pub const PATTERN: &str = r"^[A-Za-z0-9_.-]+(\+[A-Za-z0-9_.-]+)?$";

/// A valid stream name; see the [module docs](self).
///
/// ```
/// use spec::StreamName;
/// let n = StreamName::parse("cam+backstage").unwrap();
/// assert_eq!(n.base(), "cam");
/// assert!(n.is_wildcard_child());
/// assert_eq!(
///     StreamName::parse("my/stream").unwrap_err().to_string(),
///     "invalid character '/' at position 2 of the stream name (allowed: A-Z a-z 0-9 _ - . and one + for a wildcard child)"
/// );
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamName(String);

/// Why a string is not a [`StreamName`]. Positions count characters from 0.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name is the empty string.
    #[error("the stream name is empty")]
    Empty,
    /// More than [`MAX_LEN`] characters.
    #[error("the stream name is {len} characters long (at most {MAX_LEN})")]
    TooLong {
        /// Length in characters.
        len: usize,
    },
    /// A character outside `A-Z a-z 0-9 _ - .` (and the one `+`).
    #[error(
        "invalid character {ch:?} at position {position} of the stream name \
         (allowed: A-Z a-z 0-9 _ - . and one + for a wildcard child)"
    )]
    InvalidChar {
        /// The offending character.
        ch: char,
        /// Its position, counting characters from 0.
        position: usize,
    },
    /// `+NAME`: nothing before the `+`.
    #[error("the stream name has no base before '+'")]
    EmptyBase,
    /// `NAME+`: nothing after the `+`.
    #[error("the wildcard suffix after '+' at position {position} is empty")]
    EmptySuffix {
        /// Position of the `+`.
        position: usize,
    },
}

/// Which streams a push applies to: `NAME` (that stream), `BASE+` (every
/// wildcard child of `BASE`, not `BASE` itself) or `*` (every stream).
///
/// ```
/// use spec::{StreamName, StreamPattern};
/// let p: StreamPattern = "cam+".parse().unwrap();
/// assert!(p.matches(&StreamName::parse("cam+1").unwrap()));
/// assert!(!p.matches(&StreamName::parse("cam").unwrap()));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum StreamPattern {
    /// Exactly this stream.
    Exact(StreamName),
    /// Every wildcard child of this base stream (written `BASE+`).
    ChildrenOf(StreamName),
    /// Every stream (written `*`).
    Any,
}

fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

// === impl StreamName ===

impl StreamName {
    /// Parses and validates a stream name.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        if s.is_empty() {
            return Err(NameError::Empty);
        }
        let mut plus = None;
        for (position, ch) in s.chars().enumerate() {
            if position >= MAX_LEN {
                return Err(NameError::TooLong {
                    len: s.chars().count(),
                });
            }
            if ch == '+' && plus.is_none() {
                if position == 0 {
                    return Err(NameError::EmptyBase);
                }
                plus = Some(position);
            } else if !allowed(ch) {
                return Err(NameError::InvalidChar { ch, position });
            }
        }
        if let Some(position) = plus
            && position + 1 == s.len()
        {
            return Err(NameError::EmptySuffix { position });
        }
        Ok(Self(s.to_owned()))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The base stream: the part before `+`, or the whole name.
    pub fn base(&self) -> &str {
        self.0.split_once('+').map_or(self.0.as_str(), |(base, _)| base)
    }

    /// The wildcard suffix after `+`, if this is a wildcard child.
    pub fn suffix(&self) -> Option<&str> {
        self.0.split_once('+').map(|(_, suffix)| suffix)
    }

    /// `true` for `BASE+SUFFIX`.
    pub fn is_wildcard_child(&self) -> bool {
        self.0.contains('+')
    }

    /// The base stream's name (itself when not a wildcard child).
    pub fn base_name(&self) -> Self {
        Self(self.base().to_owned())
    }
}

impl fmt::Display for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl FromStr for StreamName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for StreamName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Lets a map keyed by `StreamName` be searched with a `&str` (e.g. `name.base()`).
impl Borrow<str> for StreamName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl Serialize for StreamName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for StreamName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = Cow::<'de, str>::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for StreamName {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "StreamName".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "1 to 64 of A-Z a-z 0-9 _ - . ; BASE+SUFFIX names a wildcard child of BASE.",
            "minLength": 1,
            "maxLength": MAX_LEN,
            "pattern": PATTERN,
        })
    }
}

// === impl StreamPattern ===

impl StreamPattern {
    /// Parses `NAME`, `BASE+` or `*`.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        if s == "*" {
            return Ok(Self::Any);
        }
        match s.strip_suffix('+') {
            Some(base) if !base.contains('+') => {
                StreamName::parse(base)
                    .map(Self::ChildrenOf)
                    .map_err(|e| match e {
                        NameError::Empty => NameError::EmptyBase,
                        e => e,
                    })
            }
            _ => StreamName::parse(s).map(Self::Exact),
        }
    }

    /// Whether `name` is selected by this pattern.
    pub fn matches(&self, name: &StreamName) -> bool {
        match self {
            Self::Exact(n) => n == name,
            Self::ChildrenOf(base) => name.is_wildcard_child() && name.base() == base.as_str(),
            Self::Any => true,
        }
    }
}

impl fmt::Display for StreamPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(n) => write!(f, "{n}"),
            Self::ChildrenOf(base) => write!(f, "{base}+"),
            Self::Any => f.write_str("*"),
        }
    }
}

impl FromStr for StreamPattern {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for StreamPattern {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for StreamPattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = Cow::<'de, str>::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for StreamPattern {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "StreamPattern".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A stream name, BASE+ for every wildcard child of BASE, or * for every stream.",
            "minLength": 1,
            "maxLength": MAX_LEN + 1,
            "pattern": r"^(\*|[A-Za-z0-9_.-]+\+|[A-Za-z0-9_.-]+(\+[A-Za-z0-9_.-]+)?)$",
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn valid_names() {
        for s in ["a", "Cam_1", "a.b-c", "x+y", "cam+a.b_c-1", &"n".repeat(64)] {
            let n = StreamName::parse(s).unwrap();
            assert_eq!(n.as_str(), s);
        }
        let n = StreamName::parse("cam+1").unwrap();
        assert_eq!((n.base(), n.suffix()), ("cam", Some("1")));
        assert_eq!(n.base_name().as_str(), "cam");
        let plain = StreamName::parse("cam").unwrap();
        assert_eq!(
            (plain.base(), plain.suffix(), plain.is_wildcard_child()),
            ("cam", None, false)
        );
    }

    #[test]
    fn invalid_names_say_what_and_where() {
        use NameError::*;
        let cases: &[(&str, NameError)] = &[
            ("", Empty),
            ("a b", InvalidChar { ch: ' ', position: 1 }),
            (
                "é",
                InvalidChar {
                    ch: 'é', position: 0
                },
            ),
            ("ab/c", InvalidChar { ch: '/', position: 2 }),
            ("a+b+c", InvalidChar { ch: '+', position: 3 }),
            ("+a", EmptyBase),
            ("a+", EmptySuffix { position: 1 }),
            ("a:b", InvalidChar { ch: ':', position: 1 }),
        ];
        for (s, e) in cases {
            assert_eq!(&StreamName::parse(s).unwrap_err(), e, "{s:?}");
        }
        assert_eq!(
            StreamName::parse(&"n".repeat(65)).unwrap_err(),
            TooLong { len: 65 }
        );
        // A bad character beyond the length limit reports the length.
        assert_eq!(
            StreamName::parse(&format!("{}/", "n".repeat(70))).unwrap_err(),
            TooLong { len: 71 }
        );
    }

    #[test]
    fn serde_validates() {
        let n: StreamName = serde_json::from_str("\"cam+1\"").unwrap();
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"cam+1\"");
        let e = serde_json::from_str::<StreamName>("\"a/b\"").unwrap_err();
        assert!(
            e.to_string().contains("invalid character '/' at position 1"),
            "{e}"
        );
    }

    #[test]
    fn map_lookup_by_base() {
        let mut m = std::collections::BTreeMap::new();
        m.insert(StreamName::parse("cam").unwrap(), 1);
        let child = StreamName::parse("cam+x").unwrap();
        assert_eq!(m.get(child.base()), Some(&1));
    }

    #[test]
    fn patterns() {
        let n = |s| StreamName::parse(s).unwrap();
        let p = StreamPattern::parse("cam").unwrap();
        assert!(p.matches(&n("cam")) && !p.matches(&n("cam+1")));
        let p = StreamPattern::parse("cam+").unwrap();
        assert!(p.matches(&n("cam+1")) && !p.matches(&n("cam")) && !p.matches(&n("camera+1")));
        assert!(StreamPattern::parse("*").unwrap().matches(&n("x+y")));
        let p = StreamPattern::parse("cam+1").unwrap();
        assert!(p.matches(&n("cam+1")) && !p.matches(&n("cam+2")));
        assert_eq!(StreamPattern::parse("+").unwrap_err(), NameError::EmptyBase);
        assert!(StreamPattern::parse("a++").is_err());
        assert!(StreamPattern::parse("**").is_err());
        assert_eq!(
            serde_json::to_string(&StreamPattern::parse("cam+").unwrap()).unwrap(),
            "\"cam+\""
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in any::<String>()) {
            let _ = StreamName::parse(&s);
            let _ = StreamPattern::parse(&s);
        }

        #[test]
        fn valid_round_trip(s in "[A-Za-z0-9_.-]{1,30}(\\+[A-Za-z0-9_.-]{1,30})?") {
            let n = StreamName::parse(&s).unwrap();
            prop_assert_eq!(StreamName::parse(&format!("{n}")).unwrap(), n.clone());
            let p = StreamPattern::Exact(n.clone());
            prop_assert_eq!(StreamPattern::parse(&p.to_string()).unwrap(), p);
            let c = StreamPattern::ChildrenOf(n.base_name());
            prop_assert_eq!(StreamPattern::parse(&c.to_string()).unwrap(), c);
        }
    }
}
