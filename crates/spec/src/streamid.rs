//! What a publisher or player asks for when it connects to a shared port:
//! the SRT `streamid` ([`StreamIdRequest::parse`]) and the RTMP publish path
//! ([`parse_rtmp_publish`]).
//!
//! SRT streamid forms (SRT access-control guidelines, `docs/features/access-control.md`
//! in the libsrt repository):
//!
//! | streamid | mode |
//! |---|---|
//! | `publish:NAME` | publish |
//! | `request:NAME` or `NAME` | request (play) |
//! | `#!::r=NAME,m=publish` | publish |
//! | `#!::r=NAME`, `#!::r=NAME,m=request` | request |
//!
//! **Keys.** In the simple forms the publish key is a query parameter:
//! `publish:NAME?key=KEY` (percent-decoded). In the access-control form it is
//! `s=KEY`: the guidelines' *session id* is "used just for verification", which
//! is what a stream key is, and MediaMTX reads `s` the same way. Since
//! single-letter keys are reserved by the guidelines, the custom key
//! `tributary_key=KEY` is accepted too (custom keys carry a name prefix). `u=`
//! is the user. `t=` must be `stream` if present; `m=bidirectional` and the
//! nested `#!:{...}` syntax are refused. Other keys (`h=`, custom ones) are kept
//! in [`StreamIdRequest::other`].

use std::collections::BTreeMap;

use crate::source::url::{DecodeError, decode};
use crate::{NameError, Redacted, StreamName};

/// Longest SRT streamid (libsrt `SRTO_STREAMID`).
pub const STREAMID_MAX: usize = 512;

/// A parsed SRT streamid.
///
/// ```
/// use spec::streamid::{StreamIdRequest, Mode};
/// let r = StreamIdRequest::parse("#!::r=cam,m=publish,u=alice,s=k3y").unwrap();
/// assert_eq!((r.name.as_str(), r.mode, r.user.as_deref()), ("cam", Mode::Publish, Some("alice")));
/// assert_eq!(r.key.unwrap().expose(), "k3y");
/// assert_eq!(StreamIdRequest::parse("cam").unwrap().mode, Mode::Request);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamIdRequest {
    /// The stream.
    pub name: StreamName,
    /// Publish to it or play it.
    pub mode: Mode,
    /// The publish key, if given.
    pub key: Option<Redacted<String>>,
    /// The user (`u=`), if given.
    pub user: Option<String>,
    /// Other access-control keys (`h=`, custom keys) or simple-form query parameters.
    pub other: BTreeMap<String, String>,
}

/// What the caller wants to do with the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Send media into the stream.
    Publish,
    /// Receive the stream (play).
    Request,
}

/// Why a streamid or RTMP path cannot be used. Messages never contain the key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StreamIdError {
    /// Nothing names a stream.
    #[error("no stream name")]
    Empty,
    /// Longer than [`STREAMID_MAX`].
    #[error("the streamid is {0} bytes long (at most {STREAMID_MAX})")]
    TooLong(usize),
    /// The stream name is invalid.
    #[error(transparent)]
    Name(#[from] NameError),
    /// `foo:NAME` with an unknown `foo`.
    #[error("unknown streamid prefix {0:?} (use publish:NAME or request:NAME)")]
    UnknownPrefix(String),
    /// An access-control form without `r=`.
    #[error("the access-control streamid has no r= (resource) key")]
    MissingResource,
    /// An `m=` other than `publish` or `request`.
    #[error("unsupported mode m={0:?} (publish or request)")]
    UnsupportedMode(String),
    /// A `t=` other than `stream`.
    #[error("unsupported type t={0:?} (only stream)")]
    UnsupportedType(String),
    /// The nested `#!:{...}` syntax or another `#!` variant.
    #[error("unsupported access-control syntax (use #!::key=value,...)")]
    UnsupportedSyntax,
    /// A malformed piece at a byte position.
    #[error("malformed streamid at byte {position}: {reason}")]
    Malformed {
        /// Byte position in the streamid.
        position: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A key given twice.
    #[error("{0:?} given twice")]
    DuplicateKey(String),
}

// === impl StreamIdRequest ===

impl StreamIdRequest {
    /// Parses an SRT streamid; see the [module docs](self).
    pub fn parse(s: &str) -> Result<Self, StreamIdError> {
        if s.len() > STREAMID_MAX {
            return Err(StreamIdError::TooLong(s.len()));
        }
        match s.strip_prefix("#!") {
            Some(rest) => match rest.strip_prefix("::") {
                Some(content) => Self::parse_access_control(content),
                None => Err(StreamIdError::UnsupportedSyntax),
            },
            None => Self::parse_simple(s),
        }
    }

    fn parse_simple(s: &str) -> Result<Self, StreamIdError> {
        let (head, query) = split_query(s);
        let (mode, name) = match head.split_once(':') {
            Some(("publish", name)) => (Mode::Publish, name),
            Some(("request", name)) => (Mode::Request, name),
            Some((prefix, _)) => return Err(StreamIdError::UnknownPrefix(prefix.to_owned())),
            None => (Mode::Request, head),
        };
        let name = parse_name(name)?;
        let (key, other) = query_params(query, head.len() + 1)?;
        Ok(Self {
            name,
            mode,
            key,
            user: None,
            other,
        })
    }

    fn parse_access_control(content: &str) -> Result<Self, StreamIdError> {
        const OFFSET: usize = 4; // "#!::"
        let mut fields: BTreeMap<&str, &str> = BTreeMap::new();
        let mut at = OFFSET;
        for piece in content.split(',') {
            let here = at;
            at += piece.len() + 1;
            if piece.is_empty() {
                continue;
            }
            let (k, v) = piece.split_once('=').ok_or(StreamIdError::Malformed {
                position: here,
                reason: "expected key=value",
            })?;
            if k.is_empty() {
                return Err(StreamIdError::Malformed {
                    position: here,
                    reason: "empty key",
                });
            }
            if fields.insert(k, v).is_some() {
                return Err(StreamIdError::DuplicateKey(k.to_owned()));
            }
        }
        let name = parse_name(fields.remove("r").ok_or(StreamIdError::MissingResource)?)?;
        let mode = match fields.remove("m") {
            None | Some("request") => Mode::Request,
            Some("publish") => Mode::Publish,
            Some(m) => return Err(StreamIdError::UnsupportedMode(m.to_owned())),
        };
        match fields.remove("t") {
            None | Some("stream") => {}
            Some(t) => return Err(StreamIdError::UnsupportedType(t.to_owned())),
        }
        let key = match (fields.remove("s"), fields.remove("tributary_key")) {
            (Some(a), Some(b)) if a != b => {
                return Err(StreamIdError::DuplicateKey("s/tributary_key".into()));
            }
            (a, b) => a.or(b).map(|k| Redacted::new(k.to_owned())),
        };
        let user = fields.remove("u").map(str::to_owned);
        let other = fields
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Ok(Self {
            name,
            mode,
            key,
            user,
            other,
        })
    }
}

fn split_query(s: &str) -> (&str, Option<&str>) {
    match s.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (s, None),
    }
}

fn parse_name(s: &str) -> Result<StreamName, StreamIdError> {
    match StreamName::parse(s) {
        Err(NameError::Empty) => Err(StreamIdError::Empty),
        r => Ok(r?),
    }
}

type KeyAndOthers = (Option<Redacted<String>>, BTreeMap<String, String>);

/// `key=K&x=y` → the key and the other parameters; `offset` is the query's position.
fn query_params(query: Option<&str>, offset: usize) -> Result<KeyAndOthers, StreamIdError> {
    let (mut key, mut other) = (None, BTreeMap::new());
    let mut at = offset;
    for piece in query.unwrap_or("").split('&') {
        let here = at;
        at += piece.len() + 1;
        if piece.is_empty() {
            continue;
        }
        let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
        let value = decode(v).map_err(|e| match e {
            DecodeError::Escape(i) => StreamIdError::Malformed {
                position: here + k.len() + 1 + i,
                reason: "bad percent-escape",
            },
            DecodeError::NotUtf8 => StreamIdError::Malformed {
                position: here,
                reason: "not UTF-8",
            },
        })?;
        let duplicate = if k == "key" {
            key.replace(Redacted::new(value)).is_some()
        } else {
            other.insert(k.to_owned(), value).is_some()
        };
        if duplicate {
            return Err(StreamIdError::DuplicateKey(k.to_owned()));
        }
    }
    Ok((key, other))
}

/// Splits an RTMP publish path, `NAME`, `NAME?key=KEY` or `APP/NAME?key=KEY`
/// (the stream is the last path element; pass the publish name, or `app/`
/// joined to it), into the stream name and the key. Query parameters other
/// than `key` are ignored (encoders add their own).
///
/// ```
/// use spec::streamid::parse_rtmp_publish;
/// let (name, key) = parse_rtmp_publish("live/cam1?key=s3cret").unwrap();
/// assert_eq!(name.as_str(), "cam1");
/// assert_eq!(key.unwrap().expose(), "s3cret");
/// assert!(parse_rtmp_publish("cam1").unwrap().1.is_none());
/// ```
pub fn parse_rtmp_publish(path: &str) -> Result<(StreamName, Option<Redacted<String>>), StreamIdError> {
    if path.len() > STREAMID_MAX {
        return Err(StreamIdError::TooLong(path.len()));
    }
    let (head, query) = split_query(path);
    let name = head.rsplit('/').next().unwrap_or(head);
    let name = parse_name(name)?;
    let (key, _) = query_params(query, head.len() + 1)?;
    Ok((name, key))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn req(s: &str) -> StreamIdRequest {
        StreamIdRequest::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err(s: &str) -> String {
        StreamIdRequest::parse(s).unwrap_err().to_string()
    }

    #[test]
    fn simple_forms() {
        let r = req("publish:cam1");
        assert_eq!(
            (r.name.as_str(), r.mode, r.key.is_none()),
            ("cam1", Mode::Publish, true)
        );
        assert_eq!(req("request:cam1").mode, Mode::Request);
        assert_eq!(req("cam1").mode, Mode::Request);
        assert_eq!(req("cam+2").name.base(), "cam");
        let k = req("publish:cam1?key=a%2Bb+c&lang=en");
        assert_eq!(k.key.unwrap().expose(), "a+b+c");
        assert_eq!(k.other["lang"], "en");
    }

    #[test]
    fn access_control_forms() {
        let r = req("#!::r=cam1,m=publish");
        assert_eq!((r.name.as_str(), r.mode), ("cam1", Mode::Publish));
        assert_eq!(req("#!::r=cam1").mode, Mode::Request);
        assert_eq!(req("#!::m=request,r=cam1").mode, Mode::Request);
        let r = req("#!::u=bob,r=cam1,m=publish,s=k1,h=tv.example,t=stream,acme_x=1");
        assert_eq!(r.user.as_deref(), Some("bob"));
        assert_eq!(r.key.as_ref().unwrap().expose(), "k1");
        assert_eq!(r.other.len(), 2);
        assert_eq!(req("#!::r=a,tributary_key=k2").key.unwrap().expose(), "k2");
        assert_eq!(req("#!::r=a,s=k,tributary_key=k").key.unwrap().expose(), "k");
    }

    #[test]
    fn errors() {
        assert_eq!(err(""), "no stream name");
        assert_eq!(err("publish:"), "no stream name");
        assert_eq!(
            err("play:cam"),
            "unknown streamid prefix \"play\" (use publish:NAME or request:NAME)"
        );
        assert!(err("publish:a/b").contains("invalid character '/' at position 1"));
        assert_eq!(
            err("#!::m=publish"),
            "the access-control streamid has no r= (resource) key"
        );
        assert_eq!(
            err("#!::r=a,m=bidirectional"),
            "unsupported mode m=\"bidirectional\" (publish or request)"
        );
        assert!(err("#!::r=a,t=file").contains("t=\"file\""));
        assert!(err("#!:{r=a}").contains("unsupported access-control syntax"));
        assert_eq!(
            err("#!::r=a,oops"),
            "malformed streamid at byte 8: expected key=value"
        );
        assert!(err("#!::r=a,r=b").contains("\"r\" given twice"));
        let e = err("#!::r=a,s=k1,tributary_key=k2");
        assert!(e.contains("given twice") && !e.contains("k1"), "{e}");
        assert_eq!(
            err("publish:a?key=%zz"),
            "malformed streamid at byte 14: bad percent-escape"
        );
        assert!(err("publish:a?key=1&key=2").contains("given twice"));
        assert!(err(&"a".repeat(513)).contains("513 bytes"));
        // Keys never show up in errors or Debug output.
        let r = req("publish:a?key=topsecret");
        assert!(!format!("{r:?}").contains("topsecret"));
    }

    #[test]
    fn rtmp_paths() {
        let p = |s| parse_rtmp_publish(s).map(|(n, k)| (n.to_string(), k.map(|k| k.expose().clone())));
        assert_eq!(p("live/cam1").unwrap(), ("cam1".into(), None));
        assert_eq!(p("cam1?key=K").unwrap(), ("cam1".into(), Some("K".into())));
        assert_eq!(
            p("live/cam1?key=K&obs=1").unwrap(),
            ("cam1".into(), Some("K".into()))
        );
        assert_eq!(p("live/app2/cam+1").unwrap(), ("cam+1".into(), None));
        assert!(matches!(p("live/"), Err(StreamIdError::Empty)));
        assert!(matches!(p("live/a b"), Err(StreamIdError::Name(_))));
    }

    proptest! {
        #[test]
        fn never_panics(s in any::<String>(), t in "(#!::|publish:|request:)?[a-z=,?&%#:!+/]{0,30}") {
            let _ = StreamIdRequest::parse(&s);
            let _ = StreamIdRequest::parse(&t);
            let _ = parse_rtmp_publish(&s);
            let _ = parse_rtmp_publish(&t);
        }

        #[test]
        fn forms_agree(name in "[A-Za-z0-9_.-]{1,20}(\\+[a-z0-9]{1,5})?", key in "[A-Za-z0-9]{1,20}") {
            let a = req(&format!("publish:{name}?key={key}"));
            let b = req(&format!("#!::r={name},m=publish,s={key}"));
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(a.key.as_ref().unwrap().expose(), &key);
            let (n, k) = parse_rtmp_publish(&format!("live/{name}?key={key}")).unwrap();
            prop_assert_eq!(n, b.name);
            prop_assert_eq!(k, b.key);
        }
    }
}
