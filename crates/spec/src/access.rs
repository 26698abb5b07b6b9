//! Who may publish to a stream: [`check_publish`].

use std::net::IpAddr;

use crate::redact::constant_time_eq;
use crate::{Source, StreamSpec};

/// Why a publisher is refused. The messages are for logs: they never contain
/// the key, and not the peer address either (log that through the
/// connection's span, redacted as the log policy says).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The stream's source is not `push://`: it pulls or reads its media itself.
    #[error("the stream does not accept pushes (its source is not push://)")]
    NotPushSource,
    /// The source is `push://CIDR,...` and the peer is in none of the networks.
    #[error("the publisher's address is not in the stream's push:// allow list")]
    AddressNotAllowed {
        /// The refused address.
        peer: IpAddr,
    },
    /// A key was given and it is not the stream's `publishKey`.
    #[error("wrong publish key")]
    WrongKey,
    /// The stream has a `publishKey` and none was given.
    #[error("the stream needs a publish key and none was given")]
    MissingKey,
}

// === impl Refusal ===

impl Refusal {
    /// A bounded label for metrics (`publish_refused_total{reason=...}`).
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::NotPushSource => "not_push_source",
            Self::AddressNotAllowed { .. } => "address_not_allowed",
            Self::WrongKey => "wrong_key",
            Self::MissingKey => "missing_key",
        }
    }
}

/// Decides whether `peer`, presenting `key`, may publish to the stream with
/// `spec`, whose source parsed to `source` (for a wildcard child, the base
/// stream's spec and source).
///
/// Checked in order: the source is `push://`; the peer is in its allow list (an
/// empty list allows everyone); if the spec has a `publishKey`, `key` equals it
/// (compared in constant time). A key given to a stream without `publishKey` is
/// ignored. Where the key comes from is the protocol's business: RTMP `?key=`,
/// the SRT streamid key (an SRT passphrase is enforced by the SRT handshake
/// itself), or WHIP's bearer token.
///
/// ```
/// use spec::{StreamSpec, access::{check_publish, Refusal}};
/// let mut spec = StreamSpec::new("push://10.0.0.0/8");
/// spec.publish_key = Some("k3y".into());
/// let source = spec.validate().unwrap();
/// let peer = "10.1.2.3".parse().unwrap();
/// assert_eq!(check_publish(&spec, &source, peer, Some("k3y")), Ok(()));
/// assert_eq!(check_publish(&spec, &source, peer, None), Err(Refusal::MissingKey));
/// ```
pub fn check_publish(
    spec: &StreamSpec,
    source: &Source,
    peer: IpAddr,
    key: Option<&str>,
) -> Result<(), Refusal> {
    let Source::Push(push) = source else {
        return Err(Refusal::NotPushSource);
    };
    if !push.allows(peer) {
        return Err(Refusal::AddressNotAllowed { peer });
    }
    match (&spec.publish_key, key) {
        (None, _) => Ok(()),
        (Some(_), None) => Err(Refusal::MissingKey),
        (Some(want), Some(got)) if constant_time_eq(want.expose().as_bytes(), got.as_bytes()) => Ok(()),
        (Some(_), Some(_)) => Err(Refusal::WrongKey),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn check(source: &str, publish_key: Option<&str>, peer: &str, key: Option<&str>) -> Result<(), Refusal> {
        let mut spec = StreamSpec::new(source);
        spec.publish_key = publish_key.map(Into::into);
        let src = spec.validate().unwrap();
        check_publish(&spec, &src, ip(peer), key)
    }

    #[test]
    fn push_source_required() {
        assert_eq!(
            check("srt://:9000", None, "1.2.3.4", None),
            Err(Refusal::NotPushSource)
        );
        assert_eq!(
            check("/v/a.mp4", None, "1.2.3.4", None),
            Err(Refusal::NotPushSource)
        );
        assert_eq!(check("push://", None, "1.2.3.4", None), Ok(()));
        assert_eq!(check("push://", None, "1.2.3.4", Some("ignored")), Ok(()));
    }

    #[test]
    fn allow_list() {
        let src = "push://192.168.0.0/16,2001:db8::/32,127.0.0.1";
        assert_eq!(check(src, None, "192.168.4.4", None), Ok(()));
        assert_eq!(check(src, None, "::ffff:127.0.0.1", None), Ok(()));
        assert_eq!(check(src, None, "2001:db8::9", None), Ok(()));
        assert_eq!(
            check(src, None, "10.0.0.1", None),
            Err(Refusal::AddressNotAllowed { peer: ip("10.0.0.1") })
        );
        // The address is checked before the key.
        assert!(matches!(
            check(src, Some("k"), "10.0.0.1", Some("k")),
            Err(Refusal::AddressNotAllowed { .. })
        ));
    }

    #[test]
    fn keys() {
        assert_eq!(check("push://", Some("k3y"), "1.1.1.1", Some("k3y")), Ok(()));
        assert_eq!(
            check("push://", Some("k3y"), "1.1.1.1", Some("k3Y")),
            Err(Refusal::WrongKey)
        );
        assert_eq!(
            check("push://", Some("k3y"), "1.1.1.1", Some("")),
            Err(Refusal::WrongKey)
        );
        assert_eq!(
            check("push://", Some("k3y"), "1.1.1.1", None),
            Err(Refusal::MissingKey)
        );
    }

    #[test]
    fn messages_hide_secrets() {
        let r = check("push://10.0.0.0/8", Some("k3y"), "11.0.0.1", Some("guess")).unwrap_err();
        let text = format!("{r} {r:?}");
        assert!(!text.contains("guess") && !text.contains("k3y"));
        assert!(!r.to_string().contains("11.0.0.1"));
        assert_eq!(r.metric_label(), "address_not_allowed");
        assert_eq!(Refusal::WrongKey.to_string(), "wrong publish key");
    }
}
