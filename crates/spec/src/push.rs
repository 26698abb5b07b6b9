//! [`PushSpec`] (send a stream somewhere) and [`PushStatus`].

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Condition, SpecError, StreamPattern, Time};

/// Target URL schemes a push can send to.
pub const TARGET_SCHEMES: &[&str] = &[
    "srt", "rtmp", "rtmps", "tsudp", "tsrtp", "rtp", "rist", "http", "https",
];
/// Longest retry interval in seconds.
pub const RETRY_INTERVAL_MAX: u32 = 3600;
/// Longest `target` or `audioOverride` in bytes.
pub const URL_MAX: usize = 4096;

/// A push: send a stream (or every stream matching a pattern) to a target.
/// The one type behind the `Push` CRD's spec, the REST body, the etcd value and
/// the `[pushes.NAME]` config tables. Check it with [`PushSpec::validate`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PushSpec {
    /// The stream to push: a stream name, `BASE+` for every wildcard child of `BASE`,
    /// or `*` for every stream.
    pub stream: StreamPattern,
    /// Where to push: `srt://HOST:PORT` (caller) or `srt://:PORT` (listener), `rtmp(s)://...`,
    /// `tsudp://HOST:PORT`, `tsrtp://HOST:PORT`, `rtp://HOST:PORT`, `rist://...`,
    /// `http(s)://...` (CMAF push), or an absolute `.ts` file path (a recording; `$stream`
    /// becomes the stream's name and `$datetime` the UTC start time, `YYYY.MM.DD.HH.MM.SS`).
    pub target: String,
    /// Start whenever a matching stream goes live (an automatic push); when false the
    /// push runs only when started through the API.
    #[serde(default)]
    pub auto_start: bool,
    /// Reconnect after a failure; without it a failed push stops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
    /// Replace the stream's audio by this ADTS `.aac` file, looped (a copyright-safe
    /// "lite" push to a platform).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_override: Option<String>,
}

/// How a push retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetryPolicy {
    /// Seconds between attempts (1 to 3600).
    #[serde(default = "default_interval")]
    #[schemars(range(min = 1, max = 3600))]
    pub interval_seconds: u32,
    /// Give up after this many consecutive retries (a limit of 2 makes at most 3 attempts);
    /// absent: retry forever. A run that sent media before failing starts a new count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// What the node running a push reports about it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PushStatus {
    /// `stopped`, `waiting`, `connecting`, `pushing`, `retrying` or `error`.
    pub state: PushState,
    /// Id of the node running the push.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Bytes sent since the push (re)started.
    #[serde(default)]
    pub bytes: u64,
    /// Seconds since the current connection was established.
    #[serde(default)]
    pub uptime_seconds: u64,
    /// The last error (kept after a successful retry until the next error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When this status was last written (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Time>,
    /// The `metadata.generation` of the spec this status reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Kubernetes-style conditions, one per type: `Ready` (the spec is valid and applied).
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// Lifecycle state of a push.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = crate::schema::string_enum)]
pub enum PushState {
    /// Not running.
    #[default]
    Stopped,
    /// An automatic push waiting for a matching stream to go live.
    Waiting,
    /// Connecting to the target.
    Connecting,
    /// Sending media.
    Pushing,
    /// Failed; waiting `retry.intervalSeconds` before the next attempt.
    Retrying,
    /// Failed and not retrying; see `lastError`.
    Error,
}

fn default_interval() -> u32 {
    5
}

// === impl PushSpec ===

impl PushSpec {
    /// Checks `target`, `retry` and `audioOverride` (`stream` is checked when deserialized).
    pub fn validate(&self) -> Result<(), SpecError> {
        let bad = |field, reason: &str| {
            Err(SpecError::Push {
                field,
                reason: reason.to_owned(),
            })
        };
        let t = &self.target;
        if t.is_empty() {
            return bad("target", "is empty");
        }
        if t.len() > URL_MAX || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return bad("target", "is too long or has whitespace or control characters");
        }
        match t.split_once("://") {
            Some((scheme, rest)) => {
                if !TARGET_SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()) {
                    return Err(SpecError::Push {
                        field: "target",
                        reason: format!(
                            "unsupported scheme {scheme:?} (use one of {})",
                            TARGET_SCHEMES.join(", ")
                        ),
                    });
                }
                if rest.is_empty() {
                    return bad("target", "has nothing after the scheme");
                }
            }
            None if t.starts_with('/') => {
                let is_ts = t.len() > 3
                    && t.get(t.len() - 3..)
                        .is_some_and(|e| e.eq_ignore_ascii_case(".ts"));
                if !is_ts || t.ends_with("/.ts") {
                    return bad(
                        "target",
                        "a recording path must name an MPEG-TS file ending in .ts",
                    );
                }
            }
            None => {
                return bad(
                    "target",
                    "is neither a URL (SCHEME://...) nor an absolute file path",
                );
            }
        }
        if let Some(r) = &self.retry
            && !(1..=RETRY_INTERVAL_MAX).contains(&r.interval_seconds)
        {
            return Err(SpecError::Push {
                field: "retry.intervalSeconds",
                reason: format!("is {}; it must be 1 to {RETRY_INTERVAL_MAX}", r.interval_seconds),
            });
        }
        if let Some(a) = &self.audio_override {
            let is_aac = a.len() > 4
                && a.get(a.len() - 4..)
                    .is_some_and(|e| e.eq_ignore_ascii_case(".aac"));
            if !is_aac || a.len() > URL_MAX || a.contains('\0') {
                return bad("audioOverride", "must be the path of an ADTS .aac file");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(target: &str) -> PushSpec {
        PushSpec {
            stream: StreamPattern::parse("cam").unwrap(),
            target: target.into(),
            auto_start: false,
            retry: None,
            audio_override: None,
        }
    }

    #[test]
    fn json() {
        let p: PushSpec = serde_json::from_str(
            r#"{"stream":"cam+","target":"rtmp://a.example/live/k","autoStart":true,"retry":{},"audioOverride":"/m/x.aac"}"#,
        )
        .unwrap();
        assert_eq!(
            p.retry,
            Some(RetryPolicy {
                interval_seconds: 5,
                limit: None
            })
        );
        assert_eq!(p.stream, StreamPattern::parse("cam+").unwrap());
        p.validate().unwrap();
        let back: PushSpec = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(back, p);
        assert!(serde_json::from_str::<PushSpec>(r#"{"stream":"a/b","target":"/x"}"#).is_err());
        assert!(serde_json::from_str::<PushSpec>(r#"{"stream":"a","target":"/x","auto":1}"#).is_err());
    }

    #[test]
    fn validation() {
        for ok in [
            "srt://h:1",
            "SRT://:9000",
            "rtmps://a/b/c",
            "/rec/x.ts",
            "/rec/$stream-$datetime.TS",
            "rist://h:1",
            "tsudp://239.0.0.1:5000",
        ] {
            push(ok).validate().unwrap();
        }
        for (bad, msg) in [
            ("", "target: is empty"),
            ("ftp://x", "unsupported scheme \"ftp\""),
            ("srt://", "nothing after"),
            ("x.ts", "neither a URL"),
            ("srt://a b:1", "whitespace"),
            ("/rec/x.mp4", "ending in .ts"),
            ("/rec/", "ending in .ts"),
        ] {
            let e = push(bad).validate().unwrap_err().to_string();
            assert!(e.contains(msg), "{bad}: {e}");
        }
        let mut p = push("/x.ts");
        p.retry = Some(RetryPolicy {
            interval_seconds: 0,
            limit: Some(3),
        });
        assert!(
            p.validate()
                .unwrap_err()
                .to_string()
                .starts_with("retry.intervalSeconds: is 0")
        );
        p.retry = None;
        p.audio_override = Some("/m/x.mp3".into());
        assert!(p.validate().unwrap_err().to_string().starts_with("audioOverride"));
        p.audio_override = Some("/m/X.AAC".into());
        p.validate().unwrap();
    }

    #[test]
    fn status_json() {
        let s = PushStatus {
            state: PushState::Pushing,
            bytes: 10,
            uptime_seconds: 2,
            ..Default::default()
        };
        let j = serde_json::to_string(&s).unwrap();
        assert_eq!(
            j,
            r#"{"state":"pushing","bytes":10,"uptimeSeconds":2,"conditions":[]}"#
        );
        assert_eq!(serde_json::from_str::<PushStatus>(&j).unwrap(), s);
    }
}
