//! The one definition of Tributary's user-facing types: `StreamSpec`,
//! `StreamStatus`, `PushSpec`, `PushStatus` (the CRD spec/status, the REST
//! body, the etcd value), stream names, source URLs, SRT streamids and RTMP
//! publish paths, publish access rules, and the standalone server's TOML
//! configuration.
//!
//! **Invariant:** pure types and parsers: no IO (files are read by a closure
//! the caller passes to [`config::Config::load`]), no clock (callers pass
//! [`Time`]s in), no async runtime. Bad input is an error naming what is wrong
//! and where, never a panic. Secrets ([`Redacted`]) never appear in `Debug`,
//! `Display` or error messages.
//!
//! | module | what | after |
//! |---|---|---|
//! | [`stream`], [`push`] | [`StreamSpec`], [`StreamStatus`], [`PushSpec`], [`PushStatus`]: serde camelCase, JSON schema for the CRDs | Kubernetes API conventions (conditions, `observedGeneration`) |
//! | [`name`] | [`StreamName`], wildcard children `BASE+X`, [`StreamPattern`] | MistServer wildcard streams |
//! | [`source`] | [`Source`]: `push://`, `srt://`, `tsudp://`, `tsrtp://`, `sdp:`, `rtmp://`, HLS, `rist://`, files | MistServer source URLs; srt-live-transmit URL options |
//! | [`streamid`] | SRT `streamid` (`publish:NAME`, `#!::r=NAME,m=publish`), RTMP `live/NAME?key=K` | SRT Access Control guidelines (libsrt `docs/features/access-control.md`) |
//! | [`node`] | [`node::NodeInfo`]: what a node publishes under `nodes/{role}/{id}` (addresses, relay certificate, load) | |
//! | [`access`] | [`access::check_publish`]: push source, CIDR allow list, publish key | |
//! | [`config`] | [`config::Config`]: `[http]`, `[rtmp]`, `[srt]`, `[grpc]`, `[streams.NAME]`, `[pushes.NAME]`, split files | MistServer split config |
//! | | [`Time`]: RFC 3339 | RFC 3339 §5.6 |
//! | | [`Cidr`]: IPv4/IPv6 networks | RFC 4632, RFC 4291 §2.3 |
//!
//! ```
//! use spec::{access::check_publish, streamid::StreamIdRequest, StreamSpec};
//!
//! let spec: StreamSpec = serde_json::from_str(r#"{"source": "push://10.0.0.0/8", "publishKey": "k3y"}"#).unwrap();
//! let source = spec.validate().unwrap();
//! let req = StreamIdRequest::parse("#!::r=cam1,m=publish,s=k3y").unwrap();
//! let key = req.key.as_ref().map(|k| k.expose().as_str());
//! assert!(check_publish(&spec, &source, "10.1.2.3".parse().unwrap(), key).is_ok());
//! assert!(check_publish(&spec, &source, "192.0.2.1".parse().unwrap(), key).is_err());
//! ```
#![deny(missing_docs)]
#![deny(clippy::mod_module_files)]

pub mod access;
mod cidr;
mod condition;
pub mod config;
pub mod name;
pub mod node;
pub mod push;
mod redact;
mod schema;
pub mod source;
pub mod stream;
pub mod streamid;
mod time;

pub use cidr::{Cidr, CidrError};
pub use condition::{Condition, ConditionStatus, set_condition};
pub use name::{NameError, StreamName, StreamPattern};
pub use push::{PushSpec, PushState, PushStatus, RetryPolicy};
pub use redact::Redacted;
pub use source::{Source, SourceError};
pub use stream::{
    ProcessKind, ProcessSpec, SpecError, StreamSpec, StreamState, StreamStatus, TrackSelect, TrackStatus,
};
pub use time::{Time, TimeError};
