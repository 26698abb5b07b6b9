//! The one definition of Tributary's user-facing types: `StreamSpec`,
//! `StreamStatus`, `PushSpec`, `PushStatus` (the CRD spec/status, the REST
//! body, the etcd value), stream names, source URLs and publish access rules.
//!
//! **Invariant:** pure types and parsers: no IO, no async runtime.
#![deny(missing_docs)]
#![deny(clippy::mod_module_files)]

pub mod access;
mod cidr;
mod condition;
pub mod name;
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
