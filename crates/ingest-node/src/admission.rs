//! Who may publish to which stream: the stream must be defined (directly or
//! as the base of a wildcard child), its source `push://`, the peer in its
//! allow list, and the key right when the spec has one.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use spec::access::{Refusal, check_publish};
use spec::{StreamName, StreamSpec};
use tokio::sync::watch;

/// The desired streams by name, as the control service publishes them.
pub type Specs = Arc<BTreeMap<String, StreamSpec>>;

/// Why a publish was refused; the message is for logs and never holds the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishRefusal {
    /// The name is not a valid stream name.
    #[error("invalid stream name: {0}")]
    BadName(String),
    /// No stream of that name (nor its wildcard base) is defined.
    #[error("stream {0} is not defined")]
    Undefined(String),
    /// The spec does not let this publisher in.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The stream already has a publisher.
    #[error("stream {0} already has a publisher")]
    Busy(String),
}

/// Checks publishers against the current specs.
#[derive(Debug, Clone)]
pub struct Admission {
    specs: watch::Receiver<Specs>,
}

// === impl Admission ===

impl Admission {
    /// Follows `specs`.
    pub fn new(specs: watch::Receiver<Specs>) -> Self {
        Self { specs }
    }

    /// Decides whether `peer` with `key` may publish to `name`; returns the
    /// parsed name on success.
    pub fn check(&self, name: &str, peer: IpAddr, key: Option<&str>) -> Result<StreamName, PublishRefusal> {
        let name = StreamName::parse(name).map_err(|e| PublishRefusal::BadName(e.to_string()))?;
        let specs = self.specs.borrow();
        let spec = specs
            .get(name.as_str())
            .or_else(|| specs.get(name.base()))
            .ok_or_else(|| PublishRefusal::Undefined(name.as_str().to_owned()))?;
        let source = spec
            .parsed_source()
            .map_err(|_| PublishRefusal::Refused(Refusal::NotPushSource))?;
        check_publish(spec, &source, peer, key)?;
        Ok(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(entries: &[(&str, &str, Option<&str>)]) -> Admission {
        let specs = entries
            .iter()
            .map(|(name, source, key)| {
                let mut spec = StreamSpec::new(*source);
                spec.publish_key = key.map(|k| k.to_owned().into());
                (name.to_string(), spec)
            })
            .collect();
        Admission::new(watch::channel(Arc::new(specs)).1)
    }

    #[test]
    fn rules() {
        let a = admission(&[
            ("cam", "push://", Some("k3y")),
            ("lan", "push://10.0.0.0/8", None),
            ("vod", "/x.ts", None),
        ]);
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let lan: IpAddr = "10.1.2.3".parse().unwrap();
        assert_eq!(a.check("cam", local, Some("k3y")).unwrap().as_str(), "cam");
        assert_eq!(
            a.check("cam+backup", local, Some("k3y")).unwrap().as_str(),
            "cam+backup"
        );
        assert_eq!(
            a.check("cam", local, Some("nope")),
            Err(PublishRefusal::Refused(Refusal::WrongKey))
        );
        assert_eq!(
            a.check("cam", local, None),
            Err(PublishRefusal::Refused(Refusal::MissingKey))
        );
        assert_eq!(
            a.check("other", local, None),
            Err(PublishRefusal::Undefined("other".into()))
        );
        assert!(matches!(
            a.check("bad name", local, None),
            Err(PublishRefusal::BadName(_))
        ));
        assert_eq!(a.check("lan", lan, None).unwrap().as_str(), "lan");
        assert!(matches!(
            a.check("lan", local, None),
            Err(PublishRefusal::Refused(Refusal::AddressNotAllowed { .. }))
        ));
        assert_eq!(
            a.check("vod", local, None),
            Err(PublishRefusal::Refused(Refusal::NotPushSource))
        );
        assert!(
            !a.check("cam", local, Some("nope"))
                .unwrap_err()
                .to_string()
                .contains("nope")
        );
    }
}
